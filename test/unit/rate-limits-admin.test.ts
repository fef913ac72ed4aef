import { describe, expect, it } from 'vitest';
import { createApiKey, LOCAL_USAGE_KEYS, setLimits } from '../../shared/domain/admin';
import { Rejection } from '../../shared/domain/errors';
import { authenticateApiKey } from '../../shared/domain/principals';
import { planIdOfUsageKey, roleUsageKey, usageKeyFor } from '../../shared/domain/rate-limits';
import type { ApiKeyRecord, DeviceRecord, PrincipalRecord, PrincipalStore, UsageKeyRegistry } from '../../shared/ports';

/** ADR 0013 in the admin domain: a principal's limits, its own usage key, and what the authorizer returns. */
class MemoryStore implements PrincipalStore {
  keys = new Map<string, ApiKeyRecord>();
  principals = new Map<string, PrincipalRecord>();
  epoch = 0;
  getApiKey = async (id: string) => this.keys.get(id);
  getPrincipal = async (id: string) => this.principals.get(id);
  putPrincipal = async (p: PrincipalRecord) => {
    this.principals.set(p.principalId, p);
  };
  putApiKey = async (k: ApiKeyRecord) => {
    this.keys.set(k.keyId, k);
  };
  listApiKeys = async () => [...this.keys.values()];
  getDevice = async (_id: string): Promise<DeviceRecord | undefined> => undefined;
  putDevice = async () => {};
  getAuthEpoch = async () => this.epoch;
  bumpAuthEpoch = async () => ++this.epoch;
}

function recordingRegistry() {
  const registered: { key: string; plan: string; principalId: string }[] = [];
  const registry: UsageKeyRegistry = {
    register: async (key, plan, principalId) => {
      registered.push({ key, plan: plan.id, principalId });
    },
  };
  return { registry, registered };
}

async function refusal(promise: Promise<unknown>): Promise<Rejection> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(Rejection);
  return error as Rejection;
}

describe('per-principal limits and usage keys', () => {
  it("a principal gets its own usage key in its role's plan, registered, and the authorizer returns it", async () => {
    const store = new MemoryStore();
    const { registry, registered } = recordingRegistry();
    const issued = await createApiKey(store, { name: 'svc-a', role: 'producer' }, new Date(), registry);
    const own = usageKeyFor('svc-a', 'role-producer');
    expect(store.principals.get('svc-a')?.usageKey).toBe(own);
    expect(registered).toEqual([{ key: own, plan: 'role-producer', principalId: 'svc-a' }]);
    const auth = await authenticateApiKey(issued.apiKey, store, new Date());
    expect(auth.ok && auth.principal.usageKey).toBe(own);
  });

  it('overrides put the principal in the custom tier of its numbers', async () => {
    const store = new MemoryStore();
    const { registry, registered } = recordingRegistry();
    await createApiKey(store, { name: 'tiny', role: 'producer', limits: { rate: 1, burst: 2 } }, new Date(), registry);
    expect(store.principals.get('tiny')?.limits).toEqual({ rate: 1, burst: 2 });
    expect(registered[0]?.plan).toBe('custom-r1-b2');
    expect(planIdOfUsageKey(store.principals.get('tiny')?.usageKey ?? '')).toBe('custom-r1-b2');
  });

  it('limits that do not fit are refused with what is wrong, and nothing is written', async () => {
    const store = new MemoryStore();
    const error = await refusal(
      createApiKey(store, { name: 'bad', role: 'producer', limits: { rate: 900 } }, new Date(), LOCAL_USAGE_KEYS),
    );
    expect(error.message).toMatch(/^limits: burst: burst must be at least the rate/);
    expect(store.principals.size).toBe(0);
    expect((await refusal(createApiKey(store, { name: 'z', role: 'producer', limits: { rate: 0 } }))).message).toMatch(
      /limits: rate/,
    );
  });

  it('without a registry a principal keeps the shared key of its role, and overrides are refused', async () => {
    const store = new MemoryStore();
    const issued = await createApiKey(store, { name: 'legacy', role: 'reader' });
    expect(store.principals.get('legacy')?.usageKey).toBeUndefined();
    const auth = await authenticateApiKey(issued.apiKey, store, new Date());
    expect(auth.ok && auth.principal.usageKey).toBe(roleUsageKey('reader'));
    const error = await refusal(createApiKey(store, { name: 'x', role: 'reader', limits: { rate: 1, burst: 1 } }));
    expect(error.message).toMatch(/no usage key registry/);
  });

  it('tem keys limits moves a principal to the key of its new plan and bumps the epoch; {} goes back to the role', async () => {
    const store = new MemoryStore();
    const issued = await createApiKey(store, { name: 'svc-b', role: 'producer' });
    const before = store.epoch;
    const changed = await setLimits(store, issued.keyId, { rate: 5, burst: 10, dailyQuota: 1000 }, LOCAL_USAGE_KEYS);
    expect(changed).toMatchObject({
      plan: 'custom-r5-b10-q1000',
      usageKey: usageKeyFor('svc-b', 'custom-r5-b10-q1000'),
    });
    expect(store.epoch).toBe(before + 1);
    const back = await setLimits(store, issued.keyId, {}, LOCAL_USAGE_KEYS);
    expect(back.plan).toBe('role-producer');
    expect(store.principals.get('svc-b')?.limits).toBeUndefined();
  });
});
