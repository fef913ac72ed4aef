import type { StackInfo } from '../../infra/local/stack';
import { DynamoPrincipalStore } from '../../shared/aws/dynamo-principal-store';
import { deleteFleet, type FleetCredential, registerFleet } from '../../shared/domain/device-fleet';
import type { DeviceFleetStore, PrincipalStore } from '../../shared/ports';
import { writeFleetFile } from './fleet-file';
import { CliError } from './output';
import { readLocalState } from './state';
import { withPrincipalStore } from './stores';

/** The stack's principal store as a fleet store (batch writes), for `tem devices` and `tem simulate`. */
function withFleetStore<T>(
  info: StackInfo,
  action: (store: PrincipalStore & DeviceFleetStore) => Promise<T>,
): Promise<T> {
  return withPrincipalStore((store) => {
    if (!(store instanceof DynamoPrincipalStore)) throw new CliError('this principal store cannot register fleets');
    return action(store);
  }, info);
}

/** Registers `count` devices under `prefix` and writes their tokens to `file` (0600). */
export async function registerFleetToFile(
  prefix: string,
  count: number,
  file: string,
  info: StackInfo = readLocalState(),
): Promise<{ prefix: string; count: number; file: string; seconds: number; devices: FleetCredential[] }> {
  const started = performance.now();
  const fleet = await withFleetStore(info, (store) => registerFleet(store, prefix, count));
  writeFleetFile(file, { prefix, http: info.http, devices: fleet.devices });
  return { prefix, count, file, seconds: Math.round(performance.now() - started) / 1000, devices: fleet.devices };
}

export function deleteFleetByPrefix(
  prefix: string,
  info: StackInfo = readLocalState(),
): Promise<{ prefix: string; deleted: number; epoch: number }> {
  return withFleetStore(info, (store) => deleteFleet(store, prefix));
}
