/** Small helpers shared by the benchmark's steps: progress lines, timing, summaries. */

const startedAt = performance.now();

/** One progress line on stderr, with the time since the bench started (stdout stays for the final JSON line). */
export function progress(line: string): void {
  const s = Math.floor((performance.now() - startedAt) / 1000);
  const stamp = `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
  process.stderr.write(`[bench ${stamp}] ${line}\n`);
}

/** Calls `line` every `ms` and prints what it returns, until the returned stop function is called. */
export function ticker(ms: number, line: () => string): () => void {
  const timer = setInterval(() => progress(line()), ms);
  timer.unref();
  return () => clearInterval(timer);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface Summary {
  n: number;
  /** Samples that never completed, counted as slower than any other (∞). */
  censored?: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))] as number;
}

export function summarize(values: readonly number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  const mean = sorted.reduce((s, v) => s + v, 0) / (sorted.length || 1);
  const censored = sorted.filter((v) => v === Number.POSITIVE_INFINITY).length;
  return {
    n: sorted.length,
    ...(censored > 0 ? { censored } : {}),
    p50: round(percentile(sorted, 50)),
    p99: round(percentile(sorted, 99)),
    max: round(sorted.at(-1) ?? Number.NaN),
    mean: round(mean),
  };
}

export function median(values: readonly number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
}

/** Rounds to 3 significant digits (enough for a benchmark figure, and stable in JSON). */
export function round(n: number, digits = 3): number {
  if (!Number.isFinite(n) || n === 0) return n;
  const magnitude = Math.floor(Math.log10(Math.abs(n)));
  const factor = 10 ** (digits - 1 - magnitude);
  return Math.round(n * factor) / factor;
}

/** Runs `work` over `items` with at most `concurrency` at once. */
export async function pool<T>(items: readonly T[], concurrency: number, work: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await work(items[next++] as T);
    }),
  );
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
