import type { RateLimits } from './rate-limits';

/**
 * The token bucket API Gateway describes for its throttles, and a quota per UTC day, per usage key. Pure: time is
 * passed in (epoch ms), nothing is read or written outside the object.
 *
 * A bucket holds at most `burst` tokens and gains `rate` per second; a request takes one token or is refused. The
 * daily quota counts the requests let through since the last UTC midnight. A refused request costs nothing: it takes
 * no token and does not count towards the quota.
 */
export type LimitDecision =
  | { allowed: true; remainingTokens: number; remainingQuota?: number }
  | { allowed: false; reason: 'throttled' | 'quota-exceeded'; retryAfterSeconds: number };

const DAY_MS = 24 * 3600 * 1000;

/** Epoch ms of the UTC midnight that ends the day of `now`. */
export function nextUtcMidnight(now: number): number {
  return (Math.floor(now / DAY_MS) + 1) * DAY_MS;
}

interface KeyState {
  tokens: number;
  updatedAt: number;
  /** The UTC day (days since the epoch) `used` counts for. */
  day: number;
  used: number;
}

export class RateLimiter {
  private readonly keys = new Map<string, KeyState>();

  /** Bounded: beyond `maxKeys` the least recently used key is forgotten (it starts again with a full bucket). */
  constructor(private readonly maxKeys = 100_000) {}

  /** Takes one request of `key` at `now` under `limits`, or says why not and how long to wait (whole seconds, ≥ 1). */
  take(key: string, limits: RateLimits, now: number): LimitDecision {
    const day = Math.floor(now / DAY_MS);
    let state = this.keys.get(key);
    if (state) this.keys.delete(key); // re-inserted below: the Map's order is the recency order
    state ??= { tokens: limits.burst, updatedAt: now, day, used: 0 };
    // Refill for the time since the last request (never backwards if the clock steps back), capped at the burst.
    const elapsed = Math.max(0, now - state.updatedAt) / 1000;
    state.tokens = Math.min(limits.burst, state.tokens + elapsed * limits.rate);
    state.updatedAt = Math.max(state.updatedAt, now);
    if (state.day !== day) {
      state.day = day;
      state.used = 0;
    }
    this.remember(key, state);
    if (limits.dailyQuota !== undefined && state.used >= limits.dailyQuota)
      return {
        allowed: false,
        reason: 'quota-exceeded',
        retryAfterSeconds: Math.max(1, Math.ceil((nextUtcMidnight(now) - now) / 1000)),
      };
    if (state.tokens < 1)
      return {
        allowed: false,
        reason: 'throttled',
        retryAfterSeconds: Math.max(1, Math.ceil((1 - state.tokens) / limits.rate)),
      };
    state.tokens -= 1;
    state.used += 1;
    return {
      allowed: true,
      remainingTokens: Math.floor(state.tokens),
      ...(limits.dailyQuota === undefined ? {} : { remainingQuota: limits.dailyQuota - state.used }),
    };
  }

  /** Forgets one key (a connection that closed) or all of them. */
  forget(key?: string): void {
    if (key === undefined) this.keys.clear();
    else this.keys.delete(key);
  }

  get size(): number {
    return this.keys.size;
  }

  private remember(key: string, state: KeyState): void {
    if (this.keys.size >= this.maxKeys) {
      const oldest = this.keys.keys().next().value;
      if (oldest !== undefined) this.keys.delete(oldest);
    }
    this.keys.set(key, state);
  }
}
