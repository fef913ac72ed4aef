import { Duration } from 'aws-cdk-lib';
import type * as events from 'aws-cdk-lib/aws-events';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { FunctionName, QueueName, StreamName, Topology } from '../topology';
import { build, pascal } from './build';
import { buildQueueConsumers } from './queue-consumers';
import { buildSchedules } from './schedules';
import type { StageSettings } from './stage';
import { buildStreamConsumers } from './stream-consumers';
import type { TemFunction } from './tem-function';

export interface MeshStreamsProps {
  topology: Topology;
  stage: StageSettings;
  /** A registered stream consumer's name (`MeshNames.inStack`). */
  consumerName: (fn: FunctionName) => string;
}

/**
 * The event stream and what invokes a function besides the APIs: the stream consumers (enhanced fan-out or polling),
 * the queue consumers and the schedules. The streams come first (the functions are told their names); the consumers
 * once the functions exist (`addConsumers`), so no resource references one that references it back.
 */
export class MeshStreams extends Construct {
  readonly streams: Record<StreamName, kinesis.Stream>;
  /** The registered enhanced fan-out consumers, keyed `<stream>:<function>` (`consumerKey`); none for polling. */
  streamConsumers: Record<string, kinesis.StreamConsumer> = {};
  schedules: Record<string, events.Rule> = {};
  private readonly props: MeshStreamsProps;

  constructor(scope: Construct, id: string, props: MeshStreamsProps) {
    super(scope, id);
    this.props = props;
    this.streams = build(props.topology.streams, (name, spec) => {
      return new kinesis.Stream(this, pascal(name), {
        ...(spec.capacity === 'onDemand'
          ? { streamMode: kinesis.StreamMode.ON_DEMAND }
          : { streamMode: kinesis.StreamMode.PROVISIONED, shardCount: spec.shardCount }),
        retentionPeriod: Duration.hours(spec.retentionHours),
        // The AWS-managed key: encrypted at rest without a customer key to rotate and grant (cdk-nag KDS3).
        encryption: kinesis.StreamEncryption.MANAGED,
        removalPolicy: props.stage.removalPolicy,
      });
    });
  }

  /** One event source mapping per topology consumer, and one EventBridge rule per schedule. */
  addConsumers(functions: Record<FunctionName, TemFunction>, queues: Record<QueueName, sqs.Queue>): void {
    const t = this.props.topology;
    this.streamConsumers = buildStreamConsumers(this, t.streamConsumers, {
      consumerName: this.props.consumerName,
      streams: this.streams,
      functions,
      queues,
    });
    buildQueueConsumers(t.queueConsumers, { functions, queues });
    this.schedules = buildSchedules(this, t.schedules, functions);
  }
}
