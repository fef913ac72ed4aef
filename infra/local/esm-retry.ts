/**
 * The failure semantics of a Kinesis event source mapping, as a pure planner the local poller follows (and unit
 * tests pin down). What it encodes, from AWS's documentation of stream mappings:
 * - records of a shard are processed in order; a batch is retried until it succeeds, its retries run out, or its
 *   records grow older than the maximum record age;
 * - with ReportBatchItemFailures, a response naming failed records checkpoints every record before the first
 *   failed one and retries from it; an unhandled error (or a failure naming the first record) fails the whole batch;
 * - with BisectBatchOnFunctionError, a failing batch of more than one record is split in two halves, retried in
 *   order; splitting does not consume a retry attempt;
 * - a batch that has used its MaximumRetryAttempts is discarded: an on-failure record describing it goes to the
 *   destination, and the shard moves on; with -1 (Lambda's default for streams) it is retried until its records are
 *   older than the maximum record age, which the poller checks before every attempt.
 */

export interface RetrySettings {
  bisectBatchOnError: boolean;
  maxRetryAttempts: number;
}

export interface PlannedBatch<R> {
  records: R[];
  /** Retries this (sub)batch has already used. */
  attempts: number;
}

export type InvocationOutcome =
  | { kind: 'success' }
  /** Index (in the batch) of the first record the function reported as failed. */
  | { kind: 'partial'; firstFailedIndex: number }
  | { kind: 'error' };

export interface Plan<R> {
  /** Records now done, from the front of the batch. */
  checkpointed: R[];
  /** Batches to run next, in order, before anything newer from the shard. */
  retry: PlannedBatch<R>[];
  /** Records given up on: they go to the on-failure destination. */
  discarded: R[];
}

export function planAfterInvocation<R>(
  batch: PlannedBatch<R>,
  outcome: InvocationOutcome,
  settings: RetrySettings,
): Plan<R> {
  if (outcome.kind === 'success') return { checkpointed: batch.records, retry: [], discarded: [] };
  const firstFailed =
    outcome.kind === 'error' ? 0 : Math.max(0, Math.min(outcome.firstFailedIndex, batch.records.length));
  const checkpointed = batch.records.slice(0, firstFailed);
  const rest = batch.records.slice(firstFailed);
  if (rest.length === 0) return { checkpointed, retry: [], discarded: [] };
  if (settings.bisectBatchOnError && rest.length > 1) {
    const middle = Math.ceil(rest.length / 2);
    return {
      checkpointed,
      retry: [
        { records: rest.slice(0, middle), attempts: batch.attempts },
        { records: rest.slice(middle), attempts: batch.attempts },
      ],
      discarded: [],
    };
  }
  if (settings.maxRetryAttempts >= 0 && batch.attempts >= settings.maxRetryAttempts)
    return { checkpointed, retry: [], discarded: rest };
  return { checkpointed, retry: [{ records: rest, attempts: batch.attempts + 1 }], discarded: [] };
}

/** Index of the first failed record named by a `batchItemFailures` response, or undefined when it names none. */
export function firstFailedIndex(
  sequenceNumbers: readonly string[],
  response: unknown,
): { kind: 'success' } | { kind: 'partial'; firstFailedIndex: number } | { kind: 'error' } {
  if (response === null || typeof response !== 'object' || !('batchItemFailures' in response))
    return { kind: 'success' };
  const failures = (response as { batchItemFailures: unknown }).batchItemFailures;
  if (!Array.isArray(failures) || failures.length === 0) return { kind: 'success' };
  let lowest: number | undefined;
  for (const failure of failures) {
    const id = (failure as { itemIdentifier?: unknown } | null)?.itemIdentifier;
    // AWS treats a malformed or unknown identifier as a failure of the whole batch.
    if (typeof id !== 'string' || id === '') return { kind: 'error' };
    const index = sequenceNumbers.indexOf(id);
    if (index < 0) return { kind: 'error' };
    lowest = lowest === undefined ? index : Math.min(lowest, index);
  }
  return lowest === undefined ? { kind: 'success' } : { kind: 'partial', firstFailedIndex: lowest };
}
