import { randomUUID } from 'node:crypto';
import { sleep } from '../../bench/lib/util';
import { ownedEventId } from '../../shared/domain/events';
import type { HttpClient } from './api';

/**
 * HTTP producers beside the fleet: `producers` loops posting batches to `POST /events` with the run's producer key,
 * `rate` events per second between them. Every event carries its own idempotency key, so its id is known before
 * it is sent (ADR 0011); a 503 resends only the failed ones, a dropped request or another 5xx the whole batch, with
 * the same keys. An event counts as acknowledged once a 202 (or a 503's `accepted`) names its id.
 */

export interface HttpEvent {
  id: string;
  key: string;
  acked: boolean;
  /** performance.now() when its request was first sent. */
  sentAt: number;
}

export const HTTP_EVENT_TYPES = ['sim.order_created', 'sim.payment_succeeded', 'sim.user_signed_up'] as const;
const ATTEMPTS = 5;
const FLUSH_MS = 250;
/** A `Retry-After` longer than this is not waited for in full (a simulated producer keeps its pace). */
const RETRY_AFTER_CAP_MS = 5_000;

export interface HttpProducerOptions {
  producers: number;
  rate: number;
  batch: number;
  /** Requests per batch, the first included, before its events count as failed (default 5). */
  attempts?: number;
  /** Event types, used in turns (default HTTP_EVENT_TYPES). */
  types?: readonly string[];
}

export class HttpProducers {
  readonly events: HttpEvent[] = [];
  requests = 0;
  /** Events a 202 (or a 503's `accepted`) named. */
  acked = 0;
  /** Requests refused with a 4xx (nothing of them written), and other failures after all attempts. */
  refused = 0;
  failed = 0;
  /** Ids the stack answered that differ from the ones computed from the keys: a broken id derivation. */
  mismatchedIds = 0;
  /** Requests sent again (same keys), by the status that made them (0: no answer), and 503s with Retry-After. */
  readonly retriesByStatus: Record<string, number> = {};
  retryAfterAnswers = 0;

  constructor(
    private readonly client: HttpClient,
    private readonly apiKey: string,
    private readonly principalId: string,
    private readonly options: HttpProducerOptions,
    private readonly onSent: (event: HttpEvent) => void = () => {},
  ) {}

  /**
   * Sends `rate × durationMs / 1000` events, paced over `durationMs`, unless `stop()` says so first. A producer posts
   * when a batch is due, or what is due after FLUSH_MS: batches at high rates, no event waiting long at low ones.
   */
  async run(durationMs: number, stop: () => boolean, startedAt: number): Promise<void> {
    const share = this.options.rate / this.options.producers;
    const quota = Math.round((share * durationMs) / 1000);
    await Promise.all(
      Array.from({ length: this.options.producers }, async (_, producer) => {
        let sent = 0;
        let n = producer;
        let lastPost = performance.now();
        while (sent < quota && !stop()) {
          const now = performance.now();
          const due = Math.min(quota, Math.floor((share * (now - startedAt)) / 1000)) - sent;
          if (due < this.options.batch && (due <= 0 || now - lastPost < FLUSH_MS) && sent + due < quota) {
            await sleep(20);
            continue;
          }
          const count = Math.min(due, this.options.batch);
          const batch = Array.from({ length: count }, () => {
            const key = randomUUID();
            const types = this.options.types ?? HTTP_EVENT_TYPES;
            return { key, id: ownedEventId(this.principalId, key), type: types[n++ % types.length] as string };
          });
          sent += count;
          lastPost = now;
          await this.post(batch, producer);
        }
      }),
    );
  }

  private async post(batch: { key: string; id: string; type: string }[], producer: number): Promise<void> {
    const sentAt = performance.now();
    const events = batch.map((e): HttpEvent => ({ id: e.id, key: e.key, acked: false, sentAt }));
    this.events.push(...events);
    for (const event of events) this.onSent(event);
    let pending = batch.map((e, i) => ({ ...e, index: i }));
    for (let attempt = 1; pending.length > 0; attempt++) {
      const body = JSON.stringify({
        events: pending.map((e) => ({ id: e.key, type: e.type, data: { producer, amount: 1 + (e.index % 100) } })),
      });
      this.requests++;
      let status = 0;
      let retryAfterMs = 0;
      let answer: { ids?: string[]; accepted?: string[]; failedIndexes?: number[] } = {};
      try {
        const response = await this.client.once(
          'POST',
          '/events',
          { 'X-API-Key': this.apiKey, 'content-type': 'application/json' },
          body,
        );
        status = response.status;
        if (response.retryAfterSeconds !== undefined) {
          this.retryAfterAnswers++;
          retryAfterMs = Math.min(RETRY_AFTER_CAP_MS, response.retryAfterSeconds * 1000);
        }
        answer = JSON.parse(response.body) as typeof answer;
      } catch {
        status = 0;
      }
      if (status === 202 || status === 503) {
        const acked = new Set(status === 202 ? (answer.ids ?? []) : (answer.accepted ?? []));
        for (const e of pending) {
          const event = events[e.index] as HttpEvent;
          if (!acked.has(e.id) || event.acked) continue;
          event.acked = true;
          this.acked++;
        }
        this.mismatchedIds += status === 202 ? pending.filter((e) => !acked.has(e.id)).length : 0;
        if (status === 202) return;
        // The ingest function's 503 names what the stream did not take; any other 503 (the authorizer's, say)
        // took nothing.
        if (Array.isArray(answer.failedIndexes)) {
          const failed = new Set(answer.failedIndexes);
          pending = pending.filter((_, i) => failed.has(i));
        }
      } else if (status >= 400 && status < 500 && status !== 429) {
        this.refused++;
        return;
      }
      if (pending.length === 0) return;
      if (attempt >= (this.options.attempts ?? ATTEMPTS)) {
        this.failed++;
        return;
      }
      this.retriesByStatus[status] = (this.retriesByStatus[status] ?? 0) + 1;
      await sleep(Math.max(retryAfterMs, Math.random() * Math.min(2000, 100 * 2 ** attempt)));
    }
  }
}
