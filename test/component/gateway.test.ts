import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FunctionError } from '../../infra/local/function-host';
import { LocalGateway } from '../../infra/local/gateway';
import type { AuthorizerSpec, RouteSpec } from '../../infra/topology';
import { policyForRoutes } from '../../shared/domain/iam-policy';

/**
 * The local API Gateway stand-in, over real HTTP on loopback, with the functions behind it replaced by small
 * handlers: this pins down the gateway's own contract (identity sources, decision cache, policy evaluation, event
 * shapes, gateway responses) independently of the real functions.
 */
const routes: RouteSpec[] = [
  { method: 'GET', path: '/things/{id}', permission: 'things.get.detail', function: 'getEvent' },
  { method: 'POST', path: '/things', permission: 'things.post.create', function: 'httpIngest' },
  { method: 'GET', path: '/public', permission: 'things.get.public', function: 'getEvent', auth: 'none' },
  { method: 'GET', path: '/boom', permission: 'things.get.boom', function: 'healthz' },
];

interface SeenEvent {
  pathParameters: unknown;
  resource: string;
  multiValueQueryStringParameters: unknown;
  requestContext: { authorizer?: Record<string, unknown> };
}

function gatewayWith(authorizer: AuthorizerSpec) {
  const calls: { fn: string; event: Record<string, unknown> }[] = [];
  const gateway = new LocalGateway({
    routes,
    authorizer,
    region: 'us-east-1',
    accountId: '000000000000',
    log: () => {},
    invoke: async (fn, event) => {
      const e = event as Record<string, unknown>;
      calls.push({ fn, event: e });
      if (fn === 'apiAuthorizer') {
        const key = (e.headers as Record<string, string>)['X-Key'];
        if (key === 'bad') throw new FunctionError('apiAuthorizer', 'Error', 'Unauthorized');
        if (key === 'crash') throw new FunctionError('apiAuthorizer', 'TypeError', 'secret internals at line 42');
        const allowed = key === 'reader' ? routes.filter((r) => r.method === 'GET') : routes;
        return {
          principalId: `p-${key}`,
          policyDocument: policyForRoutes(e.methodArn as string, allowed),
          context: { n: 1, ok: true },
        };
      }
      if (fn === 'healthz') throw new FunctionError('healthz', 'Error', 'stack trace here');
      return { statusCode: 200, headers: { 'x-fn': fn }, body: JSON.stringify({ fn, event }) };
    },
  });
  return { gateway, calls };
}

describe.each([
  {
    name: 'cached, one identity source',
    authorizer: {
      function: 'apiAuthorizer',
      identitySources: ['X-Key'],
      resultTtlSeconds: 300,
      credentialHeaders: ['X-Key'],
    },
  },
  {
    name: 'uncached, no identity source',
    authorizer: { function: 'apiAuthorizer', identitySources: [], resultTtlSeconds: 0, credentialHeaders: ['X-Key'] },
  },
] satisfies { name: string; authorizer: AuthorizerSpec }[])('local gateway ($name)', ({ authorizer }) => {
  const { gateway, calls } = gatewayWith(authorizer);
  let base = '';
  beforeAll(async () => {
    base = `http://127.0.0.1:${await gateway.listen(0)}`;
  });
  afterAll(() => gateway.close());
  const get = (path: string, key?: string, method = 'GET') =>
    fetch(`${base}${path}`, { method, headers: key ? { 'X-Key': key } : {} });
  const authCalls = () => calls.filter((c) => c.fn === 'apiAuthorizer').length;

  it('passes path parameters, query and authorizer context (as strings) to the integration', async () => {
    const r = await get('/things/a%20b?x=1&x=2', 'admin');
    expect(r.status).toBe(200);
    const { event } = (await r.json()) as { event: SeenEvent };
    expect(event.pathParameters).toEqual({ id: 'a b' });
    expect(event.resource).toBe('/things/{id}');
    expect(event.multiValueQueryStringParameters).toEqual({ x: ['1', '2'] });
    expect(event.requestContext.authorizer).toMatchObject({ principalId: 'p-admin', n: '1', ok: 'true' });
  });

  it('401 when the authorizer says Unauthorized, 403 when its policy lacks the route, 503 + Retry-After without internals when it crashes', async () => {
    expect((await get('/things/1', 'bad')).status).toBe(401);
    const denied = await get('/things', 'reader', 'POST');
    expect(denied.status).toBe(403);
    expect(await denied.json()).toEqual({ message: 'Forbidden' });
    const crashed = await get('/things/1', 'crash');
    // API Gateway's AUTHORIZER_CONFIGURATION_ERROR, as the CDK stack's gateway response sets it.
    expect(crashed.status).toBe(503);
    expect(crashed.headers.get('retry-after')).toBe('5');
    expect(await crashed.text()).not.toContain('internals');
  });

  it('502 without a stack trace when the integration fails; 404 for unknown routes', async () => {
    const r = await get('/boom', 'admin');
    expect(r.status).toBe(502);
    expect(await r.text()).not.toContain('stack trace');
    expect((await get('/nothing', 'admin')).status).toBe(404);
  });

  it('skips the authorizer for a public route', async () => {
    const before = authCalls();
    const r = await get('/public');
    expect(r.status).toBe(200);
    const { event } = (await r.json()) as { event: SeenEvent };
    expect(event.requestContext.authorizer).toBeUndefined();
    expect(authCalls()).toBe(before);
  });

  if (authorizer.identitySources.length > 0) {
    it('answers 401 itself when the identity source is missing', async () => {
      const before = authCalls();
      expect((await get('/things/1')).status).toBe(401);
      expect(authCalls()).toBe(before);
    });

    it('caches one decision per identity for every route until flushed', async () => {
      gateway.flushAuthorizerCache();
      const before = authCalls();
      await get('/things/1', 'cache-me');
      await get('/things', 'cache-me', 'POST');
      await get('/things/2', 'cache-me');
      expect(authCalls()).toBe(before + 1);
      gateway.flushAuthorizerCache();
      await get('/things/1', 'cache-me');
      expect(authCalls()).toBe(before + 2);
    });
  } else {
    it('calls the authorizer on every request, and lets it answer a missing credential', async () => {
      const before = authCalls();
      await get('/things/1', 'admin');
      await get('/things/1', 'admin');
      expect(authCalls()).toBe(before + 2);
    });
  }
});
