import { z } from 'zod';
import packageJson from '../../package.json' with { type: 'json' };
import { AUTHORIZER_UNAVAILABLE } from '../../shared/domain/decision-cache';
import { decide } from '../../shared/domain/permissions';
import { RATE_LIMIT_ANSWERS } from '../../shared/domain/rate-limits';
import { roles } from '../../shared/domain/roles';
import { type FunctionSpec, type RouteSpec, topology } from '../topology';
import { COMPONENTS, type OperationDoc, operations, type ResponseDoc, RetryAfterHeader } from './operations';
import { ErrorSchema } from './responses';

/**
 * The OpenAPI 3.1 document of the HTTP API, built from the topology's routes (method, path, permission, function,
 * auth) and the operation docs of infra/api/operations.ts (zod schemas, converted here with `z.toJSONSchema`). Pure:
 * served by functions/meta/openapi.ts, written to docs/openapi.json by scripts/export-openapi.ts.
 */

export type Json = Record<string, unknown>;
type Io = 'input' | 'output';

export interface OpenApiSources {
  routes: readonly RouteSpec[];
  functions: Readonly<Record<string, FunctionSpec>>;
  operations: Readonly<Record<string, OperationDoc>>;
  /** Headers the authorizer reads a credential from (the topology's): each must have a security scheme here. */
  credentialHeaders: readonly string[];
  version: string;
}

const DEFAULT_SOURCES: OpenApiSources = {
  routes: topology.routes,
  functions: topology.functions,
  operations,
  credentialHeaders: topology.authorizer.credentialHeaders,
  version: packageJson.version,
};

const SECURITY_SCHEMES = {
  apiKey: {
    type: 'apiKey',
    in: 'header',
    name: 'X-API-Key',
    description: 'An API key from `tem keys create` (the dev key of the local stack is in .tem/local.json)',
  },
  bearer: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: 'An ES256 JWT from POST /auth/token, or a token of a trusted issuer (JWT_TRUSTED_ISSUERS)',
  },
} as const;
/** The header each scheme is sent in, to check against the authorizer's credential headers. */
const SCHEME_HEADERS = ['X-API-Key', 'Authorization'];

/** The answers the gateway and the authorizer give for any authorized route (`#/components/responses`). */
const GATEWAY_RESPONSES: Readonly<Record<number, [string, ResponseDoc]>> = {
  401: ['Unauthorized', { description: 'No credential, or one unknown, wrong, revoked or expired', body: ErrorSchema }],
  403: ['Forbidden', { description: "The route is not among the principal's permissions", body: ErrorSchema }],
  429: [
    'TooManyRequests',
    {
      description: `Over the principal's rate limit or daily quota ("${RATE_LIMIT_ANSWERS.throttled.message}")`,
      body: ErrorSchema,
      headers: { 'Retry-After': RetryAfterHeader },
    },
  ],
  503: [
    'AuthorizerUnavailable',
    {
      description: `The authorizer cannot read the principals (Retry-After ${AUTHORIZER_UNAVAILABLE.retryAfterSeconds} s)`,
      body: ErrorSchema,
      headers: { 'Retry-After': RetryAfterHeader },
    },
  ],
};
const INTERNAL_ERROR: [string, ResponseDoc] = [
  'InternalError',
  { description: 'A fault of the service, never of the request', body: ErrorSchema },
];

/**
 * Turns zod schemas into JSON Schema in two passes: `use` hands out a `$ref` for a named component, or a placeholder
 * for any other schema; `resolve` converts each side (request, answer) in one `z.toJSONSchema` call over a registry,
 * so a named schema inside another becomes a `$ref` too, and fills the placeholders.
 */
class SchemaSet {
  private readonly registries = { input: z.registry<{ id: string }>(), output: z.registry<{ id: string }>() };
  private readonly named = { input: new Map<z.ZodType, string>(), output: new Map<z.ZodType, string>() };
  private readonly inline = { input: new Map<z.ZodType, string>(), output: new Map<z.ZodType, string>() };
  private readonly placeholders: { io: Io; id: string; target: Json; plain: boolean }[] = [];

  constructor() {
    for (const io of ['input', 'output'] as const)
      for (const [name, schema] of Object.entries(COMPONENTS[io])) {
        this.registries[io].add(schema, { id: name });
        this.named[io].set(schema, name);
      }
  }

