import { type AttributeValue, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { DescribeStreamCommand, GetRecordsCommand, GetShardIteratorCommand } from '@aws-sdk/client-kinesis';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDeviceMetricsStore, DynamoDeviceRegistry } from '../../shared/aws/dynamo-device-metrics-store';
import {
  bucketStats,
  groupReadings,
  type MinuteAggregate,
  minimumCalls,
  type Reading,
  summarizeDevices,
} from '../../shared/domain/device-metrics';
import {
  api,
  awsClients,
  connectDevice,
  controlStats,
  type Device,
  eventually,
  isEmbedded,
  newDevice,
  stack,
} from './support';

/**
 * A device publishes 50 readings over MQTT; the per-minute aggregates served by GET /devices/{id}/metrics must be the
 * ones computed here from the same numbers, also after the same 50 messages are delivered a second time. Every
 * answer on the way must be the aggregate of some of the readings (no count without its max, ADR 0006).
 */

interface MetricsAnswer {
  deviceId: string;
  since: string;
  until: string;
  metrics: Record<string, MinuteAggregate[]>;
}
interface DeviceItem {
  deviceId: string;
  firstSeen: string;
  lastSeen: string;
  lastReading: { metrics: Record<string, number>; at: string };
}

const MINUTE = 60_000;
// Two whole minutes, ten minutes ago: inside the default 60-minute window, and long closed.
const base = Math.floor(Date.now() / MINUTE) * MINUTE - 10 * MINUTE;
const iso = (ms: number) => new Date(ms).toISOString();
const minuteName = (ms: number) => `${iso(ms).slice(0, 16)}Z`;

interface Message {
  ts: number;
  seq: number;
  metrics: { temperature: number; humidity: number };
}
// Readings every 2 s from base + 0.137 s: seq 1..30 fall in the first minute, 31..50 in the second.
const messages: Message[] = Array.from({ length: 50 }, (_, i) => ({
  ts: base + 137 + i * 2000,
  seq: i + 1,
  metrics: {
    temperature: Math.round((-5.25 + ((i * 37) % 50) * 1.173 + (i % 7) * 0.01) * 1000) / 1000,
    humidity: 40 + (i % 5),
  },
}));
// Published in a scrambled order (17 is coprime to 50), so "last" must come from the time, not the arrival.
const publishOrder = [...messages].sort((a, b) => ((a.seq * 17) % 50) - ((b.seq * 17) % 50));
const marker: Message = { ts: base + 4 * MINUTE + 500, seq: 51, metrics: { temperature: 25, humidity: 50 } };

function expectedSeries(metric: 'temperature' | 'humidity') {
  const byMinute = new Map<string, Message[]>();
  for (const m of messages) byMinute.set(minuteName(m.ts), [...(byMinute.get(minuteName(m.ts)) ?? []), m]);
  return [...byMinute.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([minute, group]) => {
      const values = group.map((m) => m.metrics[metric]);
      const latest = group.reduce((a, b) => (b.ts > a.ts ? b : a));
      const sum = values.reduce((a, b) => a + b, 0);
      return {
        minute,
        count: values.length,
        min: Math.min(...values),
        max: Math.max(...values),
        avg: sum / values.length,
        sum,
        last: latest.metrics[metric],
        lastAt: iso(latest.ts),
      };
    });
}

/** Exact where exact is possible; avg and sum to 1e-9 (the store sums decimals, the test sums floats). */
function expectSeries(actual: MinuteAggregate[] | undefined, expected: ReturnType<typeof expectedSeries>) {
  expect(actual?.map(({ avg: _a, sum: _s, ...rest }) => rest)).toEqual(
    expected.map(({ avg: _a, sum: _s, ...rest }) => rest),
  );
  expected.forEach((e, i) => {
    const a = actual?.[i] as MinuteAggregate;
    expect(Math.abs(a.avg - e.avg)).toBeLessThan(1e-9);
    expect(Math.abs(a.sum - e.sum)).toBeLessThan(1e-9);
  });
}

/**
 * Why `m` cannot be the aggregate of any subset of its minute's readings, or undefined. The readings it can hold lie
 * within [min, max] and no later than lastAt; there must be `count` of them, and their sum must be reachable.
 */
