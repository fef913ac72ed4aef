import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ResourceInUseException,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { FirehoseClient } from '@aws-sdk/client-firehose';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  KinesisClient,
  ResourceInUseException as StreamInUse,
} from '@aws-sdk/client-kinesis';
import { S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import {
  DELIVERY_MAX_RECEIVE_COUNT,
  deadLetterName,
  type QueueName,
  type StreamName,
  type TableName,
  type Topology,
} from '../topology';
import type { ServiceName } from './engine-launch';
import { provisionArchives } from './provision-archives';

export const LOCAL_REGION = 'us-east-1';
export const LOCAL_ACCOUNT = '000000000000';
/** Emulators accept any credentials; these keep the SDK from looking for real ones. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

export interface Endpoints {
  kinesis: string;
  dynamodb: string;
  sqs: string;
  s3: string;
  firehose: string;
}

export interface LocalClients {
  kinesis: KinesisClient;
  dynamodb: DynamoDBClient;
  sqs: SQSClient;
  s3: S3Client;
  firehose: FirehoseClient;
}

export function localClients(endpoints: Endpoints): LocalClients {
  const common = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS, maxAttempts: 2 };
  return {
    // HTTP/1.1: neither local Kinesis engine speaks HTTP/2 on its plain port.
    kinesis: new KinesisClient({ ...common, endpoint: endpoints.kinesis, requestHandler: new NodeHttpHandler() }),
    dynamodb: new DynamoDBClient({ ...common, endpoint: endpoints.dynamodb }),
    sqs: new SQSClient({ ...common, endpoint: endpoints.sqs }),
    // Path-style: the local S3 has no per-bucket host names.
    s3: new S3Client({ ...common, endpoint: endpoints.s3, forcePathStyle: true }),
    firehose: new FirehoseClient({ ...common, endpoint: endpoints.firehose }),
  };
}

/** Physical names of the local target: the logical name, kebab-cased, prefixed. */
export function physicalName(logical: string): string {
  return `tem-${logical.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

export function streamArn(name: string): string {
  return `arn:aws:kinesis:${LOCAL_REGION}:${LOCAL_ACCOUNT}:stream/${name}`;
}

export interface Provisioned {
  streams: Record<StreamName, string>;
  tables: Record<TableName, string>;
  /** Queue URLs. */
  queues: Record<QueueName, string>;
  /** Dead-letter queue URLs of the delivery queues, by the queue they serve. */
  deadLetterQueues: Partial<Record<QueueName, string>>;
}

/** The ARN of a local queue, by its physical name. */
export function queueArn(physical: string): string {
  return `arn:aws:sqs:${LOCAL_REGION}:${LOCAL_ACCOUNT}:${physical}`;
}

export async function retrying<T>(what: string, action: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await action();
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`${what}: ${(error as Error).message}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

export async function provisionStreams(topology: Topology, clients: LocalClients): Promise<Provisioned['streams']> {
  const out = {} as Provisioned['streams'];
  for (const [logical, spec] of Object.entries(topology.streams) as [StreamName, Topology['streams'][StreamName]][]) {
    const name = physicalName(logical);
    await retrying(`create stream ${name}`, async () => {
      try {
        await clients.kinesis.send(new CreateStreamCommand({ StreamName: name, ShardCount: spec.shardCount }));
      } catch (error) {
        if (!(error instanceof StreamInUse)) throw error;
      }
    });
    await retrying(`stream ${name} active`, async () => {
      const { StreamDescriptionSummary } = await clients.kinesis.send(
        new DescribeStreamSummaryCommand({ StreamName: name }),
      );
      if (StreamDescriptionSummary?.StreamStatus !== 'ACTIVE') throw new Error('not active yet');
    });
    out[logical] = name;
  }
  return out;
}

export async function provisionTables(topology: Topology, clients: LocalClients): Promise<Provisioned['tables']> {
  const out = {} as Provisioned['tables'];
  for (const [logical, spec] of Object.entries(topology.tables) as [TableName, Topology['tables'][TableName]][]) {
    const name = physicalName(logical);
    const attributes = new Set([spec.partitionKey, ...(spec.sortKey ? [spec.sortKey] : [])]);
    for (const gsi of spec.globalIndexes) {
      attributes.add(gsi.partitionKey);
      attributes.add(gsi.sortKey);
    }
    await retrying(`create table ${name}`, async () => {
      try {
        await clients.dynamodb.send(
          new CreateTableCommand({
            TableName: name,
            BillingMode: 'PAY_PER_REQUEST',
            AttributeDefinitions: [...attributes].map((a) => ({ AttributeName: a, AttributeType: 'S' })),
            KeySchema: [
              { AttributeName: spec.partitionKey, KeyType: 'HASH' },
              ...(spec.sortKey ? [{ AttributeName: spec.sortKey, KeyType: 'RANGE' as const }] : []),
            ],
            ...(spec.globalIndexes.length > 0
              ? {
                  GlobalSecondaryIndexes: spec.globalIndexes.map((g) => ({
                    IndexName: g.name,
                    KeySchema: [
                      { AttributeName: g.partitionKey, KeyType: 'HASH' },
                      { AttributeName: g.sortKey, KeyType: 'RANGE' },
                    ],
                    Projection: { ProjectionType: 'ALL' },
                  })),
                }
              : {}),
          }),
        );
      } catch (error) {
        if (!(error instanceof ResourceInUseException)) throw error;
      }
    });
    // Polled here, not with the SDK's waiter: its first retry comes 20 s after a table seen still CREATING.
    await retrying(`table ${name} active`, async () => {
      const { Table } = await clients.dynamodb.send(new DescribeTableCommand({ TableName: name }));
      if (Table?.TableStatus !== 'ACTIVE') throw new Error(`status ${Table?.TableStatus ?? 'unknown'}`);
    });
    if (spec.ttlAttribute) {
      await clients.dynamodb
        .send(
          new UpdateTimeToLiveCommand({
            TableName: name,
            TimeToLiveSpecification: { AttributeName: spec.ttlAttribute, Enabled: true },
          }),
        )
        .catch(() => {
          // Already enabled (a restart) or not supported by the engine: TTL is a cost control, not a behaviour.
        });
    }
    out[logical] = name;
  }
  return out;
}

export async function provisionQueues(
  topology: Topology,
  clients: LocalClients,
): Promise<Pick<Provisioned, 'queues' | 'deadLetterQueues'>> {
  const out = {} as Provisioned['queues'];
  const deadLetterQueues: Provisioned['deadLetterQueues'] = {};
  const create = async (name: string, attributes: Record<string, string>): Promise<string> => {
    const { QueueUrl } = await retrying(`create queue ${name}`, () =>
      clients.sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes })),
    );
    if (!QueueUrl) throw new Error(`create queue ${name}: no URL returned`);
    return QueueUrl;
  };
  for (const [logical, spec] of Object.entries(topology.queues) as [QueueName, Topology['queues'][QueueName]][]) {
    const attributes: Record<string, string> = {
      MessageRetentionPeriod: String(spec.retentionDays * 86400),
      VisibilityTimeout: String(spec.visibilityTimeoutSeconds),
    };
    if (spec.kind === 'delivery') {
      // As in the CDK stack: a delivery queue redrives to its own dead-letter queue.
      const dlqName = physicalName(deadLetterName(logical));
      deadLetterQueues[logical] = await create(dlqName, { MessageRetentionPeriod: String(14 * 86400) });
      attributes.RedrivePolicy = JSON.stringify({
        deadLetterTargetArn: queueArn(dlqName),
        maxReceiveCount: spec.maxReceiveCount ?? DELIVERY_MAX_RECEIVE_COUNT,
      });
    }
    out[logical] = await create(physicalName(logical), attributes);
  }
  return { queues: out, deadLetterQueues };
}

