import { randomUUID } from 'node:crypto';
import {
  type _Record,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
  ListShardsCommand,
} from '@aws-sdk/client-kinesis';
import type { KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import type { StreamConsumerSpec } from '../topology';
import { firstFailedIndex, type PlannedBatch, planAfterInvocation } from './esm-retry';
import { FunctionError } from './function-host';
import { ANY_SHARD } from './kinesis-front';

/** Tells an enhanced fan-out consumer's poller that records landed on a shard (`kinesis-front.ts`). */
export interface PutSignal {
  generation(shardId: string): number;
  onPut(listener: (shardIds: ReadonlySet<string>) => void): () => void;
}

export interface PollerDeps {
  kinesis: KinesisClient;
  streamName: string;
  streamArn: string;
  region: string;
  functionArn: string;
  invoke: (event: KinesisStreamEvent) => Promise<unknown>;
  /** Delivers an on-failure record to the mapping's destination queue. */
  sendOnFailure: (record: unknown) => Promise<void>;
  log: (message: string, fields?: Record<string, unknown>) => void;
  /** Required for `enhancedFanOut` consumers: the wake-up that stands in for SubscribeToShard's push. */
  putSignal?: PutSignal;
  /**
   * Local only: caps the consumer's batching window (the integration tests use 1 s so that a test of the metrics
   * consumer does not wait out its 60 s window). Unset: the topology's window.
   */
  maxBatchingWindowSeconds?: number;
}

/**
 * A polling mapping reads each shard about once a second when it is idle (Lambda's documented polling rate on
 * shared throughput); it reads again at once while records keep coming.
 */
const POLLING_INTERVAL_MS = 1000;
/** An enhanced consumer waits for a put; this is only the safety net for records put past the front. */
const ENHANCED_IDLE_CHECK_MS = 1000;
const ERROR_BACKOFF_MS = 500;
/** `stop()` waits this long for in-flight batches; their records stay in the stream (nothing is checkpointed). */
const STOP_GRACE_MS = 1000;
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

/** Counters an operator (and the tests) can read from the local stack. */
export interface PollerStats {
  invocations: number;
  recordsProcessed: number;
  recordsDiscarded: number;
  errors: number;
  getRecordsCalls: number;
  /** Lambda's IteratorAge: age of the last record of the latest batch when it was handed to the function. */
  iteratorAgeMs: number;
  enabled: boolean;
}

/**
 * A Kinesis event source mapping: one loop per shard, so a shard's records are handled in order and one batch at
 * a time, with batch size, batching window and the failure semantics planned by `esm-retry.ts`.
 */
export class KinesisPoller {
  private stopped = false;
  private enabled = true;
  private readonly loops: Promise<void>[] = [];
  /** Loops asleep, by shard: woken by a put on their shard, by enable/stop (all of them), or by their timer. */
  private readonly sleepers = new Map<string, Set<{ done: () => void; byPuts: boolean }>>();
  private unsubscribe: (() => void) | undefined;
  readonly stats: PollerStats = {
    invocations: 0,
    recordsProcessed: 0,
    recordsDiscarded: 0,
    errors: 0,
    getRecordsCalls: 0,
    iteratorAgeMs: 0,
    enabled: true,
  };

  constructor(
    private readonly spec: StreamConsumerSpec,
    private readonly deps: PollerDeps,
  ) {
    if (spec.readMode === 'enhancedFanOut' && !deps.putSignal)
      throw new Error(`consumer ${spec.function}: an enhanced fan-out consumer needs a put signal`);
  }

  async start(): Promise<void> {
    const { Shards } = await this.deps.kinesis.send(new ListShardsCommand({ StreamName: this.deps.streamName }));
    if (this.spec.readMode === 'enhancedFanOut')
      this.unsubscribe = this.deps.putSignal?.onPut((shardIds) => {
        if (shardIds.has(ANY_SHARD)) for (const shardId of [...this.sleepers.keys()]) this.wake(shardId, true);
        else for (const shardId of shardIds) this.wake(shardId, true);
      });
    for (const shard of Shards ?? []) {
      if (shard.ShardId) this.loops.push(this.runShard(shard.ShardId));
    }
  }

  /** Like UpdateEventSourceMapping `Enabled`: a disabled mapping finishes its batch and reads nothing more. */
  setEnabled(enabled: boolean): void {
    this.enabled = enabled;
    this.stats.enabled = enabled;
    if (enabled) this.wakeAll();
  }

  /**
   * Stops reading. In-flight batches get a short grace; one still running after it is abandoned (the function host
   * is stopped next, which fails it): its records were never checkpointed, so they are still in the stream.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    this.wakeAll();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled(this.loops),
      new Promise<void>((r) => {
        timer = setTimeout(r, STOP_GRACE_MS);
      }),
    ]);
    clearTimeout(timer);
  }

  /** Wakes a shard's sleepers: all of them, or (a put) only those waiting for records. */
  private wake(shardId: string, byPut = false): void {
    for (const sleeper of [...(this.sleepers.get(shardId) ?? [])]) if (!byPut || sleeper.byPuts) sleeper.done();
  }

  private wakeAll(): void {
    for (const shardId of [...this.sleepers.keys()]) this.wake(shardId);
  }

  /**
   * Sleeps up to `ms`, or until woken: by enable/stop always, and by a put on the shard when `byPuts` (an enhanced
   * consumer waiting for records; never a retry's backoff).
   */
  private rest(shardId: string, ms: number, byPuts = false): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let sleepers = this.sleepers.get(shardId);
      if (!sleepers) {
        sleepers = new Set();
        this.sleepers.set(shardId, sleepers);
      }
      const sleeper = {
        byPuts,
        done: () => {
          clearTimeout(timer);
          sleepers.delete(sleeper);
          resolve();
        },
      };
      const timer = setTimeout(sleeper.done, ms);
      sleepers.add(sleeper);
    });
  }

  private async iterator(shardId: string, after: string | undefined): Promise<string | undefined> {
    const { ShardIterator } = await this.deps.kinesis.send(
      new GetShardIteratorCommand({
        StreamName: this.deps.streamName,
        ShardId: shardId,
        ...(after
          ? { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', StartingSequenceNumber: after }
          : { ShardIteratorType: this.spec.startingPosition }),
      }),
    );
    return ShardIterator;
  }

  private async runShard(shardId: string): Promise<void> {
    let checkpoint: string | undefined;
    let iterator: string | undefined;
    let buffer: _Record[] = [];
    let firstBufferedAt = 0;
    const windowMs =
      Math.min(this.spec.maxBatchingWindowSeconds, this.deps.maxBatchingWindowSeconds ?? Infinity) * 1000;
    const enhanced = this.spec.readMode === 'enhancedFanOut';
    const signal = this.deps.putSignal;
    while (!this.stopped) {
      try {
        if (!this.enabled) {
          await this.rest(shardId, 60_000);
          continue;
        }
        iterator ??= await this.iterator(shardId, checkpoint);
        if (!iterator) return; // shard closed
        const room = this.spec.batchSize - buffer.length;
        let readFull = false;
        const seen = enhanced ? signal?.generation(shardId) : undefined;
        if (room > 0) {
          const limit = Math.min(room, 10000);
          this.stats.getRecordsCalls++;
          const response = await this.deps.kinesis.send(
            new GetRecordsCommand({ ShardIterator: iterator, Limit: limit }),
          );
          iterator = response.NextShardIterator;
          const records = response.Records ?? [];
          if (records.length > 0 && buffer.length === 0) firstBufferedAt = Date.now();
          buffer.push(...records);
          readFull = records.length === limit;
        }
        const fits = recordsWithinPayload(buffer, this.spec.batchSize);
        const full = buffer.length >= this.spec.batchSize || fits < buffer.length;
        const windowOver = buffer.length > 0 && Date.now() - firstBufferedAt >= windowMs;
        if (!full && !windowOver) {
          // More may already be waiting (the read was full, or a put landed meanwhile): read again at once.
          const putSince = enhanced && seen !== signal?.generation(shardId);
          if (readFull || putSince) continue;
          const idle = enhanced ? ENHANCED_IDLE_CHECK_MS : POLLING_INTERVAL_MS;
          const waitMs = buffer.length > 0 ? Math.max(0, firstBufferedAt + windowMs - Date.now()) : idle;
          await this.rest(shardId, Math.min(waitMs, idle), enhanced);
          continue;
        }
        const batch = buffer.slice(0, fits);
        buffer = buffer.slice(batch.length);
        if (buffer.length > 0) firstBufferedAt = Date.now();
        await this.process(shardId, batch);
        checkpoint = batch.at(-1)?.SequenceNumber ?? checkpoint;
      } catch (error) {
        // The stream is unreachable (an emulator outage, say): back off, then resume after the last checkpoint.
        this.stats.errors++;
        this.deps.log('stream poll failed; retrying', { shardId, error: (error as Error).message });
        iterator = undefined;
        buffer = [];
        await this.rest(shardId, ERROR_BACKOFF_MS);
      }
    }
  }

  /** Runs one batch to completion: success, or retries until its records are checkpointed or discarded. */
  private async process(shardId: string, records: _Record[]): Promise<void> {
    const work: PlannedBatch<_Record>[] = records.length > 0 ? [{ records, attempts: 0 }] : [];
    while (work.length > 0 && !this.stopped) {
      const batch = work.shift() as PlannedBatch<_Record>;
      // Records past the maximum age are discarded before any attempt, also between retries (as the mapping does).
      // -1 is Lambda's "no limit" (validateTopology refuses it for this project's consumers, but the mapping honours it).
      const maxAgeMs = this.spec.maxRecordAgeSeconds < 0 ? Infinity : this.spec.maxRecordAgeSeconds * 1000;
      const now = Date.now();
      const tooOld = batch.records.filter((r) => now - (r.ApproximateArrivalTimestamp?.getTime() ?? now) > maxAgeMs);
      if (tooOld.length > 0) {
        await this.discard(shardId, tooOld, 'RecordAgeExceeded', batch.attempts, undefined);
        batch.records = batch.records.filter((r) => !tooOld.includes(r));
        if (batch.records.length === 0) continue;
      }
      const event: KinesisStreamEvent = { Records: batch.records.map((r) => toLambdaRecord(r, shardId, this.deps)) };
      this.stats.invocations++;
      const lastArrival = batch.records.at(-1)?.ApproximateArrivalTimestamp?.getTime();
      if (lastArrival !== undefined) this.stats.iteratorAgeMs = Math.max(0, Date.now() - lastArrival);
      let outcome: ReturnType<typeof firstFailedIndex>;
      let functionError: string | undefined;
      try {
        const response = await this.deps.invoke(event);
        outcome = firstFailedIndex(
          batch.records.map((r) => r.SequenceNumber ?? ''),
          response,
        );
      } catch (error) {
        outcome = { kind: 'error' };
        functionError = error instanceof FunctionError ? error.errorType : 'Unhandled';
        this.deps.log('consumer invocation failed', {
          shardId,
          records: batch.records.length,
          error: (error as Error).message,
        });
      }
      const plan = planAfterInvocation(batch, outcome, this.spec);
      this.stats.recordsProcessed += plan.checkpointed.length;
      if (plan.discarded.length > 0)
        await this.discard(shardId, plan.discarded, 'RetryAttemptsExhausted', batch.attempts + 1, functionError);
      if (plan.retry.length > 0) {
        work.unshift(...plan.retry);
        if (plan.retry[0] && plan.retry[0].attempts > batch.attempts)
          await this.rest(shardId, Math.min(RETRY_BACKOFF_CAP_MS, 100 * 2 ** Math.min(batch.attempts, 10)));
      }
    }
  }

  /** The on-failure record Lambda sends for a stream batch: where the records are, not the records themselves. */
  private async discard(
    shardId: string,
    records: _Record[],
    condition: 'RetryAttemptsExhausted' | 'RecordAgeExceeded',
    invokeCount: number,
    functionError: string | undefined,
  ): Promise<void> {
    const first = records[0];
    const last = records.at(-1);
    this.stats.recordsDiscarded += records.length;
    const record = {
      requestContext: {
        requestId: randomUUID(),
        functionArn: this.deps.functionArn,
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
        streamArn: this.deps.streamArn,
      },
    };
    this.deps.log('records discarded to the on-failure destination', { shardId, condition, batchSize: records.length });
    // Losing this record would lose the only trace of the batch: keep trying until the queue takes it.
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        await this.deps.sendOnFailure(record);
        return;
      } catch (error) {
        this.deps.log('on-failure destination unreachable; retrying', { error: (error as Error).message });
        await this.rest(shardId, Math.min(5000, 200 * 2 ** attempt));
      }
    }
  }
}
