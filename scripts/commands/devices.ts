import { registerDevice, revokeDevice } from '../../shared/domain/admin';
import { parseArgs, positionals, usageError } from '../lib/args';
import { result } from '../lib/output';
import { withPrincipalStore } from '../lib/stores';

export const devicesUsage =
  'usage: tem devices register DEVICE_ID   (registering again replaces the device token)\n       tem devices revoke DEVICE_ID';
const spec = { usage: devicesUsage };

/** `tem devices register`: an MQTT device's principal and token (shown once). */
export async function runDevices(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub !== 'register' && sub !== 'revoke')
    throw usageError(spec, sub === undefined ? 'missing subcommand' : `unknown subcommand "devices ${sub}"`);
  const [deviceId] = positionals(parseArgs(rest, spec), spec, ['DEVICE_ID']);
  if (sub === 'revoke') return result(await withPrincipalStore((store) => revokeDevice(store, deviceId)));
  return result(await withPrincipalStore((store) => registerDevice(store, deviceId)));
}
