import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { LocalStackInfo } from '../../infra/local/stack';
import { progress, ticker } from './util';

/**
 * The local stack under test: `tem local` started the way a person starts it (a child process on free ports with
 * its own state dir), plus the control endpoints the bench uses (stats, mappings on/off) and CPU/RSS probes.
 */
export interface BenchStack {
  info: LocalStackInfo;
  child: ChildProcess;
  stateDir: string;
  startSeconds: number;
  stop(): Promise<void>;
}

export async function startStack(logLevel: string): Promise<BenchStack> {
  const stateDir = mkdtempSync(path.join(tmpdir(), 'tem-bench-'));
  const t0 = performance.now();
  const child = spawn(process.execPath, ['scripts/tem.mjs', 'local'], {
    env: {
      ...process.env,
      PORT: '0',
      MQTT_PORT: '0',
      TEM_STATE_DIR: stateDir,
      TEM_QUIET: '1',
      TEM_LOG_LEVEL: logLevel,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const tail: string[] = [];
  const keep = (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) if (line.trim() !== '') tail.push(line);
    tail.splice(0, Math.max(0, tail.length - 40));
  };
  child.stderr?.on('data', (chunk: Buffer) => {
    keep(chunk);
    // The stack's own warnings (an engine exiting, say) are news during a bench: pass them on.
    for (const line of chunk.toString().split('\n')) if (line.trim() !== '') progress(`[stack stderr] ${line}`);
  });
  const stopTicker = ticker(
    5000,
    () => `still starting the local stack (${Math.round((performance.now() - t0) / 1000)} s)`,
  );
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`local stack not ready in 180 s:\n${tail.join('\n')}`)), 180_000);
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      keep(chunk);
      out += chunk.toString();
      if (out.includes('"ready":true')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`local stack exited with ${code} before ready:\n${tail.join('\n')}`));
    });
  }).finally(stopTicker);
  const info = JSON.parse(readFileSync(path.join(stateDir, 'local.json'), 'utf8')) as LocalStackInfo;
  const startSeconds = (performance.now() - t0) / 1000;
  let stopped = false;
  return {
    info,
    child,
    stateDir,
    startSeconds,
    async stop() {
      if (stopped) return;
      stopped = true;
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(timer);
      }
      // BENCH_KEEP_STATE=1 keeps the stack's state dir (function logs in logs/functions.log) to look into a run.
      if (process.env.BENCH_KEEP_STATE === '1') progress(`stack state kept in ${stateDir}`);
      else rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

export interface PollerStats {
  function: string;
  recordsProcessed: number;
  invocations: number;
  recordsDiscarded?: number;
  errors?: number;
  iteratorAgeMs?: number;
  enabled?: boolean;
}

export interface StackStats {
  pollers: PollerStats[];
  functions?: Record<string, { invocations: number; coldStarts: number }>;
  authorizerInvocations?: number;
}

export async function stackStats(info: LocalStackInfo): Promise<StackStats> {
  const response = await fetch(`${info.control}/stats`);
  if (!response.ok) throw new Error(`GET /stats answered ${response.status}`);
  return (await response.json()) as StackStats;
}

export function poller(stats: StackStats, fn: string): PollerStats {
  const found = stats.pollers.find((p) => p.function === fn);
  if (!found) throw new Error(`GET /stats has no poller for ${fn}`);
  return found;
}

/**
 * `POST /mappings/<fn>/enable|disable` (UpdateEventSourceMapping Enabled=true/false). `false` when the running
 * stack has no such endpoint (an older stack): the caller then measures with the mappings on and says so.
 */
export async function setMapping(info: LocalStackInfo, fn: string, enabled: boolean): Promise<boolean> {
  const response = await fetch(`${info.control}/mappings/${fn}/${enabled ? 'enable' : 'disable'}`, { method: 'POST' });
  if (response.status === 404) return false;
  if (!response.ok) throw new Error(`POST /mappings/${fn}: ${response.status} ${await response.text()}`);
  return true;
}

/** The processes whose memory and CPU the bench reports: the stack itself (gateway, broker, workers) and engines. */
export function stackProcesses(info: LocalStackInfo): { name: string; pid: number }[] {
  const engines = Object.entries(info.engines)
    .filter(([, e]) => e.pid !== undefined)
    .map(([service, e]) => ({ name: `${e.engine} (${service})`, pid: e.pid as number }));
  for (const e of Object.values(info.tableEngines ?? {}))
    if (e.pid !== undefined) engines.push({ name: `${e.engine} (dynamodb)`, pid: e.pid });
  return [{ name: 'tem local (gateway, broker, pollers, function workers)', pid: info.pid }, ...engines];
}

/** Resident set sizes in MB, by process (`ps`, Linux and macOS). */
export function rssMb(pids: readonly number[]): Map<number, number> {
  const out = execFileSync('ps', ['-o', 'pid=,rss=', '-p', pids.join(',')], { encoding: 'utf8' });
  const result = new Map<number, number>();
  for (const line of out.split('\n')) {
    const [pid, rss] = line.trim().split(/\s+/).map(Number);
    if (pid && rss) result.set(pid, Math.round(rss / 1024));
  }
  return result;
}