/**
 * Provisions one engine's resources again: idempotent for an engine that kept its data (all of them, after an
 * outage), and what one that crashed and came back empty needs.
 */
export async function provisionService(service: ServiceName, topology: Topology, clients: LocalClients): Promise<void> {
  if (service === 's3' || service === 'firehose') await provisionArchives(topology, clients);
  if (service === 'sqs') await provisionQueues(topology, clients);
  if (service === 'kinesis') await provisionStreams(topology, clients);
  if (service === 'dynamodb') await provisionTables(topology, clients);
}

/** The queues the dashboard and /metrics watch: every error sink, and every delivery queue's dead-letter queue. */
export function watchedQueues(
  topology: Topology,
  provisioned: Pick<Provisioned, 'queues' | 'deadLetterQueues'>,
): { queue: string; kind: 'errorSink' | 'deadLetter'; url: string }[] {
  return [
    ...(Object.entries(topology.queues) as [QueueName, Topology['queues'][QueueName]][])
      .filter(([, spec]) => spec.kind === 'errorSink')
      .map(([queue]) => ({ queue, kind: 'errorSink' as const, url: provisioned.queues[queue] })),
    ...Object.entries(provisioned.deadLetterQueues).map(([queue, url]) => ({
      queue: deadLetterName(queue),
      kind: 'deadLetter' as const,
      url: url as string,
    })),
  ];
}
