import { type APIGatewayClient, ConflictException } from '@aws-sdk/client-api-gateway';
import { describe, expect, it } from 'vitest';
import { ApiGatewayUsageKeys } from '../../shared/aws/apigw-usage-keys';
import { createApiKey } from '../../shared/domain/admin';
import type { ApiKeyRecord, DeviceRecord, PrincipalRecord, PrincipalStore } from '../../shared/ports';

interface Plan {
  id: string;
  name: string;
  input?: Record<string, unknown>;
}

/** API Gateway's usage plans and keys in memory, answering the calls the adapter makes as the service would. */
function fakeApiGateway(plans: Plan[] = []) {
  const keys: { id: string; name: string; value: string }[] = [];
  const planKeys = new Set<string>();
  const calls: string[] = [];
  const conflict = (message: string) => new ConflictException({ message, $metadata: {} });
  const client = {
    send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
      const input = command.input;
      calls.push(command.constructor.name);
      switch (command.constructor.name) {
        case 'GetUsagePlansCommand': {
          // Two plans a page, to walk the pagination.
          const start = Number(input.position ?? 0);
          const page = plans.slice(start, start + 2);
          return { items: page, ...(start + 2 < plans.length ? { position: String(start + 2) } : {}) };
        }
        case 'CreateUsagePlanCommand': {
          const plan = { id: `p${plans.length + 1}`, name: String(input.name), input };
          plans.push(plan);
          return { id: plan.id };
        }
        case 'CreateApiKeyCommand': {
          if (keys.some((k) => k.value === input.value)) throw conflict('API key already exists');
          const key = { id: `k${keys.length + 1}`, name: String(input.name), value: String(input.value) };
          keys.push(key);
          return { id: key.id };
        }
        case 'GetApiKeysCommand':
          return { items: keys.filter((k) => k.name.startsWith(String(input.nameQuery))) };
        case 'CreateUsagePlanKeyCommand': {
          const pair = `${input.usagePlanId}/${input.keyId}`;
          if (planKeys.has(pair)) throw conflict('already in the plan');
          planKeys.add(pair);
          return {};
        }
        default:
          throw new Error(`unexpected ${command.constructor.name}`);
      }
    },
  } as unknown as APIGatewayClient;
  return { client, plans, keys, planKeys, calls };
}

const api = { restApiId: 'abc123', stage: 'v1' };
const rolePlans = () => [
  { id: 'p-admin', name: 'tem-role-admin' },
  { id: 'p-reader', name: 'tem-role-reader' },
  { id: 'p-producer', name: 'tem-role-producer' },
];

describe('ApiGatewayUsageKeys (a principal’s own usage key in API Gateway, ADR 0013)', () => {
  it('puts the key, with its value, into its role’s plan from the stack (found across pages)', async () => {
    const gw = fakeApiGateway(rolePlans());
    const registry = new ApiGatewayUsageKeys(gw.client, 'tem', api);
    await registry.register('tem_role-producer_aaa', { id: 'role-producer', limits: { rate: 50, burst: 100 } }, 'p1');
    expect(gw.keys).toEqual([{ id: 'k1', name: 'tem-tem_role-producer_aaa', value: 'tem_role-producer_aaa' }]);
    expect([...gw.planKeys]).toEqual(['p-producer/k1']);
    expect(gw.plans).toHaveLength(3);
  });

  it('makes a custom tier’s plan once, with its numbers, on the API’s stage', async () => {
    const gw = fakeApiGateway(rolePlans());
    const registry = new ApiGatewayUsageKeys(gw.client, 'tem', api);
    const plan = { id: 'custom-r5-b10-q1000', limits: { rate: 5, burst: 10, dailyQuota: 1000 } };
    await registry.register('tem_custom-r5-b10-q1000_aaa', plan, 'p1');
    await registry.register('tem_custom-r5-b10-q1000_bbb', plan, 'p2');
    const custom = gw.plans.filter((p) => p.name === 'tem-custom-r5-b10-q1000');
    expect(custom).toHaveLength(1);
    expect(custom[0]?.input).toMatchObject({
      throttle: { rateLimit: 5, burstLimit: 10 },
      quota: { limit: 1000, period: 'DAY' },
      apiStages: [{ apiId: 'abc123', stage: 'v1' }],
    });
    expect([...gw.planKeys]).toEqual([`${custom[0]?.id}/k1`, `${custom[0]?.id}/k2`]);
  });

  it('is idempotent: registering the same key again finds it and changes nothing', async () => {
    const gw = fakeApiGateway(rolePlans());
    const plan = { id: 'role-reader', limits: { rate: 50, burst: 100 } };
    await new ApiGatewayUsageKeys(gw.client, 'tem', api).register('tem_role-reader_aaa', plan, 'p1');
    await new ApiGatewayUsageKeys(gw.client, 'tem', api).register('tem_role-reader_aaa', plan, 'p1');
    expect(gw.keys).toHaveLength(1);
    expect([...gw.planKeys]).toEqual(['p-reader/k1']);
  });

  it('refuses a role plan the account does not have (the stack is not deployed there) rather than inventing it', async () => {
    const gw = fakeApiGateway([]);
    const registry = new ApiGatewayUsageKeys(gw.client, 'tem', api);
    await expect(
      registry.register('tem_role-admin_aaa', { id: 'role-admin', limits: { rate: 1, burst: 1 } }, 'p1'),
    ).rejects.toThrow(/usage plan tem-role-admin is not in this account/);
    expect(gw.calls).not.toContain('CreateUsagePlanCommand');
  });
});

/** Only what createApiKey writes. */
function memoryPrincipals(): PrincipalStore & { principals: Map<string, PrincipalRecord> } {
  const principals = new Map<string, PrincipalRecord>();
  const keys = new Map<string, ApiKeyRecord>();
  return {
    principals,
    getApiKey: async (id) => keys.get(id),
    getPrincipal: async (id) => principals.get(id),
    putPrincipal: async (p) => void principals.set(p.principalId, p),
    putApiKey: async (k) => void keys.set(k.keyId, k),
    listApiKeys: async () => [...keys.values()],
    getDevice: async (): Promise<DeviceRecord | undefined> => undefined,
    putDevice: async () => {},
    getAuthEpoch: async () => 0,
    bumpAuthEpoch: async () => 1,
  };
}

describe('two meshes in one account and region (NamePrefix)', () => {
  it("a mesh's principals get key values of its own scope, in its own plans", async () => {
    const gw = fakeApiGateway([...rolePlans(), { id: 'p-blue-producer', name: 'blue-role-producer' }]);
    const values: string[] = [];
    for (const prefix of ['tem', 'blue']) {
      const store = memoryPrincipals();
      const registry = new ApiGatewayUsageKeys(gw.client, prefix, api);
      await createApiKey(store, { name: 'billing', role: 'producer' }, new Date(), registry);
      values.push(store.principals.get('billing')?.usageKey as string);
    }
    // Same principal id in both meshes: without the scope API Gateway would refuse the second key's value.
    expect(new Set(values).size).toBe(2);
    expect(gw.keys.map((k) => k.value)).toEqual(values);
    expect([...gw.planKeys]).toEqual(['p-producer/k1', 'p-blue-producer/k2']);
  });
});
