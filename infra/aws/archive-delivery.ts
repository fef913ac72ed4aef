import { Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as firehose from 'aws-cdk-lib/aws-kinesisfirehose';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { ArchiveSpec } from '../topology';
import { type ArchiveLayout, fixedPart } from './archive-catalog';
import type { StageSettings } from './stage';

/** What Firehose needs of its bucket (the Firehose guide's S3 destination policy), on the bucket... */
export const DELIVERY_BUCKET_ACTIONS = ['s3:GetBucketLocation', 's3:ListBucket', 's3:ListBucketMultipartUploads'];
/** ...and on the objects under its prefix and error prefix. Never a delete: the archive is written once. */
export const DELIVERY_OBJECT_ACTIONS = ['s3:AbortMultipartUpload', 's3:GetObject', 's3:PutObject'];
/** What a `write` binding may do with the delivery stream: put records, nothing else. */
export const PUT_RECORD_ACTIONS = ['firehose:PutRecord', 'firehose:PutRecordBatch'];

export interface ArchiveDeliveryStreamProps {
  /** The archive's topology name (descriptions). */
  archive: string;
  spec: ArchiveSpec;
  layout: ArchiveLayout;
  bucket: s3.IBucket;
  stage: StageSettings;
}

/**
 * An archive's Firehose delivery stream: Direct PUT, buffered as the topology says, GZIP, encrypted while buffered,
 * delivery errors logged, written to the bucket by a role of its own that holds exactly what Firehose needs.
 *
 * The L1 resource, not the L2 `DeliveryStream`: the L2's S3 destination grants its role read-write on the whole
 * bucket (deletes included), and the L2 adds a mapping of Firehose's CIDR blocks to every environment-agnostic
 * template, unused without a VPC destination (CloudFormation validation warning W7001).
 */
export class ArchiveDeliveryStream extends Construct {
  readonly resource: firehose.CfnDeliveryStream;
  /** What Firehose writes the bucket and its error log with; nothing else assumes it. */
  readonly role: iam.Role;
  /** Firehose's delivery errors (a refused write, a missing permission). */
  readonly logGroup: logs.LogGroup;
  /** The key prefixes the role may write under: the data and error prefixes, each up to its first expression. */
  readonly prefixes: readonly string[];

  constructor(scope: Construct, id: string, props: ArchiveDeliveryStreamProps) {
    super(scope, id);
    const { spec, bucket, stage } = props;
    const stack = Stack.of(this);

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: stage.logRetention,
      removalPolicy: stage.removalPolicy,
    });
    // Firehose writes to a stream that must exist.
    const logStream = new logs.LogStream(this, 'S3DeliveryLogStream', {
      logGroup: this.logGroup,
      removalPolicy: stage.removalPolicy,
    });

    this.role = new iam.Role(this, 'Role', {
      // The Firehose guide's trust policy: only for a delivery stream of this account.
      assumedBy: new iam.ServicePrincipal('firehose.amazonaws.com', {
        conditions: { StringEquals: { 'sts:ExternalId': stack.account } },
      }),
      description: `Lets the ${props.archive} delivery stream write its bucket's data and error prefixes and its error log`,
    });
    this.prefixes = [...new Set([props.layout.fixed, fixedPart(spec.errorPrefix)])];
    const grants = [
      iam.Grant.addToPrincipal({
        grantee: this.role,
        actions: DELIVERY_BUCKET_ACTIONS,
        resourceArns: [bucket.bucketArn],
      }),
      iam.Grant.addToPrincipal({
        grantee: this.role,
        actions: DELIVERY_OBJECT_ACTIONS,
        resourceArns: this.prefixes.map((p) => bucket.arnForObjects(`${p}*`)),
      }),
      this.logGroup.grantWrite(this.role),
    ];

    this.resource = new firehose.CfnDeliveryStream(this, 'Resource', {
      deliveryStreamType: 'DirectPut',
      // Records wait in Firehose's buffer for up to the buffer interval: encrypted there too (cdk-nag KDF1), with a
      // key AWS owns (no cost, no key policy to keep); the objects are encrypted by the bucket.
      deliveryStreamEncryptionConfigurationInput: { keyType: 'AWS_OWNED_CMK' },
      extendedS3DestinationConfiguration: {
        bucketArn: bucket.bucketArn,
        roleArn: this.role.roleArn,
        prefix: spec.prefix,
        errorOutputPrefix: spec.errorPrefix,
        bufferingHints: { intervalInSeconds: spec.bufferIntervalSeconds, sizeInMBs: spec.bufferSizeMb },
        compressionFormat: 'GZIP',
        cloudWatchLoggingOptions: {
          enabled: true,
          logGroupName: this.logGroup.logGroupName,
          logStreamName: logStream.logStreamName,
        },
      },
    });
    // Firehose checks its role when the stream is created: the role's policy comes first.
    this.resource.node.addDependency(...grants);
  }

  /** The delivery stream's name (its Ref): what a binding's env var carries. */
  get deliveryStreamName(): string {
    return this.resource.ref;
  }

  get deliveryStreamArn(): string {
    return this.resource.attrArn;
  }

  /** firehose:PutRecord and firehose:PutRecordBatch on this delivery stream alone. */
  grantPutRecords(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({ grantee, actions: PUT_RECORD_ACTIONS, resourceArns: [this.deliveryStreamArn] });
  }

  /** One of its metrics (`AWS/Firehose`, dimension DeliveryStreamName). */
  metric(metricName: string, options: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: 'AWS/Firehose',
      metricName,
      dimensionsMap: { DeliveryStreamName: this.deliveryStreamName },
      ...options,
    });
  }
}
