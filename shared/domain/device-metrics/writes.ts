import { bucketExpiry, bucketKey, dedupeReadings, minuteOf, orderKey, type Reading } from './readings';
import { type DeviceRegistryWriter, summarizeDevices } from './registry';

/**
 * The write side, pure: a batch's readings grouped per bucket (device, metric, minute) and per device, and what one
 * conditional write must change in a stored bucket. The DynamoDB side (`shared/aws/dynamo-device-metrics-store.ts`)
 * sends it; docs/decisions/0006-device-metrics.md says why it is one write per bucket.
 */

export interface BucketEntry {
  eventId: string;
  value: number;
  at: string;
}

/** All of a batch's readings of one device, metric and minute (ids de-duplicated, in time order): one write. */
export interface BucketUpdate {
  deviceId: string;
  metric: string;
  minute: string;
  bucket: string;
  expiresAt: number;
  entries: BucketEntry[];
}

export interface LastValue {
  value: number;
  at: string;
  /** `orderKey` of the reading: the highest one is the bucket's last value. */
  key: string;
}

export interface BucketStats {
  count: number;
  sum: number;
  min: number;
  max: number;
  last: LastValue;
}

export function bucketStats(entries: readonly BucketEntry[]): BucketStats {
  const first = entries[0];
  if (!first) throw new Error('a bucket update needs at least one entry');
  let sum = 0;
  let min = first.value;
  let max = first.value;
  let last = { value: first.value, at: first.at, key: orderKey(first) };
  for (const e of entries) {
    sum += e.value;
    if (e.value < min) min = e.value;
    if (e.value > max) max = e.value;
    const key = orderKey(e);
    if (key > last.key) last = { value: e.value, at: e.at, key };
  }
  return { count: entries.length, sum, min, max, last };
}

/**
 * Groups a batch's readings by (device, metric, minute), ids de-duplicated, entries in time order: one update per
 * group, whatever its size (the write's expressions do not grow with it, see `shared/aws/dynamo-device-metrics-store`).
 */
export function groupReadings(readings: readonly Reading[], options: { retentionDays: number }): BucketUpdate[] {
  const groups = new Map<string, BucketUpdate>();
  for (const reading of dedupeReadings(readings)) {
    const minute = minuteOf(reading.at);
    for (const [metric, value] of Object.entries(reading.metrics)) {
      const bucket = bucketKey(metric, minute);
      const key = `${reading.deviceId}\u0000${bucket}`;
      let group = groups.get(key);
      if (!group) {
        group = {
          deviceId: reading.deviceId,
          metric,
          minute,
          bucket,
          expiresAt: bucketExpiry(minute, options.retentionDays),
          entries: [],
        };
        groups.set(key, group);
      }
      group.entries.push({ eventId: reading.eventId, value, at: reading.at });
    }
  }
  const updates = [...groups.values()];
  for (const u of updates) u.entries.sort((a, b) => (orderKey(a) < orderKey(b) ? -1 : 1));
  return updates;
}

// ---------------------------------------------------------------------------------------------------------------
// One write per bucket: the stored state it is conditional on, and the state it leaves

/**
 * What a writer knows of a stored bucket. Every state a writer leaves is the aggregate of exactly the readings whose
 * ids it holds, with a `version` that each write raises by one; the next write is conditional on that version.
 *
 * - `version` set: an item written with versions (the normal case);
 * - `version` undefined, `count` 0: no counted reading (no item, or only min/max/last of an item written before
 *   versions whose counting write had not happened): written as new, on condition that it has no count;
 * - `version` undefined, `count` > 0: an item written before versions (ADR 0006, history): the write is conditional
 *   on its count, min, max and last key, and gives it version 1.
 */
export interface StoredBucket {
  version: number | undefined;
  count: number;
  min?: number;
  max?: number;
  last?: LastValue;
  /** Is this event id counted in the bucket? */
  has(eventId: string): boolean;
  /** Every counted id, when the state was read from the table (a cached state has `has` only). */
  ids?: ReadonlySet<string>;
}

export const EMPTY_BUCKET: StoredBucket = { version: undefined, count: 0, has: () => false };

/** One conditional write: from `expected` to the state it describes. */
export interface BucketWrite {
  expected: StoredBucket;
  version: number;
  /** The readings it counts (not in `expected`): their ids and the sum of their values. */
  add: { ids: string[]; sum: number };
  /** The bucket's count after the write. */
  count: number;
  min: number;
  max: number;
  last: LastValue;
}

