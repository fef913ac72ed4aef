import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import { AlertFanOut, IotAlertPublisher, SqsAlertQueue } from '../../shared/aws/alert-notifier';
import { createDocumentClient, createIotDataClient, createSqsClient } from '../../shared/aws/clients';
import { DynamoAlertStore } from '../../shared/aws/dynamo-alert-store';
import { requireEnv } from '../../shared/config';
import { alertRules } from '../../shared/domain/alert-rules';
import { AlertBatch, AlertEngine, positionOf, toReading } from '../../shared/domain/alerts';
import { decodeEnvelope } from '../../shared/domain/stream-records';
import { logger, MetricUnit, metrics } from '../../shared/observability';

const store = new DynamoAlertStore(createDocumentClient(), requireEnv('ALERTS_TABLE_NAME'));
const notifier = new AlertFanOut(
  new SqsAlertQueue(createSqsClient(), requireEnv('ALERTS_QUEUE_URL')),
  new IotAlertPublisher(createIotDataClient(requireEnv('IOT_DATA_ENDPOINT'))),
);
const engine = new AlertEngine(alertRules, store);

/**
 * Applies the alert rules to every `device.telemetry` reading, in stream order, then sends the notifications the
 * batch owes (SQS `alerts` in batches of 10, and MQTT `devices/<id>/alerts`). A record whose reading could not be
 * applied, or whose notifications did not all go out, is reported in `batchItemFailures`; its retry recognises
 * what it did before (deterministic alert ids, replay detection) and only finishes the job. See ADR 0007.
 */
export const lambdaHandler = async (
  event: KinesisStreamEvent,
  context: Context,
): Promise<KinesisStreamBatchResponse> => {
  const batch = new AlertBatch(engine, notifier, store);
  const applyRecord = async (record: KinesisStreamRecord): Promise<void> => {
    const envelope = decodeEnvelope(record.kinesis.data);
    const outcome = toReading(envelope, positionOf(record.eventID, record.kinesis.sequenceNumber));
    if ('skip' in outcome) {
      if (!outcome.ignored) logger.warn('telemetry event skipped', { id: envelope.id, reason: outcome.skip });
      return;
    }
    await batch.apply(record.kinesis.sequenceNumber, outcome.reading);
  };
  // A processor per invocation keeps no state between batches. In order (not in parallel): one device's readings
  // must be judged in stream order.
  const processor = new BatchProcessor(EventType.KinesisDataStreams);
  let response: KinesisStreamBatchResponse;
  try {
    response = await processPartialResponse(event, applyRecord, processor, { context, processInParallel: false });
  } catch (error) {
    // Every record failed (Powertools' FullBatchFailureError): a failed invocation, so the mapping bisects/retries.
    const reasons = [...new Set(processor.errors.map((e) => e.message))].slice(0, 5);
    logger.error('batch failed', { batch: event.Records.length, reasons, error });
    throw error;
  }
  const { failedRecordIds, delivered, failed } = await batch.deliver();
  for (const m of delivered)
    logger.info(m.type, { alertId: m.alert.alertId, deviceId: m.alert.deviceId, ruleId: m.alert.ruleId });
  if (failed.length > 0)
    logger.warn('alert notifications not delivered', { alertIds: failed.map((m) => m.alert.alertId) });
  metrics.addMetric('AlertsRaised', MetricUnit.Count, delivered.filter((m) => m.type === 'alert.raised').length);
  metrics.addMetric('AlertsResolved', MetricUnit.Count, delivered.filter((m) => m.type === 'alert.resolved').length);
  if (failed.length > 0) metrics.addMetric('AlertNotificationsFailed', MetricUnit.Count, failed.length);

  const failedIds = new Set([...response.batchItemFailures.map((f) => f.itemIdentifier), ...failedRecordIds]);
  const batchItemFailures = event.Records.filter((r) => failedIds.has(r.kinesis.sequenceNumber)).map((r) => ({
    itemIdentifier: r.kinesis.sequenceNumber,
  }));
  if (batchItemFailures.length > 0)
    logger.warn('records failed', {
      failed: batchItemFailures.length,
      batch: event.Records.length,
      reasons: [...new Set(processor.errors.map((e) => e.message))].slice(0, 5),
    });
  return { batchItemFailures };
};

export const handler = middy(lambdaHandler).use(logMetrics(metrics));
