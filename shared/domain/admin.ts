import type { ApiKeyRecord, PrincipalRecord, PrincipalStore, UsageKeyRegistry } from '../ports';
import { generateApiKey } from './api-keys';
import { generateDeviceToken } from './credentials';
import { Rejection } from './errors';
import { isValidGrant, scopeProblem } from './permissions';
import { grantsFor } from './principals';
import { planFor, planIdOfUsageKey, type RateLimitsOverride, usageKeyFor } from './rate-limits';
import { roleNamed } from './roles';
import { DeviceIdSchema } from './telemetry';

/**
 * Credential administration: what the operator CLI does, as domain code over the PrincipalStore port (the local
 * stack seeds its admin with it too). Every change bumps the revocation epoch so authorizers drop cached decisions.
 */
const PRINCIPAL_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
const EVENT_TYPE_PATTERN = /^(\*|[a-z0-9_]+(\.[a-z0-9_]+)*(\.\*)?)$/;

function checkGrants(label: string, grants: readonly string[]): void {
  const bad = grants.filter((g) => !isValidGrant(g));
  if (bad.length > 0) throw new Rejection('invalid', `${label}: not a permission pattern: ${bad.join(', ')}`);
}

/**
 * ADR 0008: no principal may call POST /events with an event-type scope that admits no event (it would pass the
 * gateway and get 403 for everything it posts). Checked here, below the CLI, for every caller of these functions.
 */
function checkScope(principal: Pick<PrincipalRecord, 'role' | 'extra' | 'revoked' | 'eventTypes'>, fix: string): void {
  const { grants, eventTypes } = grantsFor([principal.role], principal);
  const problem = scopeProblem(grants, eventTypes);
  if (problem) throw new Rejection('invalid', `${problem}. ${fix}`);
}

export interface CreateKeyRequest {
  name: string;
  role: string;
  extra?: string[];
  revoked?: string[];
  eventTypes?: string[];
  expiresAt?: Date;
  /** Overrides of the role's rate limits (ADR 0013). */
  limits?: RateLimitsOverride;
}

/**
 * The embedded stack's usage key registry: nothing to register, the local gateway reads the plan from the key. A
 * deployed stack needs API Gateway's (API keys and usage plan keys); without one, principals share their role's key.
 */
export const LOCAL_USAGE_KEYS: UsageKeyRegistry = { register: async () => {} };

/**
 * The principal's own usage key in the plan of its limits, registered: what `usageKey` on the principal holds. A
 * limit that does not fit (rate 0, burst below the rate, over the stage's ceiling) is refused with what is wrong.
 */
async function assignUsageKey(
  principal: Pick<PrincipalRecord, 'principalId' | 'role' | 'limits'>,
  usageKeys: UsageKeyRegistry | undefined,
): Promise<string | undefined> {
  const role = roleNamed(principal.role);
  if (!role) throw new Rejection('invalid', `role: unknown role "${principal.role}"`);
  let plan: ReturnType<typeof planFor>;
  try {
    plan = planFor(principal.role, role.limits, principal.limits);
  } catch (error) {
    throw new Rejection('invalid', `limits: ${(error as Error).message}`);
  }
  if (!usageKeys) {
    if (principal.limits && Object.keys(principal.limits).length > 0)
      throw new Rejection(
        'invalid',
        'limits: this stack has no usage key registry, so per-principal limits cannot be enforced; leave them out to use the role limits',
      );
    return undefined;
  }
  const key = usageKeyFor(principal.principalId, plan.id, usageKeys.keyScope);
  await usageKeys.register(key, plan, principal.principalId);
  return key;
}

export interface IssuedKey {
  keyId: string;
  apiKey: string;
  principalId: string;
}