  /** `plain`: without its description (a parameter carries it itself). */
  use(schema: z.ZodType, io: Io, plain = false): Json {
    const name = this.named[io].get(schema);
    if (name !== undefined) return { $ref: ref(name) };
    let id = this.inline[io].get(schema);
    if (id === undefined) {
      id = `~inline${this.inline[io].size}`;
      this.inline[io].set(schema, id);
      this.registries[io].add(schema, { id });
    }
    const target: Json = {};
    this.placeholders.push({ io, id, target, plain });
    return target;
  }

  /** The named schemas (`components.schemas`), after filling every placeholder handed out. */
  resolve(): Record<string, Json> {
    const components: Record<string, Json> = {};
    for (const io of ['input', 'output'] as const) {
      const { schemas } = z.toJSONSchema(this.registries[io], { target: 'draft-2020-12', io, uri: ref });
      for (const p of this.placeholders) {
        if (p.io !== io) continue;
        const { description: _description, ...plain } = bare(schemas[p.id]);
        Object.assign(p.target, p.plain ? plain : bare(schemas[p.id]));
      }
      for (const name of this.named[io].values()) components[name] = bare(schemas[name]);
    }
    // A schema used inline here and also inside another one would be a reference to a name that is not a component.
    const dangling = JSON.stringify([components, this.placeholders.map((p) => p.target)]).match(
      /"#\/components\/schemas\/~[^"]*"/,
    );
    if (dangling) throw new Error(`${dangling[0]} is not a component: name the schema in COMPONENTS`);
    return Object.fromEntries(Object.entries(components).sort(([a], [b]) => a.localeCompare(b)));
  }
}

const ref = (name: string) => `#/components/schemas/${name}`;

/** A registry entry without its `$schema` (the document's `jsonSchemaDialect` says it) and `$id` (its name). */
function bare(schema: Json | undefined): Json {
  if (schema === undefined) throw new Error('zod emitted no schema for a registered entry');
  const { $schema: _dialect, $id: _id, ...rest } = schema;
  return rest;
}

const isSchema = (body: ResponseDoc['body']): body is z.ZodType => body instanceof z.ZodType;

function response(doc: ResponseDoc, schemas: SchemaSet): Json {
  const content = doc.body === undefined ? undefined : isSchema(doc.body) ? { 'application/json': doc.body } : doc.body;
  return {
    description: doc.description,
    ...(doc.headers && {
      headers: Object.fromEntries(
        Object.entries(doc.headers).map(([name, h]) => [
          name,
          { description: h.description, schema: schemas.use(h.schema, 'output') },
        ]),
      ),
    }),
    ...(content && {
      content: Object.fromEntries(
        Object.entries(content).map(([media, s]) => [media, { schema: schemas.use(s, 'output') }]),
      ),
    }),
  };
}

/** One parameter per property of a zod object; required unless the property may be left out. */
function parameters(where: 'path' | 'query', shape: z.ZodObject | undefined, schemas: SchemaSet): Json[] {
  return Object.entries(shape?.shape ?? {}).map(([name, field]) => {
    const schema = field as z.ZodType;
    return {
      name,
      in: where,
      required: where === 'path' || !schema.safeParse(undefined).success,
      ...(schema.description === undefined ? {} : { description: schema.description }),
      schema: schemas.use(schema, 'input', true),
    };
  });
}

/** `events.post.event_ingest` -> `eventIngest`: the view, unique per route like the permission. */
export const operationIdOf = (permission: string): string =>
  (permission.split('.')[2] ?? permission).replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** The shipped roles whose permissions grant this one. */
export const rolesGranting = (permission: string): string[] =>
  Object.entries(roles)
    .filter(([role, r]) => decide({ role, rolePermissions: r.permissions, extra: [], revoked: [] }, permission).allowed)
    .map(([role]) => role);

