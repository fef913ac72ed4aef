import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import { awsCallCounts } from '../../shared/aws/call-counter';
import { createDocumentClient, createSqsClient } from '../../shared/aws/clients';
import { DynamoDeviceMetricsStore, DynamoDeviceRegistry } from '../../shared/aws/dynamo-device-metrics-store';
import { PoisonParking } from '../../shared/aws/poison-parking';
import { ConfigError, intEnv, requireEnv } from '../../shared/config';
import { batchTraces, recordTrace, TRACE_IDS_PER_LINE } from '../../shared/domain/correlation';
import { applyReadings, minimumCalls, type Reading, readingFromEvent } from '../../shared/domain/device-metrics';
import { decodeStreamRecord } from '../../shared/domain/stream-records';
import { logger } from '../../shared/observability';
import { lambda } from '../commons';

// Module scope: the stores' caches (what this container last wrote to each bucket and device) outlive an invocation.
const client = createDocumentClient();
const metrics = new DynamoDeviceMetricsStore(client, requireEnv('DEVICE_METRICS_TABLE_NAME'));
const registry = new DynamoDeviceRegistry(client, requireEnv('DEVICES_TABLE_NAME'));
const parking = new PoisonParking(createSqsClient(), requireEnv('POISON_RECORDS_QUEUE_URL'), 'deviceMetrics');
const retentionDays = intEnv('METRICS_RETENTION_DAYS', 30);
if (retentionDays < 1) throw new ConfigError(`METRICS_RETENTION_DAYS must be at least 1, got ${retentionDays}`);
const processor = new BatchProcessor(EventType.KinesisDataStreams);

/** What the batch pass made of a record; the record handler only reports it. */
type Outcome = { kind: 'done' } | { kind: 'reading'; eventId: string } | { kind: 'poison'; error: unknown };

function classify(record: KinesisStreamRecord, readings: Reading[]): Outcome {
  let decoded: ReturnType<typeof decodeStreamRecord>;
  try {
    decoded = decodeStreamRecord(record.kinesis.data);
  } catch (error) {
    return { kind: 'poison', error };
  }
  // An invalid device reading: the store consumer reports it to telemetryErrors; nothing to aggregate.
  if (decoded.kind === 'rejectedReading') return { kind: 'done' };
  const event = decoded.envelope;
  const outcome = readingFromEvent(event);
  switch (outcome.kind) {
    case 'ignored':
      return { kind: 'done' };
    case 'invalid':
      // A retry cannot fix the data: skip it, loudly, rather than block the shard until the DLQ.
      logger.warn('telemetry skipped', { ...recordTrace(event), source: event.source, reason: outcome.reason });
      return { kind: 'done' };
    case 'reading':
      if (outcome.dropped.length > 0)
        logger.warn('telemetry metrics dropped', {
          ...recordTrace(event),
          source: event.source,
          dropped: outcome.dropped,
        });
      readings.push(outcome.reading);
      return { kind: 'reading', eventId: outcome.reading.eventId };
  }
}

const totalCalls = () => Object.values(awsCallCounts()).reduce((n, c) => n + c, 0);

/**
 * Aggregates the batch's telemetry per device, metric and minute, and updates the device registry. The writes are
 * made for the whole batch first, one per bucket and one per device in the common case; then each record is
 * reported through Powertools: a record fails when a write its reading belongs to failed (the mapping retries it
 * until it succeeds or ages out); a record that is not an event is parked in the dead-letter queue instead. Every write is idempotent per event id, so the mapping's retry (which also re-delivers records that had
 * succeeded) counts nothing twice.
 */
export const lambdaHandler = async (
  event: KinesisStreamEvent,
  context: Context,
): Promise<KinesisStreamBatchResponse> => {
  const readings: Reading[] = [];
  const outcomes = new Map<string, Outcome>();
  for (const record of event.Records) outcomes.set(record.kinesis.sequenceNumber, classify(record, readings));

  // A record that is not an event can never be processed: parked with its data (ADR 0005), never retried.
  const poison = event.Records.flatMap((record) => {
    const outcome = outcomes.get(record.kinesis.sequenceNumber);
    return outcome?.kind === 'poison' ? [{ record, reason: `not an event: ${String(outcome.error)}` }] : [];
  });
  const callsBefore = totalCalls();
  const [applied, unparked] = await Promise.all([
    applyReadings(readings, { metrics, registry }, { retentionDays }),
    parking.park(poison),
  ]);
  for (const record of poison)
    if (!unparked.includes(record.record.kinesis.sequenceNumber))
      outcomes.set(record.record.kinesis.sequenceNumber, { kind: 'done' });
  const calls = totalCalls() - callsBefore;
  for (const failure of applied.failures)
    logger.error('device metrics write failed', {
      what: failure.what,
      events: failure.eventIds.length,
      eventIds: failure.eventIds.slice(0, TRACE_IDS_PER_LINE),
      error: failure.error,
    });

  const report = async (record: KinesisStreamRecord): Promise<void> => {
    const outcome = outcomes.get(record.kinesis.sequenceNumber);
    if (outcome === undefined) throw new Error('record was not in the batch pass');
    if (outcome.kind === 'poison') throw outcome.error;
    if (outcome.kind === 'reading' && applied.failedEventIds.has(outcome.eventId))
      throw new Error(`device metrics of event ${outcome.eventId} not stored`);
  };
  const response = await processPartialResponse(event, report, processor, { context });
  logger.debug('batch aggregated', {
    records: event.Records.length,
    readings: readings.length,
    buckets: applied.buckets,
    devices: applied.devices,
    // AWS calls of the batch against the fewest its readings allow (more: cold cache, other writers, retries).
    calls,
    minimumCalls: minimumCalls(readings),
  });
  // One line per batch naming the readings it aggregated (a reading's correlation id is its id): ADR 0016.
  const aggregated = readings.filter((r) => !applied.failedEventIds.has(r.eventId)).map((r) => ({ id: r.eventId }));
  for (const trace of batchTraces(aggregated))
    logger.info('readings aggregated', { readings: aggregated.length, ...trace });
  if (response.batchItemFailures.length > 0)
    logger.warn('records failed', { failed: response.batchItemFailures.length, batch: event.Records.length });
  return response;
};

export const handler = lambda(lambdaHandler);
