import { type CallerContext, CLAIM_ANY_SOURCE_PERMISSION } from '../authorizer-context';
import type { ApiKeyRecord, PrincipalRecord, PrincipalStore } from '../ports';
import { parseApiKey, secretMatches } from './api-keys';
import { deviceTokenMatches, type PresentedCredential } from './credentials';
import { DecisionCache, withTimeout } from './decision-cache';
import { decide, type PrincipalGrants } from './permissions';
import { inUsageKeyScope, roleUsageKey } from './rate-limits';
import { roleNamed } from './roles';
import type { TokenVerifier } from './tokens';

export type CredentialRef =
  | { type: 'api-key'; keyId: string }
  /** `keyId`: the API key an own token was exchanged for (it lives no longer than that key). */
  | { type: 'jwt'; issuer: string; own: boolean; keyId?: string }
  | { type: 'device'; deviceId: string };

export interface AuthenticatedPrincipal {
  principalId: string;
  name: string;
  credential: CredentialRef;
  grants: PrincipalGrants;
  eventTypes: string[];
  /** Epoch ms after which the credential itself is no longer valid (key expiry, token `exp`). */
  expiresAt?: number;
  /** What the authorizer returns as `usageIdentifierKey`: the key whose usage plan limits this principal. */
  usageKey?: string;
}

/** Why a credential was refused: logged (never the credential itself), never told to the caller. */
export type AuthFailure =
  | 'missing'
  | 'malformed'
  | 'repeated'
  | 'unknown-key'
  | 'bad-secret'
  | 'revoked'
  | 'expired'
  | 'unknown-principal'
  | 'unknown-role'
  | 'unknown-issuer'
  | 'bad-signature'
  | 'algorithm-not-allowed'
  | 'claim-invalid'
  | 'no-matching-key'
  | 'unknown-device';

export type AuthResult =
  | { ok: true; principal: AuthenticatedPrincipal }
  | { ok: false; reason: AuthFailure; keyId?: string };

/**
 * Grants of one or more roles plus a principal's overrides. Unknown role names grant nothing (a token may carry
 * roles of other systems).
 */
export function grantsFor(
  roleNames: readonly string[],
  overrides?: Pick<PrincipalRecord, 'extra' | 'revoked' | 'eventTypes'>,
): { grants: PrincipalGrants; eventTypes: string[] } {
  const known = roleNames.filter((r) => roleNamed(r) !== undefined);
  const rolePermissions = [...new Set(known.flatMap((r) => roleNamed(r)?.permissions ?? []))];
  const roleEventTypes = [...new Set(known.flatMap((r) => roleNamed(r)?.eventTypes ?? []))];
  return {
    grants: {
      role: known.join(',') || 'none',
      rolePermissions,
      extra: overrides?.extra ?? [],
      revoked: overrides?.revoked ?? [],
    },
    eventTypes: overrides?.eventTypes ?? roleEventTypes,
  };
}

/**
 * The usage key of a principal (ADR 0013): its own when it has one (registered in the plan of its limits), else the
 * shared key of its role; with several roles (a trusted issuer's token), the one with the highest rate. Undefined when
 * no role is known (such a caller is allowed no route).
 */
export function usageKeyOf(
  roleNames: readonly string[],
  record?: Pick<PrincipalRecord, 'usageKey'>,
): string | undefined {
  if (record?.usageKey) return record.usageKey;
  const known = roleNames.filter((r) => roleNamed(r) !== undefined);
  const best = known.reduce<string | undefined>(
    (top, r) => (top === undefined || (roleNamed(r)?.limits.rate ?? 0) > (roleNamed(top)?.limits.rate ?? 0) ? r : top),
    undefined,
  );
  return best === undefined ? undefined : roleUsageKey(best);
}

/**
 * Whether a key may be used at `now`: one rule for the key itself, for the tokens exchanged for it, and for
 * `tem explain`. A missing key (deleted by hand) counts as revoked.
 */
export function keyRefusal(key: ApiKeyRecord | undefined, now: number): 'revoked' | 'expired' | undefined {
  if (key?.status !== 'active') return 'revoked';
  if (key.expiresAt !== undefined && Date.parse(key.expiresAt) <= now) return 'expired';
  return undefined;
}

/** What the authorizer hands to the functions behind it for this principal (`tem explain` derives the same). */
export function callerContextOf(principal: AuthenticatedPrincipal): CallerContext {
  return {
    principalId: principal.principalId,
    principalName: principal.name,
    credentialType: principal.credential.type === 'api-key' ? 'api-key' : 'jwt',
    keyId: principal.credential.type === 'api-key' ? principal.credential.keyId : '-',
    role: principal.grants.role,
    eventTypes: principal.eventTypes,
    mayClaimAnySource: decide(principal.grants, CLAIM_ANY_SOURCE_PERMISSION).allowed,
    ...(principal.expiresAt === undefined ? {} : { credentialExpiresAt: principal.expiresAt }),
  };
}

export async function authenticateApiKey(
  raw: string | undefined,
  store: PrincipalStore,
  now: Date,
): Promise<AuthResult> {
  if (raw === undefined || raw.trim() === '') return { ok: false, reason: 'missing' };
  const parsed = parseApiKey(raw);
  if (!parsed) return { ok: false, reason: 'malformed' };
  const { keyId } = parsed;
  const key = await store.getApiKey(keyId);
  if (!key) return { ok: false, reason: 'unknown-key', keyId };
  if (!secretMatches(parsed.secret, key.secretHash)) return { ok: false, reason: 'bad-secret', keyId };
  const refusal = keyRefusal(key, now.getTime());
  if (refusal) return { ok: false, reason: refusal, keyId };
  const expiresAt = key.expiresAt === undefined ? undefined : Date.parse(key.expiresAt);
  const principal = await store.getPrincipal(key.principalId);
  if (!principal) return { ok: false, reason: 'unknown-principal', keyId };
  if (!roleNamed(principal.role)) return { ok: false, reason: 'unknown-role', keyId };
  const { grants, eventTypes } = grantsFor([principal.role], principal);
  return {
    ok: true,
    principal: {
      principalId: principal.principalId,
      name: principal.name,
      credential: { type: 'api-key', keyId },
      grants,
      eventTypes,
      ...(expiresAt === undefined ? {} : { expiresAt }),
      ...withUsageKey(usageKeyOf([principal.role], principal)),
    },
  };
}