function operation(route: RouteSpec, doc: OperationDoc, spec: FunctionSpec, schemas: SchemaSet): Json {
  const isPublic = route.auth === 'none';
  const granted = rolesGranting(route.permission);
  const access = isPublic
    ? 'Public: no credential.'
    : `Permission \`${route.permission}\` (granted by the roles ${granted.join(', ') || 'none'}).`;
  const responses: Record<string, Json> = {};
  for (const [status, r] of Object.entries(doc.responses)) responses[status] = response(r, schemas);
  const common = isPublic ? { 500: INTERNAL_ERROR } : { ...GATEWAY_RESPONSES, 500: INTERNAL_ERROR };
  for (const [status, [name]] of Object.entries(common))
    responses[status] ??= { $ref: `#/components/responses/${name}` };
  const params = [...parameters('path', doc.path, schemas), ...parameters('query', doc.query, schemas)];
  return {
    operationId: operationIdOf(route.permission),
    summary: spec.description,
    description: [doc.description, access].filter(Boolean).join('\n\n'),
    tags: [route.permission.split('.')[0]],
    ...(params.length > 0 && { parameters: params }),
    ...(doc.body && {
      requestBody: {
        required: true,
        content: Object.fromEntries(
          Object.entries(doc.body).map(([media, s]) => [media, { schema: schemas.use(s, 'input') }]),
        ),
      },
    }),
    responses: Object.fromEntries(Object.entries(responses).sort(([a], [b]) => a.localeCompare(b))),
    ...(isPublic
      ? { security: [] }
      : doc.credentials && { security: doc.credentials.map((scheme) => ({ [scheme]: [] })) }),
    'x-tem-permission': route.permission,
    'x-tem-function': route.function,
    ...(!isPublic && { 'x-tem-roles': granted }),
  };
}

/** Every mistake at once: a route without its doc, a doc without its route, path parameters that differ. */
export function documentationProblems(sources: OpenApiSources): string[] {
  const problems: string[] = [];
  const keys = new Set(sources.routes.map((r) => `${r.method} ${r.path}`));
  for (const r of sources.routes) {
    const key = `${r.method} ${r.path}`;
    const doc = sources.operations[key];
    if (!doc) {
      problems.push(`route ${key} has no entry in infra/api/operations.ts`);
      continue;
    }
    const inPath = [...r.path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort();
    const documented = Object.keys(doc.path?.shape ?? {}).sort();
    if (inPath.join() !== documented.join())
      problems.push(
        `route ${key}: path parameters ${inPath.join(', ') || 'none'}, documented ${documented.join(', ') || 'none'}`,
      );
    if (!Object.keys(doc.responses).some((s) => s.startsWith('2'))) problems.push(`route ${key}: no 2xx answer`);
  }
  for (const key of Object.keys(sources.operations))
    if (!keys.has(key)) problems.push(`infra/api/operations.ts documents ${key}, which is not a route`);
  const ids = sources.routes.map((r) => operationIdOf(r.permission));
  for (const id of new Set(ids.filter((id, i) => ids.indexOf(id) !== i)))
    problems.push(`operationId ${id} is shared by several routes: their permissions' views must differ`);
  for (const h of sources.credentialHeaders)
    if (!SCHEME_HEADERS.includes(h)) problems.push(`credential header ${h} has no security scheme`);
  return problems;
}

export function buildOpenApiDocument(sources: OpenApiSources = DEFAULT_SOURCES): Json {
  const problems = documentationProblems(sources);
  if (problems.length > 0) throw new Error(`The OpenAPI document is incomplete:\n- ${problems.join('\n- ')}`);
  const schemas = new SchemaSet();
  const paths: Record<string, Record<string, Json>> = {};
  for (const route of sources.routes) {
    const spec = sources.functions[route.function];
    const doc = sources.operations[`${route.method} ${route.path}`];
    if (!spec || !doc) throw new Error(`route ${route.method} ${route.path}: no function or no doc`);
    paths[route.path] ??= {};
    (paths[route.path] as Record<string, Json>)[route.method.toLowerCase()] = operation(route, doc, spec, schemas);
  }
  const responses: Record<string, Json> = {};
  for (const [name, r] of [...Object.values(GATEWAY_RESPONSES), INTERNAL_ERROR]) responses[name] = response(r, schemas);
  const tags = [...new Set(sources.routes.map((r) => r.permission.split('.')[0] as string))];
  // Last: converts every schema handed out above, filling the placeholders already in `paths` and `responses`.
  const componentSchemas = schemas.resolve();
  return {
    openapi: '3.1.0',
    info: {
      title: 'TelemetryEventMesh HTTP API',
      version: sources.version,
      description:
        'Ingestion of business events (POST /events) and reads of events, devices, metrics and alerts. Every route ' +
        'but the public ones takes an API key (X-API-Key) or a bearer JWT; each route names the permission it ' +
        'needs (x-tem-permission). Generated from infra/topology.ts and the zod schemas; the contract in prose is ' +
        'docs/ingestion.md.',
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    servers: [{ url: '.', description: 'Where this document is served: the stage URL in AWS, the gateway locally' }],
    security: [{ apiKey: [] }, { bearer: [] }],
    tags: tags.map((name) => ({ name })),
    paths,
    components: { schemas: componentSchemas, responses, securitySchemes: SECURITY_SCHEMES },
  };
}
