import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import {
  type Access,
  type ArchiveName,
  deadLetterName,
  type EndpointName,
  type FunctionName,
  type KeyName,
  type QueueName,
  type ResourceBinding,
  type StreamName,
  type TableName,
  type Topology,
} from '../topology';
import type { DeployedArchive } from './archive';
import { build, pascal } from './build';
import type { DeployedEndpoint } from './service-endpoints';
import type { StageSettings } from './stage';
import { TemFunction } from './tem-function';

/**
 * What a `describe` binding (health checks: the resource's status, never its data) grants, per kind of resource: one
 * metadata action on that one resource. An endpoint has no status to read: it grants nothing.
 */
const DESCRIBE_ACTIONS = {
  stream: 'kinesis:DescribeStreamSummary',
  table: 'dynamodb:DescribeTable',
  queue: 'sqs:GetQueueAttributes',
  key: 'kms:DescribeKey',
  archive: 'firehose:DescribeDeliveryStream',
} as const;

/** Every resource a binding may name, as built. */
export interface BindableResources {
  streams: Record<StreamName, kinesis.Stream>;
  tables: Record<TableName, dynamodb.Table>;
  queues: Record<QueueName, sqs.Queue>;
  deadLetterQueues: Partial<Record<QueueName, sqs.Queue>>;
  keys: Record<KeyName, kms.Key>;
  endpoints: Record<EndpointName, DeployedEndpoint>;
  archives: Record<ArchiveName, DeployedArchive>;
}

export interface MeshFunctionsProps {
  topology: Topology;
  resources: BindableResources;
  /** Where the entries and the lock file are (the repository, or a build context with other policy files). */
  repoRoot: string;
  stage: StageSettings;
  /** POWERTOOLS_SERVICE_NAME: the `service` of every log line, trace and EMF metric. */
  serviceName: string;
}

type Bound =
  | { kind: 'stream'; stream: kinesis.Stream }
  | { kind: 'table'; table: dynamodb.Table }
  | { kind: 'queue'; queue: sqs.Queue }
  | { kind: 'key'; key: kms.Key }
  | { kind: 'endpoint'; endpoint: DeployedEndpoint }
  | { kind: 'archive'; archive: DeployedArchive };

/**
 * One `TemFunction` per topology function: its bindings become env vars (the physical names) and IAM grants, nothing
 * more and nothing less.
 */
export class MeshFunctions extends Construct {
  readonly functions: Record<FunctionName, TemFunction>;
  private readonly r: BindableResources;

  constructor(scope: Construct, id: string, props: MeshFunctionsProps) {
    super(scope, id);
    const { topology: t, resources: r } = props;
    this.r = r;
    // Names are unique per kind only (the `alerts` function writes the `alerts` queue). Stateful resources keep their
    // plain construct ids, which must never change (a new id replaces the table or queue); a function whose name is
    // taken by one gets a `Function` suffix instead: replacing a function loses nothing.
    const stateful = new Set<string>([
      ...[t.streams, t.tables, t.queues, t.keys, t.endpoints, t.archives].flatMap(Object.keys),
      ...(Object.keys(r.deadLetterQueues) as QueueName[]).map(deadLetterName),
    ]);
    this.functions = build(t.functions, (name, spec) => {
      const fn = new TemFunction(this, stateful.has(name) ? `${pascal(name)}Function` : pascal(name), {
        spec,
        repoRoot: props.repoRoot,
        logGroupRetention: props.stage.logRetention,
        logGroupRemovalPolicy: props.stage.removalPolicy,
        environment: {
          POWERTOOLS_SERVICE_NAME: props.serviceName,
          // The authorizers scope the role usage keys they return as the usage plans' keys are (usage-plans.ts).
          USAGE_KEY_SCOPE: props.serviceName,
          ...Object.fromEntries(spec.bindings.map((b) => [b.env, this.physicalName(b)])),
        },
      });
      for (const binding of spec.bindings) this.grant(fn, binding);
      return fn;
    });
  }

  private resource(name: ResourceBinding['resource']): Bound {
    const r = this.r;
    if (name in r.streams) return { kind: 'stream', stream: r.streams[name as StreamName] };
    if (name in r.tables) return { kind: 'table', table: r.tables[name as TableName] };
    if (name in r.queues) return { kind: 'queue', queue: r.queues[name as QueueName] };
    if (name in r.keys) return { kind: 'key', key: r.keys[name as KeyName] };
    if (name in r.endpoints) return { kind: 'endpoint', endpoint: r.endpoints[name as EndpointName] };
    if (name in r.archives) return { kind: 'archive', archive: r.archives[name as ArchiveName] };
    // validateTopology refuses a binding to an unknown resource: reaching here is a bug of this construct.
    throw new Error(`topology binds unknown resource ${name}`);
  }

