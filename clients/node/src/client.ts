import { apiKeyCredential, type Credential, jwtCredential, tokenCredential } from './auth.js';
import { BatchQueue, type Pending, wireSize } from './batcher.js';
import { deliver, type RetryInfo } from './delivery.js';
import { TemBufferFullError, TemClosedError, TemDeliveryError, TemValidationError } from './errors.js';
import { type EventInput, LIMITS } from './event.js';
import type { RetryPolicy } from './retry.js';
import { monotonicUlid } from './ulid.js';

/** How the client authenticates: an API key (sent as is, or exchanged for JWTs), or your own token source. */
export type TemCredentials =
  | { apiKey: string; useJwt?: boolean; token?: never }
  | { token: () => Promise<string> | string; apiKey?: never; useJwt?: never };

export interface TemClientSettings extends Partial<RetryPolicy> {
  /** The API's base URL: `http://127.0.0.1:3000` locally, the stack output `HttpApiUrl` in AWS. */
  endpoint: string;
  /** Events per request (default and maximum 500). */
  maxBatchEvents?: number;
  /** Bytes per request, measured as the body JSON-escaped in the Lambda payload (default: 6 MiB - 64 KiB). */
  maxBatchBytes?: number;
  /** An event whose JSON is larger is refused at `send` (default 400 KiB: the server could never store it). */
  maxEventBytes?: number;
  /** How long an event may wait for others to fill its batch (default 50 ms). */
  lingerMs?: number;
  /** Requests in flight at once (default 4); a batch being retried holds its slot. */
  maxInFlight?: number;
  /** Events not yet settled (queued, in flight or waiting for a retry) (default 10,000). */
  maxBufferedEvents?: number;
  /** Their JSON bytes (default 32 MiB). */
  maxBufferedBytes?: number;
  /** Per request, including `POST /auth/token` (default 30 s: the gateway gives up at 29 s). */
  requestTimeoutMs?: number;
  /** Called before each retry (for logs and metrics). */
  onRetry?: (info: RetryInfo) => void;
  /** For tests and custom agents (default: the global `fetch`). */
  fetch?: typeof fetch;
  /** Jitter source, in [0, 1) (default `Math.random`). */
  random?: () => number;
}

export type TemClientOptions = TemClientSettings & TemCredentials;

/** What the events settled by a `flush()` came to. */
export interface FlushResult {
  accepted: number;
  failed: number;
}

const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 10, maxElapsedMs: 120_000, baseDelayMs: 200, maxDelayMs: 10_000 };

function positive(name: string, value: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isFinite(value) || value <= 0 || value > max) throw new RangeError(`${name} must be in (0, ${max}]`);
  return value;
}

/**
 * The producer client: `send` buffers an event (with a ULID as its idempotency key unless it has an `id`) and
 * resolves with its event id once the service accepted it; batches go out by count, size or linger time, at most
 * `maxInFlight` at once, and are retried as docs/ingestion.md says (only the events a 503 names, after
 * `Retry-After`). Delivery is at-least-once; as every copy has the same key, each event is stored once.
 */
export class TemClient {
  private readonly settings: Required<Omit<TemClientSettings, 'onRetry' | 'fetch' | 'random' | 'endpoint'>>;
  private readonly queue: BatchQueue;
  private readonly unsettled = new Map<Pending, Promise<boolean>>();
  private readonly deliveryContext: Parameters<typeof deliver>[1];
  private readonly ulid = monotonicUlid();
  private seq = 0;
  /** Events up to this `seq` go out without waiting for their batch to fill (linger expired, or a flush). */
  private forcedUpTo = 0;
  private lingerTimer: ReturnType<typeof setTimeout> | undefined;
  private inFlight = 0;
  private bufferedBytes = 0;
  private closed = false;

  constructor(options: TemClientOptions) {
    const o = options;
    this.settings = {
      maxBatchEvents: positive('maxBatchEvents', o.maxBatchEvents ?? LIMITS.eventsPerRequest, LIMITS.eventsPerRequest),
      maxBatchBytes: positive('maxBatchBytes', o.maxBatchBytes ?? LIMITS.requestBytes),
      maxEventBytes: positive('maxEventBytes', o.maxEventBytes ?? LIMITS.eventBytes),
      lingerMs: o.lingerMs ?? 50,
      maxInFlight: positive('maxInFlight', o.maxInFlight ?? 4),
      maxBufferedEvents: positive('maxBufferedEvents', o.maxBufferedEvents ?? 10_000),
      maxBufferedBytes: positive('maxBufferedBytes', o.maxBufferedBytes ?? 32 * 1024 * 1024),
      requestTimeoutMs: positive('requestTimeoutMs', o.requestTimeoutMs ?? 30_000),
      maxAttempts: positive('maxAttempts', o.maxAttempts ?? DEFAULT_RETRY.maxAttempts),
      maxElapsedMs: o.maxElapsedMs ?? DEFAULT_RETRY.maxElapsedMs,
      baseDelayMs: o.baseDelayMs ?? DEFAULT_RETRY.baseDelayMs,
      maxDelayMs: o.maxDelayMs ?? DEFAULT_RETRY.maxDelayMs,
    };
    const s = this.settings;
    this.queue = new BatchQueue(s.maxBatchEvents, s.maxBatchBytes);
    const base = o.endpoint.endsWith('/') ? o.endpoint : `${o.endpoint}/`;
    const fetchFn = o.fetch ?? globalThis.fetch;
    let credential: Credential;
    if (o.token !== undefined) credential = tokenCredential(o.token);
    else if (typeof o.apiKey === 'string' && o.apiKey !== '')
      credential = o.useJwt
        ? jwtCredential(o.apiKey, new URL('auth/token', base).href, fetchFn, s.requestTimeoutMs)
        : apiKeyCredential(o.apiKey);
    else throw new TypeError('TemClient needs an apiKey or a token function');
    this.deliveryContext = {
      url: new URL('events', base).href,
      fetch: fetchFn,
      credential,
      policy: s,
      requestTimeoutMs: s.requestTimeoutMs,
      random: o.random ?? Math.random,
      ...(o.onRetry ? { onRetry: o.onRetry } : {}),
    };
  }

