import { sleep } from '../../bench/lib/util';
import type { StackReader } from './api';
import { idle } from './idle';
import { Latencies } from './progress';

/**
 * Send → stored latency from a sample: when a probe is free, the event just sent is polled with `GET /events/{id}`
 * until it is there. Few probes at once, so that measuring costs the stack little; polling is fine at first and
 * coarser later, so the figure is within ~10 % for short latencies and within 250 ms for long ones.
 */
export class StoreSampler {
  readonly latencies = { mqtt: new Latencies(), http: new Latencies() };
  timedOut = 0;
  private active = 0;
  /** No new samples once closed; probes end once stopped. */
  private closed = false;
  private stopped = false;
  private readonly probes = new Set<Promise<void>>();

  constructor(
    private readonly reader: StackReader,
    private readonly slots = 2,
    private readonly timeoutMs = 60_000,
  ) {}

  /** Samples this event if a probe is free; `sentAt` is `performance.now()` when it was sent. */
  offer(id: string, sentAt: number, kind: 'mqtt' | 'http'): void {
    if (this.closed || this.active >= this.slots) return;
    this.active++;
    const probe = this.probe(id, sentAt, this.latencies[kind]).finally(() => {
      this.active--;
      this.probes.delete(probe);
    });
    this.probes.add(probe);
  }

  private async probe(id: string, sentAt: number, into: Latencies): Promise<void> {
    while (!this.stopped) {
      const elapsed = performance.now() - sentAt;
      if (elapsed > this.timeoutMs) break;
      const status = await this.reader.eventStatus(id).catch(() => 0);
      if (status === 200) return into.add(performance.now() - sentAt);
      await sleep(elapsed < 500 ? 20 : elapsed < 2000 ? 100 : 250);
    }
    this.timedOut++;
  }

  /** No new samples; the probes in flight get `graceMs` to finish. */
  async stop(graceMs = 5_000): Promise<void> {
    this.closed = true;
    await Promise.race([Promise.allSettled([...this.probes]), idle(graceMs)]);
    this.stopped = true;
    await Promise.allSettled([...this.probes]);
  }
}
