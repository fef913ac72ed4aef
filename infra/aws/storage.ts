import { Duration } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import {
  DELIVERY_MAX_RECEIVE_COUNT,
  deadLetterName,
  type KeyName,
  type QueueName,
  type TableName,
  type Topology,
} from '../topology';
import { build, pascal } from './build';
import type { StageSettings } from './stage';

/** A dead-letter queue keeps its messages the SQS maximum, so an operator has time to look and redrive. */
export const DEAD_LETTER_RETENTION_DAYS = 14;

export interface MeshStorageProps {
  topology: Topology;
  stage: StageSettings;
}

/**
 * Where the mesh keeps things: the topology's tables, queues (a dead-letter queue for each delivery queue) and signing
 * keys. The stage decides whether tables and keys outlive the stack, and the tables' point-in-time recovery.
 */
export class MeshStorage extends Construct {
  readonly tables: Record<TableName, dynamodb.Table>;
  readonly queues: Record<QueueName, sqs.Queue>;
  /** The dead-letter queue of every `delivery` queue (none for an errorSink queue), keyed by the delivery queue. */
  readonly deadLetterQueues: Partial<Record<QueueName, sqs.Queue>> = {};
  readonly keys: Record<KeyName, kms.Key>;

  constructor(scope: Construct, id: string, props: MeshStorageProps) {
    super(scope, id);
    const { topology: t, stage } = props;

    this.tables = build(t.tables, (name, spec) => {
      const table = new dynamodb.Table(this, pascal(name), {
        partitionKey: { name: spec.partitionKey, type: dynamodb.AttributeType.STRING },
        sortKey: spec.sortKey ? { name: spec.sortKey, type: dynamodb.AttributeType.STRING } : undefined,
        billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
        encryption: dynamodb.TableEncryption.AWS_MANAGED,
        pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: stage.pointInTimeRecovery },
        deletionProtection: stage.deletionProtection,
        timeToLiveAttribute: spec.ttlAttribute,
        // prod: events and principals outlive a stack, deleting the stack must not delete the data.
        removalPolicy: stage.removalPolicy,
      });
      for (const gsi of spec.globalIndexes) {
        table.addGlobalSecondaryIndex({
          indexName: gsi.name,
          partitionKey: { name: gsi.partitionKey, type: dynamodb.AttributeType.STRING },
          sortKey: { name: gsi.sortKey, type: dynamodb.AttributeType.STRING },
          projectionType: dynamodb.ProjectionType.ALL,
        });
      }
      return table;
    });

    // A delivery queue gets a dead-letter queue of its own: a message its consumers keep failing on is parked there
    // (and alarmed) instead of being retried until retention drops it. errorSink queues are the end of the line.
    this.queues = build(t.queues, (name, spec) => {
      let deadLetterQueue: sqs.DeadLetterQueue | undefined;
      if (spec.kind === 'delivery') {
        const dlq = new sqs.Queue(this, pascal(deadLetterName(name)), {
          encryption: sqs.QueueEncryption.SQS_MANAGED,
          enforceSSL: true,
          retentionPeriod: Duration.days(DEAD_LETTER_RETENTION_DAYS),
        });
        this.deadLetterQueues[name] = dlq;
        deadLetterQueue = { queue: dlq, maxReceiveCount: spec.maxReceiveCount ?? DELIVERY_MAX_RECEIVE_COUNT };
      }
      return new sqs.Queue(this, pascal(name), {
        encryption: sqs.QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        retentionPeriod: Duration.days(spec.retentionDays),
        visibilityTimeout: Duration.seconds(spec.visibilityTimeoutSeconds),
        deadLetterQueue,
      });
    });

    this.keys = build(t.keys, (name, spec) => {
      return new kms.Key(this, pascal(name), {
        keySpec: kms.KeySpec[spec.spec],
        keyUsage: kms.KeyUsage.SIGN_VERIFY,
        description: spec.purpose,
        // prod: tokens signed with it stay verifiable only while the key exists; deleting the stack must not delete
        // it. dev: scheduled for deletion after the shortest window. Asymmetric keys cannot rotate automatically.
        removalPolicy: stage.removalPolicy,
        ...(stage.stage === 'dev' ? { pendingWindow: Duration.days(7) } : {}),
      });
    });
  }
}
