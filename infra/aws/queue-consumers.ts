import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { FunctionName, QueueConsumerSpec, QueueName } from '../topology';
import type { TemFunction } from './tem-function';

/**
 * One Lambda SQS event source mapping per topology queue consumer, reporting batch item failures: a message the
 * function reports stays in the queue and comes back after the visibility timeout, until the queue's redrive policy
 * parks it in its dead-letter queue. `SqsEventSource` also grants the function receive and delete on the queue.
 */
export function buildQueueConsumers(
  specs: readonly QueueConsumerSpec[],
  targets: { functions: Record<FunctionName, TemFunction>; queues: Record<QueueName, sqs.Queue> },
): void {
  for (const c of specs)
    targets.functions[c.function].addEventSource(
      new SqsEventSource(targets.queues[c.queue], {
        batchSize: c.batchSize,
        maxConcurrency: c.maxConcurrency,
        reportBatchItemFailures: c.reportBatchItemFailures,
      }),
    );
}
