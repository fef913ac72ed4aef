import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import type { PoisonParking } from '../../shared/aws/poison-parking';
import { type DecodedRecord, decodeStreamRecord } from '../../shared/domain/stream-records';
import { logger } from '../../shared/observability';

/** A record the consumer works on, with what it took from it. */
export interface Selected<Item> {
  record: KinesisStreamRecord;
  item: Item;
}

/** A record that can never be processed, with why: parked in the consumers' dead-letter queue (ADR 0005). */
export interface PoisonRecord {
  record: KinesisStreamRecord;
  reason: string;
}

/** What a consumer's batch work left undone. */
export interface BatchOutcome {
  /** Sequence numbers of records whose work is not done yet: reported failed, so the mapping retries them. */
  failed?: Iterable<string>;
  /** Records the work found can never succeed (the table refuses the item, say): parked, not retried. */
  poison?: readonly PoisonRecord[];
  /** Why records failed, for the log line and the error of a batch that failed whole. */
  reasons?: readonly string[];
}

/** One stream consumer: what it takes from each record, and its work on the whole batch. */
export interface StreamBatchConsumer<Item> {
  parking: PoisonParking;
  /**
   * What the consumer needs of a decoded record; `undefined` when the record needs nothing of it (it succeeds).
   * Throwing marks the record as poison.
   */
  select(decoded: DecodedRecord, record: KinesisStreamRecord): Item | undefined;
  /** The batch's work, done for all selected records together (batched writes); it must be idempotent per record. */
  process(selected: readonly Selected<Item>[], context: Context): Promise<BatchOutcome>;
}

const reasonOf = (error: unknown) => (error instanceof Error ? error.message : String(error)).slice(0, 200);

/**
 * The batch pass every stream consumer shares, with one failure semantics (ADR 0005):
 * - each record is decoded once (`decodeStreamRecord`); one that is not an event is parked with its data and reason,
 *   never retried, so it cannot hold the shard;
 * - the consumer works on the batch as a whole while the poison is parked;
 * - a record is reported in `batchItemFailures` only when its work is not done or its parking failed (a retry can
 *   fix both), in batch order;
 * - when every record of a non-empty batch failed, the invocation fails (as Powertools' FullBatchFailureError), so
 *   the mapping bisects and retries.
 */
export async function consumeStreamBatch<Item>(
  event: KinesisStreamEvent,
  context: Context,
  consumer: StreamBatchConsumer<Item>,
): Promise<KinesisStreamBatchResponse> {
  const selected: Selected<Item>[] = [];
  const undecodable: PoisonRecord[] = [];
  for (const record of event.Records) {
    try {
      const item = consumer.select(decodeStreamRecord(record.kinesis.data), record);
      if (item !== undefined) selected.push({ record, item });
    } catch (error) {
      undecodable.push({ record, reason: `not an event: ${reasonOf(error)}` });
    }
  }
  const park = (poison: readonly PoisonRecord[]) =>
    poison.length > 0 ? consumer.parking.park(poison) : Promise.resolve([]);
  const [outcome, unparkedUndecodable] = await Promise.all([consumer.process(selected, context), park(undecodable)]);
  const unparked = [...unparkedUndecodable, ...(await park(outcome.poison ?? []))];

  const failed = new Set([...(outcome.failed ?? []), ...unparked]);
  const batchItemFailures = event.Records.filter((r) => failed.has(r.kinesis.sequenceNumber)).map((r) => ({
    itemIdentifier: r.kinesis.sequenceNumber,
  }));
  if (batchItemFailures.length === 0) return { batchItemFailures };
  const reasons = [
    ...new Set([...(outcome.reasons ?? []), ...(unparked.length > 0 ? ['poison record not parked'] : [])]),
  ].slice(0, 5);
  if (batchItemFailures.length === event.Records.length) {
    logger.error('batch failed', { batch: event.Records.length, reasons });
    throw new Error(`all ${event.Records.length} records failed: ${reasons.join('; ')}`);
  }
  logger.warn('records failed', { failed: batchItemFailures.length, batch: event.Records.length, reasons });
  return { batchItemFailures };
}
