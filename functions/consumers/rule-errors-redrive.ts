import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { topicRules } from '../../infra/topology';
import { createKinesisClient, createSqsClient } from '../../shared/aws/clients';
import { KinesisPublisher } from '../../shared/aws/kinesis-publisher';
import { SqsSink } from '../../shared/aws/sqs-sink';
import { requireEnv } from '../../shared/config';
import { planRedrive } from '../../shared/domain/rule-redrive';
import { logger, MetricUnit, metrics } from '../../shared/observability';
import { lambda } from '../commons';

const publisher = new KinesisPublisher(createKinesisClient(), requireEnv('EVENT_STREAM_NAME'));
const telemetryErrors = new SqsSink(createSqsClient(), requireEnv('TELEMETRY_ERRORS_QUEUE_URL'));

const reason = (error: unknown) => (error instanceof Error ? `${error.name}: ${error.message}` : String(error));

/**
 * Puts on the stream again what the topic rule could not (its error action's messages in `ruleErrors`: a Kinesis
 * outage or throttling after the device's PUBACK). Each message's rule is re-applied to the original payload, so the
 * record is the one the rule would have put; the consumers' id checks keep a reading stored once if it did land.
 * A message whose put fails is reported in `batchItemFailures`: SQS shows it again after the queue's visibility timeout
 * (every 10 s), until `maxReceiveCount` moves it to the dead-letter queue (alarmed; `tem dlq replay` from there). A
 * payload the rule can never act on (not a JSON object) goes to `telemetryErrors` with the reason, like any invalid
 * reading; a message that is no rule error message at all fails until it reaches the dead-letter queue.
 */
export const lambdaHandler = async (event: SQSEvent): Promise<SQSBatchResponse> => {
  const plan = planRedrive(
    event.Records.map((r) => ({
      messageId: r.messageId,
      body: r.body,
      sentTimestamp: Number(r.attributes.SentTimestamp) || Date.now(),
    })),
    topicRules,
  );
  const failed = new Set(plan.malformed.map((m) => m.messageId));
  for (const m of plan.malformed) logger.error('rule error message cannot be redriven', { ...m });
  const bound = plan.records.filter((r) => r.stream === 'eventStream');
  for (const r of plan.records) if (r.stream !== 'eventStream') failed.add(r.id);
  if (bound.length > 0) {
    try {
      const { failed: notPut } = await publisher.publish(bound);
      for (const f of notPut) failed.add(f.id);
      if (notPut.length > 0)
        logger.warn('records not put again', { count: notPut.length, errorCode: notPut[0]?.errorCode });
    } catch (error) {
      for (const r of bound) failed.add(r.id);
      logger.warn('stream unreachable: messages stay in the queue', { count: bound.length, error: reason(error) });
    }
  }
  if (plan.unactionable.length > 0) {
    const rejectedAt = new Date().toISOString();
    const unsent = await telemetryErrors.sendAll(
      plan.unactionable.map(({ messageId: _, ...r }) => ({ ...r, rejectedAt })),
    );
    for (const i of unsent) failed.add(plan.unactionable[i]?.messageId ?? '');
    const reported = plan.unactionable.length - unsent.length;
    if (reported > 0) metrics.addMetric('TelemetryRejected', MetricUnit.Count, reported);
  }
  const redriven = bound.filter((r) => !failed.has(r.id)).length;
  if (redriven > 0) metrics.addMetric('RuleErrorsRedriven', MetricUnit.Count, redriven);
  return { batchItemFailures: [...failed].map((itemIdentifier) => ({ itemIdentifier })) };
};

export const handler = lambda(lambdaHandler, { metrics: true });
