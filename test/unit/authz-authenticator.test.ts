import { generateKeyPairSync, sign } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { hashSecret } from '../../shared/domain/api-keys';
import { DecisionCache } from '../../shared/domain/decision-cache';
import { type AuthenticatedPrincipal, Authenticator, AuthUnavailable } from '../../shared/domain/principals';
import { roleUsageKey } from '../../shared/domain/rate-limits';
import { issueToken, type TokenSigner, TokenVerifier } from '../../shared/domain/tokens';
import type { ApiKeyRecord, DeviceRecord, PrincipalRecord, PrincipalStore } from '../../shared/ports';

/**
 * The authorizer's path from credential to principal (epoch check, decision cache, store), with an in-memory store
 * and a clock the test moves: how long a cached decision may outlive what it was made from.
 */
const T0 = Date.parse('2026-03-01T12:00:00Z');
const EPOCH_CHECK_MS = 5_000;
const TTL_MS = 300_000;
const ISSUER = 'urn:tem:test';
const AUDIENCE = 'tem-api';

class MemoryStore implements PrincipalStore {
  keys = new Map<string, ApiKeyRecord>();
  principals = new Map<string, PrincipalRecord>();
  epoch = 0;
  down = false;
  reads = 0;
  private async read<T>(value: T): Promise<T> {
    this.reads++;
    if (this.down) throw new Error('connect ECONNREFUSED 127.0.0.1:4567');
    return value;
  }
  getApiKey = (id: string) => this.read(this.keys.get(id));
  getPrincipal = (id: string) => this.read(this.principals.get(id));
  getAuthEpoch = () => this.read(this.epoch);
  async putPrincipal(p: PrincipalRecord) {
    this.principals.set(p.principalId, p);
  }
  async putApiKey(k: ApiKeyRecord) {
    this.keys.set(k.keyId, k);
  }
  async bumpAuthEpoch() {
    return ++this.epoch;
  }
  listApiKeys = async () => [...this.keys.values()];
  getDevice = async (_id: string): Promise<DeviceRecord | undefined> => undefined;
  putDevice = async () => {};
}

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const signer: TokenSigner = {
  sign: async (input) => sign('sha256', input, { key: privateKey, dsaEncoding: 'ieee-p1363' }),
  publicJwk: async () => {
    const jwk = await exportJWK(publicKey);
    return { ...jwk, kid: await calculateJwkThumbprint(jwk), alg: 'ES256', use: 'sig' };
  },
};
const verifier = signer.publicJwk().then((jwk) => new TokenVerifier({ issuer: ISSUER, audience: AUDIENCE, jwk }, []));

// Key ids are 16 lower-case alphanumerics, secrets 43 base64url characters (api-keys.ts).
const SECRET = 'A'.repeat(43);

async function world(options: { keyExpiresInMs?: number; usageKeyScope?: string } = {}) {
  const store = new MemoryStore();
  let now = T0;
  const clock = { now: () => now, advance: (ms: number) => (now += ms) };
  await store.putPrincipal({
    principalId: 'billing',
    name: 'billing',
    role: 'producer',
    extra: [],
    revoked: [],
    createdAt: '',
  });
  await store.putPrincipal({
    principalId: 'other',
    name: 'other',
    role: 'producer',
    extra: [],
    revoked: [],
    createdAt: '',
  });
  const keyOf = (keyId: string, principalId = 'billing'): ApiKeyRecord => ({
    keyId,
    principalId,
    secretHash: hashSecret(SECRET),
    status: 'active',
    createdAt: new Date(T0).toISOString(),
    ...(options.keyExpiresInMs === undefined ? {} : { expiresAt: new Date(T0 + options.keyExpiresInMs).toISOString() }),
  });
  await store.putApiKey(keyOf('billingkey000001'));
  await store.putApiKey(keyOf('otherkey00000001', 'other'));
  const authenticator = new Authenticator({
    store,
    verifier: () => verifier,
    cache: new DecisionCache<AuthenticatedPrincipal>({
      ttlMs: TTL_MS,
      epochCheckMs: EPOCH_CHECK_MS,
      readEpoch: () => store.getAuthEpoch(),
      now: clock.now,
    }),
    now: () => new Date(clock.now()),
    ...(options.usageKeyScope === undefined ? {} : { usageKeyScope: options.usageKeyScope }),
  });
  const token = async (keyId = 'billingkey000001', subject = 'billing') =>
    (
      await issueToken(
        { issuer: ISSUER, audience: AUDIENCE, signer },
        { subject, roles: ['producer'], ttlSeconds: 900, keyId },
        new Date(T0),
      )
    ).token;
  const apiKey = { type: 'api-key' as const, value: `tem_billingkey000001_${SECRET}` };
  const bearer = async (value?: string) => ({ type: 'bearer' as const, value: value ?? (await token()) });
  const outcome = async (credential: { type: 'api-key' | 'bearer'; value: string }) => {
    const result = await authenticator.authenticate(credential);
    return result.ok ? 'ok' : result.reason;
  };
  return { store, clock, token, apiKey, bearer, outcome, authenticator };
}