function skewOf(m: MinuteAggregate, metric: 'temperature' | 'humidity'): string | undefined {
  const values = messages.filter((x) => minuteName(x.ts) === m.minute).map((x) => ({ v: x.metrics[metric], ts: x.ts }));
  const lastOne = values.find((x) => iso(x.ts) === m.lastAt);
  if (!lastOne || lastOne.v !== m.last) return `${m.minute}: last ${m.last} at ${m.lastAt} is no reading`;
  if (!values.some((x) => x.v === m.min) || !values.some((x) => x.v === m.max))
    return `${m.minute}: min ${m.min} or max ${m.max} is no reading`;
  const eligible = values
    .filter((x) => x.v >= m.min && x.v <= m.max && x.ts <= Date.parse(m.lastAt))
    .map((x) => x.v)
    .sort((a, b) => a - b);
  if (m.count > eligible.length)
    return `${m.minute}: count ${m.count}, but only ${eligible.length} readings fit min/max/last ${JSON.stringify(m)}`;
  const low = eligible.slice(0, m.count).reduce((a, b) => a + b, 0);
  const high = eligible.slice(-m.count).reduce((a, b) => a + b, 0);
  if (m.sum < low - 1e-6 || m.sum > high + 1e-6) return `${m.minute}: sum ${m.sum} out of [${low}, ${high}]`;
  return undefined;
}

const totalCount = (answer: MetricsAnswer, metric: string) =>
  (answer.metrics[metric] ?? []).reduce((n, m) => n + m.count, 0);

async function publishAll(client: MqttClient, device: Device, list: Message[]) {
  for (const m of list)
    await client.publishAsync(`devices/${device.deviceId}/telemetry`, JSON.stringify(m), { qos: 1 });
}

/** How many records from this device the stream holds (the device id is the partition key and the source). */
async function streamRecordsFrom(deviceId: string): Promise<number> {
  const { kinesis } = awsClients();
  const StreamName = stack().resources.eventStream;
  const { StreamDescription } = await kinesis.send(new DescribeStreamCommand({ StreamName }));
  let count = 0;
  for (const shard of StreamDescription?.Shards ?? []) {
    let { ShardIterator } = await kinesis.send(
      new GetShardIteratorCommand({ StreamName, ShardId: shard.ShardId, ShardIteratorType: 'TRIM_HORIZON' }),
    );
    for (let page = 0; ShardIterator && page < 100; page++) {
      const out = await kinesis.send(new GetRecordsCommand({ ShardIterator, Limit: 10_000 }));
      for (const record of out.Records ?? []) {
        try {
          // A reading as the topic rule put it (deviceId), or an event envelope (source).
          const data = JSON.parse(Buffer.from(record.Data ?? []).toString('utf8')) as Record<string, unknown>;
          if ((data.deviceId ?? data.source) === deviceId) count++;
        } catch {
          // not JSON (another test's poison record)
        }
      }
      if ((out.Records ?? []).length === 0 && (out.MillisBehindLatest ?? 0) === 0) break;
      ShardIterator = out.NextShardIterator;
    }
  }
  return count;
}

interface ConsumerStats {
  invocations: number;
  /** Records checkpointed as done (a success, or a record skipped on purpose). */
  processed: number;
  /** Records given up on: their retries ran out and the DLQ took them. */
  discarded: number;
}

/** The deviceMetrics mapping's counters (embedded stack only). */
async function consumerStats(): Promise<ConsumerStats> {
  const pollers = (await controlStats()).pollers.filter((p) => p.function === 'deviceMetrics');
  const total = (pick: (p: (typeof pollers)[number]) => number) => pollers.reduce((n, p) => n + pick(p), 0);
  return {
    invocations: total((p) => p.invocations),
    processed: total((p) => p.recordsProcessed),
    discarded: total((p) => p.recordsDiscarded),
  };
}

/** The counters once the consumer has not been invoked for 2 s (earlier tests' records are done with). */
async function idleConsumerStats(): Promise<ConsumerStats> {
  let previous = await consumerStats();
  return eventually(
    async () => {
      await new Promise((r) => setTimeout(r, 2000));
      const now = await consumerStats();
      const idle = now.invocations === previous.invocations;
      previous = now;
      return idle ? now : undefined;
    },
    30_000,
    'the deviceMetrics consumer to be idle',
  );
}

const metricsPath = (deviceId: string, query: string) => `/devices/${deviceId}/metrics${query}`;
const window = `since=${encodeURIComponent(iso(base))}&until=${encodeURIComponent(iso(base + 2 * MINUTE - 1))}`;

