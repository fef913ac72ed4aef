import { registerDevice, revokeDevice } from '../../shared/domain/admin';
import { MAX_FLEET_SIZE } from '../../shared/domain/device-fleet';
import { intOption, parseCommand, positionals, required, usageError } from '../lib/args';
import { defaultFleetFile } from '../lib/fleet-file';
import { deleteFleetByPrefix, registerFleetToFile } from '../lib/fleet-store';
import { helpIfAsked, result } from '../lib/output';
import { withPrincipalStore } from '../lib/stores';

export const devicesUsage = `usage: tem devices register DEVICE_ID   (registering again replaces the device token)
       tem devices register --prefix PREFIX --count N [--out FILE]
                              N devices PREFIX00000... at once; their tokens go to FILE (0600), by default
                              fleet-PREFIX.json next to the state file (again: new tokens for the same ids)
       tem devices delete --prefix PREFIX
                              delete every device whose id starts with PREFIX (credential and principal)
       tem devices revoke DEVICE_ID`;
const spec = {
  usage: devicesUsage,
  options: { prefix: { type: 'string' }, count: { type: 'string' }, out: { type: 'string' } },
} as const;

/** `tem devices register|delete|revoke`: MQTT device credentials, one at a time or as a fleet. */
export async function runDevices(argv: string[]): Promise<void> {
  helpIfAsked(argv, devicesUsage);
  const [sub, ...rest] = argv;
  if (sub !== 'register' && sub !== 'revoke' && sub !== 'delete')
    throw usageError(spec, sub === undefined ? 'missing subcommand' : `unknown subcommand "devices ${sub}"`);
  const args = parseCommand(rest, spec);
  const { prefix, count: countFlag, out } = args.values;
  if (sub === 'delete') {
    positionals(args, []);
    return result(await deleteFleetByPrefix(required(args, 'prefix')));
  }
  if (sub === 'register' && prefix !== undefined) {
    positionals(args, []);
    const count = intOption(args, 'count', { min: 1, max: MAX_FLEET_SIZE });
    if (count === undefined) throw usageError(spec, '--count is required with --prefix');
    const { devices: _tokens, ...registered } = await registerFleetToFile(
      prefix,
      count,
      out ?? defaultFleetFile(prefix),
    );
    return result(registered);
  }
  if (prefix !== undefined || countFlag !== undefined || out !== undefined)
    throw usageError(spec, '--prefix, --count and --out are for `register --prefix` and `delete --prefix`');
  const [deviceId] = positionals(args, ['DEVICE_ID']);
  if (sub === 'revoke') return result(await withPrincipalStore((store) => revokeDevice(store, deviceId)));
  return result(await withPrincipalStore((store) => registerDevice(store, deviceId)));
}
