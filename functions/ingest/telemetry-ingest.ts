import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { createIngestKinesisClient, createSqsClient } from '../../shared/aws/clients';
import { KinesisPublisher } from '../../shared/aws/kinesis-publisher';
import { SqsSink } from '../../shared/aws/sqs-sink';
import { requireEnv } from '../../shared/config';
import { publishAll, toStreamRecord } from '../../shared/domain/ingest';
import { TelemetryRuleEventSchema, telemetryToEnvelope } from '../../shared/domain/telemetry';
import { logger, MetricUnit, metrics } from '../../shared/observability';

const publisher = new KinesisPublisher(createIngestKinesisClient(), requireEnv('EVENT_STREAM_NAME'));
const errors = new SqsSink(createSqsClient(), requireEnv('TELEMETRY_ERRORS_QUEUE_URL'));
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Target of the `devices/+/telemetry` topic rule (invoked asynchronously). Invalid telemetry is not retryable: it
 * goes to the telemetry error queue with the reason and is counted (`TelemetryRejected`). A stream failure throws,
 * so the async invoke retries and then lands in the function's on-failure queue.
 */
export const lambdaHandler = async (event: unknown, context: Context): Promise<{ id: string } | { rejected: true }> => {
  const parsed = TelemetryRuleEventSchema.safeParse(event);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
    const deviceId =
      typeof event === 'object' && event !== null ? (event as { deviceId?: unknown }).deviceId : undefined;
    logger.warn('telemetry rejected', { deviceId, issues });
    await errors.send({ reason: 'invalid telemetry', issues, deviceId, event, rejectedAt: new Date().toISOString() });
    // Counted once the reason is safely queued: a failed send throws, and the retry counts it then.
    if (typeof deviceId === 'string') metrics.addMetadata('deviceId', deviceId);
    metrics.addMetric('TelemetryRejected', MetricUnit.Count, 1);
    return { rejected: true };
  }
  const envelope = telemetryToEnvelope(parsed.data);
  const report = await publishAll(publisher, [toStreamRecord(envelope)], {
    remainingMs: () => context.getRemainingTimeInMillis(),
    sleep,
  });
  if (report.failed.length > 0)
    throw new Error(`telemetry ${envelope.id} not accepted: ${report.failed[0]?.errorCode}`);
  metrics.addMetric('TelemetryAccepted', MetricUnit.Count, 1);
  return { id: envelope.id };
};

export const handler = middy(lambdaHandler).use(logMetrics(metrics));