export async function createApiKey(
  store: PrincipalStore,
  request: CreateKeyRequest,
  now = new Date(),
  usageKeys?: UsageKeyRegistry,
): Promise<IssuedKey> {
  if (!PRINCIPAL_NAME.test(request.name))
    throw new Rejection('invalid', 'name: 1-64 letters, digits and ._@- starting with a letter or digit');
  if (!roleNamed(request.role)) throw new Rejection('invalid', `role: unknown role "${request.role}"`);
  checkGrants('extra', request.extra ?? []);
  checkGrants('revoke', request.revoked ?? []);
  const badTypes = (request.eventTypes ?? []).filter((t) => !EVENT_TYPE_PATTERN.test(t));
  if (badTypes.length > 0) throw new Rejection('invalid', `event-types: not a pattern: ${badTypes.join(', ')}`);
  const principal: PrincipalRecord = {
    principalId: request.name,
    name: request.name,
    role: request.role,
    extra: request.extra ?? [],
    revoked: request.revoked ?? [],
    ...(request.eventTypes && request.eventTypes.length > 0 ? { eventTypes: request.eventTypes } : {}),
    ...(request.limits && Object.keys(request.limits).length > 0 ? { limits: request.limits } : {}),
    createdAt: now.toISOString(),
  };
  checkScope(principal, `Give it the event types it may emit (eventTypes); role ${request.role} has none of its own`);
  if (await store.getPrincipal(request.name))
    throw new Rejection('invalid', `principal ${request.name} exists: rotate its key or change its permissions`);
  const usageKey = await assignUsageKey(principal, usageKeys);
  await store.putPrincipal(usageKey === undefined ? principal : { ...principal, usageKey });
  return {
    ...(await addKey(store, principal.principalId, now, request.expiresAt)),
    principalId: principal.principalId,
  };
}

async function addKey(store: PrincipalStore, principalId: string, now: Date, expiresAt?: Date) {
  const key = generateApiKey();
  await store.putApiKey({
    keyId: key.keyId,
    principalId,
    secretHash: key.secretHash,
    status: 'active',
    createdAt: now.toISOString(),
    ...(expiresAt ? { expiresAt: expiresAt.toISOString() } : {}),
  });
  return { keyId: key.keyId, apiKey: key.apiKey };
}

async function existingKey(store: PrincipalStore, keyId: string): Promise<ApiKeyRecord> {
  const key = await store.getApiKey(keyId);
  if (!key) throw new Rejection('not-found', `no API key ${keyId}`);
  return key;
}

export async function revokeApiKey(
  store: PrincipalStore,
  keyId: string,
): Promise<{ keyId: string; status: 'revoked'; epoch: number }> {
  const key = await existingKey(store, keyId);
  await store.putApiKey({ ...key, status: 'revoked' });
  return { keyId, status: 'revoked', epoch: await store.bumpAuthEpoch() };
}

/** A new key for the same principal; the old one keeps working for `graceSeconds` so producers can switch over. */
export async function rotateApiKey(
  store: PrincipalStore,
  keyId: string,
  graceSeconds: number,
  now = new Date(),
): Promise<IssuedKey & { oldKeyId: string; oldKeyExpiresAt: string }> {
  if (!Number.isInteger(graceSeconds) || graceSeconds < 0) throw new Rejection('invalid', 'grace must be seconds >= 0');
  const old = await existingKey(store, keyId);
  if (old.status !== 'active') throw new Rejection('invalid', `key ${keyId} is revoked`);
  const graceEnd = new Date(now.getTime() + graceSeconds * 1000);
  const oldExpiry =
    old.expiresAt && Date.parse(old.expiresAt) < graceEnd.getTime() ? old.expiresAt : graceEnd.toISOString();
  const fresh = await addKey(store, old.principalId, now);
  await store.putApiKey({ ...old, expiresAt: oldExpiry });
  await store.bumpAuthEpoch();
  return { ...fresh, principalId: old.principalId, oldKeyId: keyId, oldKeyExpiresAt: oldExpiry };
}

export type PermissionChange = 'grant' | 'ungrant' | 'revoke' | 'unrevoke';

