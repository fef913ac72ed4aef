import type { KinesisStreamEvent, SQSEvent } from 'aws-lambda';
import type { QueueName, StreamName, Topology } from '../topology';
import { KinesisPoller, type PutSignal } from './kinesis-poller';
import { LOCAL_ACCOUNT, LOCAL_REGION, type LocalClients, physicalName, queueArn, streamArn } from './provision';
import { SqsPoller } from './sqs-poller';

export interface EventSourceDeps {
  topology: Topology;
  clients: LocalClients;
  /** Physical names and URLs, by topology name. */
  streams: Record<StreamName, string>;
  queues: Record<QueueName, string>;
  invoke: (name: string, event: unknown) => Promise<unknown>;
  sendTo: (queue: QueueName) => (body: unknown) => Promise<void>;
  log: (message: string, fields?: Record<string, unknown>) => void;
  putSignal: PutSignal;
  maxBatchingWindowSeconds: number | undefined;
}

function functionArn(name: string): string {
  return `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:function:tem-${name}`;
}

/**
 * Lambda's event source mappings: a poller per stream consumer (started: reading from the shards' ends) and per
 * queue consumer, as the CDK stack declares them.
 */
export async function startEventSources(
  deps: EventSourceDeps,
): Promise<{ pollers: KinesisPoller[]; queuePollers: SqsPoller[] }> {
  const pollers = deps.topology.streamConsumers.map(
    (consumer) =>
      new KinesisPoller(consumer, {
        kinesis: deps.clients.kinesis,
        streamName: deps.streams[consumer.stream],
        streamArn: streamArn(deps.streams[consumer.stream]),
        region: LOCAL_REGION,
        functionArn: functionArn(consumer.function),
        invoke: (event: KinesisStreamEvent) => deps.invoke(consumer.function, event),
        sendOnFailure: deps.sendTo(consumer.onFailure),
        log: deps.log,
        putSignal: deps.putSignal,
        maxBatchingWindowSeconds: deps.maxBatchingWindowSeconds,
      }),
  );
  await Promise.all(pollers.map((p) => p.start()));
  const queuePollers = deps.topology.queueConsumers.map(
    (consumer) =>
      new SqsPoller(consumer, {
        sqs: deps.clients.sqs,
        queueUrl: deps.queues[consumer.queue],
        queueArn: queueArn(physicalName(consumer.queue)),
        region: LOCAL_REGION,
        invoke: (event: SQSEvent) => deps.invoke(consumer.function, event),
        log: deps.log,
      }),
  );
  for (const p of queuePollers) p.start();
  return { pollers, queuePollers };
}
