import { describe, expect, it } from 'vitest';
import {
  buildBucketWriteInput,
  buildFirstSeenInput,
  buildSightingInput,
  decimal,
  storedBucketOf,
  toBucketAggregate,
} from '../../shared/aws/dynamo-device-metrics-store';
import {
  applyReadings,
  assembleMetrics,
  type BucketAggregate,
  type BucketUpdate,
  bucketExpiry,
  bucketKey,
  bucketStats,
  type DeviceMetricsReader,
  type DeviceSighting,
  EMPTY_BUCKET,
  groupReadings,
  MAX_METRICS_PER_ANSWER,
  minuteOf,
  parseBucketKey,
  parseListDevicesQuery,
  parseMetricsQuery,
  planBucketWrite,
  type Reading,
  readDeviceMetrics,
  readingFromEvent,
  summarizeDevices,
  toMinuteAggregate,
} from '../../shared/domain/device-metrics';
import { Rejection } from '../../shared/domain/errors';
import type { EventEnvelope } from '../../shared/domain/events';
import { encodeCursor } from '../../shared/domain/listing';

function telemetry(overrides: Partial<EventEnvelope> = {}, metrics: unknown = { temperature: 21.5 }): EventEnvelope {
  return {
    id: 'e-1',
    type: 'device.telemetry',
    source: 'sensor-1',
    occurredAt: '2026-11-25T01:02:03.456Z',
    receivedAt: '2026-11-25T01:02:04.000Z',
    principalId: 'device:sensor-1',
    traceId: 'e-1',
    data: { metrics, seq: 1 },
    ...overrides,
  };
}

function reading(eventId: string, at: string, metrics: Record<string, number>, deviceId = 'sensor-1'): Reading {
  return { eventId, deviceId, at, metrics };
}

function rejection(fn: () => unknown): Rejection {
  try {
    fn();
  } catch (error) {
    if (error instanceof Rejection) return error;
    throw error;
  }
  throw new Error('expected a Rejection');
}

describe('minute buckets', () => {
  it('names the minute a time falls in, in UTC', () => {
    expect(minuteOf('2026-11-25T01:02:59.999Z')).toBe('2026-11-25T01:02Z');
    expect(minuteOf('2026-11-25T01:03:00.000Z')).toBe('2026-11-25T01:03Z');
    expect(minuteOf('2026-11-25T03:02:03+02:00')).toBe('2026-11-25T01:02Z');
  });

  it('keys a bucket by metric and minute, and reads the key back', () => {
    expect(bucketKey('temperature', '2026-11-25T01:02Z')).toBe('temperature#2026-11-25T01:02Z');
    expect(parseBucketKey('temperature#2026-11-25T01:02Z')).toEqual({
      metric: 'temperature',
      minute: '2026-11-25T01:02Z',
    });
    expect(() => parseBucketKey('#2026-11-25T01:02Z')).toThrow();
  });

  it('expires a bucket its retention after its own minute, not after now', () => {
    expect(bucketExpiry('2026-11-25T01:02Z', 30)).toBe(Date.parse('2026-12-25T01:02:00Z') / 1000);
  });

  it('sorts every bucket of a metric before the skip-scan marker, and other metrics after it', () => {
    const marker = 'temp$';
    for (const other of ['temp2#2026-01-01T00:00Z', 'temp_x#2026-01-01T00:00Z', 'tempA#2026-01-01T00:00Z'])
      expect(other > marker).toBe(true);
    expect('temp#9999-12-31T23:59Z' < marker).toBe(true);
  });
});

