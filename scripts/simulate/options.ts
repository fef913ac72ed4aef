import { parseArgs } from 'node:util';
import { topology } from '../../infra/topology';
import { MAX_FLEET_SIZE } from '../../shared/domain/device-fleet';
import { isArchivedOnly } from '../../shared/domain/storage-policy';
import { TELEMETRY_EVENT_TYPE } from '../../shared/domain/telemetry';
import { CliError, helpIfAsked } from '../lib/output';

/** `tem simulate` arguments, with the hard caps that keep a run bounded in time, count and memory. */

export const simulateUsage = `usage: tem simulate --devices N --rate R --duration S [options]

  --devices N               simulated devices, each its own MQTT connection (1..${MAX_FLEET_SIZE}, default 10)
  --rate R                  readings per second across the fleet (1..5000, default 1 per device)
  --duration S              seconds of publishing (1..600, default 30)
  --anomalies PCT           percent of readings that start an anomaly (over an alert threshold, then normal again;
                            default 0)
  --http-producers P        HTTP producers beside the fleet, with a producer key made for the run (0..32, default 0)
  --http-rate R2            events per second across the producers (1..5000, default 50)
  --http-batch B            events per POST /events (1..500, default 25)
  --basic-ingest            publish to $aws/rules/deviceTelemetry/devices/<id>/telemetry (IoT Basic Ingest)
  --prefix P                device id prefix (default sim-); devices are P00000, P00001, ...
  --reuse                   use the devices and tokens of --fleet-file instead of registering them again
  --fleet-file FILE         fleet credentials (default fleet-<prefix>.json next to the state file)
  --seed N                  reading generator seed (default random; the summary shows it)
  --connect-concurrency C   MQTT CONNECTs in flight at once (1..500, default 50)
  --settle S                seconds to wait after publishing for every reading and alert (1..600, default 60;
                            with readings kept in the raw archive, its buffer interval + 60: objects land then)
  --read-concurrency C      sources read back at once (1..64, default 8)

Targets the stack of the state file (.tem/local.json, or TEM_LOCAL_STATE). Progress on stderr once a second; the
summary JSON on stdout; exit 1 if any acknowledged event is not stored exactly once or any expected alert did not
arrive exactly once.`;

/** Archived readings become readable one Firehose buffer later (ADR 0018): the read-back waits that much longer. */
const DEFAULT_SETTLE_SECONDS = isArchivedOnly(TELEMETRY_EVENT_TYPE)
  ? topology.archives.rawArchive.bufferIntervalSeconds + 60
  : 60;

export interface SimulateOptions {
  devices: number;
  rate: number;
  duration: number;
  anomalies: number;
  httpProducers: number;
  httpRate: number;
  httpBatch: number;
  basicIngest: boolean;
  prefix: string;
  reuse: boolean;
  fleetFile?: string;
  seed: number;
  connectConcurrency: number;
  settle: number;
  readConcurrency: number;
}

/** Readings a run may hold in memory (rate × duration); a device may not publish more than 50 per second. */
export const MAX_READINGS = 1_000_000;
export const MAX_DEVICE_RATE = 50;

function number(
  values: Record<string, string | boolean | undefined>,
  flag: string,
  range: { min: number; max: number; fallback: number; integer?: boolean },
): number {
  const raw = values[flag];
  if (raw === undefined) return range.fallback;
  const value = typeof raw === 'string' && /^-?\d+(\.\d+)?$/.test(raw) ? Number(raw) : Number.NaN;
  const integer = range.integer ?? true;
  if (Number.isNaN(value) || (integer && !Number.isInteger(value)) || value < range.min || value > range.max)
    throw new CliError(
      `--${flag} must be ${integer ? 'an integer' : 'a number'} from ${range.min} to ${range.max}, got "${String(raw)}"\n${simulateUsage}`,
      2,
    );
  return value;
}

export function parseSimulateArgs(argv: readonly string[], random: () => number = Math.random): SimulateOptions {
  helpIfAsked(argv, simulateUsage);
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        devices: { type: 'string' },
        rate: { type: 'string' },
        duration: { type: 'string' },
        anomalies: { type: 'string' },
        'http-producers': { type: 'string' },
        'http-rate': { type: 'string' },
        'http-batch': { type: 'string' },
        'basic-ingest': { type: 'boolean' },
        prefix: { type: 'string' },
        reuse: { type: 'boolean' },
        'fleet-file': { type: 'string' },
        seed: { type: 'string' },
        'connect-concurrency': { type: 'string' },
        settle: { type: 'string' },
        'read-concurrency': { type: 'string' },
      },
    }));
  } catch (error) {
    throw new CliError(`${(error as Error).message}\n${simulateUsage}`, 2);
  }
  const devices = number(values, 'devices', { min: 1, max: MAX_FLEET_SIZE, fallback: 10 });
  const rate = number(values, 'rate', { min: 1, max: 5000, fallback: Math.min(5000, devices) });
  const duration = number(values, 'duration', { min: 1, max: 600, fallback: 30 });
  if (rate * duration > MAX_READINGS)
    throw new CliError(`--rate × --duration is at most ${MAX_READINGS} readings, got ${rate * duration}`, 2);
  if (rate > devices * MAX_DEVICE_RATE)
    throw new CliError(`--rate is at most ${MAX_DEVICE_RATE} readings per second per device`, 2);
  const prefix = typeof values.prefix === 'string' ? values.prefix : 'sim-';
  if (!/^[A-Za-z0-9_:-]{1,100}$/.test(prefix)) throw new CliError('--prefix: 1-100 letters, digits, _ : or -', 2);
  const httpProducers = number(values, 'http-producers', { min: 0, max: 32, fallback: 0 });
  const httpRate = number(values, 'http-rate', { min: 1, max: 5000, fallback: 50 });
  if (httpProducers > 0 && httpRate * duration > MAX_READINGS)
    throw new CliError(`--http-rate × --duration is at most ${MAX_READINGS} events, got ${httpRate * duration}`, 2);
  return {
    devices,
    rate,
    duration,
    anomalies: number(values, 'anomalies', { min: 0, max: 100, fallback: 0, integer: false }),
    httpProducers,
    httpRate,
    httpBatch: number(values, 'http-batch', { min: 1, max: 500, fallback: 25 }),
    basicIngest: values['basic-ingest'] === true,
    prefix,
    reuse: values.reuse === true,
    ...(typeof values['fleet-file'] === 'string' ? { fleetFile: values['fleet-file'] } : {}),
    seed: number(values, 'seed', { min: 0, max: 2 ** 32 - 1, fallback: Math.floor(random() * 2 ** 32) }),
    connectConcurrency: number(values, 'connect-concurrency', { min: 1, max: 500, fallback: 50 }),
    settle: number(values, 'settle', { min: 1, max: 600, fallback: DEFAULT_SETTLE_SECONDS }),
    readConcurrency: number(values, 'read-concurrency', { min: 1, max: 64, fallback: 8 }),
  };
}
