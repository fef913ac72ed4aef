import { randomUUID } from 'node:crypto';
import { Agent } from 'node:http';
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  PutRecordsCommand,
  type PutRecordsRequestEntry,
} from '@aws-sdk/client-kinesis';
import { BatchWriteCommand, DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { LocalStackInfo } from '../../infra/local/stack';
import { topology } from '../../infra/topology';
import { type EventEnvelope, storedItem, timeKey } from '../../shared/domain/events';
import { toStreamRecord } from '../../shared/domain/ingest';
import { businessEvent, envelopeOf } from './events';
import { sleep, ticker } from './util';

/**
 * Baselines straight into the engines (`info.engines.*.url`, never the stack's own endpoints, which may be fronts
 * the stack's functions use), on a stream and a table of the bench's own that no consumer reads.
 */
const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };

export function engineClients(info: LocalStackInfo, connections: number) {
  const requestHandler = () =>
    new NodeHttpHandler({ httpAgent: new Agent({ keepAlive: true, maxSockets: connections }) });
  const dynamoClient = (endpoint: string) =>
    DynamoDBDocumentClient.from(
      new DynamoDBClient({
        region: info.region,
        credentials,
        endpoint,
        requestHandler: requestHandler(),
        maxAttempts: 1,
      }),
      { marshallOptions: { removeUndefinedValues: true } },
    );
  return {
    kinesis: new KinesisClient({
      region: info.region,
      credentials,
      endpoint: info.engines.kinesis.url,
      requestHandler: requestHandler(),
      maxAttempts: 1,
    }),
    /** The stack's own tables: through its DynamoDB endpoint, which routes to each table's engine (ADR 0017). */
    dynamo: dynamoClient(info.endpoints.dynamodb),
    /** The baselines' own tables: straight into the service's default engine process, nothing in between. */
    rawDynamo: dynamoClient(info.engines.dynamodb.url),
  };
}

export type EngineClients = ReturnType<typeof engineClients>;

export async function createRawStream(clients: EngineClients, name: string, shards: number): Promise<void> {
  await clients.kinesis.send(new CreateStreamCommand({ StreamName: name, ShardCount: shards }));
  for (;;) {
    const { StreamDescriptionSummary } = await clients.kinesis.send(
      new DescribeStreamSummaryCommand({ StreamName: name }),
    );
    if (StreamDescriptionSummary?.StreamStatus === 'ACTIVE') return;
    await sleep(100);
  }
}

/** A table with the events table's key schema and indexes (from the topology). */
export async function createRawEventsTable(clients: EngineClients, name: string): Promise<void> {
  const spec = topology.tables.eventsTable;
  const attributes = new Set([spec.partitionKey, ...spec.globalIndexes.flatMap((g) => [g.partitionKey, g.sortKey])]);
  const client = clients.rawDynamo as unknown as DynamoDBClient;
  await client.send(
    new CreateTableCommand({
      TableName: name,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [...attributes].map((a) => ({ AttributeName: a, AttributeType: 'S' })),
      KeySchema: [{ AttributeName: spec.partitionKey, KeyType: 'HASH' }],
      GlobalSecondaryIndexes: spec.globalIndexes.map((g) => ({
        IndexName: g.name,
        KeySchema: [
          { AttributeName: g.partitionKey, KeyType: 'HASH' },
          { AttributeName: g.sortKey, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      })),
    }),
  );
  // Polled here: the SDK's waiter sleeps 20 s between looks.
  for (let i = 0; i < 600; i++) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: name }));
    if (Table?.TableStatus === 'ACTIVE') return;
    await sleep(100);
  }
  throw new Error(`table ${name} not active in 60 s`);
}

export interface LoadResult {
  items: number;
  calls: number;
  failedItems: number;
  wallS: number;
  perSecond: number;
}

/** Closed loop: `concurrency` lanes, each calling `once` again as soon as it returns, for `seconds`. */
export async function closedLoop(
  seconds: number,
  concurrency: number,
  label: string,
  once: () => Promise<{ items: number; failed: number }>,
): Promise<LoadResult> {
  let items = 0;
  let calls = 0;
  let failedItems = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  const stop = ticker(5000, () => `${label}: ${Math.round(items / ((performance.now() - t0) / 1000))} items/s so far`);
  try {
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < end) {
          const r = await once();
          items += r.items;
          failedItems += r.failed;
          calls++;
        }
      }),
    );
  } finally {
    stop();
  }
  const wallS = (performance.now() - t0) / 1000;
  return { items, calls, failedItems, wallS, perSecond: items / wallS };
}

