import { percentile, round, type Summary, sleep, summarize } from '../../lib/util';
import { KEY_STRIDE, SLOW, TYPES, typeName, typeOfSubscriber } from './shape';
import type { Subscriber } from './subscribers';

/** After the load: deliveries still arriving are waited for, at most this long, and no longer than STALL_MS idle. */
const DRAIN_MS = 30_000;
const STALL_MS = 5_000;

/** One measured load: what was sent, what was accepted when, and every delivery seen. */
export class Load {
  readonly acceptedAt: Float64Array;
  readonly scheduledAt: Float64Array;
  readonly typeOf: Uint8Array;
  readonly ids: (string | undefined)[];
  readonly delivered = new Map<number, number>();
  received = 0;
  duplicates = 0;
  foreign = 0;
  slowReceived = 0;
  constructor(
    readonly name: string,
    readonly total: number,
  ) {
    this.acceptedAt = new Float64Array(total).fill(Number.NaN);
    this.scheduledAt = new Float64Array(total).fill(Number.NaN);
    this.typeOf = new Uint8Array(total);
    this.ids = new Array(total);
  }

  record(subscriber: number, n: number, at: number, type: string): void {
    if (subscriber === SLOW) {
      this.slowReceived++;
      return;
    }
    if (!Number.isInteger(n) || n < 0 || n >= this.total || type !== typeName(this.typeOf[n] as number)) {
      this.foreign++;
      return;
    }
    if (typeOfSubscriber(subscriber) !== this.typeOf[n]) {
      this.foreign++;
      return;
    }
    const key = n * KEY_STRIDE + subscriber;
    if (this.delivered.has(key)) {
      this.duplicates++;
      return;
    }
    this.delivered.set(key, at);
    this.received++;
  }
}

/** Waits until `expected` deliveries are in, at most DRAIN_MS and no longer than STALL_MS without one more. */
export async function drainDeliveries(load: Load, expected: number) {
  const t0 = performance.now();
  let grewAt = t0;
  let last = -1;
  for (;;) {
    const now = performance.now();
    if (load.received >= expected) return { seconds: round((now - t0) / 1000), complete: true, stalled: false };
    if (load.received > last) grewAt = now;
    last = load.received;
    if (now - grewAt > STALL_MS) return { seconds: undefined, complete: false, stalled: true };
    if (now - t0 > DRAIN_MS) return { seconds: undefined, complete: false, stalled: false };
    await sleep(100);
  }
}

export const withP95 = (values: number[]): Summary & { p95: number } => {
  const sorted = [...values].sort((a, b) => a - b);
  return { ...summarize(sorted), p95: round(percentile(sorted, 95)) };
};

/** Every (accepted event, matching subscriber) pair: its latencies, ∞ when it never arrived. */
export function deliveryFigures(load: Load, subscribers: readonly Subscriber[]) {
  const byType = Array.from({ length: TYPES }, () => [] as number[]);
  for (const s of subscribers) if (s.index !== SLOW) byType[typeOfSubscriber(s.index)]?.push(s.index);
  const accepted: number[] = [];
  const sent: number[] = [];
  let expected = 0;
  let acceptedEvents = 0;
  let beforeAnswer = 0;
  for (let n = 0; n < load.total; n++) {
    const acceptedAt = load.acceptedAt[n] as number;
    if (Number.isNaN(acceptedAt)) continue;
    acceptedEvents++;
    for (const sub of byType[load.typeOf[n] as number] ?? []) {
      expected++;
      const at = load.delivered.get(n * KEY_STRIDE + sub);
      if (at === undefined) {
        accepted.push(Number.POSITIVE_INFINITY);
        sent.push(Number.POSITIVE_INFINITY);
        continue;
      }
      if (at < acceptedAt) beforeAnswer++;
      accepted.push(at - acceptedAt);
      sent.push(at - (load.scheduledAt[n] as number));
    }
  }
  // Deliveries of events whose POST was not answered 202 (a refused or failed request that got through anyway).
  let deliveredUnaccepted = 0;
  for (const key of load.delivered.keys())
    if (Number.isNaN(load.acceptedAt[Math.floor(key / KEY_STRIDE)] as number)) deliveredUnaccepted++;
  return {
    acceptedEvents,
    expected,
    received: load.received,
    missing: accepted.filter((v) => v === Number.POSITIVE_INFINITY).length,
    duplicates: load.duplicates,
    foreign: load.foreign,
    deliveredUnaccepted,
    deliveredBeforeTheAnswerWasRead: beforeAnswer,
    acceptedToDeliveredMs: withP95(accepted),
    sendToDeliveredMs: withP95(sent),
  };
}

export function gapsOf(subscribers: readonly Subscriber[]) {
  return {
    gaps: subscribers.filter((s) => s.index !== SLOW).reduce((n, s) => n + s.gaps, 0),
    outOfOrder: subscribers.filter((s) => s.index !== SLOW).reduce((n, s) => n + s.outOfOrder, 0),
  };
}

export const stacked = (s: Summary & { p95: number }) =>
  `p50 ${s.p50} ms · p95 ${s.p95} ms · p99 ${s.p99} ms · max ${s.max} ms`;
