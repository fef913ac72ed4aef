import { parseArgs } from 'node:util';

/**
 * `npm run soak` arguments. The mix is fixed and small (a loopback run on a shared 2-core machine); only the
 * duration moves, and the outages and the counts scale with it, so every run stays bounded in count and time.
 */

export const soakUsage = `usage: npm run soak -- [--duration S] [--seed N]

  --duration S   seconds of traffic (20..600, default 60); the Kinesis, DynamoDB and SQS engines are each
                 stopped once during it, for a few seconds, one after the other
  --seed N       reading generator seed (default random; the summary shows it)

Starts its own embedded stack on free ports (a temporary state dir), sends valid and invalid HTTP events and MQTT
readings while it stops and restarts the engines, waits for the pipeline to drain, and reconciles. Progress on
stderr once a second; the summary JSON on stdout; exit 1 on any loss, duplicate or unexpected outcome.`;

export interface SoakOptions {
  duration: number;
  seed: number;
  /** Simulated devices (each its own MQTT connection) and their readings per second across the fleet. */
  devices: number;
  readingRate: number;
  /** Readings per second, across the fleet, that are invalid (they must end in telemetryErrors). */
  invalidRate: number;
  /** HTTP producer principals, each with its own key, and events per second each. */
  httpProducers: number;
  httpRate: number;
  httpBatch: number;
  /** Bad HTTP requests per second (each must get a 4xx). */
  badRate: number;
  /** Longest wait for the pipeline to drain after the traffic, seconds. */
  drainSeconds: number;
}

export class UsageError extends Error {}

export function parseSoakArgs(argv: readonly string[], random: () => number = Math.random): SoakOptions {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: { duration: { type: 'string' }, seed: { type: 'string' }, help: { type: 'boolean' } },
    }));
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n${soakUsage}`);
  }
  if (values.help) throw new UsageError(soakUsage);
  const integer = (flag: string, min: number, max: number, fallback: number) => {
    const raw = values[flag];
    if (raw === undefined) return fallback;
    const n = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
    if (!Number.isInteger(n) || n < min || n > max)
      throw new UsageError(`--${flag} must be an integer from ${min} to ${max}, got "${String(raw)}"\n${soakUsage}`);
    return n;
  };
  return {
    duration: integer('duration', 20, 600, 60),
    seed: integer('seed', 0, 2 ** 32 - 1, Math.floor(random() * 2 ** 32)),
    devices: 20,
    readingRate: 20,
    invalidRate: 1,
    httpProducers: 3,
    httpRate: 15,
    httpBatch: 10,
    badRate: 2,
    drainSeconds: 120,
  };
}
