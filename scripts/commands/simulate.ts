import { randomBytes } from 'node:crypto';
import type { StackInfo } from '../../infra/local/stack';
import { createApiKey, LOCAL_USAGE_KEYS, revokeApiKey } from '../../shared/domain/admin';
import { alertRules } from '../../shared/domain/alert-rules';
import type { FleetCredential } from '../../shared/domain/device-fleet';
import { MAX_BURST, MAX_RATE_PER_SECOND } from '../../shared/domain/rate-limits';
import { isArchivedOnly } from '../../shared/domain/storage-policy';
import { TELEMETRY_EVENT_TYPE } from '../../shared/domain/telemetry';
import { ArchiveReader } from '../lib/archive-reader';
import { defaultFleetFile, readFleetFile } from '../lib/fleet-file';
import { registerFleetToFile } from '../lib/fleet-store';
import { CliError, result } from '../lib/output';
import { readLocalState } from '../lib/state';
import { withPrincipalStore } from '../lib/stores';
import { HttpClient, StackReader } from '../simulate/api';
import { priorStates } from '../simulate/expected-alerts';
import { parseSimulateArgs, type SimulateOptions } from '../simulate/options';
import { runSimulation } from '../simulate/run';
import { buildSummary } from '../simulate/summary';

const log = (line: string) => process.stderr.write(`[simulate] ${line}\n`);

/**
 * `tem simulate`: a device fleet (one MQTT connection and credential per device) and optional HTTP producers
 * against the stack of the state file, then a reconciliation of what the stack acknowledged against what it
 * stored and the alerts it sent (docs/runbooks/local-stack.md, "Simulating a fleet"). Exit 1 on any loss,
 * duplicate or unexpected event or alert; the summary is the last stdout line either way.
 */
export async function runSimulate(argv: string[]): Promise<void> {
  const options = parseSimulateArgs(argv);
  // Any stack's state file: the embedded one's, or one `tem state --from-stack` wrote. Only its hosts are used.
  const info: StackInfo & { control?: string } = readLocalState();
  if (!info.mqtt) throw new CliError('the state file has no mqtt URL (tem state --from-stack ... --mqtt URL)');
  if (!/^(mqtts?|tcp|ssl|tls):\/\//.test(info.mqtt)) throw new CliError(`not an MQTT URL: ${info.mqtt}`);
  const adminKey = info.devApiKey;
  if (!adminKey) throw new CliError('the state file has no admin API key (tem state --from-stack ... --api-key KEY)');
  const started = performance.now();

  const devices = await fleetCredentials(options, info);
  const client = new HttpClient(info.http, options.readConcurrency + 4);
  const reader = new StackReader(client, adminKey);
  // Readings kept in the raw archive only (policies/storage.json, ADR 0018) are read back from its bucket.
  const archive = isArchivedOnly(TELEMETRY_EVENT_TYPE) ? ArchiveReader.of(info) : undefined;
  const prior = priorStates(await priorAlerts(reader), new Set(devices.map((d) => d.deviceId)));
  const producer = options.httpProducers > 0 ? await producerCredential(info) : undefined;
  try {
    const run = await runSimulation({
      options,
      target: {
        http: info.http,
        mqtt: info.mqtt,
        aws: info.target === 'aws',
        ...(info.target === 'embedded' && info.control ? { control: info.control } : {}),
      },
      devices,
      reader,
      ...(archive ? { archive } : {}),
      prior,
      ...(producer ? { producerKey: producer } : {}),
      log,
    });
    const summary = buildSummary({
      ...run,
      options,
      info,
      phases: { ...run.phases, total: Math.round(performance.now() - started) / 1000 },
    });
    for (const line of summary.problems) log(line);
    result(summary.json);
    if (!summary.json.ok) process.exitCode = 1;
  } finally {
    client.close();
    archive?.close();
    if (producer) await withPrincipalStore((store) => revokeApiKey(store, producer.keyId), info);
  }
}

/** The run's devices: registered now (fresh tokens, written to the fleet file), or the fleet file's (--reuse). */
async function fleetCredentials(options: SimulateOptions, info: StackInfo): Promise<FleetCredential[]> {
  const file = options.fleetFile ?? defaultFleetFile(options.prefix);
  if (options.reuse) {
    const fleet = readFleetFile(file);
    if (fleet.http !== info.http)
      throw new CliError(`${file} holds devices of the stack at ${fleet.http}, not of ${info.http}`);
    if (fleet.devices.length < options.devices)
      throw new CliError(`${file} holds ${fleet.devices.length} devices, fewer than --devices ${options.devices}`);
    log(`reusing ${options.devices} devices of ${file}`);
    return fleet.devices.slice(0, options.devices);
  }
  log(`registering ${options.devices} devices ${options.prefix}00000...`);
  const registered = await registerFleetToFile(options.prefix, options.devices, file, info);
  log(`registered in ${registered.seconds} s; tokens in ${file}`);
  return registered.devices;
}

/**
 * What the stack already holds about these devices' alerts: every open alert (the run's first reading resolves
 * it), and the resolved ones raised within the longest cooldown (a raise within its cooldown prevents a new one).
 */
async function priorAlerts(reader: StackReader) {
  const longest = Math.max(0, ...alertRules.map((r) => r.cooldownMinutes));
  const since = new Date(Date.now() - (longest + 5) * 60_000).toISOString();
  return [...(await reader.alerts({ state: 'open' })), ...(await reader.alerts({ state: 'resolved', since }))];
}

/**
 * A producer principal and key for this run only (revoked at the end), allowed to emit `sim.*` events. On the
 * embedded stack it gets the stage's ceiling as its own rate limit (ADR 0013): the run measures the pipeline, not the
 * producer role's limit (`--http-rate` may ask for more requests than a producer is allowed).
 */
async function producerCredential(info: StackInfo) {
  const name = `sim-http-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
  const embedded = (info.target ?? 'embedded') === 'embedded';
  return withPrincipalStore(
    (store) =>
      createApiKey(
        store,
        {
          name,
          role: 'producer',
          eventTypes: ['sim.*'],
          ...(embedded ? { limits: { rate: MAX_RATE_PER_SECOND, burst: MAX_BURST } } : {}),
        },
        new Date(),
        embedded ? LOCAL_USAGE_KEYS : undefined,
      ),
    info,
  );
}
