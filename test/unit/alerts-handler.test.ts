import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import type { Context, KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { awsCallCounts, resetAwsCallCounts } from '../../shared/aws/call-counter';
import { createDocumentClient } from '../../shared/aws/clients';
import { alertRules } from '../../shared/domain/alert-rules';
import { alertBatchShape, minimumAlertCalls, positionOf, type Reading, toReading } from '../../shared/domain/alerts';

/**
 * The alerts function itself (`functions/consumers/alerts.ts`, the shipped rules) over dynalite in this process: the
 * AWS calls its clients make for a batch, as the call counter sees them (the benchmark's view), are the minimum;
 * undecodable records fail alone, and a batch with nothing applicable fails the invocation.
 */

const fakes = vi.hoisted(() => {
  process.env.ALERTS_TABLE_NAME = 'alerts-handler-test';
  process.env.ALERTS_QUEUE_URL = 'http://unit.invalid/alerts';
  process.env.IOT_DATA_ENDPOINT = 'http://unit.invalid/iot';
  process.env.POISON_RECORDS_QUEUE_URL = 'http://unit.invalid/dlq';
  process.env.CONNECTIONS_TABLE_NAME = 'connections-handler-test';
  process.env.PRINCIPALS_TABLE_NAME = 'principals-handler-test';
  process.env.WS_MANAGEMENT_ENDPOINT = 'http://unit.invalid/ws';
  process.env.AWS_REGION = 'eu-west-1';
  process.env.AWS_ACCESS_KEY_ID = 'local';
  process.env.AWS_SECRET_ACCESS_KEY = 'local';
  const counts: Record<string, number> = {};
  const count = (name: string) => {
    counts[name] = (counts[name] ?? 0) + 1;
  };
  const state = { sqsDown: false };
  return {
    counts,
    state,
    sqs: {
      send: async () => {
        if (state.sqsDown) throw Object.assign(new Error('connect ECONNREFUSED'), { name: 'Error' });
        count('SQSClient.SendMessageBatchCommand');
        return { Failed: [] };
      },
    },
    iot: {
      send: async () => {
        count('IoTDataPlaneClient.PublishCommand');
        return {};
      },
    },
  };
});
// WebSocket delivery has its own tests (ws-delivery); here it only records what the function hands it.
const pushed = vi.hoisted(() => [] as unknown[][]);
vi.mock('../../shared/aws/ws-delivery-from-env', () => ({
  wsDeliveryFromEnv: () => ({
    deliverAlerts: async (messages: unknown[]) => {
      pushed.push(messages);
      return { connections: 0, posts: 0, items: 0, failed: 0, gone: 0, dropped: 0 };
    },
  }),
}));
vi.mock('../../shared/aws/clients', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../../shared/aws/clients')>()),
  createSqsClient: () => fakes.sqs,
  createIotDataClient: () => fakes.iot,
}));

interface DynaliteServer {
  listen(port: number, host: string, done: () => void): void;
  address(): AddressInfo;
  close(done: () => void): void;
}
const dynalite = createRequire(import.meta.url)('dynalite') as (options: { createTableMs: number }) => DynaliteServer;

let server: DynaliteServer;
let handle: (event: KinesisStreamEvent) => Promise<{ batchItemFailures: { itemIdentifier: string }[] }>;

