import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { build, stop as stopEsbuild } from 'esbuild';
import { type BundleOptions, bundleOptions, localTarget } from '../bundling';
import type { FunctionName, FunctionSpec } from '../topology';

/** How a Lambda invocation failed, in the shape Lambda reports it. */
export class FunctionError extends Error {
  override readonly name = 'FunctionError';
  constructor(
    readonly functionName: string,
    readonly errorType: string,
    readonly errorMessage: string,
  ) {
    super(`${functionName}: ${errorType}: ${errorMessage}`);
  }
}

const repoRoot = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const runtimeFile = path.join(repoRoot, 'infra', 'local', 'lambda-runtime.mjs');

/** The shared bundle options (infra/bundling.ts) as esbuild's build options: what the local stack builds with. */
export function esbuildOptions(options: BundleOptions) {
  return {
    bundle: true,
    format: options.format,
    platform: options.platform,
    target: options.target,
    minify: options.minify,
    sourcemap: options.sourcemap,
    mainFields: options.mainFields,
    banner: { js: options.banner },
    external: options.external,
  } as const;
}

/**
 * Bundles every function with esbuild and the options `NodejsFunction` uses for AWS, for the Node running the stack,
 * so both targets run the same artefact. The container runtime enables source maps (lambda-runtime.mjs), as
 * `NODE_OPTIONS=--enable-source-maps` does in AWS: stack traces of the minified code name the TypeScript sources.
 */
export async function bundleFunctions(
  functions: Readonly<Record<FunctionName, FunctionSpec>>,
  outDir: string,
): Promise<Record<FunctionName, string>> {
  mkdirSync(outDir, { recursive: true });
  const entryPoints = Object.fromEntries(
    Object.entries(functions).map(([name, spec]) => [name, path.join(repoRoot, spec.entry)]),
  );
  await build({
    ...esbuildOptions(bundleOptions(localTarget())),
    entryPoints,
    outdir: outDir,
    outExtension: { '.js': '.mjs' },
    logLevel: 'error',
  });
  // esbuild's API keeps its service process (~600 MB resident) alive until told otherwise: one build is all we need.
  await stopEsbuild();
  return Object.fromEntries(
    Object.keys(functions).map((name) => [name, pathToFileURL(path.join(outDir, `${name}.mjs`)).href]),
  ) as Record<FunctionName, string>;
}

type LogSink = (functionName: string, line: string) => void;

interface Invocation {
  event: unknown;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

/** Scheduling priority of a container thread (0 = as the engines; see lambda-runtime.mjs). `TEM_FUNCTION_NICE`. */
const CONTAINER_NICE = (() => {
  const raw = process.env.TEM_FUNCTION_NICE || '5';
  const nice = Number(raw);
  if (!Number.isInteger(nice) || nice < 0 || nice > 19)
    throw new Error(`TEM_FUNCTION_NICE must be 0..19, got "${raw}"`);
  return nice;
})();

/** How many containers one function may run at once locally (Lambda scales much further; a laptop does not). */
const DEFAULT_MAX_CONTAINERS = 4;

/**
 * One execution environment: a worker thread with the function's own environment and module instance. Like a
 * Lambda container it runs ONE invocation at a time, so module-level state behaves as it does in AWS.
 */
class Container {
  private readonly worker: Worker;
  readonly ready: Promise<void>;
  private current: { id: string; invocation: Invocation; timer: NodeJS.Timeout } | undefined;
  dead = false;

  constructor(
    private readonly name: string,
    private readonly spec: FunctionSpec,
    bundleUrl: string,
    env: Record<string, string>,
    log: LogSink,
    private readonly onDead: (container: Container) => void,
  ) {
    this.worker = new Worker(runtimeFile, {
      workerData: { bundle: bundleUrl, functionName: name, memoryMb: spec.memoryMb, nice: CONTAINER_NICE },
      env,
      stdout: true,
      stderr: true,
      resourceLimits: { maxOldGenerationSizeMb: spec.memoryMb },
    });
    const forward = (stream: NodeJS.ReadableStream) => {
      let buffered = '';
      stream.on('data', (chunk: Buffer) => {
        buffered += chunk.toString();
        let nl = buffered.indexOf('\n');
        while (nl >= 0) {
          log(name, buffered.slice(0, nl));
          buffered = buffered.slice(nl + 1);
          nl = buffered.indexOf('\n');
        }
      });
    };
    forward(this.worker.stdout);
    forward(this.worker.stderr);
    this.ready = new Promise<void>((resolve, reject) => {
      this.worker.on('message', (message: WorkerMessage) => {
        if (message.type === 'ready') resolve();
        else if (message.type === 'init-error') {
          reject(new FunctionError(name, message.error.errorType, message.error.errorMessage));
          this.kill();
        } else if (message.type === 'result') this.settle(message);
      });
      const fail = (why: string) => {
        const error = new FunctionError(name, 'Runtime.ExitError', why);
        reject(error);
        this.finish()?.reject(error);
        this.kill();
      };
      this.worker.on('error', (error) => fail(error.message));
      this.worker.on('exit', () => fail('container exited'));
    });
    // An init failure is reported to the invocation that waits for it; keep it from being an unhandled rejection.
    this.ready.catch(() => {});
  }

