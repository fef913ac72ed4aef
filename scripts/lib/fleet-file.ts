import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { FleetCredential } from '../../shared/domain/device-fleet';
import { CliError } from './output';
import { stateDir } from './state';

/**
 * The credentials of a registered fleet (`tem devices register --prefix --count`): device ids and tokens, in a file
 * only its owner may read (0600), next to the state file of the stack they belong to. `tem simulate --reuse` reads it.
 */
const FleetFileSchema = z.object({
  prefix: z.string(),
  /** The HTTP URL of the stack the devices are registered with: a file is only good for that stack. */
  http: z.string(),
  createdAt: z.string(),
  devices: z.array(z.object({ deviceId: z.string(), token: z.string() })),
});
export type FleetFile = z.infer<typeof FleetFileSchema>;

/** `<dir of the state file>/fleet-<prefix>.json`. */
export function defaultFleetFile(prefix: string, env: NodeJS.ProcessEnv = process.env): string {
  const stateFile = env.TEM_LOCAL_STATE ?? path.join(stateDir(env), 'local.json');
  return path.join(path.dirname(path.resolve(stateFile)), `fleet-${prefix.replace(/[^A-Za-z0-9_-]/g, '_')}.json`);
}

/** Written to a temporary file created 0600, then renamed over the target: never readable by others, never half. */
export function writeFleetFile(
  file: string,
  fleet: { prefix: string; http: string; devices: FleetCredential[] },
): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const body: FleetFile = {
    prefix: fleet.prefix,
    http: fleet.http,
    createdAt: new Date().toISOString(),
    devices: fleet.devices,
  };
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(body)}\n`, { mode: 0o600 });
  chmodSync(temporary, 0o600);
  renameSync(temporary, file);
}

export function readFleetFile(file: string): FleetFile {
  if (!existsSync(file))
    throw new CliError(`no fleet credentials at ${file}: run \`tem devices register --prefix P --count N\` first`);
  const parsed = FleetFileSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  if (!parsed.success) throw new CliError(`${file} is not a fleet credentials file: ${parsed.error.message}`);
  return parsed.data;
}
