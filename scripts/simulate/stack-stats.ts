/**
 * The embedded stack's own counters (`GET <control>/stats`), read once a second for the progress line: records the
 * store consumer processed since the run began, and each consumer's iterator age (its lag). A deployed stack has
 * no control server (its figures are in CloudWatch): then nothing is read.
 */

export interface StackFigures {
  /** storeEvents records processed since the watcher started. */
  stored?: number;
  /** Iterator age per consumer function, ms. */
  lagMs?: Record<string, number>;
}

interface PollerStats {
  function?: unknown;
  recordsProcessed?: unknown;
  iteratorAgeMs?: unknown;
}

const STORE_CONSUMER = 'storeEvents';

/** The figures of one `/stats` answer, relative to the first one; unknown shapes give nothing, never an error. */
export function figuresOf(stats: unknown, baseline: number | undefined): { figures: StackFigures; processed?: number } {
  const pollers = (stats as { pollers?: unknown } | null)?.pollers;
  if (!Array.isArray(pollers)) return { figures: {} };
  const lagMs: Record<string, number> = {};
  let processed: number | undefined;
  for (const poller of pollers as PollerStats[]) {
    if (typeof poller.function !== 'string') continue;
    if (typeof poller.iteratorAgeMs === 'number') lagMs[poller.function] = poller.iteratorAgeMs;
    if (poller.function === STORE_CONSUMER && typeof poller.recordsProcessed === 'number')
      processed = poller.recordsProcessed;
  }
  return {
    figures: {
      ...(processed === undefined ? {} : { stored: processed - (baseline ?? processed) }),
      ...(Object.keys(lagMs).length > 0 ? { lagMs } : {}),
    },
    ...(processed === undefined ? {} : { processed }),
  };
}

export class StatsWatcher {
  private baseline: number | undefined;
  private current: StackFigures = {};
  private busy = false;

  constructor(private readonly control: string | undefined) {}

  /** Reads the counters (at most one request at a time; a slow answer skips a tick). */
  refresh(): void {
    if (!this.control || this.busy) return;
    this.busy = true;
    fetch(`${this.control}/stats`, { signal: AbortSignal.timeout(2000) })
      .then((r) => (r.ok ? r.json() : undefined))
      .then((stats: unknown) => {
        const { figures, processed } = figuresOf(stats, this.baseline);
        this.baseline ??= processed;
        this.current = figures;
      })
      .catch(() => {})
      .finally(() => {
        this.busy = false;
      });
  }

  /** The baseline is the first answer: call once before the run starts. */
  async start(): Promise<void> {
    if (!this.control) return;
    const stats = await fetch(`${this.control}/stats`, { signal: AbortSignal.timeout(2000) })
      .then((r) => (r.ok ? r.json() : undefined))
      .catch(() => undefined);
    this.baseline = figuresOf(stats, undefined).processed;
  }

  figures(): StackFigures {
    return this.current;
  }
}
