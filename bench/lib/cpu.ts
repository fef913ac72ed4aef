import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { round } from './util';

/**
 * CPU used by processes over a phase, in cores (1.0 = one core busy the whole time), from /proc/<pid>/stat (Linux;
 * elsewhere the figures are left out). Threads count with their process: the stack's function workers are threads.
 */
let clockTicks: number | undefined;
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (which may hold spaces, inside parentheses): utime is the 14th, stime the 15th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond();
  } catch {
    return undefined;
  }
}

export interface CpuMeter {
  /** Cores used by each named process since the meter started. */
  read(): Record<string, number>;
}

export function cpuMeter(processes: readonly { name: string; pid: number }[]): CpuMeter {
  const t0 = performance.now();
  const self0 = process.cpuUsage();
  const start = new Map(processes.map((p) => [p.pid, cpuSeconds(p.pid)]));
  return {
    read() {
      const wall = (performance.now() - t0) / 1000;
      const out: Record<string, number> = {};
      // Processes of one name add up: DynamoDB's engines of one table each (ADR 0017) count as one engine.
      for (const p of processes) {
        const before = start.get(p.pid);
        const now = cpuSeconds(p.pid);
        if (before !== undefined && now !== undefined) out[p.name] = (out[p.name] ?? 0) + (now - before) / wall;
      }
      for (const name of Object.keys(out)) out[name] = round(out[name] as number, 2);
      const self = process.cpuUsage(self0);
      out['bench (load generator)'] = round((self.user + self.system) / 1e6 / wall, 2);
      return out;
    },
  };
}

export function totalCores(usage: Record<string, number>): number {
  return round(
    Object.values(usage).reduce((s, v) => s + v, 0),
    2,
  );
}
