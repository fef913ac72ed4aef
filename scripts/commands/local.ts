import { type RunningStack, startLocalStack } from '../../infra/local/stack';
import { CliError, result } from '../lib/output';
import { stateDir } from '../lib/state';

function port(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > 65535)
    throw new CliError(`${name} must be a port number (0 picks a free one), got "${raw}"`);
  return value;
}

function scheduleInterval(raw: string | undefined): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 1 || value > 86_400)
    throw new CliError(`TEM_LOCAL_SCHEDULE_SECONDS must be 1..86400 seconds, got "${raw}"`);
  return value;
}

function windowCap(raw: string | undefined): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0 || value > 300)
    throw new CliError(`TEM_LOCAL_MAX_BATCHING_WINDOW_SECONDS must be 0..300 seconds, got "${raw}"`);
  return value;
}

/** `tem local`: runs the embedded local stack until SIGINT/SIGTERM, then stops every process it started. */
export async function runLocal(): Promise<void> {
  // One handler for the whole life of the process, installed before anything starts: a signal during start-up
  // exits at once (the engines' exit hook kills whatever was already started); afterwards it stops the stack in
  // order. Never swap handlers: between removing one and adding another a signal would find none and kill us.
  let stack: RunningStack | undefined;
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (!stack) {
      process.stdout.write(`[tem] ${signal} during start-up: stopping\n`);
      process.exit(130);
    }
    if (stopping) {
      // A second Ctrl-C: stop now. The exit hook still kills every engine; in-flight batches stay in the stream.
      process.stdout.write(`[tem] ${signal} again: stopping at once\n`);
      process.exit(130);
    }
    stopping = true;
    stack.expectEngineExits();
    process.stdout.write(`[tem] ${signal}: stopping\n`);
    stack.stop().then(
      () => {
        result({ stopped: true, signal });
        process.exit(0);
      },
      (error: Error) => {
        process.stderr.write(`[tem] stop failed: ${error.message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  stack = await startLocalStack({
    port: port('PORT', 3000),
    mqttPort: port('MQTT_PORT', 1883),
    stateDir: stateDir(),
    logLevel: process.env.TEM_LOG_LEVEL ?? 'INFO',
    echoFunctionLogs: process.env.TEM_QUIET !== '1',
    progress: (line) => process.stdout.write(`${line}\n`),
    // TEM_SETTING_<NAME>=value overrides a function setting, e.g. TEM_SETTING_JWT_TRUSTED_ISSUERS='[...]'.
    // A cap on every consumer's batching window, for tests that must not wait out the metrics consumer's minute.
    maxBatchingWindowSeconds: windowCap(process.env.TEM_LOCAL_MAX_BATCHING_WINDOW_SECONDS),
    // Scheduled functions run every this many seconds instead of their rate (tests: not a minute's wait).
    scheduleIntervalSeconds: scheduleInterval(process.env.TEM_LOCAL_SCHEDULE_SECONDS),
    settings: Object.fromEntries(
      Object.entries(process.env)
        .filter(([k, v]) => k.startsWith('TEM_SETTING_') && v !== undefined)
        .map(([k, v]) => [k.slice('TEM_SETTING_'.length), v as string]),
    ),
  });
  // Last resort: whatever happens, no emulator outlives this process.
  const running = stack;
  process.on('exit', () => running.killEngines());
  result({ ready: true, http: stack.info.http, mqtt: stack.info.mqtt, control: stack.info.control });
  await new Promise(() => {});
}
