import {
  type _Record,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
  ListShardsCommand,
} from '@aws-sdk/client-kinesis';
import type { KinesisStreamEvent } from 'aws-lambda';
import type { StreamConsumerSpec } from '../topology';
import { type BatchContext, processBatch, recordsWithinPayload } from './kinesis-batch';
import { ANY_SHARD } from './kinesis-front';

export { MAX_BATCH_PAYLOAD_BYTES, recordsWithinPayload } from './kinesis-batch';

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

  /** What each batch runs with (`kinesis-batch.ts`): the mapping, its counters, and this poller's sleep. */
  private readonly batch: BatchContext;

  constructor(
    private readonly spec: StreamConsumerSpec,
    private readonly deps: PollerDeps,
  ) {
    if (spec.readMode === 'enhancedFanOut' && !deps.putSignal)
      throw new Error(`consumer ${spec.function}: an enhanced fan-out consumer needs a put signal`);
    this.batch = {
      spec,
      deps,
      stats: this.stats,
      stopped: () => this.stopped,
      rest: (shardId, ms) => this.rest(shardId, ms),
    };
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
        await processBatch(this.batch, shardId, batch);
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
}
