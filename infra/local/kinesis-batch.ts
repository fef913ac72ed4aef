import { randomUUID } from 'node:crypto';
import type { _Record } from '@aws-sdk/client-kinesis';
import type { KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import type { StreamConsumerSpec } from '../topology';
import { firstFailedIndex, type PlannedBatch, planAfterInvocation } from './esm-retry';
import { FunctionError } from './function-host';
import type { PollerDeps, PollerStats } from './kinesis-poller';

/** A batch that keeps failing is retried at most this far apart (an outage: the shard catches up within this of its end). */
const RETRY_BACKOFF_CAP_MS = 2000;
/**
 * Lambda's invocation payload limit (6 MB): a batch is cut before the records' JSON would pass it, whatever the batch
 * size. A record's share is its base64 data plus the fields around it in the event (about 500 bytes).
 */
export const MAX_BATCH_PAYLOAD_BYTES = 6 * 1024 * 1024;
const RECORD_ENVELOPE_BYTES = 500;

/** How many of `records` (at most `max`) fit one invocation payload; always at least one. */
export function recordsWithinPayload(records: readonly Pick<_Record, 'Data'>[], max: number): number {
  let bytes = 0;
  const limit = Math.min(max, records.length);
  for (let i = 0; i < limit; i++) {
    bytes += Math.ceil(((records[i]?.Data?.length ?? 0) * 4) / 3) + RECORD_ENVELOPE_BYTES;
    if (bytes > MAX_BATCH_PAYLOAD_BYTES) return Math.max(1, i);
  }
  return limit;
}

function toLambdaRecord(record: _Record, shardId: string, deps: PollerDeps): KinesisStreamRecord {
  return {
    kinesis: {
      kinesisSchemaVersion: '1.0',
      partitionKey: record.PartitionKey ?? '',
      sequenceNumber: record.SequenceNumber ?? '',
      data: Buffer.from(record.Data ?? new Uint8Array()).toString('base64'),
      approximateArrivalTimestamp: (record.ApproximateArrivalTimestamp?.getTime() ?? Date.now()) / 1000,
    },
    eventSource: 'aws:kinesis',
    eventVersion: '1.0',
    eventID: `${shardId}:${record.SequenceNumber}`,
    eventName: 'aws:kinesis:record',
    invokeIdentityArn: `arn:aws:iam::000000000000:role/${deps.functionArn.split(':').pop()}-role`,
    awsRegion: deps.region,
    eventSourceARN: deps.streamArn,
  };
}

/** What a shard's loop lends the batch it runs: the mapping, its counters, and its stop-aware sleep. */
export interface BatchContext {
  spec: StreamConsumerSpec;
  deps: PollerDeps;
  stats: PollerStats;
  stopped: () => boolean;
  rest: (shardId: string, ms: number) => Promise<void>;
}

/** Runs one batch to completion: success, or retries until its records are checkpointed or discarded. */
export async function processBatch(ctx: BatchContext, shardId: string, records: _Record[]): Promise<void> {
  const work: PlannedBatch<_Record>[] = records.length > 0 ? [{ records, attempts: 0 }] : [];
  while (work.length > 0 && !ctx.stopped()) {
    const batch = work.shift() as PlannedBatch<_Record>;
    // Records past the maximum age are discarded before any attempt, also between retries (as the mapping does).
    // -1 is Lambda's "no limit" (validateTopology refuses it for this project's consumers, but the mapping honours it).
    const maxAgeMs = ctx.spec.maxRecordAgeSeconds < 0 ? Infinity : ctx.spec.maxRecordAgeSeconds * 1000;
    const now = Date.now();
    const tooOld = batch.records.filter((r) => now - (r.ApproximateArrivalTimestamp?.getTime() ?? now) > maxAgeMs);
    if (tooOld.length > 0) {
      await discard(ctx, shardId, tooOld, 'RecordAgeExceeded', batch.attempts, undefined);
      batch.records = batch.records.filter((r) => !tooOld.includes(r));
      if (batch.records.length === 0) continue;
    }
    const event: KinesisStreamEvent = { Records: batch.records.map((r) => toLambdaRecord(r, shardId, ctx.deps)) };
    ctx.stats.invocations++;
    const lastArrival = batch.records.at(-1)?.ApproximateArrivalTimestamp?.getTime();
    if (lastArrival !== undefined) ctx.stats.iteratorAgeMs = Math.max(0, Date.now() - lastArrival);
    let outcome: ReturnType<typeof firstFailedIndex>;
    let functionError: string | undefined;
    try {
      const response = await ctx.deps.invoke(event);
      outcome = firstFailedIndex(
        batch.records.map((r) => r.SequenceNumber ?? ''),
        response,
      );
    } catch (error) {
      outcome = { kind: 'error' };
      functionError = error instanceof FunctionError ? error.errorType : 'Unhandled';
      ctx.deps.log('consumer invocation failed', {
        shardId,
        records: batch.records.length,
        error: (error as Error).message,
      });
    }
    const plan = planAfterInvocation(batch, outcome, ctx.spec);
    ctx.stats.recordsProcessed += plan.checkpointed.length;
    if (plan.discarded.length > 0)
      await discard(ctx, shardId, plan.discarded, 'RetryAttemptsExhausted', batch.attempts + 1, functionError);
    if (plan.retry.length > 0) {
      work.unshift(...plan.retry);
      if (plan.retry[0] && plan.retry[0].attempts > batch.attempts)
        await ctx.rest(shardId, Math.min(RETRY_BACKOFF_CAP_MS, 100 * 2 ** Math.min(batch.attempts, 10)));
    }
  }
}

/** The on-failure record Lambda sends for a stream batch: where the records are, not the records themselves. */
async function discard(
  ctx: BatchContext,
  shardId: string,
  records: _Record[],
  condition: 'RetryAttemptsExhausted' | 'RecordAgeExceeded',
  invokeCount: number,
  functionError: string | undefined,
): Promise<void> {
  const first = records[0];
  const last = records.at(-1);
  ctx.stats.recordsDiscarded += records.length;
  const record = {
    requestContext: {
      requestId: randomUUID(),
      functionArn: ctx.deps.functionArn,
      condition,
      approximateInvokeCount: invokeCount,
    },
    responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: functionError ?? 'Unhandled' },
    version: '1.0',
    timestamp: new Date().toISOString(),
    KinesisBatchInfo: {
      shardId,
      startSequenceNumber: first?.SequenceNumber,
      endSequenceNumber: last?.SequenceNumber,
      approximateArrivalOfFirstRecord: first?.ApproximateArrivalTimestamp?.toISOString(),
      approximateArrivalOfLastRecord: last?.ApproximateArrivalTimestamp?.toISOString(),
      batchSize: records.length,
      streamArn: ctx.deps.streamArn,
    },
  };
  ctx.deps.log('records discarded to the on-failure destination', { shardId, condition, batchSize: records.length });
  // Losing this record would lose the only trace of the batch: keep trying until the queue takes it.
  for (let attempt = 0; !ctx.stopped(); attempt++) {
    try {
      await ctx.deps.sendOnFailure(record);
      return;
    } catch (error) {
      ctx.deps.log('on-failure destination unreachable; retrying', { error: (error as Error).message });
      await ctx.rest(shardId, Math.min(5000, 200 * 2 ** attempt));
    }
  }
}
