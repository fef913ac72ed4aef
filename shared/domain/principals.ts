import type { PrincipalRecord, PrincipalStore } from '../ports';
import { parseApiKey, secretMatches } from './api-keys';
import { deviceTokenMatches } from './credentials';
import type { PrincipalGrants } from './permissions';
import { roleNamed } from './roles';
import type { TokenVerifier } from './tokens';

export type CredentialRef =
  | { type: 'api-key'; keyId: string }
  | { type: 'jwt'; issuer: string; own: boolean }
  | { type: 'device'; deviceId: string };

export interface AuthenticatedPrincipal {
  principalId: string;
  name: string;
  credential: CredentialRef;
  grants: PrincipalGrants;
  eventTypes: string[];
  /** Epoch ms after which the credential itself is no longer valid (key expiry, token `exp`). */
  expiresAt?: number;
}

/** Why a credential was refused: logged (never the credential itself), never told to the caller. */
export type AuthFailure =
  | 'missing'
  | 'malformed'
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
  if (key.status !== 'active') return { ok: false, reason: 'revoked', keyId };
  const expiresAt = key.expiresAt === undefined ? undefined : Date.parse(key.expiresAt);
  if (expiresAt !== undefined && expiresAt <= now.getTime()) return { ok: false, reason: 'expired', keyId };
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
    },
  };
}

/**
 * A bearer token: this system's own (its subject is a principal id; the principal's current role and overrides
 * apply, so a role change or a revoked permission takes effect before the token expires) or a trusted issuer's
 * (roles from its claim; a principal record `<issuer>#<sub>` may add overrides).
 */
export async function authenticateBearer(
  token: string,
  verifier: TokenVerifier,
  store: PrincipalStore,
): Promise<AuthResult> {
  const verified = await verifier.verify(token);
  if (!verified.ok) return { ok: false, reason: verified.reason };
  const { issuer, subject, roles, expiresAt, own, keyId } = verified.token;
  if (keyId !== undefined) {
    // A token lives no longer than the API key it was exchanged for.
    const key = await store.getApiKey(keyId);
    if (key?.status !== 'active') return { ok: false, reason: 'revoked', keyId };
    if (key.expiresAt !== undefined && Date.parse(key.expiresAt) <= Date.now())
      return { ok: false, reason: 'expired', keyId };
  }
  const principalId = own ? subject : `${issuer}#${subject}`;
  const record = await store.getPrincipal(principalId);
  const { grants, eventTypes } = record ? grantsFor([record.role], record) : grantsFor(roles);
  return {
    ok: true,
    principal: {
      principalId,
      name: record?.name ?? subject,
      credential: { type: 'jwt', issuer, own },
      grants,
      eventTypes,
      expiresAt,
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