/**
 * The write that brings `stored` up to date with `entries`, or `undefined` when it already is. Readings it has
 * counted are left out, so a redelivery counts nothing twice; min, max and last come out of the same computation as
 * the count, so one write changes them together. An item from before versions may hold readings whose count
 * landed but not their min/max/last (those were separate writes then): they are folded in again, which changes
 * nothing when they were there.
 */
export function planBucketWrite(stored: StoredBucket, entries: readonly BucketEntry[]): BucketWrite | undefined {
  const fresh = entries.filter((e) => !stored.has(e.eventId));
  const legacy = stored.version === undefined && stored.count > 0;
  const folded = legacy ? entries : fresh;
  const first = folded[0];
  if (first === undefined) return undefined;
  let min = stored.min ?? first.value;
  let max = stored.max ?? first.value;
  let last: LastValue = stored.last ?? { value: first.value, at: first.at, key: orderKey(first) };
  for (const e of folded) {
    if (e.value < min) min = e.value;
    if (e.value > max) max = e.value;
    const key = orderKey(e);
    if (key > last.key) last = { value: e.value, at: e.at, key };
  }
  if (fresh.length === 0 && min === stored.min && max === stored.max && last.key === stored.last?.key) return undefined;
  return {
    expected: stored,
    version: (stored.version ?? 0) + 1,
    add: { ids: fresh.map((e) => e.eventId), sum: fresh.reduce((s, e) => s + e.value, 0) },
    count: stored.count + fresh.length,
    min,
    max,
    last,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Applying a batch

/**
 * Adds an update's readings to its bucket, each event id at most once, and min, max and last with them: in one
 * write, so that no reader sees a count without the min, max and last of the same readings.
 */
export interface DeviceMetricsWriter {
  applyBucket(update: BucketUpdate): Promise<void>;
}

/**
 * The fewest AWS calls a batch of fresh readings can cost: one write per bucket it touches (device, metric, minute)
 * and one registry write per device. `applyReadings` makes one port call each; the store spends more only when it
 * did not know a bucket's state (a cold container, another writer, a late minute).
 */
export function minimumCalls(readings: readonly Reading[]): number {
  const buckets = new Set<string>();
  const devices = new Set<string>();
  for (const r of dedupeReadings(readings)) {
    devices.add(r.deviceId);
    const minute = minuteOf(r.at);
    for (const metric of Object.keys(r.metrics)) buckets.add(`${r.deviceId}\u0000${bucketKey(metric, minute)}`);
  }
  return buckets.size + devices.size;
}

export interface ApplyFailure {
  what: string;
  eventIds: string[];
  error: unknown;
}

export interface ApplyResult {
  /** Events some of whose writes failed: their records must be reported as failed, so they come back. */
  failedEventIds: Set<string>;
  failures: ApplyFailure[];
  /** Port calls made: one per bucket (device, metric, minute), one per device. */
  buckets: number;
  devices: number;
}

async function forEachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  });
  await Promise.all(lanes);
}

/**
 * Every bucket update and every device sighting of a batch, concurrently (bounded): one port call each. A failure
 * fails only the events that write touched; every write is idempotent, so a retried event re-applies only what is
 * missing.
 */
export async function applyReadings(
  readings: readonly Reading[],
  ports: { metrics: DeviceMetricsWriter; registry: DeviceRegistryWriter },
  options: { retentionDays: number; concurrency?: number },
): Promise<ApplyResult> {
  const updates = groupReadings(readings, options);
  const sightings = summarizeDevices(readings);
  const failures: ApplyFailure[] = [];
  const tasks: { what: string; eventIds: string[]; run: () => Promise<void> }[] = [
    ...updates.map((u) => ({
      what: `metrics ${u.deviceId} ${u.bucket}`,
      eventIds: u.entries.map((e) => e.eventId),
      run: () => ports.metrics.applyBucket(u),
    })),
    ...sightings.map((s) => ({
      what: `registry ${s.deviceId}`,
      eventIds: s.eventIds,
      run: () => ports.registry.recordSighting(s),
    })),
  ];
  await forEachLimited(tasks, options.concurrency ?? 32, async (task) => {
    try {
      await task.run();
    } catch (error) {
      failures.push({ what: task.what, eventIds: task.eventIds, error });
    }
  });
  return {
    failedEventIds: new Set(failures.flatMap((f) => f.eventIds)),
    failures,
    buckets: updates.length,
    devices: sightings.length,
  };
}
