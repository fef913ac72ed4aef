import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { CreateTableCommand, DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awsCallCounts, callCounter, resetAwsCallCounts } from '../../shared/aws/call-counter';
import { DynamoDeviceMetricsStore, DynamoDeviceRegistry } from '../../shared/aws/dynamo-device-metrics-store';
import {
  applyReadings,
  bucketStats,
  groupReadings,
  minimumCalls,
  type Reading,
} from '../../shared/domain/device-metrics';

/**
 * The adapter against dynalite, in this process and in memory: the engine the local stack falls back to without
 * Java. It parses the real expressions, and it ignores `ReturnValuesOnConditionCheckFailure` (its validation drops
 * parameters it does not know), so the store's `GetItem` fallback runs for real. AWS calls are counted by the
 * project's call counter, as in the functions. (DynamoDB Local, which returns the item, runs the integration tests.)
 */

type Dynalite = (options: { createTableMs: number; deleteTableMs: number; updateTableMs: number }) => Server;
const dynalite = createRequire(import.meta.url)('dynalite') as Dynalite;

const at = (s: number) => new Date(Date.parse('2026-11-25T01:02:00.000Z') + s * 1000).toISOString();

/**
 * The shape of the 1,000-reading batch of test/unit/device-metrics-store.test.ts (3 metrics, 10 readings per device
 * over two minutes) with 20 devices, to keep this file quick: 200 readings, 120 buckets.
 */
function realisticBatch(offsetS = 0, devices = 20): Reading[] {
  const readings: Reading[] = [];
  for (let d = 0; d < devices; d++)
    for (let i = 0; i < 10; i++) {
      const s = offsetS + i * 12 + (d % 5) * 0.1;
      readings.push({
        eventId: `dev-${d}-${s}`,
        deviceId: `dev-${d}`,
        at: at(s),
        metrics: { temperature: 20 + ((d * 7 + i * 3) % 17) * 0.5, humidity: 40 + ((d + i) % 9), battery: 100 - i },
      });
    }
  return readings;
}

let server: Server;
let doc: DynamoDBDocumentClient;

const calls = () => Object.values(awsCallCounts()).reduce((a, b) => a + b, 0);
const byCommand = () =>
  Object.fromEntries(Object.entries(awsCallCounts()).map(([k, v]) => [k.replace(/^.*\.|Command$/g, ''), v]));
const stores = () => ({
  metrics: new DynamoDeviceMetricsStore(doc, 'metrics'),
  registry: new DynamoDeviceRegistry(doc, 'devices'),
});

beforeAll(async () => {
  server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const raw = new DynamoDBClient({
    endpoint: `http://127.0.0.1:${port}`,
    region: 'eu-west-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  raw.middlewareStack.use(callCounter());
  doc = DynamoDBDocumentClient.from(raw, { marshallOptions: { removeUndefinedValues: true } });
  const table = (name: string, sort?: string) =>
    raw.send(
      new CreateTableCommand({
        TableName: name,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: 'deviceId', AttributeType: 'S' },
          ...(sort ? [{ AttributeName: sort, AttributeType: 'S' as const }] : []),
        ],
        KeySchema: [
          { AttributeName: 'deviceId', KeyType: 'HASH' },
          ...(sort ? [{ AttributeName: sort, KeyType: 'RANGE' as const }] : []),
        ],
      }),
    );
  await table('metrics', 'bucket');
  await table('devices');
});

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
});

// A few hundred HTTP calls to an engine in this process: seconds on a busy machine.
describe('device metrics on dynalite (no item on a failed condition)', { timeout: 60_000 }, () => {
  it('calls per batch: the minimum when fresh; the read fallback only when the container did not know', async () => {
    const warm = stores();
    const first = realisticBatch(0);
    const second = realisticBatch(6);
    for (const batch of [first, second]) {
      resetAwsCallCounts();
      const result = await applyReadings(batch, warm, { retentionDays: 30 });
      expect(result.failures).toEqual([]);
      expect(calls()).toBe(minimumCalls(batch));
      expect(byCommand()).toEqual({ UpdateItem: 140 });
    }
    // the same batch again, in the same container: nothing to send
    resetAwsCallCounts();
    await applyReadings(second, warm, { retentionDays: 30 });
    expect(calls()).toBe(0);
    // ... and in a cold one: each bucket write fails and is followed by a read; each registry write by the first-seen one
    resetAwsCallCounts();
    await applyReadings(second, stores(), { retentionDays: 30 });
    expect(byCommand()).toEqual({ UpdateItem: 160, GetItem: 120 });

    // what is stored is the aggregate of both batches, each reading once
    const all = [...first, ...second];
    for (const g of groupReadings(all, { retentionDays: 30 }).filter((_, i) => i % 7 === 0)) {
      const [bucket] = await warm.metrics.queryBuckets(g.deviceId, g.metric, g.minute, g.minute);
      const stats = bucketStats(g.entries);
      expect(bucket).toMatchObject({ count: stats.count, min: stats.min, max: stats.max, last: stats.last.value });
      expect(bucket?.sum).toBeCloseTo(stats.sum, 9);
    }
  });

  it('counts each id once with concurrent cold writers of overlapping readings', async () => {
    const deviceId = 'sensor-concurrent';
    const all: Reading[] = Array.from({ length: 12 }, (_, i) => ({
      eventId: `c${i}`,
      deviceId,
      at: at(i * 4),
      metrics: { temperature: ((i * 37) % 50) - 10 },
    }));
    const apply = (list: Reading[]) =>
      Promise.all(groupReadings(list, { retentionDays: 30 }).map((u) => stores().metrics.applyBucket(u)));
    await Promise.all([apply(all), apply(all.slice(3)), apply(all.slice(1, 7)), apply(all.slice(5)), apply(all)]);
    const { Item } = await doc.send(
      new GetItemCommand({
        TableName: 'metrics',
        Key: { deviceId: { S: deviceId }, bucket: { S: 'temperature#2026-11-25T01:02Z' } },
      }),
    );
    const stats = bucketStats(
      all.map((r) => ({ eventId: r.eventId, value: r.metrics.temperature as number, at: r.at })),
    );
    expect({
      count: Number(Item?.count?.N),
      ids: Item?.appliedIds?.SS?.length,
      min: Number(Item?.min?.N),
      max: Number(Item?.max?.N),
      lastKey: Item?.lastKey?.S,
    }).toEqual({ count: 12, ids: 12, min: stats.min, max: stats.max, lastKey: stats.last.key });
    expect(Number(Item?.sum?.N)).toBeCloseTo(stats.sum, 9);
  });
});
