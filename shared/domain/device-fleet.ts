import type { DeviceFleetStore, DeviceRegistration, PrincipalStore } from '../ports';
import { generateDeviceToken } from './credentials';
import { Rejection } from './errors';
import { DeviceIdSchema } from './telemetry';

/**
 * Fleets: many devices registered at once under a common id prefix (`<prefix>00000`, `<prefix>00001`, ...), for
 * load and end-to-end runs (`tem devices register --prefix --count`, `tem simulate`). The items are exactly those
 * `registerDevice` writes, written in batches; tokens are made here, shown once, and only their hashes are stored.
 */
export const MAX_FLEET_SIZE = 20_000;
/** Digits of the index: fixed, so the first N devices of any fleet under a prefix are the same ids. */
const INDEX_DIGITS = String(MAX_FLEET_SIZE - 1).length;
const PREFIX = /^[A-Za-z0-9_:-]{1,100}$/;

export interface FleetCredential {
  deviceId: string;
  token: string;
}

export function checkFleetPrefix(prefix: string): void {
  if (!PREFIX.test(prefix)) throw new Rejection('invalid', 'prefix: 1-100 letters, digits, _ : or -');
}

/** The ids of a fleet of `count` devices: `<prefix>` and a zero-padded index. */
export function fleetDeviceIds(prefix: string, count: number): string[] {
  checkFleetPrefix(prefix);
  if (!Number.isInteger(count) || count < 1 || count > MAX_FLEET_SIZE)
    throw new Rejection('invalid', `count: an integer from 1 to ${MAX_FLEET_SIZE}`);
  return Array.from({ length: count }, (_, i) => `${prefix}${String(i).padStart(INDEX_DIGITS, '0')}`);
}

/** The items to write and the tokens to hand out, for a fresh token per device. */
export function planFleet(
  prefix: string,
  count: number,
  now: Date,
  newToken: () => { token: string; tokenHash: string } = generateDeviceToken,
): { registrations: DeviceRegistration[]; credentials: FleetCredential[] } {
  const createdAt = now.toISOString();
  const registrations: DeviceRegistration[] = [];
  const credentials: FleetCredential[] = [];
  for (const deviceId of fleetDeviceIds(prefix, count)) {
    if (!DeviceIdSchema.safeParse(deviceId).success) throw new Rejection('invalid', `device id ${deviceId}`);
    const principalId = `device:${deviceId}`;
    const { token, tokenHash } = newToken();
    registrations.push({
      principal: { principalId, name: deviceId, role: 'device', extra: [], revoked: [], createdAt },
      device: { deviceId, principalId, tokenHash, status: 'active', createdAt },
    });
    credentials.push({ deviceId, token });
  }
  return { registrations, credentials };
}

/**
 * Registers (or re-registers: new tokens, the old ones refused from the next CONNECT) a fleet. Unlike
 * `registerDevice`, an existing device principal is replaced too, with the plain `device` role: a fleet prefix is
 * for simulated devices, not for real ones with hand-edited permissions.
 */
export async function registerFleet(
  store: PrincipalStore & DeviceFleetStore,
  prefix: string,
  count: number,
  now = new Date(),
): Promise<{ prefix: string; count: number; devices: FleetCredential[]; epoch: number }> {
  const { registrations, credentials } = planFleet(prefix, count, now);
  await store.putDevicesBatch(registrations);
  return { prefix, count, devices: credentials, epoch: await store.bumpAuthEpoch() };
}

/** Removes every device whose id starts with `prefix` (credential and principal). */
export async function deleteFleet(
  store: PrincipalStore & DeviceFleetStore,
  prefix: string,
): Promise<{ prefix: string; deleted: number; epoch: number }> {
  checkFleetPrefix(prefix);
  const ids = await store.listDeviceIds(prefix);
  if (ids.length > 0) await store.deleteDevicesBatch(ids);
  return { prefix, deleted: ids.length, epoch: await store.bumpAuthEpoch() };
}