/** Raw PutRecords of `batch` envelopes of posted-event size, as the ingest writes them, on the bench's stream. */
export function rawPutRecords(clients: EngineClients, stream: string, batch: number, sources: readonly string[]) {
  const batches: PutRecordsRequestEntry[][] = Array.from({ length: 16 }, (_, b) =>
    Array.from({ length: batch }, (_, i) => {
      const record = toStreamRecord(envelopeOf(businessEvent(b * batch + i, { source: sources[i % sources.length] })));
      return { Data: record.data, PartitionKey: record.partitionKey };
    }),
  );
  let n = 0;
  return async () => {
    const Records = batches[n++ % batches.length] as PutRecordsRequestEntry[];
    const answer = await clients.kinesis.send(new PutRecordsCommand({ StreamName: stream, Records }));
    const failed = answer.FailedRecordCount ?? 0;
    return { items: Records.length - failed, failed };
  };
}

/** Raw BatchWriteItem of 25 stored-event items (what the store writes per event), unprocessed items retried. */
export function rawBatchWrite(clients: EngineClients, table: string, source: string) {
  const template = envelopeOf(businessEvent(0, { source }));
  let n = 0;
  const item = (): Record<string, unknown> => {
    const envelope: EventEnvelope = { ...template, id: randomUUID(), data: businessEvent(n++, { source }).data };
    return { ...storedItem(envelope), timeKey: timeKey(envelope), expiresAt: Math.floor(Date.now() / 1000) + 86400 };
  };
  return async () => {
    let requests = Array.from({ length: 25 }, () => ({ PutRequest: { Item: item() } }));
    const sent = requests.length;
    for (let attempt = 0; requests.length > 0 && attempt < 5; attempt++) {
      const answer = await clients.rawDynamo.send(new BatchWriteCommand({ RequestItems: { [table]: requests } }));
      requests = (answer.UnprocessedItems?.[table] ?? []) as typeof requests;
    }
    return { items: sent - requests.length, failed: requests.length };
  };
}

/**
 * The engine floor of one event's trip: PutRecords of one record, GetShardIterator at its sequence number,
 * GetRecords, PutItem of the stored item, GetItem of it: the engine round trips any put → store → read needs.
 */
export function engineFloorProbe(clients: EngineClients, stream: string, table: string, source: string) {
  let n = 0;
  return async (): Promise<number> => {
    const envelope = envelopeOf(businessEvent(n++, { source }));
    const record = toStreamRecord(envelope);
    const t0 = performance.now();
    const put = await clients.kinesis.send(
      new PutRecordsCommand({
        StreamName: stream,
        Records: [{ Data: record.data, PartitionKey: record.partitionKey }],
      }),
    );
    const result = put.Records?.[0];
    if (!result?.ShardId || !result.SequenceNumber) throw new Error('floor probe: put failed');
    const { ShardIterator } = await clients.kinesis.send(
      new GetShardIteratorCommand({
        StreamName: stream,
        ShardId: result.ShardId,
        ShardIteratorType: 'AT_SEQUENCE_NUMBER',
        StartingSequenceNumber: result.SequenceNumber,
      }),
    );
    const got = await clients.kinesis.send(new GetRecordsCommand({ ShardIterator, Limit: 1 }));
    const data = got.Records?.[0]?.Data;
    if (!data) throw new Error('floor probe: record not read back');
    const read = JSON.parse(Buffer.from(data).toString('utf8')) as EventEnvelope;
    await clients.rawDynamo.send(
      new PutCommand({ TableName: table, Item: { ...storedItem(read), timeKey: timeKey(read) } }),
    );
    const { Item } = await clients.rawDynamo.send(new GetCommand({ TableName: table, Key: { id: read.id } }));
    if (!Item) throw new Error('floor probe: item not read back');
    return performance.now() - t0;
  };
}

/** Runs the floor probe one at a time with a pause between, until `stop()`; the samples it took. */
export function runFloorProbe(probe: () => Promise<number>, pauseMs: number) {
  const samples: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        samples.push(await probe());
      } catch {
        // an engine hiccup: no sample
      }
      await sleep(pauseMs);
    }
  })();
  return {
    samples,
    async stop() {
      running = false;
      await loop;
    },
  };
}