beforeAll(async () => {
  server = dynalite({ createTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  process.env.AWS_ENDPOINT_URL_DYNAMODB = `http://127.0.0.1:${server.address().port}`;
  const client = createDocumentClient();
  await client.send(
    new CreateTableCommand({
      TableName: 'alerts-handler-test',
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
    }) as never,
  );
  client.destroy();
  const { lambdaHandler } = await import('../../functions/consumers/alerts');
  handle = (event) => lambdaHandler(event, {} as Context);
});

afterAll(async () => {
  delete process.env.AWS_ENDPOINT_URL_DYNAMODB;
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  resetAwsCallCounts();
  for (const key of Object.keys(fakes.counts)) delete fakes.counts[key];
});

const T0 = Date.now() - 60_000;
let seq = 0;

function record(data: string): KinesisStreamRecord {
  seq += 1;
  const sequenceNumber = `4961${String(seq).padStart(20, '0')}`;
  return {
    kinesis: {
      kinesisSchemaVersion: '1.0',
      partitionKey: 'p',
      sequenceNumber,
      data: Buffer.from(data).toString('base64'),
      approximateArrivalTimestamp: T0 / 1000,
    },
    eventSource: 'aws:kinesis',
    eventVersion: '1.0',
    eventID: `shardId-000000000000:${sequenceNumber}`,
    eventName: 'aws:kinesis:record',
    invokeIdentityArn: 'arn:aws:iam::000000000000:role/alerts',
    awsRegion: 'eu-west-1',
    eventSourceARN: 'arn:aws:kinesis:eu-west-1:000000000000:stream/events',
  };
}

function telemetry(deviceId: string, i: number, metrics: Record<string, number>): KinesisStreamRecord {
  const id = crypto.randomUUID();
  return record(
    JSON.stringify({
      id,
      type: 'device.telemetry',
      source: deviceId,
      occurredAt: new Date(T0 + i).toISOString(),
      receivedAt: new Date(T0 + i).toISOString(),
      principalId: `device:${deviceId}`,
      traceId: id,
      data: { metrics },
    }),
  );
}

const readingsOf = (records: KinesisStreamRecord[]): Reading[] =>
  records.flatMap((r) => {
    try {
      const outcome = toReading(
        JSON.parse(Buffer.from(r.kinesis.data, 'base64').toString()),
        positionOf(r.eventID, r.kinesis.sequenceNumber),
      );
      return 'reading' in outcome ? [outcome.reading] : [];
    } catch {
      return [];
    }
  });

describe('the alerts function: AWS calls per batch, failures', () => {
  it('a batch of 100 readings from 50 devices (3 hot, 2 low on battery): exactly the minimum calls', async () => {
    const run = crypto.randomUUID().slice(0, 8);
    const records = Array.from({ length: 100 }, (_, i) => {
      const d = i % 50;
      return telemetry(`h-${run}-${d}`, i, {
        temperature: d < 3 ? 90 : 20,
        ...(d >= 3 && d < 5 ? { battery: 5 } : {}),
      });
    });
    expect(await handle({ Records: records })).toEqual({ batchItemFailures: [] });
    // The handler keeps a state cache: one shard claim, and these devices are new to it (nothing cached).
    const { shape } = alertBatchShape(alertRules, readingsOf(records), new Map(), new Set());
    // 50 temperature pairs + 2 battery pairs; 3 raises; 2 battery counts (2 readings each, window 3: no alert).
    expect(shape).toEqual({
      pairs: 52,
      stateWrites: 5,
      alertsCreated: 3,
      alertsResolved: 0,
      messages: 3,
      claims: 1,
      cachedPairs: 0,
    });
    expect({ ...awsCallCounts(), ...fakes.counts }).toEqual(minimumAlertCalls(shape).byCommand);
    expect(minimumAlertCalls(shape).total).toBe(1 + 1 + 5 + 3 + 3 + 1 + 3);
  });

  it('a record that is not an event is parked in the dead-letter queue, not failed; the others are applied', async () => {
    const run = crypto.randomUUID().slice(0, 8);
    const good = telemetry(`g-${run}`, 0, { temperature: 95 });
    const bad = record('not json');
    const after = telemetry(`g-${run}`, 1, { temperature: 96 });
    const before = fakes.counts['SQSClient.SendMessageBatchCommand'] ?? 0;
    const response = await handle({ Records: [good, bad, after] });
    expect(response.batchItemFailures).toEqual([]);
    expect(fakes.counts['IoTDataPlaneClient.PublishCommand']).toBe(1);
    // One call parks the poison record, one sends the raised alert to the alerts queue.
    expect((fakes.counts['SQSClient.SendMessageBatchCommand'] ?? 0) - before).toBe(2);
  });

  it('a poison record that cannot be parked fails alone; a batch with nothing applied fails the invocation', async () => {
    fakes.state.sqsDown = true;
    try {
      await expect(handle({ Records: [record('{'), record('[]')] })).rejects.toThrow(/all 2 records failed/);
    } finally {
      fakes.state.sqsDown = false;
    }
    expect(await handle({ Records: [] })).toEqual({ batchItemFailures: [] });
  });
});