describe.runIf(Boolean(stack().mqtt))('device metrics: MQTT readings -> per-minute aggregates and the registry', () => {
  let device: Device;
  let client: MqttClient;

  beforeAll(async () => {
    device = await newDevice('metrics');
    client = await connectDevice(device);
  });
  afterAll(async () => {
    await client?.endAsync();
  });

  it('aggregates 50 readings per device, metric and minute, and never answers a partial aggregate', async () => {
    await publishAll(client, device, publishOrder);
    const skews = new Set<string>();
    const answer = await eventually(
      async () => {
        const r = await api('GET', metricsPath(device.deviceId, `?metric=temperature&${window}`));
        const body = r.body as MetricsAnswer;
        for (const m of r.status === 200 ? (body.metrics.temperature ?? []) : []) {
          const skew = skewOf(m, 'temperature');
          if (skew) skews.add(skew);
        }
        return r.status === 200 && totalCount(body, 'temperature') >= messages.length ? body : undefined;
      },
      30_000,
      'the aggregates of 50 readings',
    );
    expect([...skews]).toEqual([]);
    expect(answer).toMatchObject({ deviceId: device.deviceId, since: iso(base), until: iso(base + 2 * MINUTE - 1) });
    expect(Object.keys(answer.metrics)).toEqual(['temperature']);
    const expected = expectedSeries('temperature');
    expect(expected.map((e) => e.count)).toEqual([30, 20]);
    expectSeries(answer.metrics.temperature, expected);
  });

  it('counts a repeated delivery of the same readings once', async () => {
    // Unchanged counts would also be what repeats that failed (and went to the DLQ) leave behind: on the embedded
    // stack the mapping's counters tell the two apart.
    const before = isEmbedded() ? await idleConsumerStats() : undefined;
    // Same seq, ts and metrics: the same event ids, now a second time on the stream.
    await publishAll(client, device, messages);
    await eventually(
      async () => ((await streamRecordsFrom(device.deviceId)) >= 2 * messages.length ? true : undefined),
      30_000,
      'the repeated readings on the stream',
    );
    // Behind the repeats on the device's shard (same partition key), in a later minute.
    await publishAll(client, device, [marker]);
    const all = await eventually(
      async () => {
        const r = await api('GET', metricsPath(device.deviceId, ''));
        const body = r.body as MetricsAnswer;
        return r.status === 200 && body.metrics.temperature?.some((m) => m.minute === minuteName(marker.ts))
          ? body
          : undefined;
      },
      30_000,
      'the marker reading behind the repeats',
    );
    if (before) {
      // The marker's writes can succeed in the very batch whose repeats fail: wait for the checkpoint instead.
      const after = await eventually(
        async () => {
          const now = await consumerStats();
          const done = now.processed + now.discarded - before.processed - before.discarded;
          return done >= messages.length + 1 ? now : undefined;
        },
        30_000,
        'the repeats and the marker to be checkpointed',
      );
      expect(after.discarded).toBe(before.discarded);
    }

    // The default window (the last 60 minutes) holds both metrics: the 50 readings' minutes, then the marker's.
    expect(Object.keys(all.metrics)).toEqual(['humidity', 'temperature']);
    expect(all.metrics.temperature?.[2]).toMatchObject({ count: 1, last: 25, lastAt: iso(marker.ts) });
    const again = (await api('GET', metricsPath(device.deviceId, ''))).body as MetricsAnswer;
    expectSeries(again.metrics.temperature?.slice(0, 2), expectedSeries('temperature'));
    expectSeries(again.metrics.humidity?.slice(0, 2), expectedSeries('humidity'));
    const windowed = await api('GET', metricsPath(device.deviceId, `?metric=temperature&${window}`));
    expect(windowed.status).toBe(200);
    expectSeries((windowed.body as MetricsAnswer).metrics.temperature, expectedSeries('temperature'));
  });

  it('lists the device with first seen, last seen and last reading', async () => {
    let found: DeviceItem | undefined;
    let cursor: string | null = null;
    let pages = 0;
    // Two per page: the walk crosses pages, so the cursor is exercised as well.
    do {
      const r = await api('GET', `/devices?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      expect(r.status).toBe(200);
      const page = r.body as { items: DeviceItem[]; nextCursor: string | null };
      expect(page.items.length).toBeLessThanOrEqual(2);
      found = page.items.find((d) => d.deviceId === device.deviceId);
      cursor = page.nextCursor;
      pages++;
    } while (!found && cursor && pages < 500);
    expect(found).toEqual({
      deviceId: device.deviceId,
      firstSeen: iso(base + 137),
      lastSeen: iso(marker.ts),
      lastReading: { metrics: marker.metrics, at: iso(marker.ts) },
    });
  });

  it('answers 404 for a device without metrics', async () => {
    const r = await api('GET', metricsPath(`never-${crypto.randomUUID().slice(0, 8)}`, ''));
    expect(r.status).toBe(404);
    expect(r.body).toMatchObject({ message: expect.stringContaining('No metrics') });
  });
});

describe('device query parameters', () => {
  const at = (ms: number) => encodeURIComponent(iso(ms));
  const now = Date.now();

  it.each([
    ['/devices?limit=0', /limit/],
    ['/devices?limit=abc', /limit/],
    ['/devices?cursor=not-a-cursor', /cursor/],
    ['/devices?deviceId=x', /unknown query parameter/],
    [`/devices/sensor-1/metrics?since=${at(now)}&until=${at(now - MINUTE)}`, /since must not be after until/],
    [`/devices/sensor-1/metrics?since=${at(now - 25 * 60 * MINUTE)}&until=${at(now)}`, /24 hours/],
    ['/devices/sensor-1/metrics?since=yesterday', /ISO-8601/],
    ['/devices/sensor-1/metrics?metric=temp-1', /metric/],
    ['/devices/sensor-1/metrics?limit=10', /unknown query parameter/],
    ['/devices/not.a.device/metrics', /device id/],
  ])('400 for %s', async (path, message) => {
    const r = await api('GET', path);
    expect(r.status).toBe(400);
    expect((r.body as { message: string }).message).toMatch(message);
  });
});

describe("the DynamoDB writes themselves (same adapter, the stack's tables)", () => {
  const minuteMs = Date.parse('2026-11-25T01:02:00.000Z');
  const readings: Reading[] = Array.from({ length: 6 }, (_, i) => ({
    eventId: crypto.randomUUID(),
    deviceId: '',
    at: iso(minuteMs + i * 7000),
    metrics: { temperature: 10 + i * 1.5 },
  }));
  const forDevice = (deviceId: string, list: Reading[]) => list.map((r) => ({ ...r, deviceId }));
  const metricsStore = (client: DynamoDBDocumentClient = awsClients().dynamo) =>
    new DynamoDeviceMetricsStore(client, stack().resources.deviceMetricsTable);
  const registry = () => new DynamoDeviceRegistry(awsClients().dynamo, stack().resources.devicesTable);
  const apply = (list: Reading[], store = metricsStore()) =>
    Promise.all(groupReadings(list, { retentionDays: 30 }).map((u) => store.applyBucket(u)));
  const bucket = async (deviceId: string) =>
    (await metricsStore().queryBuckets(deviceId, 'temperature', '2026-11-25T01:02Z', '2026-11-25T01:02Z'))[0];
  const rawItem = async (deviceId: string) =>
    (
      await awsClients().dynamo.send(
        new GetItemCommand({
          TableName: stack().resources.deviceMetricsTable,
          Key: { deviceId: { S: deviceId }, bucket: { S: 'temperature#2026-11-25T01:02Z' } },
          ConsistentRead: true,
        }),
      )
    ).Item;
  /** Why a stored item is not exactly the aggregate of the readings whose ids it holds, or undefined. */
  const itemSkew = (item: Record<string, AttributeValue>, list: Reading[]) => {
    const ids = new Set(item.appliedIds?.SS ?? []);
    const stats = bucketStats(
      list
        .filter((r) => ids.has(r.eventId))
        .map((r) => ({ eventId: r.eventId, value: r.metrics.temperature as number, at: r.at })),
    );
    const actual = [item.count?.N, item.min?.N, item.max?.N, item.last?.N, item.lastKey?.S].join(' ');
    const expected = [stats.count, stats.min, stats.max, stats.last.value, stats.last.key].join(' ');
    return actual === expected ? undefined : `stored ${actual}, the aggregate of its ids is ${expected}`;
  };

  it('adds only the missing readings, counts concurrent copies once, and never stores a partial aggregate', async () => {
    const deviceId = `direct-${crypto.randomUUID().slice(0, 8)}`;
    const all = forDevice(deviceId, readings);
    // A reader polling the item all along: every state it sees must be consistent.
    const skews: string[] = [];
    let writing = true;
    const watcher = (async () => {
      while (writing) {
        const item = await rawItem(deviceId).catch(() => undefined);
        const skew = item && itemSkew(item, all);
        if (skew) skews.push(skew);
      }
    })();
    try {
      await apply(all.slice(0, 2));
      await apply(all.slice(0, 4)); // two already counted, two not: a cold store merges into what is stored
      await Promise.all([apply(all), apply(all), apply(all.slice(3)), apply(all.slice(1, 5))]);
      await apply(all);
    } finally {
      writing = false;
      await watcher;
    }
    expect(skews).toEqual([]);
    const values = all.map((r) => r.metrics.temperature as number);
    expect(await bucket(deviceId)).toEqual({
      bucket: 'temperature#2026-11-25T01:02Z',
      count: 6,
      sum: values.reduce((a, b) => a + b, 0),
      min: 10,
      max: 17.5,
      last: 17.5,
      lastAt: iso(minuteMs + 5 * 7000),
    });
  });

  it('costs one UpdateItem per bucket and batch for the container that wrote the bucket, none for a redelivery', async () => {
    const deviceId = `direct-${crypto.randomUUID().slice(0, 8)}`;
    const base = awsClients().dynamo;
    const sent: string[] = [];
    const counting = {
      send: (command: { constructor: { name: string } }) => {
        sent.push(command.constructor.name);
        return base.send(command as never);
      },
    } as unknown as DynamoDBDocumentClient;
    const store = metricsStore(counting);
    // two metrics over two minutes, three batches in time order, then the last one again
    const batches = [0, 1, 2].map((b) =>
      Array.from({ length: 10 }, (_, i) => ({
        eventId: crypto.randomUUID(),
        deviceId,
        at: iso(minuteMs + 30_000 + (b * 10 + i) * 2000),
        metrics: { temperature: b * 10 + i, humidity: 50 - i },
      })),
    );
    for (const batch of batches) {
      sent.length = 0;
      await apply(batch, store);
      expect(sent).toHaveLength(groupReadings(batch, { retentionDays: 30 }).length);
      expect(sent.length).toBe(minimumCalls(batch) - 1); // minus the registry write, not made here
    }
    sent.length = 0;
    await apply(batches[2] as Reading[], store);
    expect(sent).toEqual([]);
    const [temperature] = await metricsStore().queryBuckets(
      deviceId,
      'temperature',
      '2026-11-25T01:03Z',
      '2026-11-25T01:03Z',
    );
    const inMinute = batches.flat().filter((r) => r.at >= '2026-11-25T01:03');
    expect(temperature).toMatchObject({
      count: inMinute.length,
      min: Math.min(...inMinute.map((r) => r.metrics.temperature)),
      max: Math.max(...inMinute.map((r) => r.metrics.temperature)),
    });
  });

  it('keeps the newest reading and the earliest time in the registry, whatever the order of the writes', async () => {
    const deviceId = `direct-${crypto.randomUUID().slice(0, 8)}`;
    const all = forDevice(deviceId, readings);
    const [newer] = summarizeDevices(all.slice(3));
    const [older] = summarizeDevices(all.slice(0, 3));
    if (!newer || !older) throw new Error('no sightings');
    await registry().recordSighting(newer);
    await registry().recordSighting(older);
    await registry().recordSighting(newer);
    const page = await api('GET', '/devices?limit=100');
    expect(page.status).toBe(200);
    let found: DeviceItem | undefined;
    let cursor = (page.body as { nextCursor: string | null }).nextCursor;
    found = (page.body as { items: DeviceItem[] }).items.find((d) => d.deviceId === deviceId);
    while (!found && cursor) {
      const next = (await api('GET', `/devices?limit=100&cursor=${encodeURIComponent(cursor)}`)).body as {
        items: DeviceItem[];
        nextCursor: string | null;
      };
      found = next.items.find((d) => d.deviceId === deviceId);
      cursor = next.nextCursor;
    }
    expect(found).toEqual({
      deviceId,
      firstSeen: all[0]?.at,
      lastSeen: all[5]?.at,
      lastReading: { metrics: all[5]?.metrics, at: all[5]?.at },
    });
  });
});
