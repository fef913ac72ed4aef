import type { PrincipalStore } from '../ports';
import { parseApiKey, secretMatches } from './api-keys';
import type { PrincipalGrants } from './permissions';
import { roleNamed } from './roles';

export interface AuthenticatedPrincipal {
  principalId: string;
  name: string;
  keyId: string;
  grants: PrincipalGrants;
  eventTypes: string[];
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
  | 'unknown-role';

export type AuthResult =
  | { ok: true; principal: AuthenticatedPrincipal }
  | { ok: false; reason: AuthFailure; keyId?: string };

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
  if (key.expiresAt !== undefined && Date.parse(key.expiresAt) <= now.getTime())
    return { ok: false, reason: 'expired', keyId };
  const principal = await store.getPrincipal(key.principalId);
  if (!principal) return { ok: false, reason: 'unknown-principal', keyId };
  const role = roleNamed(principal.role);
  if (!role) return { ok: false, reason: 'unknown-role', keyId };
  return {
    ok: true,
    principal: {
      principalId: principal.principalId,
      name: principal.name,
      keyId,
      grants: {
        role: principal.role,
        rolePermissions: role.permissions,
        extra: principal.extra,
        revoked: principal.revoked,
      },
      eventTypes: principal.eventTypes ?? role.eventTypes,
    },
  };
}
