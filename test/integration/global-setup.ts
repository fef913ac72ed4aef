import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import type { LocalStackInfo, StackInfo } from '../../infra/local/stack';

declare module 'vitest' {
  export interface ProvidedContext {
    stack: StackInfo;
  }
}

/** Starts `tem local` the way a person does (a child process, free ports, its own state dir), waits for `ready`. */
export async function startStackProcess(
  extraEnv: Record<string, string> = {},
): Promise<{ child: ChildProcess; info: LocalStackInfo; stateDir: string; output: () => string }> {
  const stateDir = mkdtempSync(path.join(tmpdir(), 'tem-it-'));
  const child = spawn(process.execPath, ['scripts/tem.mjs', 'local'], {
    env: { ...process.env, PORT: '0', MQTT_PORT: '0', TEM_STATE_DIR: stateDir, TEM_QUIET: '1', ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (c: Buffer) => {
    output += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    output += c.toString();
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`local stack not ready in 120 s:\n${output}`)), 120_000);
    const check = () => {
      if (/"ready":true/.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', check);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`local stack exited with ${code} before ready:\n${output}`));
    });
  });
  const info = JSON.parse(readFileSync(path.join(stateDir, 'local.json'), 'utf8')) as LocalStackInfo;
  return { child, info, stateDir, output: () => output };
}

export async function stopStackProcess(
  child: ChildProcess,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  const code = await exited;
  clearTimeout(timer);
  return code;
}

/**
 * One stack for the whole integration run. `TEM_LOCAL_STATE=path/to/local.json` reuses a running one instead (an
 * `npm start` in another terminal, or a LocalStack deployment described by `tem state --from-stack`).
 */
export default async function setup(project: TestProject) {
  const reuse = process.env.TEM_LOCAL_STATE;
  if (reuse) {
    project.provide('stack', JSON.parse(readFileSync(reuse, 'utf8')) as StackInfo);
    return;
  }
  const { child, info, stateDir } = await startStackProcess();
  project.provide('stack', info);
  return async () => {
    await stopStackProcess(child);
    rmSync(stateDir, { recursive: true, force: true });
  };
}