describe('readingFromEvent', () => {
  it('ignores events of other types', () => {
    expect(readingFromEvent(telemetry({ type: 'payment.success' }))).toEqual({ kind: 'ignored' });
  });

  it('takes the device, time and metrics of a telemetry event', () => {
    expect(readingFromEvent(telemetry({}, { temperature: 21.5, humidity: 40 }))).toEqual({
      kind: 'reading',
      reading: {
        eventId: 'e-1',
        deviceId: 'sensor-1',
        at: '2026-11-25T01:02:03.456Z',
        metrics: { temperature: 21.5, humidity: 40 },
      },
      dropped: [],
    });
  });

  it('refuses a telemetry event without metrics', () => {
    expect(readingFromEvent(telemetry({ data: { seq: 1 } }))).toMatchObject({ kind: 'invalid' });
  });

  it.each([
    ['metrics null', null],
    ['metrics not an object', 42],
    ['metrics an array', [1, 2]],
    ['no metric at all', {}],
    ['only non-numeric metrics', { temperature: 'hot', ok: true }],
    ['only out-of-range values', { big: 1e20, tiny: 1e-200 }],
  ])('refuses a telemetry event with %s', (_name, metrics) => {
    expect(readingFromEvent(telemetry({}, metrics))).toMatchObject({ kind: 'invalid' });
  });

  it('ignores device.telemetry that no device sent (e.g. posted over HTTP by a service)', () => {
    expect(readingFromEvent(telemetry({ principalId: 'svc-orders' }))).toEqual({ kind: 'ignored' });
    expect(readingFromEvent(telemetry({ principalId: 'device:other-sensor' }))).toEqual({ kind: 'ignored' });
  });

  it('refuses a source that is not a device id and a time outside 1970..9999', () => {
    expect(readingFromEvent(telemetry({ source: 'a#b', principalId: 'device:a#b' }))).toMatchObject({
      kind: 'invalid',
    });
    expect(readingFromEvent(telemetry({ occurredAt: 'yesterday' }))).toMatchObject({ kind: 'invalid' });
    expect(readingFromEvent(telemetry({ occurredAt: '+010000-01-01T00:00:00.000Z' }))).toMatchObject({
      kind: 'invalid',
    });
  });

  it('drops bad metrics of an otherwise good reading and names them', () => {
    const outcome = readingFromEvent(
      telemetry({}, { temperature: 20, 'bad#name': 1, label: 'x', huge: 2e15, zero: 0, small: 1e-9 }),
    );
    expect(outcome).toMatchObject({
      kind: 'reading',
      reading: { metrics: { temperature: 20, zero: 0, small: 1e-9 } },
      dropped: ['bad#name', 'label', 'huge'],
    });
  });
});

describe('bucketStats', () => {
  it('counts, sums and finds min, max and the latest value', () => {
    const stats = bucketStats([
      { eventId: 'b', value: 3, at: '2026-11-25T01:02:10.000Z' },
      { eventId: 'a', value: -1.5, at: '2026-11-25T01:02:30.000Z' },
      { eventId: 'c', value: 7, at: '2026-11-25T01:02:20.000Z' },
    ]);
    expect(stats).toEqual({
      count: 3,
      sum: 8.5,
      min: -1.5,
      max: 7,
      last: { value: -1.5, at: '2026-11-25T01:02:30.000Z', key: '2026-11-25T01:02:30.000Z#a' },
    });
  });

  it('breaks a tie of times by event id, whatever the order', () => {
    const at = '2026-11-25T01:02:10.000Z';
    const x = { eventId: 'x', value: 1, at };
    const y = { eventId: 'y', value: 2, at };
    expect(bucketStats([x, y]).last.value).toBe(2);
    expect(bucketStats([y, x]).last.value).toBe(2);
  });
});

