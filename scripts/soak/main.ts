/**
 * `npm run soak [-- --duration S]`: a bounded reliability run on this machine, against an embedded stack of its
 * own (free ports, a temporary state dir, as `npm run bench` starts one). Valid and invalid HTTP events and MQTT
 * readings for the duration, each engine (Kinesis, DynamoDB, SQS) stopped and started once meanwhile, then a drain
 * and a reconciliation (summary.ts says what fails a run). Only loopback is ever called. Progress on stderr; the
 * summary JSON is the last stdout line; exit 0 when everything reconciled, 1 when not, 2 on bad arguments.
 */
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import { type BenchStack, startStack } from '../../bench/lib/stack';
import { createApiKey } from '../../shared/domain/admin';
import { registerFleetToFile } from '../lib/fleet-store';
import { result } from '../lib/output';
import { withPrincipalStore } from '../lib/stores';
import { parseSoakArgs, type SoakOptions, UsageError } from './options';
import { type Credential, runSoak } from './run';
import { buildSoakSummary } from './summary';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const started = performance.now();
const log = (line: string) => {
  const s = Math.floor((performance.now() - started) / 1000);
  process.stderr.write(`[soak +${s}s] ${line}\n`);
};

async function credentials(stack: BenchStack, options: SoakOptions) {
  const file = path.join(stack.stateDir, 'fleet-soak.json');
  const fleet = await registerFleetToFile('soak-', options.devices, file, stack.info);
  const key = (name: string): Promise<Credential> =>
    withPrincipalStore(
      (store) => createApiKey(store, { name, role: 'producer', eventTypes: ['soak.*'] }),
      stack.info,
    ).then((k) => ({ apiKey: k.apiKey, principalId: k.principalId }));
  const producers: Credential[] = [];
  for (let i = 0; i < options.httpProducers; i++) producers.push(await key(`soak-producer-${i}`));
  return { devices: fleet.devices, producers, bad: await key('soak-bad-producer') };
}

async function main(): Promise<number> {
  let options: SoakOptions;
  try {
    options = parseSoakArgs(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`${error.message}\n`);
    return 2;
  }
  log(`starting an embedded stack (duration ${options.duration} s, seed ${options.seed})`);
  const stack = await startStack('WARN');
  const onSignal = () => {
    log('interrupted: stopping the stack');
    stack.stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    log(`stack ready in ${stack.startSeconds.toFixed(1)} s at ${stack.info.http}, ${stack.info.mqtt}`);
    const creds = await credentials(stack, options);
    const run = await runSoak({ options, info: stack.info, ...creds, log });
    const { json, problems } = buildSoakSummary(run, options, {
      seconds: {
        stackStart: Math.round(stack.startSeconds * 10) / 10,
        total: Math.round(performance.now() - started) / 1000,
      },
      machine: {
        cpus: cpus().length,
        loadAverage1m: Math.round((loadavg()[0] ?? 0) * 100) / 100,
        node: process.version,
      },
    });
    for (const line of problems) log(line);
    log(json.ok ? 'soak passed: everything accepted is stored exactly once' : 'soak FAILED');
    result(json);
    return json.ok ? 0 : 1;
  } finally {
    await stack.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`soak: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    result({ ok: false, error: error instanceof Error ? error.message : String(error) });
    process.exit(1);
  },
);
