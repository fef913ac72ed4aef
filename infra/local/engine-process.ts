import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import {
  ENGINE_SCRIPTS,
  type EngineChoice,
  engineName,
  type Launch,
  launchFor,
  type ServiceName,
} from './engine-launch';
import { freeEnginePort, waitForPort } from './net';

/**
 * The AWS-API emulators, each in its own child process: a crash of one never takes the gateway down, and tests can
 * stop and restart one to inject faults. Kinesis and DynamoDB keep their data on disk under the state dir, so a
 * restart is an outage, not a data loss (as in AWS); SQS is in memory, so its outage closes and reopens its port
 * instead of stopping the process, and its messages survive it too.
 */

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
    reaper = spawn(process.execPath, [path.join(ENGINE_SCRIPTS, 'reaper.mjs')], {
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    reaper.unref();
    reaper.stdin?.on('error', () => {});
    liveChildren.add(reaper);
  }
  return reaper;
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
    /** Set for a table's own engine: the table it holds. */
    readonly instance?: string,
  ) {
    this.url = `http://127.0.0.1:${port}`;
  }

  static async create(
    service: ServiceName,
    choice: EngineChoice,
    stateDir: string,
    onUnexpectedExit: (engine: Engine, code: number | null) => void,
    /** A second engine of the service (one DynamoDB table's own process, ADR 0017): its data apart. */
    instance?: string,
    peers: { s3?: string } = {},
  ): Promise<Engine> {
    // kinesis-local listens on its port and the next one (TLS): both must be free.
    const port = await freeEnginePort(service === 'kinesis' && choice.kinesis === 'kinesis-local' ? 2 : 1);
    const dataDir = instance
      ? path.join(stateDir, 'data', `${service}-tables`, instance)
      : path.join(stateDir, 'data', service);
    rmSync(dataDir, { recursive: true, force: true });
    mkdirSync(dataDir, { recursive: true });
    return new Engine(
      service,
      engineName(service, choice),
      port,
      launchFor(service, choice, port, dataDir, peers),
      dataDir,
      onUnexpectedExit,
      instance,
    );
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
