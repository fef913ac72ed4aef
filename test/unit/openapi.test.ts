import { readFileSync } from 'node:fs';
import { Validator } from '@seriousme/openapi-schema-validator';
// Installed with the OpenAPI validator (its JSON Schema engine): the document's schemas are judged by it here.
import { Ajv2020 } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { buildOpenApiDocument, documentationProblems, type Json, type OpenApiSources } from '../../infra/api/openapi';
import { operations } from '../../infra/api/operations';
import { authorizer, functions, type RouteSpec, routes as topologyRoutes } from '../../infra/topology';
import { ALERT_QUERY_PARAMS } from '../../shared/domain/alerts';
import { AUTHORIZER_UNAVAILABLE } from '../../shared/domain/decision-cache';
import { EventEnvelopeSchema, EventInputSchema } from '../../shared/domain/events';
import { RATE_LIMIT_ANSWERS } from '../../shared/domain/rate-limits';

type Operation = Json & {
  operationId: string;
  summary: string;
  description: string;
  parameters?: { name: string; in: string; required: boolean; schema: Json }[];
  requestBody?: { content: Record<string, { schema: Json }> };
  responses: Record<string, { $ref?: string; content?: Record<string, { schema: Json }> }>;
  security?: unknown[];
};
interface Doc {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Json>; securitySchemes: Record<string, Json> };
  security: unknown[];
}

const routes: readonly RouteSpec[] = topologyRoutes;
const doc = buildOpenApiDocument() as unknown as Doc;
const op = (r: Pick<RouteSpec, 'method' | 'path'>): Operation | undefined =>
  doc.paths[r.path]?.[r.method.toLowerCase()];
const sources: OpenApiSources = {
  routes,
  functions,
  operations,
  credentialHeaders: authorizer.credentialHeaders,
  version: '0',
};

/** A JSON Schema validator over the document: a schema of it may `$ref` the components. */
function schemaValidator(document: Doc) {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  return (schema: Json) => ajv.compile({ ...schema, components: document.components });
}
const validatorOf = schemaValidator(doc);
const fixture = (file: string) => readFileSync(new URL(`../events/${file}`, import.meta.url), 'utf8');

