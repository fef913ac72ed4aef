import { createHash } from 'node:crypto';

/**
 * The authorizer's own per-container cache of decisions, keyed by a hash of the credential (API Gateway's cache is
 * off because callers may use either of two headers). An entry lives for the TTL, never past the credential's own
 * expiry, and the whole cache is dropped when the revocation epoch moves (checked at most every `epochCheckMs`).
 */
export class DecisionCache<V> {
  private readonly entries = new Map<string, { value: V; expiresAt: number }>();
  private epoch: number | undefined;
  private epochCheckedAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly options: {
      ttlMs: number;
      epochCheckMs: number;
      readEpoch: () => Promise<number>;
      now?: () => number;
      maxEntries?: number;
    },
  ) {}

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  static keyOf(credential: string): string {
    return createHash('sha256').update(credential).digest('base64url');
  }

  /** Drops everything when credentials or permissions changed since the last look. */
  async checkEpoch(): Promise<void> {
    const now = this.now();
    if (now - this.epochCheckedAt < this.options.epochCheckMs) return;
    // Read first, then record the check: a failed read is retried by the next request instead of being skipped
    // for the whole interval (the error still reaches the caller: no decision is made on unknown revocations).
    const epoch = await this.options.readEpoch();
    this.epochCheckedAt = now;
    if (this.epoch !== undefined && epoch !== this.epoch) this.entries.clear();
    this.epoch = epoch;
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