  /** Events not yet settled, and their bytes. */
  get buffered(): { events: number; bytes: number } {
    return { events: this.unsettled.size, bytes: this.bufferedBytes };
  }

  /**
   * Queues one event. Resolves with its event id (the id `GET /events/{id}` takes) once the service accepted it;
   * rejects with a TemValidationError, TemAuthError, TemRequestError or TemDeliveryError. Throws at once (no
   * promise) a TemBufferFullError when the buffer is full, a TemClosedError after `close()`, and a
   * TemValidationError for an event that cannot be serialized or is over `maxEventBytes`.
   */
  send(event: EventInput): Promise<string> {
    if (this.closed) throw new TemClosedError();
    if (typeof event !== 'object' || event === null || Array.isArray(event))
      throw new TemValidationError('An event must be an object', [{ path: '', message: 'must be an object' }]);
    let json: string;
    try {
      json = JSON.stringify({ ...event, id: event.id ?? this.ulid() });
    } catch (error) {
      throw new TemValidationError(`The event cannot be serialized as JSON: ${(error as Error).message}`, [
        { path: '', message: 'cannot be serialized as JSON' },
      ]);
    }
    const bytes = Buffer.byteLength(json, 'utf8');
    const s = this.settings;
    if (bytes > s.maxEventBytes)
      throw new TemValidationError(`The event is ${bytes} bytes as JSON; the limit is ${s.maxEventBytes} bytes`, [
        { path: '', message: `is over ${s.maxEventBytes} bytes` },
      ]);
    if (this.unsettled.size + 1 > s.maxBufferedEvents)
      throw new TemBufferFullError('events', this.unsettled.size, this.bufferedBytes, s.maxBufferedEvents);
    if (this.bufferedBytes + bytes > s.maxBufferedBytes)
      throw new TemBufferFullError('bytes', this.unsettled.size, this.bufferedBytes, s.maxBufferedBytes);

    let settle: (accepted: boolean) => void = () => {};
    const settled = new Promise<boolean>((resolve) => {
      settle = resolve;
    });
    const result = new Promise<string>((resolve, reject) => {
      const done = (accepted: boolean) => {
        if (!this.unsettled.delete(item)) return false; // settled already
        this.bufferedBytes -= bytes;
        settle(accepted);
        return true;
      };
      const item: Pending = {
        seq: ++this.seq,
        json,
        bytes,
        wireBytes: wireSize(json),
        accept: (id) => done(true) && resolve(id),
        reject: (error) => done(false) && reject(error),
      };
      this.unsettled.set(item, settled);
      this.bufferedBytes += bytes;
      this.queue.push(item);
    });
    this.pump();
    return result;
  }

  /** Sends everything buffered now without lingering; resolves (never rejects) once all of it is settled. */
  async flush(): Promise<FlushResult> {
    const waiting = [...this.unsettled.values()];
    this.forcedUpTo = this.seq;
    this.pump();
    const outcomes = await Promise.all(waiting);
    const accepted = outcomes.filter(Boolean).length;
    return { accepted, failed: outcomes.length - accepted };
  }

  /** Refuses new events, then flushes. */
  close(): Promise<FlushResult> {
    this.closed = true;
    return this.flush();
  }

  /** Starts as many batches as slots allow: full ones at once, partial ones when forced; else waits to linger. */
  private pump(): void {
    while (this.inFlight < this.settings.maxInFlight && this.queue.length > 0) {
      const first = this.queue.first as Pending;
      if (!this.queue.hasFullBatch && first.seq > this.forcedUpTo) break;
      const batch = this.queue.take();
      this.inFlight++;
      void deliver(batch, this.deliveryContext)
        // A bug must not leave promises pending forever: whatever is unsettled is rejected (settled ones ignore it).
        .catch((error: unknown) => {
          for (const item of batch) item.reject(new TemDeliveryError(`Delivery failed: ${String(error)}`, 0, error));
        })
        .finally(() => {
          this.inFlight--;
          this.pump();
        });
    }
    const last = this.queue.last;
    if (last && last.seq > this.forcedUpTo) {
      this.lingerTimer ??= setTimeout(() => {
        this.lingerTimer = undefined;
        this.forcedUpTo = Math.max(this.forcedUpTo, this.seq);
        this.pump();
      }, this.settings.lingerMs);
    } else if (this.lingerTimer) {
      clearTimeout(this.lingerTimer);
      this.lingerTimer = undefined;
    }
  }
}
