import { TemAuthError } from './errors.js';
import { RetryableFailure, retryAfterMs } from './retry.js';

/** How requests are authenticated. */
export interface Credential {
  /** Headers for the next request (exchanging or refreshing a token when needed). */
  headers(): Promise<Record<string, string>>;
  /** After a 401: forget the credential in use; true when a fresh one may be got, so one retry is worth it. */
  invalidate(): boolean;
}

export function apiKeyCredential(apiKey: string): Credential {
  return { headers: async () => ({ 'X-API-Key': apiKey }), invalidate: () => false };
}

/** A caller-supplied token source (its own cache, its own issuer): asked again for every request. */
export function tokenCredential(token: () => Promise<string> | string): Credential {
  return { headers: async () => ({ Authorization: `Bearer ${await token()}` }), invalidate: () => true };
}

interface CachedToken {
  token: string;
  refreshAt: number;
}

/**
 * The API key exchanged for a short-lived JWT at `POST /auth/token` (functions/auth/token-issue.ts answers
 * `{token, tokenType, expiresIn, expiresAt}`), cached and refreshed before it expires: a fifth of its lifetime
 * before, at most a minute. `expiresIn` is used rather than `expiresAt` so a skewed local clock does not matter.
 * Concurrent requests share one exchange.
 */
export function jwtCredential(
  apiKey: string,
  tokenUrl: string,
  fetchFn: typeof fetch,
  timeoutMs: number,
  now: () => number = Date.now,
): Credential {
  let cached: CachedToken | undefined;
  let exchanging: Promise<CachedToken> | undefined;

  async function exchange(): Promise<CachedToken> {
    const asked = now();
    let response: Response;
    try {
      response = await fetchFn(tokenUrl, {
        method: 'POST',
        headers: { 'X-API-Key': apiKey },
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      throw new RetryableFailure(`POST /auth/token failed: ${(error as Error).message}`, undefined, undefined, error);
    }
    const body = (await response.json().catch(() => ({}))) as {
      token?: unknown;
      expiresIn?: unknown;
      message?: unknown;
    };
    if (response.status === 401 || response.status === 403)
      throw new TemAuthError(`POST /auth/token: ${String(body.message ?? response.statusText)}`, response.status);
    if (response.status !== 200 || typeof body.token !== 'string' || typeof body.expiresIn !== 'number')
      throw new RetryableFailure(
        `POST /auth/token answered ${response.status}`,
        retryAfterMs(response.headers.get('retry-after')),
        response.status,
      );
    const lifetimeMs = body.expiresIn * 1000;
    return { token: body.token, refreshAt: asked + lifetimeMs - Math.min(60_000, lifetimeMs / 5) };
  }

  return {
    async headers() {
      if (cached === undefined || now() >= cached.refreshAt) {
        exchanging ??= exchange().finally(() => {
          exchanging = undefined;
        });
        cached = await exchanging;
      }
      return { Authorization: `Bearer ${cached.token}` };
    },
    invalidate() {
      cached = undefined;
      return true;
    },
  };
}
