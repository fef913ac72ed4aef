import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { createDocumentClient, createFirehoseClient, createSqsClient } from '../../shared/aws/clients';
import { DynamoEventStore } from '../../shared/aws/dynamo-event-store';
import { FirehoseEventArchive } from '../../shared/aws/firehose-event-archive';
import { PoisonParking } from '../../shared/aws/poison-parking';
import { SqsSink } from '../../shared/aws/sqs-sink';
import { requireEnv } from '../../shared/config';
import { batchTraces } from '../../shared/domain/correlation';
import { isArchived, isTabled } from '../../shared/domain/storage-policy';
import { type DecodedRecordRef, planStoreBatch } from '../../shared/domain/store-batch';
import { isDeviceTelemetry } from '../../shared/domain/telemetry';
import { logger, MetricUnit, metrics } from '../../shared/observability';
import { lambda } from '../commons';
import { type BatchOutcome, consumeStreamBatch, type Selected } from './stream-batch';

const store = new DynamoEventStore(createDocumentClient(), requireEnv('EVENTS_TABLE_NAME'));
const archive = new FirehoseEventArchive(createFirehoseClient(), requireEnv('ARCHIVE_DELIVERY_STREAM_NAME'));
const sqs = createSqsClient();
const telemetryErrors = new SqsSink(sqs, requireEnv('TELEMETRY_ERRORS_QUEUE_URL'));
const parking = new PoisonParking(sqs, requireEnv('POISON_RECORDS_QUEUE_URL'), 'storeEvents');
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
/**
 * How long one invocation keeps retrying writes a busy table did not take (unprocessed items, throttling; a table out
 * of reach gets a few attempts only, see the store): a longer problem is the mapping's to retry (ADR 0005). It also
 * keeps the last attempt (the client's 5 s request timeout) well inside the function's timeout.
 */
const RETRY_WINDOW_MS = 5000;
const CALL_TIMEOUT_MS = 5000;
const REPORT_MARGIN_MS = 1000;

/**
 * Stores every event of the batch where policies/storage.json keeps its type (ADR 0018): in the events table, one
 * item per id, 25 per BatchWriteItem call; in the raw archive, the batch's events packed into few Firehose records;
 * or both. An event counts as stored once every place of its type has it. A record is reported in
 * `batchItemFailures` only when its item was not written for a reason a retry can fix (the table unreachable or
 * throttled for the whole time budget): the mapping retries from the first such record until it is written or ages
 * out (ADR 0005), so an outage delays storage and nothing accepted is lost. A record that can never be stored (not
 * an event, or an item the table refuses as invalid) is parked in the dead-letter queue with its data and reason,
 * so it never holds the shard.
 *
 * Device readings arrive as the topic rule wrote them and are validated here, where they are already batched: an
 * invalid one goes to `telemetryErrors` with its reason (counted as `TelemetryRejected`) and never blocks the shard.
 */
export const lambdaHandler = (event: KinesisStreamEvent, context: Context): Promise<KinesisStreamBatchResponse> =>
  consumeStreamBatch(event, context, {
    parking,
    select: (decoded, record) => ({ sequenceNumber: record.kinesis.sequenceNumber, decoded }),
    process: (selected, context) => storeBatch(selected, context),
  });

