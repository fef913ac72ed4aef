import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { round } from './util';

/**
 * One reported figure: a value, the baseline measured side by side in the same run, their ratio, and what limits
 * the value. `display` strings carry composite values (p50 / p99 / max) for the table; the numbers stay in JSON.
 */
export interface Figure {
  id: string;
  step: string;
  name: string;
  value: number;
  unit: string;
  display?: string;
  baseline: { name: string; value: number; unit: string; display?: string };
  /** value ÷ baseline. */
  ratio: number;
  ratioDisplay?: string;
  /** Which way is better for the value: lower (times, calls) or higher (rates). */
  better: 'lower' | 'higher';
  /** The docs table the figure goes in: the main one, or the per-handler cold-start table. */
  table?: 'main' | 'coldstart';
  limitedBy: string;
}

export interface Check {
  name: string;
  ok: boolean;
  /** Could not be decided in the time the bench allows (a backlog still draining): reported, not a failure. */
  unverified?: boolean;
  detail: string;
}

export interface Machine {
  cpuModel: string;
  cores: number;
  nodeVersion: string;
  platform: string;
  totalMemoryMb: number;
  loadAverageAtStart: number[];
  loadAverageAtEnd?: number[];
  /**
   * Share of CPU time the hypervisor gave to other guests while the bench ran (Linux `steal` in /proc/stat): on a
   * shared VM the cores this run could use were fewer than `cores` by that much.
   */
  cpuStealPercent?: number;
}

/** Cumulative CPU ticks (all, steal) from /proc/stat, or undefined off Linux. */
export function cpuTicks(): { total: number; steal: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const fields = line.trim().split(/\s+/).slice(1).map(Number);
    return { total: fields.reduce((a, b) => a + b, 0), steal: fields[7] ?? 0 };
  } catch {
    return undefined;
  }
}

export function stealPercent(from: ReturnType<typeof cpuTicks>, to: ReturnType<typeof cpuTicks>): number | undefined {
  if (!from || !to || to.total <= from.total) return undefined;
  return round((100 * (to.steal - from.steal)) / (to.total - from.total), 1);
}

export function machine(): Machine {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    nodeVersion: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    totalMemoryMb: Math.round(os.totalmem() / 1024 / 1024),
    loadAverageAtStart: os.loadavg().map((l) => round(l, 2)),
  };
}

export function gitState(): { commit: string; dirty: boolean } {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const status = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' });
    return { commit, dirty: status.trim() !== '' };
  } catch {
    return { commit: 'unknown', dirty: false };
  }
}

export function ratioOf(value: number, baseline: number): number {
  return baseline === 0 || !Number.isFinite(baseline) ? Number.NaN : round(value / baseline, 3);
}

const fmt = (n: number): string => {
  if (!Number.isFinite(n)) return 'n/a';
  const r = round(n);
  return Math.abs(r) >= 1000 ? r.toLocaleString('en-US') : String(r);
};