  /** Taken by an invocation that waits for this container's cold start. */
  reserved = false;

  get busy(): boolean {
    return this.reserved || this.current !== undefined;
  }

  run(invocation: Invocation): void {
    const id = randomUUID();
    const timeoutMs = this.spec.timeoutSeconds * 1000;
    const timer = setTimeout(() => {
      this.finish()?.reject(
        new FunctionError(this.name, 'Sandbox.Timedout', `Task timed out after ${this.spec.timeoutSeconds}.00 seconds`),
      );
      // As in Lambda, a timed-out environment is not reused.
      this.kill();
    }, timeoutMs);
    this.current = { id, invocation, timer };
    this.worker.postMessage({ id, event: invocation.event, deadline: Date.now() + timeoutMs, requestId: id });
  }

  private finish(): Invocation | undefined {
    const current = this.current;
    if (!current) return undefined;
    clearTimeout(current.timer);
    this.current = undefined;
    return current.invocation;
  }

  private settle(message: ResultMessage): void {
    if (this.current?.id !== message.id) return;
    const invocation = this.finish();
    if (message.ok) invocation?.resolve(message.result);
    else invocation?.reject(new FunctionError(this.name, message.error.errorType, message.error.errorMessage));
    this.onDead(this); // not dead: a "settled" signal that lets the pool hand it the next invocation
  }

  kill(): void {
    if (this.dead) return;
    this.dead = true;
    void this.worker.terminate();
    this.onDead(this);
  }
}

/**
 * One local function: a pool of containers that grows on demand up to a limit (a cold start each), with
 * invocations queued when every container is busy. A timeout or crash discards that container only.
 */
export class LocalFunction {
  private readonly containers = new Set<Container>();
  private readonly queue: Invocation[] = [];
  private readonly maxContainers: number;
  invocations = 0;
  coldStarts = 0;

  constructor(
    readonly name: string,
    readonly spec: FunctionSpec,
    private readonly bundleUrl: string,
    private readonly env: Record<string, string>,
    private readonly log: LogSink,
    maxContainers = DEFAULT_MAX_CONTAINERS,
  ) {
    this.maxContainers = maxContainers;
  }

  /** Synchronous (RequestResponse) invocation: the handler's result, or a FunctionError. */
  invoke(event: unknown): Promise<unknown> {
    this.invocations++;
    return new Promise((resolve, reject) => {
      this.queue.push({ event, resolve, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      let idle: Container | undefined;
      for (const c of this.containers) if (!c.dead && !c.busy) idle = c;
      if (!idle && this.containers.size < this.maxContainers) idle = this.coldStart();
      if (!idle) return;
      const invocation = this.queue.shift() as Invocation;
      const container = idle;
      // Reserved while its init finishes (a cold start), then it runs this invocation.
      container.reserved = true;
      container.ready.then(
        () => {
          container.reserved = false;
          if (container.dead) {
            this.queue.unshift(invocation);
            this.dispatch();
            return;
          }
          container.run(invocation);
        },
        (error: Error) => {
          container.reserved = false;
          invocation.reject(error);
        },
      );
    }
  }

  private coldStart(): Container {
    this.coldStarts++;
    const container = new Container(this.name, this.spec, this.bundleUrl, this.env, this.log, (c) => {
      if (c.dead) this.containers.delete(c);
      this.dispatch();
    });
    this.containers.add(container);
    return container;
  }

  async stop(): Promise<void> {
    for (const c of this.containers) c.kill();
    this.containers.clear();
    for (const invocation of this.queue.splice(0))
      invocation.reject(new FunctionError(this.name, 'Runtime.ExitError', 'stack stopping'));
  }
}

type ResultMessage =
  | { type: 'result'; id: string; ok: true; result: unknown }
  | { type: 'result'; id: string; ok: false; error: { errorType: string; errorMessage: string } };
type WorkerMessage =
  | { type: 'ready' }
  | { type: 'init-error'; error: { errorType: string; errorMessage: string } }
  | ResultMessage;
