import os from 'node:os';
import type { Check, Figure } from './report';
import type { BenchStack } from './stack';
import { round, type Summary } from './util';

/** What every step gets: the mode, the stack (when the step needs one) and where to put its figures. */
export interface BenchContext {
  quick: boolean;
  /** Short id of this run: names of the bench's own streams, tables, sources and devices. */
  run: string;
  logLevel: string;
  stack: BenchStack | undefined;
  figures: Figure[];
  checks: Check[];
  details: Record<string, unknown>;
  settings: Record<string, unknown>;
}

export function needStack(ctx: BenchContext): BenchStack {
  if (!ctx.stack) throw new Error('this step needs the local stack');
  return ctx.stack;
}

const ms = (n: number) => (Number.isFinite(n) ? `${round(n)} ms` : '∞');

/** "p50 1.2 ms · p99 3.4 ms" (and max when asked). */
export function latencyText(s: Summary, withMax = false): string {
  return `p50 ${ms(s.p50)} · p99 ${ms(s.p99)}${withMax ? ` · max ${ms(s.max)}` : ''}`;
}

/** A latency figure: value = p50, both percentiles shown, ratio on each. */
export function latencyFigure(
  f: Omit<Figure, 'value' | 'unit' | 'display' | 'baseline' | 'ratio' | 'ratioDisplay' | 'better'>,
  value: Summary,
  baseline: { name: string; summary: Summary },
  withMax = false,
  note = '',
): Figure {
  const r50 = round(value.p50 / baseline.summary.p50, 3);
  const r99 = round(value.p99 / baseline.summary.p99, 3);
  const x = (r: number) => (Number.isFinite(r) ? `${r}×` : '∞');
  return {
    ...f,
    value: value.p50,
    unit: 'ms',
    display: `${latencyText(value, withMax)} (n=${value.n}${value.censored ? `, ${value.censored} never arrived: ∞` : ''}${note ? `; ${note}` : ''})`,
    baseline: {
      name: baseline.name,
      value: baseline.summary.p50,
      unit: 'ms',
      display: `${latencyText(baseline.summary, withMax)} (n=${baseline.summary.n})`,
    },
    ratio: r50,
    ratioDisplay: `p50 ${x(r50)} · p99 ${x(r99)}`,
    better: 'lower',
  };
}

/**
 * What limits a figure, as far as CPU tells: the bench's processes (stack, engines, load generator) using most of
 * the cores means CPU; otherwise `otherwise`, with the CPU they used and the machine's load (a shared machine's
 * other work shows there).
 */
export function limitText(usage: Record<string, number>, otherwise: string): string {
  const cores = os.cpus().length;
  const total = Object.values(usage).reduce((s, v) => s + v, 0);
  if (total >= 0.85 * cores) return `CPU: ${cpuText(usage, cores)}`;
  return `${otherwise} (CPU: ${cpuText(usage, cores)}; machine load average ${round(os.loadavg()[0] ?? 0, 2)})`;
}

/** "stack 1.31 + kinesalite 0.42 + bench 0.2 = 1.93 of 2 cores". */
export function cpuText(usage: Record<string, number>, cores: number): string {
  const short = (name: string) => name.replace(/ \(.*$/, '').replace('tem local', 'stack');
  const parts = Object.entries(usage)
    .filter(([, v]) => v >= 0.05)
    .sort((a, b) => b[1] - a[1])
    .map(([name, v]) => `${short(name)} ${v}`);
  const total = round(
    Object.values(usage).reduce((s, v) => s + v, 0),
    2,
  );
  return `${parts.join(' + ')} = ${total} of ${cores} cores`;
}