describe('the OpenAPI document', () => {
  it('is valid OpenAPI 3.1 for a real validator, which refuses a broken one', async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(doc) as unknown as Record<string, unknown>);
    expect(result.errors).toBeUndefined();
    expect([result.valid, validator.version]).toEqual([true, '3.1']);
    const broken = structuredClone(doc);
    (broken.paths['/events'] as Record<string, Operation>).post = { responses: 'none' } as unknown as Operation;
    expect((await new Validator().validate(broken as unknown as Record<string, unknown>)).valid).toBe(false);
  });

  it('every $ref names something the document holds', () => {
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/([^"]+)"/g)].map((m) => m[1] as string);
    expect(refs.length).toBeGreaterThan(10);
    for (const pointer of new Set(refs)) {
      const target = pointer.split('/').reduce<unknown>((at, key) => (at as Record<string, unknown>)?.[key], doc);
      expect(target, pointer).toBeTypeOf('object');
    }
  });

  it.each(routes.map((r) => [`${r.method} ${r.path}`, r] as const))(
    '%s: listed with its function, permission, answers and security',
    (_key, r) => {
      const o = op(r);
      if (!o) throw new Error('not in the document');
      expect(o.summary).toBe(functions[r.function].description);
      expect(o['x-tem-permission']).toBe(r.permission);
      expect(o['x-tem-function']).toBe(r.function);
      expect(o.description).toContain(r.auth === 'none' ? 'Public' : `\`${r.permission}\``);
      const statuses = Object.keys(o.responses);
      expect(statuses.some((s) => s.startsWith('2'))).toBe(true);
      expect(statuses).toContain('500');
      if (r.auth === 'none') expect(o.security).toEqual([]);
      else expect(statuses).toEqual(expect.arrayContaining(['401', '403', '429', '503']));
      for (const [status, answer] of Object.entries(o.responses))
        if (!answer.$ref) expect(answer.content?.['application/json']?.schema, status).toBeTypeOf('object');
      for (const name of r.path.match(/\{([^}]+)\}/g) ?? [])
        expect(o.parameters?.find((p) => `{${p.name}}` === name)).toMatchObject({ in: 'path', required: true });
    },
  );

  it('operation ids are unique', () => {
    const ids = routes.map((r) => op(r)?.operationId);
    expect(new Set(ids).size).toBe(routes.length);
  });

  it('lists only the routes of the topology', () => {
    const listed = Object.entries(doc.paths).flatMap(([p, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`),
    );
    expect(listed.sort()).toEqual(routes.map((r) => `${r.method} ${r.path}`).sort());
  });

  it('a route without an entry in infra/api/operations.ts fails the build: a new route must be documented', () => {
    const extra: RouteSpec = { method: 'GET', path: '/things/{id}', permission: 'things.get.thing', function: 'jwks' };
    expect(() => buildOpenApiDocument({ ...sources, routes: [...routes, extra] })).toThrow(
      'route GET /things/{id} has no entry in infra/api/operations.ts',
    );
    const { 'GET /events/{id}': detail, ...rest } = operations;
    expect(documentationProblems({ ...sources, operations: { ...rest, 'GET /events/{x}': detail } })).toEqual([
      'route GET /events/{id} has no entry in infra/api/operations.ts',
      'infra/api/operations.ts documents GET /events/{x}, which is not a route',
    ]);
    expect(
      documentationProblems({
        ...sources,
        operations: { ...operations, 'GET /events/{id}': { ...detail, path: undefined } },
      }),
    ).toEqual(['route GET /events/{id}: path parameters id, documented none']);
    expect(documentationProblems({ ...sources, credentialHeaders: ['X-Token'] })).toEqual([
      'credential header X-Token has no security scheme',
    ]);
    expect(documentationProblems(sources)).toEqual([]);
  });

  it('security: an API key header or a bearer JWT; POST /auth/token takes an API key only', () => {
    expect(doc.components.securitySchemes).toMatchObject({
      apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
      bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
    });
    expect(doc.security).toEqual([{ apiKey: [] }, { bearer: [] }]);
    expect(op({ method: 'POST', path: '/auth/token' })?.security).toEqual([{ apiKey: [] }]);
    expect(op({ method: 'POST', path: '/auth/token' })?.requestBody).toBeUndefined();
  });

  it('the schemas are the zod schemas converted, not a copy kept by hand', () => {
    const { $schema: _a, ...input } = z.toJSONSchema(EventInputSchema, { target: 'draft-2020-12', io: 'input' });
    expect(doc.components.schemas.EventInput).toEqual(input);
    const { $schema: _b, ...envelope } = z.toJSONSchema(EventEnvelopeSchema, { target: 'draft-2020-12' });
    expect(doc.components.schemas.EventEnvelope).toEqual(envelope);
    // Used more than once, so named once: the page of GET /events and GET /events/{id} share it.
    const page = op({ method: 'GET', path: '/events' })?.responses['200']?.content?.['application/json']?.schema;
    expect(page).toMatchObject({ properties: { items: { items: { $ref: '#/components/schemas/EventEnvelope' } } } });
    expect(JSON.stringify(doc)).not.toContain('~inline');
  });

  it('POST /events: the fixture body validates against the request schema; hostile bodies do not', () => {
    const schema = op({ method: 'POST', path: '/events' })?.requestBody?.content['application/json']?.schema;
    if (!schema) throw new Error('no request schema');
    const validate = validatorOf(schema);
    const body = JSON.parse((JSON.parse(fixture('apigw/post-events.json')) as { body: string }).body) as unknown;
    expect(validate(body), JSON.stringify(validate.errors)).toBe(true);
    for (const file of ['events-empty.json', 'top-level-array.json', 'events-not-an-array.json'])
      expect(validate(JSON.parse(fixture(`hostile/${file}`))), file).toBe(false);
    expect(op({ method: 'POST', path: '/events' })?.requestBody?.content).toHaveProperty('application/x-ndjson');
  });

  it('the answers of the gateway and the authorizer fit the error schema', () => {
    const validate = validatorOf({ $ref: '#/components/schemas/Error' });
    for (const message of [AUTHORIZER_UNAVAILABLE.message, ...Object.values(RATE_LIMIT_ANSWERS).map((a) => a.message)])
      expect(validate({ message })).toBe(true);
    expect(validate({ message: '' })).toBe(false);
  });

  it('GET /alerts documents exactly the query parameters the domain accepts', () => {
    const names = op({ method: 'GET', path: '/alerts' })?.parameters?.map((p) => p.name);
    expect(names?.sort()).toEqual([...ALERT_QUERY_PARAMS].sort());
  });

  it('query parameters: limit is an optional integer 1..100 with its default', () => {
    const limit = op({ method: 'GET', path: '/events' })?.parameters?.find((p) => p.name === 'limit');
    expect(limit).toMatchObject({
      in: 'query',
      required: false,
      schema: { type: 'integer', minimum: 1, maximum: 100, default: 50 },
    });
  });
});
