import { Duration, Token } from 'aws-cdk-lib';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { KinesisEventSource, type KinesisEventSourceProps, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { FunctionName, QueueName, StreamConsumerSpec, StreamName } from '../topology';
import { pascal } from './build';
import type { TemFunction } from './tem-function';

/** Kinesis accepts consumer names of 1..128 characters from this set (RegisterStreamConsumer). */
const CONSUMER_NAME = /^[a-zA-Z0-9_.-]{1,128}$/;

/**
 * What a Lambda mapping on an enhanced fan-out consumer calls: it subscribes to (and describes) the consumer, and
 * describes and lists the stream's shards. Records arrive over SubscribeToShard, so nothing on the stream reads data
 * (no GetRecords / GetShardIterator), unlike the polling mapping's `grantRead`.
 */
const EFO_CONSUMER_ACTIONS = ['kinesis:SubscribeToShard', 'kinesis:DescribeStreamConsumer'];
const EFO_STREAM_ACTIONS = ['kinesis:DescribeStream', 'kinesis:DescribeStreamSummary', 'kinesis:ListShards'];

/** The key of a consumer in `TelemetryEventMesh.streamConsumers`: `<stream>:<function>`. */
export const consumerKey = (c: Pick<StreamConsumerSpec, 'stream' | 'function'>): string => `${c.stream}:${c.function}`;

export interface StreamConsumerTargets {
  /**
   * The registered consumer's name: unique per stream (one mapping per function and stream) and stable (a new name
   * replaces the consumer and its mapping); `<stack>-<function>`, with the mesh's prefix (`MeshNames.inStack`).
   */
  consumerName: (fn: FunctionName) => string;
  streams: Record<StreamName, kinesis.Stream>;
  functions: Record<FunctionName, TemFunction>;
  queues: Record<QueueName, sqs.Queue>;
}

/**
 * One Lambda event source mapping per topology consumer. `enhancedFanOut`: a registered stream consumer and a mapping
 * on its ARN; `polling`: a mapping on the stream itself. Returns the registered consumers by `consumerKey`.
 */
export function buildStreamConsumers(
  scope: Construct,
  specs: readonly StreamConsumerSpec[],
  targets: StreamConsumerTargets,
): Record<string, kinesis.StreamConsumer> {
  // One consumer per function and stream: validateTopology refuses a second.
  const consumers: Record<string, kinesis.StreamConsumer> = {};
  for (const c of specs) {
    const fn = targets.functions[c.function];
    const stream = targets.streams[c.stream];
    const options: KinesisEventSourceProps = {
      batchSize: c.batchSize,
      // Always rendered, 0 included: 0 is Lambda's default for streams too, but the template then says what runs.
      maxBatchingWindow: Duration.seconds(c.maxBatchingWindowSeconds),
      startingPosition: lambda.StartingPosition[c.startingPosition],
      parallelizationFactor: c.parallelizationFactor,
      bisectBatchOnError: c.bisectBatchOnError,
      retryAttempts: c.maxRetryAttempts,
      maxRecordAge: Duration.seconds(c.maxRecordAgeSeconds),
      reportBatchItemFailures: c.reportBatchItemFailures,
      onFailure: new SqsDlq(targets.queues[c.onFailure]),
    };
    if (c.readMode === 'polling') {
      // KinesisEventSource grants the stream's read actions (GetRecords & co.) that polling needs.
      fn.addEventSource(new KinesisEventSource(stream, options));
      continue;
    }
    const name = targets.consumerName(c.function);
    if (!Token.isUnresolved(name) && !CONSUMER_NAME.test(name))
      throw new Error(`stream consumer name ${name} is not 1..128 characters of [a-zA-Z0-9_.-]`);
    const consumer = new kinesis.StreamConsumer(scope, `${pascal(c.stream)}${pascal(c.function)}Consumer`, {
      streamConsumerName: name,
      stream,
    });
    // Not KinesisConsumerEventSource: its bind also grants the stream's whole read set, which a pushed consumer
    // never uses. The mapping is the same L2 underneath, with the grants below instead.
    fn.addEventSourceMapping(`${pascal(c.stream)}ConsumerMapping`, {
      ...options,
      eventSourceArn: consumer.streamConsumerArn,
    });
    consumer.grant(fn, ...EFO_CONSUMER_ACTIONS);
    stream.grant(fn, ...EFO_STREAM_ACTIONS);
    // A customer-managed key needs kms:Decrypt; the AWS-managed key (the stack's choice) needs no IAM grant.
    stream.encryptionKey?.grantDecrypt(fn);
    consumers[consumerKey(c)] = consumer;
  }
  return consumers;
}
