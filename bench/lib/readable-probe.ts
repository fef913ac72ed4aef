import { agent, send } from './http';
import { sleep } from './util';

/**
 * The accepted→readable probe of the latency and WebSocket steps: a bounded sample of the accepted events, each
 * polled through `GET /events/{id}` until 200. The probe must stay a small part of the load: at most `maxPollers`
 * sampled events polled at once, and a new sample only while the polls so far are within `budget` of the requests
 * sent (samples skipped either way are counted). Polls are fine (every `finePollMs`) for the first
 * `finePollUntilMs`, then a share of the time elapsed (a relative resolution).
 */
export const PROBE_DEFAULTS = {
  maxPollers: 4,
  budget: 0.2,
  finePollMs: 3,
  finePollUntilMs: 100,
  coarsePollShare: 0.05,
  timeoutMs: 30_000,
};

export type ProbeSettings = typeof PROBE_DEFAULTS;

/** One GET of an event: its HTTP status. */
export type StatusOf = (id: string) => Promise<number>;

export class ReadableProbe {
  /** From the time given with each sample to its 200; ∞ for one not readable within `timeoutMs`. */
  readonly latencyMs: number[] = [];
  readonly pollRttMs: number[] = [];
  /** ~5 samples a second whatever the rate (5 % at 100/s, 0.5 % at 1,000/s): the poller cap then rarely binds. */
  readonly every: number;
  polls = 0;
  pollers = 0;
  skipped = 0;
  timeouts = 0;
  private readonly settings: ProbeSettings;
  private readonly statusOf: StatusOf;
  private readonly close?: () => void;

  constructor(
    rate: number,
    target: { http: string; devApiKey: string } | StatusOf,
    settings: Partial<ProbeSettings> = {},
  ) {
    this.every = Math.max(1, Math.round(rate / 5));
    this.settings = { ...PROBE_DEFAULTS, ...settings };
    if (typeof target === 'function') this.statusOf = target;
    else {
      const via = agent(this.settings.maxPollers);
      this.statusOf = async (id) =>
        (await send(via, `${target.http}/events/${id}`, 'GET', { 'X-API-Key': target.devApiKey })).status;
      this.close = () => via.destroy();
    }
  }

  /** The `n`-th accepted event, `from` its reference time: polled when it is in the sample and the budget allows. */
  offer(n: number, id: string, from: number, requests: number): void {
    if (n % this.every !== 0) return;
    if (this.pollers >= this.settings.maxPollers || this.polls > this.settings.budget * requests + 20) this.skipped++;
    else void this.poll(id, from);
  }

  /** Waits for the polls still running. */
  async settle(): Promise<void> {
    while (this.pollers > 0) await sleep(20);
  }

  destroy(): void {
    this.close?.();
  }

  private async poll(id: string, from: number): Promise<void> {
    const s = this.settings;
    this.pollers++;
    try {
      for (;;) {
        const t = performance.now();
        const status = await this.statusOf(id);
        this.polls++;
        const now = performance.now();
        this.pollRttMs.push(now - t);
        if (status === 200) {
          this.latencyMs.push(now - from);
          return;
        }
        const elapsed = now - from;
        if (elapsed > s.timeoutMs) {
          // Not readable in time: slower than any readable sample (∞), so the percentiles are not flattered by it.
          this.latencyMs.push(Number.POSITIVE_INFINITY);
          this.timeouts++;
          return;
        }
        await sleep(elapsed < s.finePollUntilMs ? s.finePollMs : elapsed * s.coarsePollShare);
      }
    } catch {
      this.timeouts++;
    } finally {
      this.pollers--;
    }
  }
}