describe('groupReadings', () => {
  const t = (s: number, m = 2) => `2026-11-25T01:0${m}:${String(s).padStart(2, '0')}.000Z`;

  it('groups by device, metric and minute', () => {
    const updates = groupReadings(
      [
        reading('e1', t(1), { temperature: 20, humidity: 40 }),
        reading('e2', t(59), { temperature: 22 }),
        reading('e3', t(0, 3), { temperature: 24 }),
        reading('e4', t(5), { temperature: 30 }, 'sensor-2'),
      ],
      { retentionDays: 30 },
    );
    const summary = updates.map((u) => `${u.deviceId} ${u.bucket} ${u.entries.map((e) => e.eventId).join(',')}`);
    expect(summary.sort()).toEqual([
      'sensor-1 humidity#2026-11-25T01:02Z e1',
      'sensor-1 temperature#2026-11-25T01:02Z e1,e2',
      'sensor-1 temperature#2026-11-25T01:03Z e3',
      'sensor-2 temperature#2026-11-25T01:02Z e4',
    ]);
    for (const u of updates) expect(u.expiresAt).toBe(bucketExpiry(u.minute, 30));
  });

  it('counts an event id once even when the batch holds it twice', () => {
    const updates = groupReadings(
      [reading('e1', t(1), { temperature: 20 }), reading('e1', t(1), { temperature: 20 })],
      { retentionDays: 30 },
    );
    expect(updates).toHaveLength(1);
    expect(updates[0]?.entries).toHaveLength(1);
  });

  it('makes one update per group, whatever its size, in time order', () => {
    const readings = Array.from({ length: 70 }, (_, i) => reading(`e${69 - i}`, t(59 - (i % 60)), { temperature: i }));
    const updates = groupReadings(readings, { retentionDays: 30 });
    expect(updates).toHaveLength(1);
    const keys = updates[0]?.entries.map((e) => `${e.at}#${e.eventId}`) ?? [];
    expect(keys).toEqual([...keys].sort());
    expect(keys).toHaveLength(70);
  });
});

describe('summarizeDevices', () => {
  it('keeps the earliest time and the latest reading per device', () => {
    const sightings = summarizeDevices([
      reading('e2', '2026-11-25T01:02:10.000Z', { temperature: 2 }),
      reading('e1', '2026-11-25T01:01:00.000Z', { temperature: 1 }),
      reading('e3', '2026-11-25T01:02:30.000Z', { temperature: 3, humidity: 50 }),
      reading('e4', '2026-11-25T01:02:00.000Z', { temperature: 4 }),
    ]);
    expect(sightings).toEqual([
      {
        deviceId: 'sensor-1',
        firstSeen: '2026-11-25T01:01:00.000Z',
        lastSeen: '2026-11-25T01:02:30.000Z',
        lastReading: { metrics: { temperature: 3, humidity: 50 }, at: '2026-11-25T01:02:30.000Z' },
        lastKey: '2026-11-25T01:02:30.000Z#e3',
        eventIds: ['e2', 'e1', 'e3', 'e4'],
      },
    ]);
  });
});

describe('applyReadings', () => {
  const readings = [
    reading('a1', '2026-11-25T01:02:01.000Z', { temperature: 1 }, 'dev-a'),
    reading('a2', '2026-11-25T01:03:01.000Z', { temperature: 2 }, 'dev-a'),
    reading('b1', '2026-11-25T01:02:01.000Z', { temperature: 3, humidity: 4 }, 'dev-b'),
  ];

  it('fails only the events of the writes that failed', async () => {
    const applied: string[] = [];
    const result = await applyReadings(
      readings,
      {
        metrics: {
          applyBucket: async (u: BucketUpdate) => {
            if (u.deviceId === 'dev-a' && u.minute === '2026-11-25T01:03Z') throw new Error('throttled');
            applied.push(`${u.deviceId} ${u.bucket}`);
          },
        },
        registry: { recordSighting: async () => {} },
      },
      { retentionDays: 30 },
    );
    expect([...result.failedEventIds]).toEqual(['a2']);
    expect(result.failures).toMatchObject([{ eventIds: ['a2'], error: new Error('throttled') }]);
    expect(applied.sort()).toEqual([
      'dev-a temperature#2026-11-25T01:02Z',
      'dev-b humidity#2026-11-25T01:02Z',
      'dev-b temperature#2026-11-25T01:02Z',
    ]);
  });

  it('fails every event of a device whose registry write failed, and an event failing in one of its buckets', async () => {
    const result = await applyReadings(
      readings,
      {
        metrics: {
          applyBucket: async (u: BucketUpdate) => {
            if (u.metric === 'humidity') throw new Error('boom');
          },
        },
        registry: {
          recordSighting: async (s: DeviceSighting) => {
            if (s.deviceId === 'dev-a') throw new Error('boom');
          },
        },
      },
      { retentionDays: 30 },
    );
    expect([...result.failedEventIds].sort()).toEqual(['a1', 'a2', 'b1']);
  });

  it('succeeds with nothing to do', async () => {
    const noWrite = async () => {
      throw new Error('no write expected');
    };
    const result = await applyReadings(
      [],
      { metrics: { applyBucket: noWrite }, registry: { recordSighting: noWrite } },
      {
        retentionDays: 30,
      },
    );
    expect(result.failedEventIds.size).toBe(0);
  });
});