export function valueText(v: { value: number; unit: string; display?: string }): string {
  return v.display ?? `${fmt(v.value)} ${v.unit}`.trim();
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

export interface ResultsDocument {
  benchmark: string;
  date: string;
  mode: 'full' | 'quick';
  steps: string[];
  durationSeconds: number;
  machine: Machine;
  git: { commit: string; dirty: boolean };
  engines: Record<string, string>;
  settings: Record<string, unknown>;
  figures: Figure[];
  checks: Check[];
  failures: string[];
  details: Record<string, unknown>;
}

/** A markdown table with its columns padded, as the repository's formatter (Biome) aligns them. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const all = [header, ...rows].map((r) => r.map(cell));
  const widths = header.map((_, c) => Math.max(3, ...all.map((r) => [...(r[c] ?? '')].length)));
  const line = (r: readonly string[]) =>
    `| ${r.map((v, c) => v + ' '.repeat((widths[c] ?? 0) - [...v].length)).join(' | ')} |`;
  return [line(all[0] ?? []), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...all.slice(1).map(line)];
}

/** The block between the docs markers: the table, the checks, and how to reproduce. */
export function markdownBlock(doc: ResultsDocument): string {
  const m = doc.machine;
  const engines = Object.entries(doc.engines)
    .map(([service, engine]) => `${engine} (${service})`)
    .join(', ');
  const ratioText = (f: Figure) => f.ratioDisplay ?? (Number.isFinite(f.ratio) ? `${fmt(f.ratio)}×` : 'n/a');
  const byStep = [...doc.figures].sort((a, b) => a.step.localeCompare(b.step, 'en', { numeric: true }));
  const main = byStep.filter((x) => (x.table ?? 'main') === 'main');
  const coldStarts = byStep.filter((x) => x.table === 'coldstart');
  return [
    `_Generated by \`npm run bench\` (${doc.mode} run, ${doc.steps.join(', ')}) on ${doc.date.slice(0, 10)}: ${m.cpuModel}, ${m.cores} cores, Node ${m.nodeVersion}; engines ${engines}; commit ${doc.git.commit}${doc.git.dirty ? ' with uncommitted changes' : ''}; ${Math.round(doc.durationSeconds)} s; machine load average ${m.loadAverageAtStart[0]} at the start${m.loadAverageAtEnd ? `, ${m.loadAverageAtEnd[0]} at the end` : ''} (above ${m.cores} means other work shared the cores)${m.cpuStealPercent === undefined ? '' : `; CPU steal ${m.cpuStealPercent} % (time the hypervisor gave to other guests)`}. Raw figures: [bench/results.json](../bench/results.json)._`,
    '',
    ...markdownTable(
      ['figure', 'value', 'baseline (same run)', 'ratio', 'what limits it'],
      main.map((f) => [
        `${f.step} ${f.name}`,
        valueText(f),
        `${valueText(f.baseline)}: ${f.baseline.name}`,
        ratioText(f),
        f.limitedBy,
      ]),
    ),
    '',
    'Ratio = value ÷ baseline: for times and calls above 1 is worse than the baseline, for rates below 1 is.',
    ...(coldStarts.length === 0
      ? []
      : [
          '',
          'Cold start per handler (step 4: median of the runs, process start → module imported and handler ready):',
          '',
          ...markdownTable(
            ['handler', 'cold start', 'ratio to the empty handler', 'import, bundle'],
            coldStarts.map((f) => [`\`${f.name}\``, valueText(f), `${fmt(f.ratio)}×`, f.limitedBy]),
          ),
        ]),
    '',
    ...markdownTable(
      ['check', 'result'],
      doc.checks.map((c) => [c.name, `${c.ok ? 'ok' : c.unverified ? 'not verified' : '**FAILED**'}: ${c.detail}`]),
    ),
    '',
    'Reproduce: `npm ci && npm run bench` from a clean clone (about 6 minutes on 2 cores; it starts its own local stack on',
    'free ports and stops it). `BENCH_QUICK=1` is a ~1 minute smoke run, `BENCH_ONLY=<step>[,<step>]` runs some steps',
    '(authorizer, ingest, consumers, coldstart, throughput, latency, memory, websocket); both write their results to a temp',
    'file and leave this block alone unless `BENCH_WRITE=1`. Nothing in `npm test` asserts a timing.',
  ].join('\n');
}

/**
 * JSON as the repository's formatter (Biome) writes it, so a generated results file passes `biome check`: objects
 * one key a line, arrays of plain values on one line when they fit in 120 columns.
 */
export function formatJson(value: unknown): string {
  const text = JSON.stringify(value, null, 2);
  const collapsed = text.replace(
    /\[\n(\s*)([^[\]{}]*?)\n\s*\]/g,
    (match, _indent: string, body: string, offset: number) => {
      const items = body.split(',\n').map((item) => item.trim());
      const line = `[${items.join(', ')}]`;
      const lineStart = text.lastIndexOf('\n', offset) + 1;
      return offset - lineStart + line.length <= 120 ? line : match;
    },
  );
  return `${collapsed}\n`;
}

export const START_MARKER = '<!-- bench:start -->';
export const END_MARKER = '<!-- bench:end -->';

/**
 * Replaces the block between the markers in `docs/performance.md` (the rest of the file is someone else's). A file
 * without markers gets them appended at its end; a missing file is an error, never created here.
 */
export function updateDocsBlock(file: string, block: string): string {
  if (!existsSync(file))
    throw new Error(
      `${file} does not exist: the bench writes only its block between ${START_MARKER} and ${END_MARKER} in it, it does not create the file`,
    );
  let text = readFileSync(file, 'utf8');
  let note = 'replaced the block';
  const start = text.indexOf(START_MARKER);
  const end = text.indexOf(END_MARKER);
  if (start < 0 && end < 0) {
    text = `${text.replace(/\n*$/, '\n')}\n${START_MARKER}\n${END_MARKER}\n`;
    note = 'appended the markers at the end of the file and filled them';
  } else if (start < 0 || end < start) {
    throw new Error(`${file}: the markers ${START_MARKER} ... ${END_MARKER} are incomplete or out of order`);
  }
  const s = text.indexOf(START_MARKER);
  const e = text.indexOf(END_MARKER);
  const next = `${text.slice(0, s + START_MARKER.length)}\n${block}\n${text.slice(e)}`;
  writeFileSync(file, next);
  return note;
}
