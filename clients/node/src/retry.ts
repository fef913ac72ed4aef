/** How long and how often a batch is retried (see TemClientOptions for the defaults). */
export interface RetryPolicy {
  /** Requests per batch, the first included. */
  maxAttempts: number;
  /** Time from a batch's first request after which no retry is started. */
  maxElapsedMs: number;
  /** The backoff ceiling doubles from this per attempt... */
  baseDelayMs: number;
  /** ...up to this. */
  maxDelayMs: number;
}

/**
 * Full-jitter exponential backoff: a uniform draw in [0, min(max, base * 2^(retry-1))) for the `retry`-th retry
 * (1-based). Full jitter spreads the retries of many producers hit by the same outage, so they do not come back
 * in step.
 */
export function backoffMs(retry: number, policy: RetryPolicy, random: () => number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, retry - 1));
  return Math.floor(random() * ceiling);
}

/** `Retry-After` in milliseconds: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now: number = Date.now()): number | undefined {
  if (header === null) return undefined;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** The wait before the next request: the backoff, but never less than what the server asked for. */
export function retryDelayMs(
  retry: number,
  serverAskedMs: number | undefined,
  policy: RetryPolicy,
  random: () => number,
): number {
  return Math.max(serverAskedMs ?? 0, backoffMs(retry, policy, random));
}

/** A failure worth retrying (a network error, a 5xx, a 429): `retryAfterMs` is what the server asked for. */
export class RetryableFailure extends Error {
  override name = 'RetryableFailure';
  constructor(
    message: string,
    readonly retryAfterMs?: number,
    readonly status?: number,
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause });
  }
}
