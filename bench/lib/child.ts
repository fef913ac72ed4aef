import { fork } from 'node:child_process';
import path from 'node:path';
import { progress } from './util';

/**
 * Runs an in-process scenario (`bench/scenarios/*.child.ts`) in a child process of its own: its own environment
 * (a function's, read at module load as in a Lambda container), its own module instances and its own CPU account.
 * The child talks over IPC: `{type:'progress', line}` and one `{type:'result', data}`; its stdout (the handlers'
 * log lines, as a Lambda's go to CloudWatch) is discarded.
 */
export function runChild<T>(
  script: string,
  env: Record<string, string>,
  params: unknown,
  timeoutMs = 300_000,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const child = fork(path.resolve(script), [], {
      // BENCH_PROFILE=<dir>: each child writes a V8 CPU profile there (open it in Chrome DevTools or speedscope).
      execArgv: [
        '--import',
        'tsx',
        ...(process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : []),
      ],
      env: { ...env, BENCH_PARAMS: JSON.stringify(params) },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    let result: { data: T } | undefined;
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} did not finish in ${timeoutMs / 1000} s`));
    }, timeoutMs);
    child.on('message', (message: { type: string; line?: string; data?: T }) => {
      if (message.type === 'progress' && message.line) progress(message.line);
      if (message.type === 'result') result = { data: message.data as T };
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (result && code === 0) resolve(result.data);
      else reject(new Error(`${script} exited with ${code ?? signal}${stderr ? `:\n${stderr}` : ''}`));
    });
  });
}

/** Inside a child: its parameters, and the two messages it sends. */
export function childParams<T>(): T {
  return JSON.parse(process.env.BENCH_PARAMS ?? '{}') as T;
}

export function childProgress(line: string): void {
  process.send?.({ type: 'progress', line });
}

export async function childResult(data: unknown): Promise<void> {
  await new Promise<void>((resolve) => process.send?.({ type: 'result', data }, () => resolve()));
  process.exit(0);
}