describe('a token lives no longer than the API key it was exchanged for', () => {
  it('a cached token decision ends at the key’s expiry, as the key’s own does', async () => {
    const w = await world({ keyExpiresInMs: 60_000 });
    const bearer = await w.bearer();
    expect(await w.outcome(bearer)).toBe('ok');
    expect(await w.outcome(w.apiKey)).toBe('ok');
    w.clock.advance(59_000);
    const reads = w.store.reads;
    expect(await w.outcome(bearer)).toBe('ok');
    expect(w.store.reads - reads).toBeLessThanOrEqual(1); // the epoch only: served from the cache
    w.clock.advance(2_000); // past the key's expiry, well inside the cache TTL and the token's exp
    expect(await w.outcome(bearer)).toBe('expired');
    expect(await w.outcome(w.apiKey)).toBe('expired');
  });

  it('revoking the key refuses its cached token within the epoch check, at the same moment as the key', async () => {
    const w = await world();
    const bearer = await w.bearer();
    expect(await w.outcome(bearer)).toBe('ok');
    expect(await w.outcome(w.apiKey)).toBe('ok');
    const key = w.store.keys.get('billingkey000001') as ApiKeyRecord;
    await w.store.putApiKey({ ...key, status: 'revoked' });
    await w.store.bumpAuthEpoch();
    w.clock.advance(EPOCH_CHECK_MS - 1);
    expect([await w.outcome(bearer), await w.outcome(w.apiKey)]).toEqual(['ok', 'ok']);
    w.clock.advance(1);
    expect([await w.outcome(bearer), await w.outcome(w.apiKey)]).toEqual(['revoked', 'revoked']);
  });

  it('a deleted key refuses its tokens; a key of another principal does not vouch for a token', async () => {
    const w = await world();
    const forged = await w.bearer(await w.token('otherkey00000001', 'billing'));
    expect(await w.outcome(forged)).toBe('claim-invalid');
    w.store.keys.delete('billingkey000001');
    expect(await w.outcome(await w.bearer())).toBe('revoked');
  });

  it('a token without a key claim (tem token, development) is checked against its principal only', async () => {
    const w = await world();
    const { token } = await issueToken(
      { issuer: ISSUER, audience: AUDIENCE, signer },
      { subject: 'billing', roles: ['producer'], ttlSeconds: 900 },
      new Date(T0),
    );
    expect(await w.outcome(await w.bearer(token))).toBe('ok');
  });
});

describe('while the principals table is unreachable', () => {
  it('a cached principal keeps its decision until the entry’s own expiry; an uncached one is unavailable', async () => {
    const w = await world();
    const bearer = await w.bearer();
    expect(await w.outcome(w.apiKey)).toBe('ok');
    expect(await w.outcome(bearer)).toBe('ok');
    w.store.down = true;
    w.clock.advance(EPOCH_CHECK_MS); // the epoch is due and cannot be read
    expect(await w.outcome(w.apiKey)).toBe('ok');
    expect(await w.outcome(bearer)).toBe('ok');
    const other = { type: 'api-key' as const, value: `tem_otherkey00000001_${SECRET}` };
    await expect(w.authenticator.authenticate(other)).rejects.toBeInstanceOf(AuthUnavailable);
    // A malformed credential needs no table: still a plain refusal.
    expect(await w.outcome({ type: 'api-key', value: 'nonsense' })).toBe('malformed');
    w.clock.advance(TTL_MS - EPOCH_CHECK_MS - 1);
    expect(await w.outcome(w.apiKey)).toBe('ok');
    w.clock.advance(1); // the entry's TTL: fail static is bounded
    await expect(w.authenticator.authenticate(w.apiKey)).rejects.toBeInstanceOf(AuthUnavailable);
  });

  it('the failed epoch read is retried within a second, and a change seen after the outage drops the cache', async () => {
    const w = await world();
    expect(await w.outcome(w.apiKey)).toBe('ok');
    w.store.down = true;
    w.clock.advance(EPOCH_CHECK_MS);
    expect(await w.outcome(w.apiKey)).toBe('ok');
    const reads = w.store.reads;
    w.clock.advance(500);
    expect(await w.outcome(w.apiKey)).toBe('ok');
    expect(w.store.reads).toBe(reads); // not hammering a table that just failed
    w.clock.advance(500);
    expect(await w.outcome(w.apiKey)).toBe('ok');
    expect(w.store.reads).toBe(reads + 1);
    w.store.down = false;
    const key = w.store.keys.get('billingkey000001') as ApiKeyRecord;
    await w.store.putApiKey({ ...key, status: 'revoked' });
    await w.store.bumpAuthEpoch();
    w.clock.advance(1_000);
    expect(await w.outcome(w.apiKey)).toBe('revoked');
  });

  it('a hung table counts as unreachable: the epoch read and an uncached check give up in time', async () => {
    const store = new MemoryStore();
    const never = () => new Promise<never>(() => {});
    const cache = new DecisionCache<AuthenticatedPrincipal>({
      ttlMs: TTL_MS,
      epochCheckMs: EPOCH_CHECK_MS,
      readEpoch: never,
      readTimeoutMs: 20,
    });
    const started = Date.now();
    expect(await cache.checkEpoch()).toBe('stale');
    store.getApiKey = never;
    const authenticator = new Authenticator({ store, verifier: () => verifier, cache, deadlineMs: 20 });
    await expect(
      authenticator.authenticate({ type: 'api-key', value: `tem_billingkey000001_${SECRET}` }),
    ).rejects.toBeInstanceOf(AuthUnavailable);
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});

describe("the usage key returned for API Gateway's plans", () => {
  it("is the role's shared key scoped by the mesh, fresh and cached; unscoped without a scope", async () => {
    const scoped = await world({ usageKeyScope: 'blue' });
    for (let i = 0; i < 2; i++) {
      const result = await scoped.authenticator.authenticate(scoped.apiKey);
      expect(result.ok && result.principal.usageKey).toBe(roleUsageKey('producer', 'blue'));
    }
    const plain = await world();
    const result = await plain.authenticator.authenticate(plain.apiKey);
    expect(result.ok && result.principal.usageKey).toBe(roleUsageKey('producer'));
  });
});
