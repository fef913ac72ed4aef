import { randomUUID } from 'node:crypto';
import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import { topology } from '../../infra/topology';
import { AlertFanOut, IotAlertPublisher, SqsAlertQueue } from '../../shared/aws/alert-notifier';
import { createDocumentClient, createIotDataClient, createSqsClient } from '../../shared/aws/clients';
import { DynamoAlertStore } from '../../shared/aws/dynamo-alert-store';
import { PoisonParking } from '../../shared/aws/poison-parking';
import { wsDeliveryFromEnv } from '../../shared/aws/ws-delivery-from-env';
import { requireEnv } from '../../shared/config';
import { alertRules } from '../../shared/domain/alert-rules';
import {
  AlertBatch,
  AlertEngine,
  type AlertMessage,
  AlertStateCache,
  positionOf,
  type Reading,
  toReading,
} from '../../shared/domain/alerts';
import { batchTraces, recordTrace } from '../../shared/domain/correlation';
import type { DecodedRecord } from '../../shared/domain/stream-records';
import { logger, MetricUnit, metrics } from '../../shared/observability';
import { lambda } from '../commons';
import { type BatchOutcome, consumeStreamBatch, type Selected } from './stream-batch';

const store = new DynamoAlertStore(createDocumentClient(), requireEnv('ALERTS_TABLE_NAME'));
const notifier = new AlertFanOut(
  new SqsAlertQueue(createSqsClient(), requireEnv('ALERTS_QUEUE_URL')),
  new IotAlertPublisher(createIotDataClient(requireEnv('IOT_DATA_ENDPOINT'))),
);
// States kept between batches of a shard while this container holds its claim (ADR 0007): one write per batch
// instead of a strongly consistent read per reading and rule.
const engine = new AlertEngine(alertRules, store, 5, new AlertStateCache(randomUUID()));
const parking = new PoisonParking(createSqsClient(), requireEnv('POISON_RECORDS_QUEUE_URL'), 'alerts');
const wsAlerts = wsDeliveryFromEnv('alerts', topology.webSocket.limits);

/** What the rules need of a record, and what the batch's log lines and metrics say of it. */
interface Judged {
  reading: Reading;
  receivedAt: string;
  trace: ReturnType<typeof recordTrace>;
}

const reason = (error: unknown) => (error instanceof Error ? error.message : String(error));
/** The reading a message is about (its event id, also its correlation id): the one that raised or resolved it. */
const readingOf = (m: AlertMessage) =>
  m.type === 'alert.resolved' ? (m.alert.resolvedEventId ?? m.alert.eventId) : m.alert.eventId;

/**
 * Applies the alert rules to the batch's `device.telemetry` readings: per (device, rule) pair, the state is read once
 * (`BatchGetItem`), the pair's readings are judged in stream order in memory, and the state is written once if it
 * changed; then the notifications the batch owes go out together (SQS `alerts` in batches of 10, and MQTT
 * `devices/<id>/alerts`). A record whose reading could not be applied, or whose notifications did not all go out, is
 * reported in `batchItemFailures`; its retry recognises what it did before (deterministic alert ids, replay
 * detection) and only finishes the job. When no record could be applied the invocation fails, so the mapping
 * bisects and retries. Between invocations only the state cache is kept, trusted while this container holds the
 * shard's claim. See ADR 0007.
 */
export const lambdaHandler = (event: KinesisStreamEvent, context: Context): Promise<KinesisStreamBatchResponse> =>
  consumeStreamBatch(event, context, { parking, select, process: judge });

/** A record's reading for the rules, or nothing to judge (not telemetry; an invalid reading, reported elsewhere). */
function select(decoded: DecodedRecord, record: KinesisStreamRecord): Judged | undefined {
  // An invalid device reading: the store consumer reports it to telemetryErrors; nothing to judge.
  if (decoded.kind === 'rejectedReading') return undefined;
  const envelope = decoded.envelope;
  const outcome = toReading(envelope, positionOf(record.eventID, record.kinesis.sequenceNumber));
  if ('skip' in outcome) {
    if (!outcome.ignored) logger.warn('telemetry event skipped', { ...recordTrace(envelope), reason: outcome.skip });
    return undefined;
  }
  return { reading: outcome.reading, receivedAt: envelope.receivedAt, trace: recordTrace(envelope) };
}

async function judge(selected: readonly Selected<Judged>[]): Promise<BatchOutcome> {
  const batch = new AlertBatch(engine, notifier, store);
  const receivedAt = new Map<string, string>(); // reading's event id -> when the boundary received it
  for (const { record, item } of selected) {
    batch.add(record.kinesis.sequenceNumber, item.reading);
    receivedAt.set(item.reading.eventId, item.receivedAt);
  }
  const { failedRecordIds, errors, delivered, failed } = await batch.run();
  const publishedAt = Date.now();
  // One line per batch naming the readings judged (ADR 0016); one per alert raised or resolved, with its reading.
  const notJudged = new Set(failedRecordIds);
  const judged = selected.filter((s) => !notJudged.has(s.record.kinesis.sequenceNumber)).map((s) => s.item.trace);
  for (const trace of batchTraces(judged)) logger.info('readings judged', { readings: selected.length, ...trace });
  for (const m of delivered)
    logger.info(m.type, {
      alertId: m.alert.alertId,
      deviceId: m.alert.deviceId,
      ruleId: m.alert.ruleId,
      eventId: readingOf(m),
    });
  // Live to WebSocket subscribers of the devices' alerts: at most once, never a reason to retry the batch (ADR 0014).
  if (delivered.length > 0)
    await wsAlerts
      .deliverAlerts(delivered)
      .then((stats) => {
        if (stats.posts > 0)
          logger.info('alerts pushed to WebSocket subscribers', {
            ...stats,
            alertIds: delivered.map((m) => m.alert.alertId),
            eventIds: [...new Set(delivered.map(readingOf))],
          });
      })
      .catch((error) => logger.warn('alerts not pushed to WebSocket subscribers', { error: reason(error) }));
  if (failed.length > 0)
    logger.warn('alert notifications not delivered', { alertIds: failed.map((m) => m.alert.alertId) });
  metrics.addMetric('AlertsRaised', MetricUnit.Count, delivered.filter((m) => m.type === 'alert.raised').length);
  metrics.addMetric('AlertsResolved', MetricUnit.Count, delivered.filter((m) => m.type === 'alert.resolved').length);
  for (const m of delivered) {
    const at = receivedAt.get(m.type === 'alert.resolved' ? (m.alert.resolvedEventId ?? '') : m.alert.eventId);
    if (at) metrics.addMetric('ReadingToAlertMs', MetricUnit.Milliseconds, publishedAt - Date.parse(at));
  }
  if (failed.length > 0) metrics.addMetric('AlertNotificationsFailed', MetricUnit.Count, failed.length);
  return { failed: failedRecordIds, reasons: errors.map((e) => reason(e.error)) };
}

export const handler = lambda(lambdaHandler, { metrics: true });