async function storeBatch(selected: readonly Selected<DecodedRecordRef>[], context: Context): Promise<BatchOutcome> {
  const plan = planStoreBatch(selected.map((s) => s.item));
  const retryUntil = Math.min(
    Date.now() + RETRY_WINDOW_MS,
    Date.now() + context.getRemainingTimeInMillis() - CALL_TIMEOUT_MS - REPORT_MARGIN_MS,
  );
  const budget = { retryUntil, sleep };
  const [tabled, archived, unreported] = await Promise.all([
    store.putAll(
      plan.entries.filter((e) => isTabled(e.event.type)),
      budget,
    ),
    archive.putAll(
      plan.entries.filter((e) => isArchived(e.event.type)).map((e) => e.event),
      budget,
    ),
    reportRejected(plan.rejected),
  ]);
  const refused = [
    ...tabled.refused.map((r) => ({ id: r.id, reason: `refused by the table: ${r.reason}` })),
    ...archived.refused.map((r) => ({ id: r.id, reason: `refused by the archive: ${r.reason}` })),
  ];
  // A refused event is parked (no retry can store it), whatever else happened to it; the rest is retried.
  const refusedIds = new Set(refused.map((r) => r.id));
  const unwritten = [...new Set([...tabled.unwritten, ...archived.unarchived])].filter((id) => !refusedIds.has(id));
  const storedAt = Date.now();
  const recordAt = new Map(selected.map((s) => [s.record.kinesis.sequenceNumber, s.record]));
  const reasonOfId = new Map(refused.map((r) => [r.id, r.reason]));
  const poison = plan.sequenceNumbersOf([...reasonOfId.keys()]).flatMap((sequenceNumber) => {
    const record = recordAt.get(sequenceNumber);
    const reason = reasonOfId.get(plan.idAt(sequenceNumber)) ?? 'refused';
    return record ? [{ record, reason }] : [];
  });
  const notWritten = new Set([...unwritten, ...reasonOfId.keys()]);
  const stored = plan.entries.filter((e) => !notWritten.has(e.event.id)).map((e) => e.event);
  const readings = stored.filter(isDeviceTelemetry).length;
  if (readings > 0) metrics.addMetric('TelemetryStored', MetricUnit.Count, readings);
  // Send -> stored, per item written (Powertools groups the values into one array per flush).
  for (const e of stored)
    metrics.addMetric('AcceptedToStoredMs', MetricUnit.Milliseconds, storedAt - Date.parse(e.receivedAt));
  if (unwritten.length > 0)
    logger.warn('events not stored within the time budget', {
      unwritten: unwritten.length,
      batch: plan.size,
      unwrittenIds: unwritten,
    });
  // One line per batch naming what it stored, not one per event: what `tem trace` follows (ADR 0016).
  for (const trace of batchTraces(stored))
    logger.info('batch stored', { records: plan.size, written: stored.length, ...trace });
  return {
    failed: plan.failedSequenceNumbers(unwritten, unreported),
    poison,
    reasons: [
      ...(unwritten.length > 0 ? ['events not stored within the time budget'] : []),
      ...(unreported.length > 0 ? ['rejected readings not reported'] : []),
    ],
  };
}

/** Sends the rejected readings to `telemetryErrors`; returns the sequence numbers whose report was not sent. */
async function reportRejected(rejected: ReturnType<typeof planStoreBatch>['rejected']): Promise<string[]> {
  if (rejected.length === 0) return [];
  const rejectedAt = new Date().toISOString();
  for (const r of rejected)
    logger.warn('telemetry rejected', { deviceId: r.rejection.deviceId, issues: r.rejection.issues });
  const failedIndexes = await telemetryErrors.sendAll(rejected.map((r) => ({ ...r.rejection, rejectedAt })));
  // Counted once the reason is safely queued: an unsent report is retried with its record, and counted then.
  const reported = rejected.length - failedIndexes.length;
  if (reported > 0) {
    metrics.addMetric('TelemetryRejected', MetricUnit.Count, reported);
    // Which devices, so a rejection can be traced from its metric line (bounded: a batch may hold many).
    const devices = [...new Set(rejected.flatMap((r) => (r.rejection.deviceId ? [r.rejection.deviceId] : [])))];
    metrics.addMetadata('rejectedDeviceIds', devices.slice(0, 20).join(','));
  }
  if (failedIndexes.length > 0) logger.warn('rejected readings not reported', { count: failedIndexes.length });
  return failedIndexes.map((i) => rejected[i]?.sequenceNumber ?? '');
}

export const handler = lambda(lambdaHandler, { metrics: true });