/**
 * Adds to or removes from a principal's extra / revoked lists (the principal of the given key). A change that can
 * widen it (grant, unrevoke) is refused when the result could call POST /events but emit nothing; a narrowing one
 * (ungrant, revoke) always goes through, since refusing it would keep a permission the operator meant to take away.
 */
export async function changePermission(
  store: PrincipalStore,
  keyId: string,
  change: PermissionChange,
  permission: string,
): Promise<{ principalId: string; extra: string[]; revoked: string[] }> {
  checkGrants(change, [permission]);
  const key = await existingKey(store, keyId);
  const principal = await store.getPrincipal(key.principalId);
  if (!principal) throw new Rejection('not-found', `principal ${key.principalId} of key ${keyId} is missing`);
  const without = (list: string[]) => list.filter((p) => p !== permission);
  const extra =
    change === 'grant'
      ? [...without(principal.extra), permission]
      : change === 'ungrant'
        ? without(principal.extra)
        : principal.extra;
  const revoked =
    change === 'revoke'
      ? [...without(principal.revoked), permission]
      : change === 'unrevoke'
        ? without(principal.revoked)
        : principal.revoked;
  if (change === 'grant' || change === 'unrevoke')
    checkScope(
      { ...principal, extra, revoked },
      `Give it the event types it may emit first: tem keys grant ${keyId} PERM --event-types 'PATTERN'`,
    );
  await store.putPrincipal({ ...principal, extra, revoked });
  await store.bumpAuthEpoch();
  return { principalId: principal.principalId, extra, revoked };
}

export async function registerDevice(
  store: PrincipalStore,
  deviceId: string,
  now = new Date(),
): Promise<{ deviceId: string; token: string; principalId: string }> {
  if (!DeviceIdSchema.safeParse(deviceId).success)
    throw new Rejection('invalid', 'device id: 1-128 letters, digits, _ : or -');
  const principalId = `device:${deviceId}`;
  if (!(await store.getPrincipal(principalId)))
    await store.putPrincipal({
      principalId,
      name: deviceId,
      role: 'device',
      extra: [],
      revoked: [],
      createdAt: now.toISOString(),
    });
  const { token, tokenHash } = generateDeviceToken();
  // Registering again replaces the device's token: the way to rotate a leaked one.
  await store.putDevice({ deviceId, principalId, tokenHash, status: 'active', createdAt: now.toISOString() });
  await store.bumpAuthEpoch();
  return { deviceId, token, principalId };
}

/** Refuses the device's token from now on (its next CONNECT; authorizers drop cached decisions within seconds). */
export async function revokeDevice(
  store: PrincipalStore,
  deviceId: string,
): Promise<{ deviceId: string; status: 'revoked'; epoch: number }> {
  const device = await store.getDevice(deviceId);
  if (!device) throw new Rejection('not-found', `no device ${deviceId}`);
  await store.putDevice({ ...device, status: 'revoked' });
  return { deviceId, status: 'revoked', epoch: await store.bumpAuthEpoch() };
}

/**
 * Sets (or, with `{}`, clears) a principal's rate-limit overrides and moves it to the usage key of its new plan (the
 * principal of the given key). Also how a principal written before usage keys gets one of its own.
 */
export async function setLimits(
  store: PrincipalStore,
  keyId: string,
  limits: RateLimitsOverride,
  usageKeys: UsageKeyRegistry,
): Promise<{ principalId: string; limits: RateLimitsOverride; usageKey: string; plan: string }> {
  const key = await existingKey(store, keyId);
  const principal = await store.getPrincipal(key.principalId);
  if (!principal) throw new Rejection('not-found', `principal ${key.principalId} of key ${keyId} is missing`);
  const { limits: _old, ...rest } = principal;
  const next: PrincipalRecord = Object.keys(limits).length > 0 ? { ...rest, limits } : rest;
  const usageKey = (await assignUsageKey(next, usageKeys)) as string;
  await store.putPrincipal({ ...next, usageKey });
  await store.bumpAuthEpoch();
  return { principalId: principal.principalId, limits, usageKey, plan: planIdOfUsageKey(usageKey) ?? '' };
}
