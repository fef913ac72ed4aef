import type { Credential } from './auth.js';
import { bodyOf, type Pending } from './batcher.js';
import { TemAuthError, TemDeliveryError, TemRequestError, TemValidationError } from './errors.js';
import { RetryableFailure, type RetryPolicy, retryDelayMs } from './retry.js';
import { type IndexedIssue, type Outcome, postEvents } from './transport.js';

/** What a retry was for, for logs and metrics (`onRetry`). */
export interface RetryInfo {
  attempt: number;
  events: number;
  delayMs: number;
  status?: number;
  reason: string;
}

export interface DeliveryContext {
  url: string;
  fetch: typeof fetch;
  credential: Credential;
  policy: RetryPolicy;
  requestTimeoutMs: number;
  random: () => number;
  onRetry?: (info: RetryInfo) => void;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function issueMessage(message: string, issues: IndexedIssue[]): string {
  if (issues.length === 0) return message;
  return `${message}: ${issues.map((i) => `${i.path === '' ? '(event)' : i.path} ${i.message}`).join('; ')}`;
}

async function attempt(batch: Pending[], ctx: DeliveryContext): Promise<Outcome> {
  let headers: Record<string, string>;
  try {
    headers = await ctx.credential.headers();
  } catch (error) {
    if (error instanceof TemAuthError) return { kind: 'unauthorized', message: error.message };
    const failure =
      error instanceof RetryableFailure ? error : new RetryableFailure(String(error), undefined, undefined, error);
    return { kind: 'retry', failure };
  }
  return postEvents(ctx.fetch, ctx.url, headers, bodyOf(batch), batch.length, ctx.requestTimeoutMs);
}

/**
 * Sends one batch until every event in it is settled: accepted (with the id the server gave it), refused (an
 * answer about that event: never retried), or given up on once the retry policy is spent. Events keep their ids
 * across retries, so a resend of an event already in the stream is the same event (ADR 0011).
 */
export async function deliver(batch: Pending[], ctx: DeliveryContext): Promise<void> {
  let pending = batch;
  const started = Date.now();
  let attempts = 0;
  let refreshed = false;
  let lastFailure: unknown;
  const rejectAll = (error: Error) => {
    for (const p of pending) p.reject(error);
    pending = [];
  };
  // Removes the events a refusal names; the others were not written (a 4xx is all or nothing) and go again at once.
  const rejectAt = (indexes: Map<number, Error>) => {
    pending.forEach((p, i) => {
      const error = indexes.get(i);
      if (error) p.reject(error);
    });
    pending = pending.filter((_p, i) => !indexes.has(i));
  };

  while (pending.length > 0) {
    attempts++;
    const outcome = await attempt(pending, ctx);
    let failure: RetryableFailure;
    switch (outcome.kind) {
      case 'accepted':
        pending.forEach((p, i) => {
          p.accept(outcome.ids[i] as string);
        });
        return;
      case 'partial': {
        // Without positions that account for every event, all are resent: harmless (same ids), never a loss.
        const failed = new Set((outcome.failedIndexes ?? []).filter((i) => i < pending.length));
        if (outcome.failedIndexes && outcome.accepted.length === pending.length - failed.size) {
          const accepted = outcome.accepted[Symbol.iterator]();
          pending.forEach((p, i) => {
            if (!failed.has(i)) p.accept(accepted.next().value as string);
          });
          pending = pending.filter((_p, i) => failed.has(i));
        }
        failure = outcome.failure;
        break;
      }
      case 'retry':
        failure = outcome.failure;
        break;
      case 'invalid': {
        const named = new Map<number, Error>();
        for (const issue of outcome.issues) {
          if (issue.index === undefined || issue.index >= pending.length || named.has(issue.index)) continue;
          const own = outcome.issues
            .filter((i) => i.index === issue.index)
            .map(({ path, message }) => ({ path, message }));
          named.set(issue.index, new TemValidationError(issueMessage(outcome.message, own), own, outcome.status));
        }
        if (named.size > 0) {
          rejectAt(named);
          attempts--; // not a failure of the service: the rest goes again now
          continue;
        }
        if (outcome.status === 413 && pending.length > 1) {
          // Too large as a whole (a limit the client was not told of): halves, each with its own retries.
          const half = Math.ceil(pending.length / 2);
          await deliver(pending.slice(0, half), ctx);
          await deliver(pending.slice(half), ctx);
          return;
        }
        rejectAll(new TemValidationError(outcome.message, [], outcome.status));
        return;
      }
      case 'forbidden':
        if (outcome.index !== undefined && outcome.index < pending.length) {
          rejectAt(new Map([[outcome.index, new TemAuthError(outcome.message, 403)]]));
          attempts--;
          continue;
        }
        rejectAll(new TemAuthError(outcome.message, 403));
        return;
      case 'unauthorized':
        // An expired or revoked token: one fresh one, one more request; a second 401 is the answer.
        if (!refreshed && ctx.credential.invalidate()) {
          refreshed = true;
          attempts--;
          continue;
        }
        rejectAll(new TemAuthError(outcome.message, 401));
        return;
      case 'refused':
        rejectAll(new TemRequestError(outcome.message, outcome.status));
        return;
    }
    lastFailure = failure;
    if (pending.length === 0) return;
    const delayMs = retryDelayMs(attempts, failure.retryAfterMs, ctx.policy, ctx.random);
    if (attempts >= ctx.policy.maxAttempts || Date.now() - started + delayMs > ctx.policy.maxElapsedMs) break;
    try {
      ctx.onRetry?.({
        attempt: attempts,
        events: pending.length,
        delayMs,
        reason: failure.message,
        ...(failure.status === undefined ? {} : { status: failure.status }),
      });
    } catch {
      // a logging hook's failure is not the delivery's
    }
    await sleep(delayMs);
  }
  if (pending.length > 0)
    rejectAll(
      new TemDeliveryError(
        `Not delivered after ${attempts} attempt(s) in ${Date.now() - started} ms: ${(lastFailure as Error)?.message}`,
        attempts,
        lastFailure,
      ),
    );
}
