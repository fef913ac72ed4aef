import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { awsCallCounts } from '../../shared/aws/call-counter';
import { createDocumentClient, createSqsClient } from '../../shared/aws/clients';
import { DynamoDeviceMetricsStore, DynamoDeviceRegistry } from '../../shared/aws/dynamo-device-metrics-store';
import { PoisonParking } from '../../shared/aws/poison-parking';
import { ConfigError, intEnv, requireEnv } from '../../shared/config';
import { batchTraces, recordTrace, TRACE_IDS_PER_LINE } from '../../shared/domain/correlation';
import { applyReadings, minimumCalls, type Reading, readingFromEvent } from '../../shared/domain/device-metrics';
import type { DecodedRecord } from '../../shared/domain/stream-records';
import { logger } from '../../shared/observability';
import { lambda } from '../commons';
import { type BatchOutcome, consumeStreamBatch, type Selected } from './stream-batch';

// Module scope: the stores' caches (what this container last wrote to each bucket and device) outlive an invocation.
const client = createDocumentClient();
const metrics = new DynamoDeviceMetricsStore(client, requireEnv('DEVICE_METRICS_TABLE_NAME'));
const registry = new DynamoDeviceRegistry(client, requireEnv('DEVICES_TABLE_NAME'));
const parking = new PoisonParking(createSqsClient(), requireEnv('POISON_RECORDS_QUEUE_URL'), 'deviceMetrics');
const retentionDays = intEnv('METRICS_RETENTION_DAYS', 30);
if (retentionDays < 1) throw new ConfigError(`METRICS_RETENTION_DAYS must be at least 1, got ${retentionDays}`);

/** A record's reading, or nothing to aggregate (an ignored or skipped event; an invalid reading, which the store
 * consumer reports to telemetryErrors). */
function select(decoded: DecodedRecord): Reading | undefined {
  if (decoded.kind === 'rejectedReading') return undefined;
  const event = decoded.envelope;
  const outcome = readingFromEvent(event);
  switch (outcome.kind) {
    case 'ignored':
      return undefined;
    case 'invalid':
      // A retry cannot fix the data: skip it, loudly, rather than block the shard until the DLQ.
      logger.warn('telemetry skipped', { ...recordTrace(event), source: event.source, reason: outcome.reason });
      return undefined;
    case 'reading':
      if (outcome.dropped.length > 0)
        logger.warn('telemetry metrics dropped', {
          ...recordTrace(event),
          source: event.source,
          dropped: outcome.dropped,
        });
      return outcome.reading;
  }
}

const totalCalls = () => Object.values(awsCallCounts()).reduce((n, c) => n + c, 0);

/**
 * Aggregates the batch's telemetry per device, metric and minute, and updates the device registry: the writes are
 * made for the whole batch, one per bucket and one per device in the common case. A record fails when a write its
 * reading belongs to failed (the mapping retries it until it succeeds or ages out). Every write is idempotent per
 * event id, so the mapping's retry (which also re-delivers records that had succeeded) counts nothing twice.
 */
async function aggregate(selected: readonly Selected<Reading>[]): Promise<BatchOutcome> {
  const readings = selected.map((s) => s.item);
  const callsBefore = totalCalls();
  const applied = await applyReadings(readings, { metrics, registry }, { retentionDays });
  for (const failure of applied.failures)
    logger.error('device metrics write failed', {
      what: failure.what,
      events: failure.eventIds.length,
      eventIds: failure.eventIds.slice(0, TRACE_IDS_PER_LINE),
      error: failure.error,
    });
  logger.debug('batch aggregated', {
    readings: readings.length,
    buckets: applied.buckets,
    devices: applied.devices,
    // AWS calls of the batch against the fewest its readings allow (more: cold cache, other writers, retries).
    calls: totalCalls() - callsBefore,
    minimumCalls: minimumCalls(readings),
  });
  // One line per batch naming the readings it aggregated (a reading's correlation id is its id): ADR 0016.
  const aggregated = readings.filter((r) => !applied.failedEventIds.has(r.eventId)).map((r) => ({ id: r.eventId }));
  for (const trace of batchTraces(aggregated))
    logger.info('readings aggregated', { readings: aggregated.length, ...trace });
  return {
    failed: selected
      .filter((s) => applied.failedEventIds.has(s.item.eventId))
      .map((s) => s.record.kinesis.sequenceNumber),
    reasons: [
      ...new Set(
        applied.failures.map(
          (f) => `device metrics not stored: ${f.error instanceof Error ? f.error.message : String(f.error)}`,
        ),
      ),
    ],
  };
}

export const lambdaHandler = (event: KinesisStreamEvent, context: Context): Promise<KinesisStreamBatchResponse> =>
  consumeStreamBatch(event, context, { parking, select, process: aggregate });

export const handler = lambda(lambdaHandler);