  /**
   * What a binding's env var carries: the name (stream, table, an archive's delivery stream), URL (queue, endpoint) or
   * ARN (key) the SDK call needs.
   */
  private physicalName(binding: ResourceBinding): string {
    const r = this.resource(binding.resource);
    switch (r.kind) {
      case 'stream':
        return r.stream.streamName;
      case 'table':
        return r.table.tableName;
      case 'queue':
        return r.queue.queueUrl;
      case 'key':
        return r.key.keyArn;
      case 'endpoint':
        return r.endpoint.url;
      case 'archive':
        return r.archive.deliveryStream.deliveryStreamName;
    }
  }

  private grant(fn: TemFunction, binding: ResourceBinding): void {
    const r = this.resource(binding.resource);
    if (binding.access === 'describe') {
      this.grantDescribe(fn, r);
      return;
    }
    // `describe` is handled above and implies neither: only read, write and readWrite reach here.
    const access: Exclude<Access, 'describe'> = binding.access;
    const can = (level: 'read' | 'write') => access === level || access === 'readWrite';
    switch (r.kind) {
      case 'stream':
        if (can('read')) r.stream.grantRead(fn);
        if (can('write')) r.stream.grantWrite(fn);
        break;
      case 'table':
        if (can('read')) r.table.grantReadData(fn);
        if (can('write')) r.table.grantWriteData(fn);
        break;
      case 'queue':
        if (can('read')) r.queue.grantConsumeMessages(fn);
        if (can('write')) r.queue.grantSendMessages(fn);
        break;
      case 'key':
        // A signing key: `read` fetches the public key (verifiers, JWKS); signing also needs it (the issuer publishes
        // the key id). Nothing broader: the key never encrypts or decrypts.
        if (can('write')) r.key.grant(fn, 'kms:Sign', 'kms:GetPublicKey');
        else r.key.grant(fn, 'kms:GetPublicKey');
        break;
      case 'endpoint': {
        // Nothing to `read` at either endpoint (retained messages and shadows are out of scope; a connection's status
        // is part of managing it), so `read` grants nothing.
        if (!can('write')) break;
        const endpoint = r.endpoint;
        switch (endpoint.service) {
          case 'iot-data':
            // `write` publishes to the declared topics and nothing else.
            fn.addToRolePolicy(
              new iam.PolicyStatement({ actions: ['iot:Publish'], resources: endpoint.publishTopicArns }),
            );
            break;
          case 'ws-management':
            // `write` posts to, reads and closes this API stage's connections, none of another API or stage.
            endpoint.webSocket.grantManageConnections(fn);
            break;
        }
        break;
      }
      case 'archive': {
        const { bucket, deliveryStream, layout } = r.archive;
        // `write` puts records (PutRecord, PutRecordBatch) on the delivery stream, nothing on the bucket: Firehose
        // writes the objects. `read` gets the archived objects (their data prefix only, not the error records) and
        // lists the bucket to find them, as Athena's own users would.
        if (can('write')) deliveryStream.grantPutRecords(fn);
        if (can('read')) {
          fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [bucket.bucketArn] }));
          fn.addToRolePolicy(
            new iam.PolicyStatement({
              actions: ['s3:GetObject'],
              resources: [bucket.arnForObjects(`${layout.fixed}*`)],
            }),
          );
        }
        break;
      }
    }
  }

  /**
   * The resource's status and nothing else: exactly one metadata action on that one resource, never its data (no
   * GetRecords, GetItem, Query, ReceiveMessage, Sign...) and, for a table, not its indexes.
   */
  private grantDescribe(fn: TemFunction, r: Bound): void {
    const target = (() => {
      switch (r.kind) {
        case 'stream':
          return { action: DESCRIBE_ACTIONS.stream, arn: r.stream.streamArn };
        case 'table':
          return { action: DESCRIBE_ACTIONS.table, arn: r.table.tableArn };
        case 'queue':
          return { action: DESCRIBE_ACTIONS.queue, arn: r.queue.queueArn };
        case 'key':
          return { action: DESCRIBE_ACTIONS.key, arn: r.key.keyArn };
        case 'endpoint':
          // The endpoint's address is all there is to know about it, and the env var already carries it.
          return undefined;
        case 'archive':
          // The delivery stream's status and destination; not the bucket's objects.
          return { action: DESCRIBE_ACTIONS.archive, arn: r.archive.deliveryStream.deliveryStreamArn };
      }
    })();
    if (target) fn.addToRolePolicy(new iam.PolicyStatement({ actions: [target.action], resources: [target.arn] }));
  }
}