const withUsageKey = (usageKey: string | undefined) => (usageKey === undefined ? {} : { usageKey });

/**
 * A bearer token: this system's own (its subject is a principal id; the principal's current role and overrides
 * apply, so a role change or a revoked permission takes effect before the token expires) or a trusted issuer's
 * (roles from its claim; a principal record `<issuer>#<sub>` may add overrides).
 */
export async function authenticateBearer(
  token: string,
  verifier: TokenVerifier,
  store: PrincipalStore,
  now: Date = new Date(),
): Promise<AuthResult> {
  const verified = await verifier.verify(token, now);
  if (!verified.ok) return { ok: false, reason: verified.reason };
  const { issuer, subject, roles, own, keyId } = verified.token;
  let expiresAt = verified.token.expiresAt;
  if (keyId !== undefined) {
    // A token lives no longer than the API key it was exchanged for: the key is checked whenever the token is
    // authenticated (cache miss, epoch change), and the cached decision ends at the key's expiry too.
    const key = await store.getApiKey(keyId);
    const refusal = keyRefusal(key, now.getTime());
    if (refusal) return { ok: false, reason: refusal, keyId };
    if (key?.principalId !== subject) return { ok: false, reason: 'claim-invalid', keyId };
    if (key.expiresAt !== undefined) expiresAt = Math.min(expiresAt, Date.parse(key.expiresAt));
  }
  const principalId = own ? subject : `${issuer}#${subject}`;
  const record = await store.getPrincipal(principalId);
  const { grants, eventTypes } = record ? grantsFor([record.role], record) : grantsFor(roles);
  return {
    ok: true,
    principal: {
      principalId,
      name: record?.name ?? subject,
      credential: { type: 'jwt', issuer, own, ...(keyId === undefined ? {} : { keyId }) },
      grants,
      eventTypes,
      expiresAt,
      ...withUsageKey(record ? usageKeyOf([record.role], record) : usageKeyOf(roles)),
    },
  };
}

export async function authenticateDevice(deviceId: string, token: string, store: PrincipalStore): Promise<AuthResult> {
  const device = await store.getDevice(deviceId);
  if (!device) return { ok: false, reason: 'unknown-device' };
  if (!deviceTokenMatches(token, device.tokenHash)) return { ok: false, reason: 'bad-secret' };
  if (device.status !== 'active') return { ok: false, reason: 'revoked' };
  const principal = await store.getPrincipal(device.principalId);
  if (!principal) return { ok: false, reason: 'unknown-principal' };
  const { grants, eventTypes } = grantsFor([principal.role], principal);
  return {
    ok: true,
    principal: {
      principalId: principal.principalId,
      name: deviceId,
      credential: { type: 'device', deviceId },
      grants,
      eventTypes,
    },
  };
}

/** The authorizer could not decide: a dependency (principals table, signing key) failed or was too slow. */
export class AuthUnavailable extends Error {
  override readonly name = 'AuthUnavailable';
}

/**
 * The authorizer's path from a presented credential to an authenticated principal: the epoch check, the decision
 * cache, then the store. A cached decision is served even while the store is unreachable (fail static, bounded by
 * the entry's expiry); an uncached credential then cannot be checked and fails with AuthUnavailable (→ 503), never
 * as a refusal (a 401 would tell a valid caller its credential is bad).
 */
export class Authenticator {
  constructor(
    private readonly deps: {
      store: PrincipalStore;
      verifier: () => Promise<TokenVerifier>;
      cache: DecisionCache<AuthenticatedPrincipal>;
      /** The store's reads for one credential must finish within this, well inside the authorizer's timeout. */
      deadlineMs?: number;
      now?: () => Date;
      /** The mesh's usage key scope (its name prefix): a role's shared key is scoped by it (`inUsageKeyScope`). */
      usageKeyScope?: string;
    },
  ) {}

  async authenticate(credential: PresentedCredential): Promise<AuthResult> {
    const { cache, store } = this.deps;
    await cache.checkEpoch();
    const key = DecisionCache.keyOf(`${credential.type}:${credential.value}`);
    const cached = cache.get(key);
    if (cached) return { ok: true, principal: cached };
    const now = this.deps.now?.() ?? new Date();
    let result: AuthResult;
    try {
      const pending =
        credential.type === 'api-key'
          ? authenticateApiKey(credential.value, store, now)
          : this.deps.verifier().then((verifier) => authenticateBearer(credential.value, verifier, store, now));
      result = await withTimeout(pending, this.deps.deadlineMs ?? 2500);
    } catch (error) {
      throw new AuthUnavailable(`credential not checked: ${(error as Error).message}`, { cause: error });
    }
    if (!result.ok) return result;
    const scope = this.deps.usageKeyScope;
    const principal =
      scope === undefined || result.principal.usageKey === undefined
        ? result.principal
        : { ...result.principal, usageKey: inUsageKeyScope(result.principal.usageKey, scope) };
    cache.set(key, principal, principal.expiresAt);
    return { ok: true, principal };
  }
}
