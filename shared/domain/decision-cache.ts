import { createHash } from 'node:crypto';

/**
 * What a caller gets when the authorizer cannot decide (principals table or signing key unreachable, a timeout, a
 * crash). API Gateway cannot take a status from a REQUEST authorizer: any throw other than `Unauthorized` becomes its
 * AUTHORIZER_CONFIGURATION_ERROR / AUTHORIZER_FAILURE gateway response, which the CDK stack sets to this answer and
 * the local gateway answers the same way. 503 + Retry-After tells a client to come back, not that it erred.
 */
export const AUTHORIZER_UNAVAILABLE = {
  statusCode: 503,
  retryAfterSeconds: 5,
  message: 'Service Unavailable',
} as const;

/** Whether the revocation epoch was read within its interval (`fresh`) or the last read failed (`stale`). */
export type EpochState = 'fresh' | 'stale';

/**
 * The authorizer's own per-container cache of decisions, keyed by a hash of the credential (API Gateway's cache is
 * off because callers may use either of two headers). An entry lives for the TTL, never past the credential's own
 * expiry, and the whole cache is dropped when the revocation epoch moves (checked at most every `epochCheckMs`).
 *
 * When the epoch cannot be read, the cache fails static: entries keep serving until their own expiry (a revocation
 * is a write to that same table, so none can be recorded meanwhile), and the read is retried after `retryMs`.
 */
export class DecisionCache<V> {
  private readonly entries = new Map<string, { value: V; expiresAt: number }>();
  private epoch: number | undefined;
  private nextReadAt = Number.NEGATIVE_INFINITY;
  private state: EpochState = 'stale';

  constructor(
    private readonly options: {
      ttlMs: number;
      epochCheckMs: number;
      readEpoch: () => Promise<number>;
      now?: () => number;
      maxEntries?: number;
      /** A read slower than this counts as failed: a hung table must not time out the container (and its cache). */
      readTimeoutMs?: number;
      /** After a failed read, the next one waits this long (default: the check interval, at most 1 s). */
      retryMs?: number;
    },
  ) {}

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  static keyOf(credential: string): string {
    return createHash('sha256').update(credential).digest('base64url');
  }

  /** Drops everything when credentials or permissions changed since the last look. Never throws. */
  async checkEpoch(): Promise<EpochState> {
    const now = this.now();
    if (now < this.nextReadAt) return this.state;
    let epoch: number;
    try {
      epoch = await withTimeout(this.options.readEpoch(), this.options.readTimeoutMs ?? 1000);
    } catch {
      this.state = 'stale';
      this.nextReadAt = now + (this.options.retryMs ?? Math.min(this.options.epochCheckMs, 1000));
      return this.state;
    }
    this.nextReadAt = now + this.options.epochCheckMs;
    this.state = 'fresh';
    if (this.epoch !== undefined && epoch !== this.epoch) this.entries.clear();
    this.epoch = epoch;
    return this.state;
  }

  get(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  set(key: string, value: V, credentialExpiresAt?: number): void {
    if (this.options.ttlMs <= 0) return;
    const expiresAt = Math.min(this.now() + this.options.ttlMs, credentialExpiresAt ?? Number.POSITIVE_INFINITY);
    const max = this.options.maxEntries ?? 10_000;
    if (this.entries.size >= max) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(key, { value, expiresAt });
  }

  get size(): number {
    return this.entries.size;
  }
}

/** Rejects when `promise` has not settled within `ms` (the work itself carries on; its result is dropped). */
export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
