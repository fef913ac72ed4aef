import { describe, expect, it } from 'vitest';
import { changePermission, createApiKey } from '../../shared/domain/admin';
import { Rejection } from '../../shared/domain/errors';
import { INGEST_PERMISSION } from '../../shared/domain/permissions';
import type { ApiKeyRecord, DeviceRecord, PrincipalRecord, PrincipalStore } from '../../shared/ports';

/**
 * ADR 0008 below the CLI: shared/domain/admin.ts itself refuses a principal that could call POST /events but emit
 * no event, for whoever calls it (the CLI checks first with its own wording; tests and the local stack call admin.ts
 * directly). Narrowing changes always go through.
 */
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

async function refusal(promise: Promise<unknown>): Promise<Rejection> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(Rejection);
  return error as Rejection;
}

describe('createApiKey', () => {
  it.each<[string, { role: string; extra?: string[]; eventTypes?: string[] }]>([
    ['reader + extra ingest, no event types', { role: 'reader', extra: [INGEST_PERMISSION] }],
    ['reader + extra *', { role: 'reader', extra: ['*'] }],
    ['device + extra ingest (its scope is device.telemetry only)', { role: 'device', extra: [INGEST_PERMISSION] }],
    [
      'reader + extra ingest, scope device.telemetry',
      { role: 'reader', extra: ['*'], eventTypes: ['device.telemetry'] },
    ],
  ])('refuses %s, writing nothing', async (_name, request) => {
    const store = new MemoryStore();
    const error = await refusal(createApiKey(store, { name: 'svc', ...request }));
    expect(error.kind).toBe('invalid');
    expect(error.message).toContain(INGEST_PERMISSION);
    expect(error.message).toContain('event-type scope');
    expect(store.principals.size + store.keys.size).toBe(0);
  });

  it.each<[string, { role: string; extra?: string[]; revoked?: string[]; eventTypes?: string[] }]>([
    ['producer (its role has a scope)', { role: 'producer' }],
    ['reader', { role: 'reader' }],
    ['reader + extra ingest + its own scope', { role: 'reader', extra: [INGEST_PERMISSION], eventTypes: ['order.*'] }],
    ['producer, payment.* only', { role: 'producer', eventTypes: ['payment.*'] }],
    ['reader + extra * with ingest revoked', { role: 'reader', extra: ['*'], revoked: [INGEST_PERMISSION] }],
  ])('creates %s', async (_name, request) => {
    const store = new MemoryStore();
    const issued = await createApiKey(store, { name: 'svc', ...request });
    expect(store.principals.get('svc')?.role).toBe(request.role);
    expect(store.keys.get(issued.keyId)?.principalId).toBe('svc');
  });
});

describe('changePermission', () => {
  const world = async (principal: Partial<PrincipalRecord> = {}) => {
    const store = new MemoryStore();
    const { keyId } = await createApiKey(store, { name: 'svc', role: 'reader' });
    const record = store.principals.get('svc') as PrincipalRecord;
    await store.putPrincipal({ ...record, ...principal });
    return { store, keyId, epoch: store.epoch, principal: () => store.principals.get('svc') as PrincipalRecord };
  };

  it('grant of ingest to a principal without a scope is refused; nothing is written, no epoch bump', async () => {
    const w = await world();
    const error = await refusal(changePermission(w.store, w.keyId, 'grant', INGEST_PERMISSION));
    expect(error.message).toMatch(/event-type scope is empty/);
    expect(w.principal().extra).toEqual([]);
    expect(w.store.epoch).toBe(w.epoch);
  });

  it('unrevoke that would restore ingest without a scope is refused', async () => {
    // Hand-made (the table can hold it): ingest granted and revoked, no event types.
    const w = await world({ extra: [INGEST_PERMISSION], revoked: [INGEST_PERMISSION] });
    await refusal(changePermission(w.store, w.keyId, 'unrevoke', INGEST_PERMISSION));
    expect(w.principal().revoked).toEqual([INGEST_PERMISSION]);
  });

  it('grant of ingest with a scope, and grants that do not reach ingest, go through', async () => {
    const w = await world({ eventTypes: ['order.*'] });
    expect((await changePermission(w.store, w.keyId, 'grant', INGEST_PERMISSION)).extra).toEqual([INGEST_PERMISSION]);
    const v = await world();
    expect((await changePermission(v.store, v.keyId, 'grant', 'devices.get.*')).extra).toEqual(['devices.get.*']);
    expect(v.store.epoch).toBe(v.epoch + 1);
  });

  it('narrowing changes go through even for a principal that already breaks the rule', async () => {
    const w = await world({ extra: [INGEST_PERMISSION, 'devices.get.*'] });
    expect((await changePermission(w.store, w.keyId, 'ungrant', 'devices.get.*')).extra).toEqual([INGEST_PERMISSION]);
    expect((await changePermission(w.store, w.keyId, 'revoke', INGEST_PERMISSION)).revoked).toEqual([
      INGEST_PERMISSION,
    ]);
    expect((await changePermission(w.store, w.keyId, 'ungrant', INGEST_PERMISSION)).extra).toEqual([]);
  });
});
