import { type Summary, summarize } from '../../bench/lib/util';

/** The run's live figures: latency samples kept in bounded memory, and the once-a-second progress line. */

/** A uniform sample of at most `capacity` values (reservoir sampling): memory stays flat however long the run. */
export class Latencies {
  private readonly values: number[] = [];
  private seen = 0;

  constructor(
    private readonly capacity = 10_000,
    private readonly random: () => number = Math.random,
  ) {}

  add(ms: number): void {
    this.seen++;
    if (this.values.length < this.capacity) this.values.push(ms);
    else {
      const slot = Math.floor(this.random() * this.seen);
      if (slot < this.capacity) this.values[slot] = ms;
    }
  }

  get count(): number {
    return this.seen;
  }

  summary(): Summary | undefined {
    return this.values.length === 0 ? undefined : { ...summarize(this.values), n: this.seen };
  }
}

export interface ProgressSnapshot {
  elapsedSeconds: number;
  connected: number;
  devices: number;
  /** Readings sent in the last second. */
  sentPerSecond: number;
  sent: number;
  acked: number;
  inflight: number;
  errors: number;
  /** Records the store consumer processed since the run began (embedded stack only). */
  stored?: number;
  sendToStored?: Summary;
  alerts: number;
  readingToAlert?: Summary;
  /** Iterator age per stream consumer, ms (embedded stack only). */
  lagMs?: Readonly<Record<string, number>>;
  http?: { sent: number; acked: number };
}

const ms = (s: Summary | undefined) => (s ? `p50 ${Math.round(s.p50)} p99 ${Math.round(s.p99)} ms` : 'n/a');

export function progressLine(p: ProgressSnapshot): string {
  const s = Math.floor(p.elapsedSeconds);
  const stamp = `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
  const parts = [
    `conn ${p.connected}/${p.devices}`,
    `sent ${p.sentPerSecond}/s (${p.sent})`,
    `acked ${p.acked}`,
    `inflight ${p.inflight}`,
    ...(p.stored === undefined ? [] : [`stored ${p.stored}`]),
    `errors ${p.errors}`,
    `send→stored ${ms(p.sendToStored)}`,
    `alerts ${p.alerts} reading→alert ${ms(p.readingToAlert)}`,
    ...(p.http ? [`http ${p.http.acked}/${p.http.sent}`] : []),
    ...(p.lagMs && Object.keys(p.lagMs).length > 0
      ? [
          `lag ${Object.entries(p.lagMs)
            .map(([fn, age]) => `${fn} ${Math.round(age)} ms`)
            .join(', ')}`,
        ]
      : []),
  ];
  return `[simulate ${stamp}] ${parts.join(' | ')}`;
}
