import { execFile } from 'node:child_process';
import path from 'node:path';
import { inject } from 'vitest';

/** `tem` as an operator runs it: a child process on the stack's state file, its JSON answer on the last stdout line. */
export interface CliRun {
  code: number;
  out: Record<string, unknown>;
  stdout: string;
  stderr: string;
  seconds: number;
}

const CLI = path.resolve('scripts/tem.mjs');

export function tem(args: readonly string[], timeoutMs = 60_000): Promise<CliRun> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env: { ...process.env, TEM_LOCAL_STATE: inject('stateFile') }, timeout: timeoutMs, maxBuffer: 64 * 2 ** 20 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        const last = stdout.trim().split('\n').at(-1) ?? '';
        try {
          const out = JSON.parse(last) as Record<string, unknown>;
          resolve({ code, out, stdout, stderr, seconds: (performance.now() - started) / 1000 });
        } catch {
          reject(
            new Error(`tem ${args.join(' ')}: last stdout line is not JSON (exit ${code}):\n${stdout}\n${stderr}`),
          );
        }
      },
    );
  });
}
