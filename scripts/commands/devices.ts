import { registerDevice } from '../../shared/domain/admin';
import { parseArgs, positionals, usageError } from '../lib/args';
import { result } from '../lib/output';
import { withPrincipalStore } from '../lib/stores';

export const devicesUsage = 'usage: tem devices register DEVICE_ID   (registering again replaces the device token)';
const spec = { usage: devicesUsage };

/** `tem devices register`: an MQTT device's principal and token (shown once). */
export async function runDevices(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub !== 'register')
    throw usageError(spec, sub === undefined ? 'missing subcommand' : `unknown subcommand "devices ${sub}"`);
  const [deviceId] = positionals(parseArgs(rest, spec), spec, ['DEVICE_ID']);
  return result(await withPrincipalStore((store) => registerDevice(store, deviceId)));
}
