import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { build } from 'esbuild';
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

/** Bundles every function with esbuild, as `NodejsFunction` does for AWS, so both targets run the same artefact. */
export async function bundleFunctions(
  functions: Readonly<Record<FunctionName, FunctionSpec>>,
  outDir: string,
): Promise<Record<FunctionName, string>> {
  mkdirSync(outDir, { recursive: true });
  const entryPoints = Object.fromEntries(
    Object.entries(functions).map(([name, spec]) => [name, path.join(repoRoot, spec.entry)]),
  );
  await build({
    entryPoints,
    outdir: outDir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: 'linked',
    logLevel: 'error',
    mainFields: ['module', 'main'],
    banner: { js: "import { createRequire as __cr } from 'module'; const require = __cr(import.meta.url);" },
  });
  return Object.fromEntries(
    Object.keys(functions).map((name) => [name, pathToFileURL(path.join(outDir, `${name}.mjs`)).href]),
  ) as Record<FunctionName, string>;
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

type LogSink = (functionName: string, line: string) => void;

/**
 * One local function: a worker thread ("container") with the function's own environment. A timeout kills the
 * container and the next invocation cold-starts a new one, as Lambda does.
 */
export class LocalFunction {
  private worker: Worker | undefined;
  private ready: Promise<void> | undefined;
  private readonly pending = new Map<string, Pending>();
  invocations = 0;
  coldStarts = 0;

  constructor(
    readonly name: string,
    readonly spec: FunctionSpec,
    private readonly bundleUrl: string,
    private readonly env: Record<string, string>,
    private readonly log: LogSink,
  ) {}

  private start(): Promise<void> {
    if (this.ready) return this.ready;
    this.coldStarts++;
    const worker = new Worker(runtimeFile, {
      workerData: { bundle: this.bundleUrl, functionName: this.name, memoryMb: this.spec.memoryMb },
      env: this.env,
      stdout: true,
      stderr: true,
      resourceLimits: { maxOldGenerationSizeMb: this.spec.memoryMb },
    });
    this.worker = worker;
    const forward = (stream: NodeJS.ReadableStream) => {
      let buffered = '';
      stream.on('data', (chunk: Buffer) => {
        buffered += chunk.toString();
        let nl = buffered.indexOf('\n');
        while (nl >= 0) {
          this.log(this.name, buffered.slice(0, nl));
          buffered = buffered.slice(nl + 1);
          nl = buffered.indexOf('\n');
        }
      });
    };
    forward(worker.stdout);
    forward(worker.stderr);
    this.ready = new Promise<void>((resolve, reject) => {
      worker.on('message', (message: WorkerMessage) => {
        if (message.type === 'ready') resolve();
        else if (message.type === 'init-error') {
          reject(new FunctionError(this.name, message.error.errorType, message.error.errorMessage));
          this.discard(worker);
        } else if (message.type === 'result') this.settle(message);
      });
      worker.on('error', (error) => {
        reject(new FunctionError(this.name, 'Runtime.ExitError', error.message));
        this.failAll(new FunctionError(this.name, 'Runtime.ExitError', error.message));
        this.discard(worker);
      });
      worker.on('exit', () => {
        this.failAll(new FunctionError(this.name, 'Runtime.ExitError', 'container exited'));
        this.discard(worker);
      });
    });
    // An init failure is reported to each invocation; keep it from surfacing as an unhandled rejection here.
    this.ready.catch(() => {});
    return this.ready;
  }

  private discard(worker: Worker): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    this.ready = undefined;
    void worker.terminate();
  }

  private settle(message: ResultMessage): void {
    const pending = this.pending.get(message.id);
    if (!pending) return;
    this.pending.delete(message.id);
    clearTimeout(pending.timer);
    if (message.ok) pending.resolve(message.result);
    else pending.reject(new FunctionError(this.name, message.error.errorType, message.error.errorMessage));
  }

  private failAll(error: Error): void {
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.reject(error);
      this.pending.delete(id);
    }
  }

  /** Synchronous (RequestResponse) invocation: the handler's result, or a FunctionError. */
  async invoke(event: unknown): Promise<unknown> {
    this.invocations++;
    await this.start();
    const worker = this.worker;
    if (!worker) throw new FunctionError(this.name, 'Runtime.ExitError', 'container not available');
    const id = randomUUID();
    const timeoutMs = this.spec.timeoutSeconds * 1000;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(
          new FunctionError(
            this.name,
            'Sandbox.Timedout',
            `Task timed out after ${this.spec.timeoutSeconds}.00 seconds`,
          ),
        );
        this.discard(worker);
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      worker.postMessage({ id, event, deadline: Date.now() + timeoutMs, requestId: id });
    });
  }

  async stop(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    this.ready = undefined;
    if (worker) await worker.terminate();
  }
}

type ResultMessage =
  | { type: 'result'; id: string; ok: true; result: unknown }
  | { type: 'result'; id: string; ok: false; error: { errorType: string; errorMessage: string } };
type WorkerMessage =
  | { type: 'ready' }
  | { type: 'init-error'; error: { errorType: string; errorMessage: string } }
  | ResultMessage;
