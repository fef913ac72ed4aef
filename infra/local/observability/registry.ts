import type { HistogramSample, Labels, MetricFamily, ScalarSample } from './prometheus';

/**
 * Counters, gauges and histograms the local stack keeps itself (what the functions' EMF lines report, what each
 * invocation took). Recording is a map lookup and an addition: it runs on the stack's main thread, per flush or per
 * invocation, never per event. No I/O.
 */

/** Seconds: from a fast local hop (a few ms) to a consumer that is minutes behind. */
export const LATENCY_BUCKETS_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300] as const;

const keyOf = (labels: Labels) =>
  Object.keys(labels)
    .sort()
    .map((k) => `${k}\u0000${labels[k]}`)
    .join('\u0001');

class Series<T> {
  readonly byKey = new Map<string, { labels: Labels; value: T }>();
  constructor(private readonly initial: () => T) {}
  get(labels: Labels): { labels: Labels; value: T } {
    const key = keyOf(labels);
    let entry = this.byKey.get(key);
    if (!entry) {
      entry = { labels: { ...labels }, value: this.initial() };
      this.byKey.set(key, entry);
    }
    return entry;
  }
}

export class Counter {
  private readonly series = new Series(() => ({ n: 0 }));
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(labels: Labels = {}, by = 1): void {
    if (by > 0) this.series.get(labels).value.n += by;
  }
  family(): MetricFamily {
    const samples: ScalarSample[] = [...this.series.byKey.values()].map((e) => ({
      labels: e.labels,
      value: e.value.n,
    }));
    return { name: this.name, help: this.help, type: 'counter', samples };
  }
}

export class Gauge {
  private readonly series = new Series(() => ({ n: 0 }));
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  set(labels: Labels, value: number): void {
    this.series.get(labels).value.n = value;
  }
  family(): MetricFamily {
    const samples: ScalarSample[] = [...this.series.byKey.values()].map((e) => ({
      labels: e.labels,
      value: e.value.n,
    }));
    return { name: this.name, help: this.help, type: 'gauge', samples };
  }
}

export class Histogram {
  private readonly series = new Series(() => ({ counts: new Array<number>(this.bounds.length).fill(0), sum: 0, n: 0 }));
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[] = LATENCY_BUCKETS_SECONDS,
  ) {}
  observe(labels: Labels, value: number): void {
    const s = this.series.get(labels).value;
    const v = Math.max(0, value);
    // Non-cumulative per bucket here; cumulated when collected.
    const i = this.bounds.findIndex((b) => v <= b);
    if (i >= 0) s.counts[i] = (s.counts[i] ?? 0) + 1;
    s.sum += v;
    s.n++;
  }
  family(): MetricFamily {
    const samples: HistogramSample[] = [...this.series.byKey.values()].map(({ labels, value }) => {
      let running = 0;
      const buckets = this.bounds.map((b, i) => {
        running += value.counts[i] ?? 0;
        return [b, running] as const;
      });
      return { labels, buckets, sum: value.sum, count: value.n };
    });
    return { name: this.name, help: this.help, type: 'histogram', samples };
  }
}

type Metric = Counter | Gauge | Histogram;

export class MetricRegistry {
  private readonly metrics = new Map<string, Metric>();

  counter(name: string, help: string): Counter {
    return this.getOrCreate(name, Counter, () => new Counter(name, help));
  }

  gauge(name: string, help: string): Gauge {
    return this.getOrCreate(name, Gauge, () => new Gauge(name, help));
  }

  histogram(name: string, help: string, bounds?: readonly number[]): Histogram {
    return this.getOrCreate(name, Histogram, () => new Histogram(name, help, bounds));
  }

  /** Whether `name` is taken by a metric of another kind (the caller then drops what it meant to record). */
  conflicts(name: string, kind: 'counter' | 'gauge' | 'histogram'): boolean {
    const existing = this.metrics.get(name);
    if (!existing) return false;
    const kindOf = existing instanceof Counter ? 'counter' : existing instanceof Gauge ? 'gauge' : 'histogram';
    return kindOf !== kind;
  }

  collect(): MetricFamily[] {
    return [...this.metrics.values()].map((m) => m.family());
  }

  private getOrCreate<T extends Metric>(name: string, kind: new (...args: never[]) => T, create: () => T): T {
    const existing = this.metrics.get(name);
    if (existing instanceof kind) return existing;
    if (existing) throw new Error(`metric ${name} is already registered as another kind`);
    const metric = create();
    this.metrics.set(name, metric);
    return metric;
  }
}