describe('DynamoDB update inputs', () => {
  const update: BucketUpdate = {
    deviceId: 'sensor-1',
    metric: 'temperature',
    minute: '2026-11-25T01:02Z',
    bucket: 'temperature#2026-11-25T01:02Z',
    expiresAt: 1_800_000_000,
    entries: [
      { eventId: 'e1', value: 0.1, at: '2026-11-25T01:02:01.000Z' },
      { eventId: 'e2', value: 0.2, at: '2026-11-25T01:02:02.000Z' },
    ],
  };
  const writeOf = (stored = EMPTY_BUCKET, entries = update.entries) => {
    const write = planBucketWrite(stored, entries);
    if (!write) throw new Error('nothing to write');
    return write;
  };

  it('writes count, sum, ids, min, max and last in one update; a new bucket on condition that it has no count', () => {
    const input = buildBucketWriteInput('metrics', update, writeOf());
    expect(input.Key).toEqual({ deviceId: 'sensor-1', bucket: 'temperature#2026-11-25T01:02Z' });
    expect(input.UpdateExpression).toBe(
      'SET #min = :min, #max = :max, #last = :last, #lastAt = :lastAt, #lastKey = :lastKey, #version = :version, ' +
        '#exp = if_not_exists(#exp, :exp) ADD #count :n, #sum :s, #ids :ids',
    );
    expect(input.ConditionExpression).toBe('attribute_not_exists(#count)');
    expect(input.ReturnValuesOnConditionCheckFailure).toBe('ALL_OLD');
    expect(input.ExpressionAttributeNames).toMatchObject({ '#ids': 'appliedIds', '#count': 'count' });
    const values = input.ExpressionAttributeValues;
    expect(String(values[':s'])).toBe('0.300000000');
    expect(values).toMatchObject({
      ':n': 2,
      ':ids': new Set(['e1', 'e2']),
      ':min': 0.1,
      ':max': 0.2,
      ':last': 0.2,
      ':lastAt': '2026-11-25T01:02:02.000Z',
      ':lastKey': '2026-11-25T01:02:02.000Z#e2',
      ':version': 1,
      ':exp': 1_800_000_000,
    });
  });

  it('writes a known bucket on condition of its version, adding only the readings it lacks', () => {
    const stored = storedBucketOf({
      version: { N: '7' },
      count: { N: '1' },
      sum: { N: '0.1' },
      min: { N: '0.1' },
      max: { N: '0.1' },
      last: { N: '0.1' },
      lastAt: { S: '2026-11-25T01:02:01.000Z' },
      lastKey: { S: '2026-11-25T01:02:01.000Z#e1' },
      appliedIds: { SS: ['e1'] },
    });
    const input = buildBucketWriteInput('metrics', update, writeOf(stored));
    expect(input.ConditionExpression).toBe('#version = :expected');
    expect(input.ExpressionAttributeValues).toMatchObject({
      ':expected': 7,
      ':version': 8,
      ':n': 1,
      ':ids': new Set(['e2']),
      ':min': 0.1,
      ':max': 0.2,
    });
  });

  it('writes an item from before versions on condition of its count, min, max and last key', () => {
    const stored = storedBucketOf({
      count: { N: '1' },
      sum: { N: '0.1' },
      min: { N: '0.1' },
      appliedIds: { SS: ['e1'] },
    });
    const input = buildBucketWriteInput('metrics', update, writeOf(stored));
    expect(input.ConditionExpression).toBe(
      'attribute_not_exists(#version) AND #count = :expectedCount AND #min = :expected_min AND ' +
        'attribute_not_exists(#max) AND attribute_not_exists(#lastKey)',
    );
    expect(input.ExpressionAttributeValues).toMatchObject({ ':expectedCount': 1, ':expected_min': 0.1, ':version': 1 });
    // only min/max/last to repair: no ADD, and no unused names or values (DynamoDB refuses those)
    const repair = buildBucketWriteInput('metrics', update, writeOf(stored, update.entries.slice(0, 1)));
    expect(repair.UpdateExpression).not.toContain('ADD');
    for (const token of [
      ...Object.keys(repair.ExpressionAttributeNames),
      ...Object.keys(repair.ExpressionAttributeValues),
    ])
      expect(`${repair.UpdateExpression} ${repair.ConditionExpression}`).toMatch(new RegExp(`${token}\\b`));
  });

  it('keeps the expressions the same whatever the number of readings: a group is never cut', () => {
    const entries = Array.from({ length: 2000 }, (_, i) => ({
      eventId: crypto.randomUUID(),
      value: i,
      at: '2026-11-25T01:02:01.000Z',
    }));
    const small = buildBucketWriteInput('metrics', update, writeOf());
    const big: BucketUpdate = { ...update, entries };
    const large = buildBucketWriteInput('metrics', big, writeOf(EMPTY_BUCKET, entries));
    expect(large.UpdateExpression).toBe(small.UpdateExpression);
    expect(large.ConditionExpression).toBe(small.ConditionExpression);
    expect((large.ExpressionAttributeValues[':ids'] as Set<string>).size).toBe(2000);
  });

  it('writes sums as fixed decimals: no float noise, no safe-integer limit, no negative zero', () => {
    expect(String(decimal(0.1 + 0.2))).toBe('0.300000000');
    expect(String(decimal(1e15 * 50))).toBe('50000000000000000.000000000');
    expect(String(decimal(-1e-12))).toBe('0');
    expect(String(decimal(-2.5))).toBe('-2.500000000');
  });

  it('moves the registry forward only for a newer reading, and first seen only earlier', () => {
    const sighting: DeviceSighting = {
      deviceId: 'sensor-1',
      firstSeen: '2026-11-25T01:01:00.000Z',
      lastSeen: '2026-11-25T01:02:00.000Z',
      lastReading: { metrics: { temperature: 3 }, at: '2026-11-25T01:02:00.000Z' },
      lastKey: '2026-11-25T01:02:00.000Z#e3',
      eventIds: ['e1', 'e3'],
    };
    expect(buildSightingInput('devices', sighting)).toMatchObject({
      Key: { deviceId: 'sensor-1' },
      UpdateExpression: 'SET #first = if_not_exists(#first, :first), #lastSeen = :last, #reading = :r, #lastKey = :k',
      ConditionExpression: 'attribute_not_exists(#lastKey) OR #lastKey < :k',
      ExpressionAttributeValues: { ':first': sighting.firstSeen, ':r': sighting.lastReading },
      ReturnValues: 'UPDATED_OLD',
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
    expect(buildFirstSeenInput('devices', sighting)).toMatchObject({
      ConditionExpression: 'attribute_not_exists(#first) OR #first > :first',
    });
  });

  it('reads stored buckets from raw attribute values', () => {
    const empty = storedBucketOf(undefined);
    expect(empty).toBe(EMPTY_BUCKET);
    // an item from before versions with only its min/max/last written: no counted reading
    expect(storedBucketOf({ min: { N: '1' }, max: { N: '1' } })).toBe(EMPTY_BUCKET);
    const item = {
      bucket: { S: 'temperature#2026-11-25T01:02Z' },
      version: { N: '3' },
      count: { N: '3' },
      sum: { N: '90071992547409930.500000000' },
      min: { N: '1' },
      max: { N: '2' },
      last: { N: '1.5' },
      lastAt: { S: '2026-11-25T01:02:02.000Z' },
      lastKey: { S: '2026-11-25T01:02:02.000Z#e2' },
      appliedIds: { SS: ['e1', 'e2', 'e3'] },
    };
    const stored = storedBucketOf(item);
    expect(stored).toMatchObject({
      version: 3,
      count: 3,
      min: 1,
      max: 2,
      last: { value: 1.5, at: '2026-11-25T01:02:02.000Z', key: '2026-11-25T01:02:02.000Z#e2' },
    });
    expect([stored.has('e2'), stored.has('e4')]).toEqual([true, false]);
    expect(toBucketAggregate(item)).toEqual({
      bucket: 'temperature#2026-11-25T01:02Z',
      count: 3,
      // beyond the safe-integer range: the document client would answer a BigInt or throw
      sum: Number('90071992547409930.5'),
      min: 1,
      max: 2,
      last: 1.5,
      lastAt: '2026-11-25T01:02:02.000Z',
    });
    // An item from before versions whose counting write had not happened: not a bucket to answer yet.
    const { count: _count, ...partial } = item;
    expect(toBucketAggregate(partial)).toBeUndefined();
  });
});

describe('parseMetricsQuery', () => {
  const now = new Date('2026-11-25T12:00:00.000Z');

  it('defaults to the last 60 minutes', () => {
    expect(parseMetricsQuery('sensor-1', {}, now)).toEqual({
      deviceId: 'sensor-1',
      since: '2026-11-25T11:00:00.000Z',
      until: '2026-11-25T12:00:00.000Z',
    });
  });

  it('takes since, until and metric, normalised to UTC', () => {
    expect(
      parseMetricsQuery(
        'sensor-1',
        { since: '2026-11-25T10:00:00+01:00', until: '2026-11-25T09:30:00Z', metric: 'temperature' },
        now,
      ),
    ).toEqual({
      deviceId: 'sensor-1',
      since: '2026-11-25T09:00:00.000Z',
      until: '2026-11-25T09:30:00.000Z',
      metric: 'temperature',
    });
  });

  it('accepts a window of exactly 24 hours', () => {
    expect(
      parseMetricsQuery('sensor-1', { since: '2026-11-24T12:00:00Z', until: '2026-11-25T12:00:00Z' }, now).since,
    ).toBe('2026-11-24T12:00:00.000Z');
  });

  it.each([
    ['a bad id', 'bad id', {}, /device id/],
    ['an empty id', undefined, {}, /device id/],
    ['since after until', 'sensor-1', { since: '2026-11-25T10:00:01Z', until: '2026-11-25T10:00:00Z' }, /since/],
    ['a window over 24 h', 'sensor-1', { since: '2026-11-24T11:59:59Z', until: '2026-11-25T12:00:00Z' }, /24 hours/],
    ['since more than 24 h before now', 'sensor-1', { since: '2026-11-20T00:00:00Z' }, /24 hours/],
    ['a bad time', 'sensor-1', { since: 'yesterday' }, /ISO-8601/],
    ['a bad metric', 'sensor-1', { metric: 'temp#2026' }, /metric/],
  ])('refuses %s', (_name, id, params, message) => {
    const error = rejection(() => parseMetricsQuery(id, params as Record<string, string>, now));
    expect(error.kind).toBe('invalid');
    expect(error.message).toMatch(message);
  });
});

describe('answering GET /devices/{id}/metrics', () => {
  const bucket = (metric: string, minute: string, count: number, sum: number): BucketAggregate => ({
    bucket: `${metric}#${minute}`,
    count,
    sum,
    min: 1,
    max: 9,
    last: 5,
    lastAt: `${minute.slice(0, -1)}:30.000Z`,
  });

  it('derives avg from sum and count', () => {
    expect(toMinuteAggregate(bucket('t', '2026-11-25T01:02Z', 4, 10))).toEqual({
      minute: '2026-11-25T01:02Z',
      count: 4,
      min: 1,
      max: 9,
      avg: 2.5,
      sum: 10,
      last: 5,
      lastAt: '2026-11-25T01:02:30.000Z',
    });
  });

  it('groups by metric, sorts by minute and leaves out minutes outside the window', () => {
    const metrics = assembleMetrics(
      [
        bucket('temperature', '2026-11-25T01:03Z', 1, 1),
        bucket('constructor', '2026-11-25T01:02Z', 1, 1),
        bucket('temperature', '2026-11-25T01:02Z', 1, 1),
        bucket('temperature', '2026-11-25T01:05Z', 1, 1),
      ],
      '2026-11-25T01:02Z',
      '2026-11-25T01:04Z',
    );
    expect(Object.keys(metrics)).toEqual(['constructor', 'temperature']);
    expect(metrics.temperature?.map((m) => m.minute)).toEqual(['2026-11-25T01:02Z', '2026-11-25T01:03Z']);
  });

  function reader(data: Record<string, BucketAggregate[]>): DeviceMetricsReader & { calls: string[] } {
    const calls: string[] = [];
    return {
      calls,
      metricNames: async (_id, max) => {
        calls.push(`names ${max}`);
        return Object.keys(data).sort().slice(0, max);
      },
      queryBuckets: async (_id, metric, from, to) => {
        calls.push(`query ${metric} ${from} ${to}`);
        return (data[metric] ?? []).filter((b) => {
          const { minute } = parseBucketKey(b.bucket);
          return minute >= from && minute <= to;
        });
      },
    };
  }
  const query = {
    deviceId: 'sensor-1',
    since: '2026-11-25T01:02:30.000Z',
    until: '2026-11-25T01:03:10.000Z',
  };

  it('reads every metric of the device when none is named', async () => {
    const r = reader({
      temperature: [bucket('temperature', '2026-11-25T01:02Z', 2, 4)],
      humidity: [bucket('humidity', '2026-11-25T01:03Z', 1, 40)],
    });
    const answer = await readDeviceMetrics(r, query);
    expect(answer).toMatchObject({ deviceId: 'sensor-1', since: query.since, until: query.until });
    expect(Object.keys(answer.metrics)).toEqual(['humidity', 'temperature']);
    expect(r.calls).toContain('query temperature 2026-11-25T01:02Z 2026-11-25T01:03Z');
  });

  it('reads only the named metric', async () => {
    const r = reader({ temperature: [bucket('temperature', '2026-11-25T01:02Z', 2, 4)], humidity: [] });
    const answer = await readDeviceMetrics(r, { ...query, metric: 'temperature' });
    expect(Object.keys(answer.metrics)).toEqual(['temperature']);
    expect(r.calls).toEqual(['query temperature 2026-11-25T01:02Z 2026-11-25T01:03Z']);
  });

  it('answers empty metrics for a known device without data in the window', async () => {
    const r = reader({ temperature: [bucket('temperature', '2026-11-24T01:02Z', 2, 4)] });
    expect((await readDeviceMetrics(r, query)).metrics).toEqual({});
    expect((await readDeviceMetrics(r, { ...query, metric: 'humidity' })).metrics).toEqual({});
  });

  it('answers not-found for a device without any stored metric', async () => {
    await expect(readDeviceMetrics(reader({}), query)).rejects.toMatchObject({ kind: 'not-found' });
    await expect(readDeviceMetrics(reader({}), { ...query, metric: 'temperature' })).rejects.toMatchObject({
      kind: 'not-found',
    });
  });

  it('refuses to answer more metrics than the cap', async () => {
    const many = Object.fromEntries(Array.from({ length: MAX_METRICS_PER_ANSWER + 1 }, (_, i) => [`m${i}`, []]));
    await expect(readDeviceMetrics(reader(many), query)).rejects.toMatchObject({ kind: 'invalid' });
  });
});

describe('parseListDevicesQuery', () => {
  it('defaults the limit and takes a cursor it issued', () => {
    expect(parseListDevicesQuery({})).toEqual({ limit: 50 });
    const cursor = encodeCursor({ deviceId: 'sensor-1' }) as string;
    expect(parseListDevicesQuery({ limit: '2', cursor })).toEqual({ limit: 2, startKey: { deviceId: 'sensor-1' } });
  });

  it.each([
    ['limit 0', { limit: '0' }],
    ['limit 101', { limit: '101' }],
    ['a cursor that is not base64 JSON', { cursor: 'garbage!' }],
    ['a cursor of another key', { cursor: encodeCursor({ id: 'x' }) as string }],
    ['a cursor with extra keys', { cursor: encodeCursor({ deviceId: 'a', bucket: 'b' }) as string }],
    ['a cursor with a bad device id', { cursor: encodeCursor({ deviceId: 'a b' }) as string }],
  ])('refuses %s', (_name, params) => {
    expect(rejection(() => parseListDevicesQuery(params)).kind).toBe('invalid');
  });
});
