import { describe, expect, it } from 'vitest';
import {
  applyReadings,
  BucketCache,
  type BucketEntry,
  type BucketUpdate,
  bucketStats,
  type DeviceSighting,
  EMPTY_BUCKET,
  groupReadings,
  type KnownBucket,
  MAX_CACHED_METRICS_PER_MINUTE,
  minimumCalls,
  orderKey,
  planBucketWrite,
  planSighting,
  type Reading,
  SightingCache,
  type StoredBucket,
} from '../../shared/domain/device-metrics';

/**
 * The write side's pure parts: the one write per bucket (what it counts, what it leaves), the container's cache of
 * buckets and devices, and the number of port calls a batch costs.
 */

const MINUTE = '2026-11-25T01:02Z';
const at = (s: number) => new Date(Date.parse('2026-11-25T01:02:00.000Z') + s * 1000).toISOString();
const entry = (eventId: string, value: number, s: number): BucketEntry => ({ eventId, value, at: at(s) });

/** A stored state read from the table: `entries` are what it counts. */
function stored(entries: BucketEntry[], version: number | undefined = 1): StoredBucket {
  const ids = new Set(entries.map((e) => e.eventId));
  const stats = bucketStats(entries);
  return {
    version,
    count: stats.count,
    min: stats.min,
    max: stats.max,
    last: stats.last,
    has: (id) => ids.has(id),
    ids,
  };
}

/** The same, as the cache takes it. */
function known(entries: BucketEntry[], version: number): KnownBucket {
  const { count, min, max, last } = bucketStats(entries);
  return { version, count, min, max, last, ids: entries.map((e) => e.eventId) };
}

function defined<T>(value: T | undefined): T {
  if (value === undefined) throw new Error('expected a value');
  return value;
}

/**
 * 100 devices x 3 metrics, 10 readings each over two minutes (every 12 s from `offsetS`): 1,000 readings in 600
 * buckets. Two batches with offsets 0 and 6 interleave in time and hit the same buckets.
 */
