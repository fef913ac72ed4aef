import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalGateway } from '../../infra/local/gateway';
import { UsagePlanMeter } from '../../infra/local/usage-plans';
import type { RouteSpec } from '../../infra/topology';
import { policyForRoutes } from '../../shared/domain/iam-policy';
import { usageKeyFor } from '../../shared/domain/rate-limits';

/**
 * The local gateway's usage plans (ADR 0013) over loopback: the authorizer's usageIdentifierKey is metered after the
 * policy and before the integration, per key. Time is the test's: no waiting.
 */
const routes: RouteSpec[] = [
  { method: 'GET', path: '/things', permission: 'things.get.list', function: 'listEvents' },
  { method: 'GET', path: '/public', permission: 'things.get.public', function: 'jwks', auth: 'none' },
];
const tiny = usageKeyFor('tiny', 'custom-r1-b2');
const other = usageKeyFor('other', 'custom-r1-b2');
let now = Date.parse('2026-03-01T12:00:00Z');
const meter = new UsagePlanMeter(undefined, () => now);
let integrationCalls = 0;
const gateway = new LocalGateway({
  routes,
  authorizer: { function: 'apiAuthorizer', identitySources: [], resultTtlSeconds: 0, credentialHeaders: ['X-Key'] },
  region: 'us-east-1',
  accountId: '000000000000',
  log: () => {},
  usagePlans: meter,
  invoke: async (fn, event) => {
    const e = event as { headers: Record<string, string>; methodArn: string };
    if (fn === 'apiAuthorizer') {
      const key = e.headers['X-Key'];
      return {
        principalId: `p-${key}`,
        policyDocument: policyForRoutes(e.methodArn, routes),
        ...(key === 'tiny' ? { usageIdentifierKey: tiny } : {}),
        ...(key === 'other' ? { usageIdentifierKey: other } : {}),
        ...(key === 'stranger' ? { usageIdentifierKey: 'not-one-of-ours-at-all' } : {}),
      };
    }
    integrationCalls++;
    return { statusCode: 200, body: '{}' };
  },
});
let base = '';
beforeAll(async () => {
  base = `http://127.0.0.1:${await gateway.listen(0)}`;
});
afterAll(() => gateway.close());
const get = (key?: string, path = '/things') => fetch(`${base}${path}`, { headers: key ? { 'X-Key': key } : {} });

describe('local gateway usage plans', () => {
  it('serves the burst, then 429 with Retry-After and a JSON message, without calling the integration', async () => {
    expect((await get('tiny')).status).toBe(200);
    expect((await get('tiny')).status).toBe(200);
    const calls = integrationCalls;
    const refused = await get('tiny');
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(refused.headers.get('content-type')).toBe('application/json');
    expect(await refused.json()).toEqual({ message: "Too Many Requests: over this principal's rate limit" });
    expect(integrationCalls).toBe(calls);
    expect(meter.throttled).toBe(1);
  });

  it('another key of the same plan has its own bucket', async () => {
    expect((await get('other')).status).toBe(200);
  });

  it('after the wait the next request is served', async () => {
    now += 1000;
    expect((await get('tiny')).status).toBe(200);
  });

  it('no usage key, or one that names no plan, is 403 (API Gateway: key not in a usage plan)', async () => {
    for (const key of ['none', 'stranger']) {
      const r = await get(key);
      expect(r.status).toBe(403);
      expect(await r.json()).toEqual({ message: 'Forbidden' });
    }
  });

  it('public routes are not metered', async () => {
    for (let i = 0; i < 5; i++) expect((await get(undefined, '/public')).status).toBe(200);
  });
});
