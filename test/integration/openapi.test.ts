import { readFileSync } from 'node:fs';
import { Validator } from '@seriousme/openapi-schema-validator';
// Installed with the OpenAPI validator (its JSON Schema engine): the live answers are judged by the served document.
import { Ajv2020 } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildOpenApiDocument } from '../../infra/api/openapi';
import { type RouteSpec, routes as topologyRoutes } from '../../infra/topology';
import { type ApiResponse, api, eventually, stack } from './support';

type Json = Record<string, unknown>;
type Content = Record<string, { schema: Json }>;
interface Operation {
  'x-tem-permission': string;
  parameters?: { name: string; in: 'path' | 'query' }[];
  requestBody?: { content: Content };
  responses: Record<string, { $ref?: string; content?: Content }>;
  security?: unknown[];
}
interface Doc {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Json; responses: Record<string, { content?: Content }> };
}

const routes: readonly RouteSpec[] = topologyRoutes;
const keyOf = (r: RouteSpec) => `${r.method} ${r.path}`;
let served: Response;
let doc: Doc;
let ajv: Ajv2020;

beforeAll(async () => {
  // No credential: the document is public, as the JWKS is.
  served = await fetch(`${stack().http}/openapi.json`);
  doc = (await served.clone().json()) as Doc;
  ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
});

function operationOf(route: string): Operation {
  const [method = '', path = ''] = route.split(' ');
  const o = doc.paths[path]?.[method.toLowerCase()];
  if (!o) throw new Error(`${route} is not in the served document`);
  return o;
}

/** The documented JSON body schema of an answer (following a shared response's `$ref`), or undefined. */
function answerSchema(route: string, status: number): Json | undefined {
  const answer = operationOf(route).responses[String(status)];
  if (!answer) throw new Error(`${route} documents no ${status}`);
  const shared = answer.$ref ? doc.components.responses[answer.$ref.split('/').pop() as string] : answer;
  return shared?.content?.['application/json']?.schema;
}

function fits(schema: Json | undefined, value: unknown, what: string): void {
  if (!schema) throw new Error(`${what}: no JSON schema documented`);
  const validate = ajv.compile({ ...schema, components: doc.components });
  expect(validate(value), `${what}: ${JSON.stringify(validate.errors)} in ${JSON.stringify(value).slice(0, 300)}`).toBe(
    true,
  );
}

/** Every route whose live answer was checked against the document. */
const checked = new Set<string>();
function conforms(route: string, response: ApiResponse): void {
  checked.add(route);
  fits(answerSchema(route, response.status), response.body, `${route} → ${response.status}`);
}

describe('GET /openapi.json on the local stack', () => {
  it('is served without credentials, as JSON, cacheable, and is the document the code builds', () => {
    expect(served.status).toBe(200);
    expect(served.headers.get('content-type')).toBe('application/json');
    expect(served.headers.get('cache-control')).toBe('public, max-age=300');
    expect(doc).toEqual(buildOpenApiDocument());
  });

  it('is valid OpenAPI 3.1', async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(doc) as unknown as Json);
    expect(result.errors).toBeUndefined();
    expect([result.valid, validator.version]).toEqual([true, '3.1']);
  });

  it.each(routes.map((r) => [keyOf(r), r] as const))('lists %s with its permission and schemas', (key, r) => {
    const o = operationOf(key);
    expect(o['x-tem-permission']).toBe(r.permission);
    if (r.auth === 'none') expect(o.security).toEqual([]);
    const success = Object.keys(o.responses).find((s) => s.startsWith('2'));
    expect(answerSchema(key, Number(success))).toBeTypeOf('object');
    if (r.method === 'POST' && r.path === '/events')
      expect(o.requestBody?.content['application/json']?.schema).toBeTypeOf('object');
  });

  it('a POST /events fixture body fits the request schema, and the stack answers as documented', async () => {
    const schema = operationOf('POST /events').requestBody?.content['application/json']?.schema;
    const fixture = JSON.parse(readFileSync(new URL('../events/apigw/post-events.json', import.meta.url), 'utf8'));
    const body = JSON.parse((fixture as { body: string }).body) as { events: Json[] };
    fits(schema, body, 'test/events/apigw/post-events.json');
    // Sent with fresh ids and a source of its own (the dev key is an admin's), so no other test sees these events.
    const source = `openapi-${crypto.randomUUID().slice(0, 8)}`;
    const events = body.events.map((e) => ({ ...e, id: crypto.randomUUID(), source }));
    const accepted = await api('POST', '/events', { body: { events } });
    expect(accepted.status).toBe(202);
    conforms('POST /events', accepted);
    const [id] = (accepted.body as { ids: string[] }).ids;
    const stored = await eventually(async () => {
      const r = await api('GET', `/events/${id}`);
      return r.status === 200 ? r : undefined;
    });
    conforms('GET /events/{id}', stored);
    conforms('GET /events', await api('GET', `/events?source=${source}&limit=5`));
    const refused = await api('POST', '/events', { body: { events: [{ type: 'Not A Type', data: {} }] } });
    expect(refused.status).toBe(400);
    conforms('POST /events', refused);
  });

  it("every route's live answers fit the documented schemas", async () => {
    conforms('GET /healthz', await api('GET', '/healthz'));
    conforms('GET /events/{id}', await api('GET', '/events/not-an-id'));
    conforms('GET /events/{id}', await api('GET', `/events/${crypto.randomUUID()}`));
    conforms('GET /events', await api('GET', '/events?limit=0'));
    conforms('GET /events', await api('GET', '/events', { key: null }));
    conforms('GET /devices', await api('GET', '/devices?limit=2'));
    conforms('GET /devices/{id}/metrics', await api('GET', '/devices/no-such-device/metrics'));
    conforms('GET /alerts', await api('GET', '/alerts?limit=2'));
    const token = await api('POST', '/auth/token');
    expect(token.status).toBe(200);
    conforms('POST /auth/token', token);
    conforms('GET /.well-known/jwks.json', await api('GET', '/.well-known/jwks.json', { key: null }));
    conforms('GET /openapi.json', await api('GET', '/openapi.json', { key: null }));
    expect([...checked].sort()).toEqual(routes.map(keyOf).sort());
  });

  it('documents exactly the query parameters each list route accepts (a 400 for an unknown one names them)', async () => {
    for (const r of routes.filter((route) => operationOf(keyOf(route)).parameters?.some((p) => p.in === 'query'))) {
      const path = r.path.replace('{id}', 'openapi-device');
      const refused = await api(r.method, `${path}?zz_unknown=1`);
      expect(refused.status, keyOf(r)).toBe(400);
      const known = /; known: (.*)$/.exec((refused.body as { message: string }).message)?.[1]?.split(', ');
      const documented = (operationOf(keyOf(r)).parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name);
      expect(documented.sort(), keyOf(r)).toEqual(known?.sort());
    }
  });
});