function realisticBatch(offsetS = 0, devices = 100): Reading[] {
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

describe('planBucketWrite', () => {
  it('writes a new bucket whole: count, sum, min, max and last of its readings, version 1', () => {
    const entries = [entry('a', 3, 10), entry('b', -1.5, 30), entry('c', 7, 20)];
    const write = planBucketWrite(EMPTY_BUCKET, entries);
    expect(write).toEqual({
      expected: EMPTY_BUCKET,
      version: 1,
      add: { ids: ['a', 'b', 'c'], sum: 8.5 },
      count: 3,
      min: -1.5,
      max: 7,
      last: { value: -1.5, at: at(30), key: orderKey(entries[1] as BucketEntry) },
    });
  });

  it('adds only the readings the bucket lacks, and folds them into its min, max and last', () => {
    const base = stored([entry('a', 5, 10), entry('b', 6, 40)], 4);
    const write = planBucketWrite(base, [entry('a', 5, 10), entry('c', 9, 20), entry('d', 1, 30)]);
    expect(write).toMatchObject({ version: 5, add: { ids: ['c', 'd'], sum: 10 }, count: 4, min: 1, max: 9 });
    // b (40 s) is still the latest reading
    expect(write?.last.value).toBe(6);
  });

  it('writes nothing when every reading is counted already (a redelivery)', () => {
    const entries = [entry('a', 5, 10), entry('b', 6, 40)];
    expect(planBucketWrite(stored(entries), entries)).toBeUndefined();
    expect(planBucketWrite(stored(entries), entries.slice(1))).toBeUndefined();
  });

  it('repairs an item from before versions whose counted readings miss from min/max/last, once', () => {
    // count and ids of a and b landed; the max and last writes of b did not (separate writes then).
    const a = entry('a', 5, 10);
    const b = entry('b', 9, 40);
    const legacy: StoredBucket = {
      version: undefined,
      count: 2,
      min: 5,
      max: 5,
      last: { value: 5, at: a.at, key: orderKey(a) },
      has: (id) => id === 'a' || id === 'b',
      ids: new Set(['a', 'b']),
    };
    const write = planBucketWrite(legacy, [a, b]);
    expect(write).toMatchObject({ version: 1, add: { ids: [], sum: 0 }, count: 2, min: 5, max: 9 });
    expect(write?.last.value).toBe(9);
    // a complete old item needs nothing
    expect(planBucketWrite({ ...stored([a, b]), version: undefined }, [a, b])).toBeUndefined();
  });

  it('picks the same last value whatever the order, ties broken by event id', () => {
    const x = entry('x', 1, 10);
    const y = entry('y', 2, 10);
    expect(planBucketWrite(EMPTY_BUCKET, [x, y])?.last.value).toBe(2);
    expect(planBucketWrite(EMPTY_BUCKET, [y, x])?.last.value).toBe(2);
    expect(planBucketWrite(stored([y]), [x])?.last.value).toBe(2);
  });
});

describe('BucketCache', () => {
  const remember = (cache: BucketCache, metric: string, entries: BucketEntry[], minute = MINUTE, device = 'd1') => {
    const write = planBucketWrite(cache.get(device, metric, minute) ?? EMPTY_BUCKET, entries);
    if (!write) throw new Error('nothing to write');
    cache.afterWrite(device, metric, minute, cache.get(device, metric, minute) ?? EMPTY_BUCKET, write);
    return write;
  };

  it('remembers the state a write left, and what it counts', () => {
    const cache = new BucketCache();
    remember(cache, 'temperature', [entry('a', 5, 10), entry('b', 6, 20)]);
    remember(cache, 'temperature', [entry('c', 1, 30)]);
    const state = cache.get('d1', 'temperature', MINUTE);
    expect(state).toMatchObject({ version: 2, count: 3, min: 1, max: 6, last: { value: 1 } });
    expect(['a', 'b', 'c', 'x'].map((id) => state?.has(id))).toEqual([true, true, true, false]);
    expect(cache.get('d1', 'humidity', MINUTE)).toBeUndefined();
    expect(cache.get('d2', 'temperature', MINUTE)).toBeUndefined();
  });

  it("keeps a minute's ids once, shared by its metrics, and tells the metrics apart", () => {
    const cache = new BucketCache();
    remember(cache, 'temperature', [entry('a', 5, 10), entry('b', 6, 20)]);
    remember(cache, 'humidity', [entry('a', 40, 10)]);
    expect(cache.size()).toEqual({ minutes: 1, buckets: 2, ids: 2 });
    expect(cache.get('d1', 'humidity', MINUTE)?.has('b')).toBe(false);
    expect(cache.get('d1', 'temperature', MINUTE)?.has('b')).toBe(true);
    cache.forget('d1', 'temperature', MINUTE);
    expect(cache.get('d1', 'temperature', MINUTE)).toBeUndefined();
    expect(cache.size()).toEqual({ minutes: 1, buckets: 1, ids: 1 });
    cache.forget('d1', 'humidity', MINUTE);
    expect(cache.size()).toEqual({ minutes: 0, buckets: 0, ids: 0 });
  });

  it('replaces its ids with those of a state read from the table, and ignores older versions', () => {
    const cache = new BucketCache();
    remember(cache, 'temperature', [entry('a', 5, 10)]);
    cache.put('d1', 'temperature', MINUTE, known([entry('b', 1, 5), entry('c', 2, 6)], 7));
    const state = cache.get('d1', 'temperature', MINUTE);
    expect(state?.version).toBe(7);
    expect(['a', 'b', 'c'].map((id) => state?.has(id))).toEqual([false, true, true]);
    cache.put('d1', 'temperature', MINUTE, known([entry('z', 1, 5)], 3));
    expect(cache.get('d1', 'temperature', MINUTE)?.has('z')).toBe(false);
  });

  it('never lets a write reported late overwrite a newer state, nor rebuild one it no longer knows', () => {
    const cache = new BucketCache();
    remember(cache, 'temperature', [entry('a', 5, 10)]);
    const base = defined(cache.get('d1', 'temperature', MINUTE));
    const mine = defined(planBucketWrite(base, [entry('b', 6, 20)]));
    cache.put('d1', 'temperature', MINUTE, known([entry('a', 5, 10), entry('c', 7, 30), entry('d', 8, 31)], 3));
    cache.afterWrite('d1', 'temperature', MINUTE, base, mine); // version 2: older than what is known
    expect(cache.get('d1', 'temperature', MINUTE)).toMatchObject({ version: 3, count: 3 });
    // The entry was dropped while the write was under way (an uncertain outcome elsewhere): the ids `base` counted
    // are gone with it, so the state after the write is not known either.
    cache.forget('d1', 'temperature', MINUTE);
    remember(cache, 'humidity', [entry('a', 40, 10)]);
    cache.afterWrite('d1', 'temperature', MINUTE, base, mine);
    expect(cache.get('d1', 'temperature', MINUTE)).toBeUndefined();
  });

  it('is bounded: least recently used minutes go first past the id budget', () => {
    const cache = new BucketCache({ maxIds: 25 });
    for (let d = 0; d < 5; d++)
      remember(
        cache,
        'temperature',
        Array.from({ length: 10 }, (_, i) => entry(`d${d}-${i}`, i, i)),
        MINUTE,
        `d${d}`,
      );
    expect(cache.size().ids).toBeLessThanOrEqual(25);
    expect(cache.get('d4', 'temperature', MINUTE)).toBeDefined();
    expect(cache.get('d0', 'temperature', MINUTE)).toBeUndefined();
  });

  it('is bounded: at most maxMinutes entries, and no minute far behind the newest', () => {
    const cache = new BucketCache({ maxMinutes: 3, maxAgeMinutes: 10 });
    for (let d = 0; d < 5; d++) remember(cache, 't', [entry(`e${d}`, 1, 1)], MINUTE, `d${d}`);
    expect(cache.size().minutes).toBe(3);
    const aged = new BucketCache({ maxAgeMinutes: 10 });
    remember(aged, 't', [entry('old', 1, 1)], '2026-11-25T01:02Z');
    remember(aged, 't', [entry('new', 1, 1)], '2026-11-25T01:13Z');
    expect(aged.get('d1', 't', '2026-11-25T01:02Z')).toBeUndefined();
    expect(aged.size()).toMatchObject({ minutes: 1, ids: 1 });
    // a late reading of an old minute is written, just not remembered
    remember(aged, 't', [entry('late', 1, 1)], '2026-11-25T01:01Z');
    expect(aged.get('d1', 't', '2026-11-25T01:01Z')).toBeUndefined();
  });

  it(`does not cache more than ${MAX_CACHED_METRICS_PER_MINUTE} metrics of one device and minute`, () => {
    const cache = new BucketCache();
    for (let m = 0; m <= MAX_CACHED_METRICS_PER_MINUTE; m++) remember(cache, `m${m}`, [entry('a', m, 1)]);
    expect(cache.get('d1', `m${MAX_CACHED_METRICS_PER_MINUTE - 1}`, MINUTE)?.has('a')).toBe(true);
    expect(cache.get('d1', `m${MAX_CACHED_METRICS_PER_MINUTE}`, MINUTE)).toBeUndefined();
  });
});

describe('the registry: planSighting and SightingCache', () => {
  const sighting = (first: number, last: number): DeviceSighting => ({
    deviceId: 'd1',
    firstSeen: at(first),
    lastSeen: at(last),
    lastReading: { metrics: { t: 1 }, at: at(last) },
    lastKey: `${at(last)}#e${last}`,
    eventIds: [],
  });

  it('needs both writes when nothing is known, neither for what is known already', () => {
    expect(planSighting(undefined, sighting(10, 20))).toEqual({ newer: true, earlierFirst: true });
    const known = { firstSeen: at(10), lastKey: sighting(10, 20).lastKey };
    expect(planSighting(known, sighting(10, 20))).toEqual({ newer: false, earlierFirst: false });
    expect(planSighting(known, sighting(15, 30))).toEqual({ newer: true, earlierFirst: false });
    expect(planSighting(known, sighting(5, 8))).toEqual({ newer: false, earlierFirst: true });
  });

  it('keeps one-way facts: the earliest first seen, the latest last key, bounded', () => {
    const cache = new SightingCache(2);
    cache.learn('d1', { firstSeen: at(10), lastKey: 'k2' });
    cache.learn('d1', { firstSeen: at(20), lastKey: 'k1' });
    expect(cache.get('d1')).toEqual({ firstSeen: at(10), lastKey: 'k2' });
    cache.learn('d2', { lastKey: 'k' });
    cache.learn('d3', { lastKey: 'k' });
    expect(cache.get('d1')).toBeUndefined();
    expect(cache.get('d3')).toEqual({ lastKey: 'k' });
  });
});

describe('applyReadings: port calls per batch', () => {
  function fakePorts() {
    const buckets: BucketUpdate[] = [];
    const sightings: DeviceSighting[] = [];
    return {
      buckets,
      sightings,
      ports: {
        metrics: {
          applyBucket: async (u: BucketUpdate) => {
            buckets.push(u);
          },
        },
        registry: {
          recordSighting: async (s: DeviceSighting) => {
            sightings.push(s);
          },
        },
      },
    };
  }

  it('makes the minimum: one call per bucket (device, metric, minute) and one per device', async () => {
    const readings = realisticBatch();
    expect(readings).toHaveLength(1000);
    expect(minimumCalls(readings)).toBe(100 * 3 * 2 + 100);
    const fake = fakePorts();
    const result = await applyReadings(readings, fake.ports, { retentionDays: 30 });
    expect(fake.buckets.length + fake.sightings.length).toBe(minimumCalls(readings));
    expect(result).toMatchObject({ buckets: 600, devices: 100 });
    expect(result.failedEventIds.size).toBe(0);
    // every group whole, in one call: 1,000 readings x 3 metrics
    expect(fake.buckets.reduce((n, u) => n + u.entries.length, 0)).toBe(3000);
    expect(new Set(fake.buckets.map((u) => `${u.deviceId} ${u.bucket}`)).size).toBe(600);
  });

  it('counts a reading repeated in the batch once, in the minimum as in the writes', async () => {
    const readings = realisticBatch(0, 2);
    const doubled = [...readings, ...readings];
    expect(minimumCalls(doubled)).toBe(minimumCalls(readings));
    const fake = fakePorts();
    await applyReadings(doubled, fake.ports, { retentionDays: 30 });
    expect(fake.buckets.reduce((n, u) => n + u.entries.length, 0)).toBe(readings.length * 3);
  });

  it('keeps a large group in one update, in time order', () => {
    const readings = Array.from({ length: 500 }, (_, i) => ({
      eventId: `e${499 - i}`,
      deviceId: 'd1',
      at: at(59 - i * 0.1),
      metrics: { t: i },
    }));
    const updates = groupReadings(readings, { retentionDays: 30 });
    expect(updates).toHaveLength(1);
    expect(updates[0]?.entries.map((e) => e.eventId)).toEqual(Array.from({ length: 500 }, (_, i) => `e${i}`));
  });
});
