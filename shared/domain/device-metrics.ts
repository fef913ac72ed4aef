import { z } from 'zod';
import { Rejection } from './errors';
import type { EventEnvelope } from './events';
import { decodeCursor, type Page, parseLimit, parseTime } from './listing';
import { DeviceIdSchema, isDeviceTelemetry } from './telemetry';

/**
 * Device metrics: per device, metric and minute aggregates (count, min, max, sum, last) and the device registry
 * (first seen, last seen, last reading). Pure code: the DynamoDB side is `shared/aws/dynamo-device-metrics-store.ts`.
 * Keys, idempotency and limits: docs/decisions/0006-device-metrics.md.
 */

/** The metric names a device may publish (same rule as the telemetry schema); `#` never occurs in one. */
export const MetricNameSchema = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_]{0,63}$/, 'must start with a letter and hold at most 64 letters, digits or _');

/**
 * Values that can be stored as they are: the document client refuses numbers beyond the safe-integer range (min,
 * max, last and the registry's last reading go through it), DynamoDB refuses magnitudes below 1e-130. Sums are
 * written as decimals with 9 places (`SUM_DECIMALS`), so sum and avg resolve 1e-9.
 */
export const MAX_METRIC_MAGNITUDE = 1e15;
export const MIN_METRIC_MAGNITUDE = 1e-120;
/** Ids per conditional UpdateItem: keeps the condition expression far below DynamoDB's 4 KB expression limit. */
export const MAX_IDS_PER_UPDATE = 40;
/** `GET /devices/{id}/metrics` without `metric`: at most this many metrics (24 h of 20 metrics is ~4 MB of JSON). */
export const MAX_METRICS_PER_ANSWER = 20;
export const DEFAULT_WINDOW_MS = 60 * 60 * 1000;
export const MAX_WINDOW_MS = 24 * 60 * 60 * 1000;

// ---------------------------------------------------------------------------------------------------------------
// Readings: what the consumer takes from a `device.telemetry` event

export interface Reading {
  eventId: string;
  deviceId: string;
  /** When the reading was taken (the event's `occurredAt`), UTC ISO with milliseconds. */
  at: string;
  metrics: Record<string, number>;
}

export type ReadingOutcome =
  /** Not a telemetry event: nothing to do. */
  | { kind: 'ignored' }
  /** A telemetry event that cannot be aggregated; retrying would not change that. */
  | { kind: 'invalid'; reason: string }
  /** `dropped` names metrics left out (bad name or value) of an otherwise valid reading. */
  | { kind: 'reading'; reading: Reading; dropped: string[] };

export function isStorableMetricValue(value: unknown): value is number {
  if (typeof value !== 'number' || !Number.isFinite(value)) return false;
  const magnitude = Math.abs(value);
  return magnitude === 0 || (magnitude >= MIN_METRIC_MAGNITUDE && magnitude <= MAX_METRIC_MAGNITUDE);
}

/** A time whose ISO form is `YYYY-MM-DDTHH:mm:ss.sssZ` (years 1970..9999), so string order is time order. */
function readingTime(raw: string): string | undefined {
  const ms = Date.parse(raw);
  if (Number.isNaN(ms) || ms < 0 || ms > Date.UTC(9999, 11, 31, 23, 59, 59, 999)) return undefined;
  return new Date(ms).toISOString();
}

/**
 * The reading a `device.telemetry` event carries (`source` = device id, `data.metrics` = `{name: number}`).
 * Events can also come over HTTP, so nothing here is taken for granted: bad metrics are dropped, and an event left
 * without any metric is invalid.
 */
export function readingFromEvent(event: EventEnvelope): ReadingOutcome {
  if (!isDeviceTelemetry(event)) return { kind: 'ignored' };
  if (!DeviceIdSchema.safeParse(event.source).success) return { kind: 'invalid', reason: 'source is not a device id' };
  const at = readingTime(event.occurredAt);
  if (!at) return { kind: 'invalid', reason: 'occurredAt is not a time between 1970 and 9999' };
  const raw = event.data.metrics;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    return { kind: 'invalid', reason: 'data.metrics is not an object' };
  const metrics: Record<string, number> = {};
  const dropped: string[] = [];
  for (const [name, value] of Object.entries(raw)) {
    if (MetricNameSchema.safeParse(name).success && isStorableMetricValue(value)) metrics[name] = value;
    else dropped.push(name);
  }
  if (Object.keys(metrics).length === 0)
    return { kind: 'invalid', reason: 'data.metrics holds no numeric metric within the storable range' };
  return { kind: 'reading', reading: { eventId: event.id, deviceId: event.source, at, metrics }, dropped };
}

// ---------------------------------------------------------------------------------------------------------------
// Buckets: one item per device, metric and minute

/** The minute a time falls in, as the bucket spells it: `2026-11-25T01:02Z`. */
export function minuteOf(iso: string): string {
  return `${new Date(iso).toISOString().slice(0, 16)}Z`;
}

export function bucketKey(metric: string, minute: string): string {
  return `${metric}#${minute}`;
}

export function parseBucketKey(bucket: string): { metric: string; minute: string } {
  const hash = bucket.indexOf('#');
  if (hash < 1) throw new Error(`not a metrics bucket: ${bucket}`);
  return { metric: bucket.slice(0, hash), minute: bucket.slice(hash + 1) };
}

/** Epoch seconds at which a bucket may be deleted (DynamoDB TTL): its minute plus the retention. */
export function bucketExpiry(minute: string, retentionDays: number): number {
  return Math.floor(Date.parse(minute) / 1000) + retentionDays * 86_400;
}

/** Orders readings by time; the event id breaks ties, so "last" is the same whatever the delivery order. */
export function orderKey(reading: Pick<Reading, 'at' | 'eventId'>): string {
  return `${reading.at}#${reading.eventId}`;
}

export interface BucketEntry {
  eventId: string;
  value: number;
  at: string;
}

/** What one conditional write adds to a bucket: at most MAX_IDS_PER_UPDATE readings of one device/metric/minute. */
export interface BucketUpdate {
  deviceId: string;
  metric: string;
  minute: string;
  bucket: string;
  expiresAt: number;
  entries: BucketEntry[];
}

export interface BucketStats {
  count: number;
  sum: number;
  min: number;
  max: number;
  last: { value: number; at: string; key: string };
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

/** First occurrence per event id: the same event twice in one batch counts once. */
export function dedupeReadings(readings: readonly Reading[]): Reading[] {
  const seen = new Set<string>();
  return readings.filter((r) => {
    if (seen.has(r.eventId)) return false;
    seen.add(r.eventId);
    return true;
  });
}

/**
 * Groups a batch's readings by (device, metric, minute), ids de-duplicated, each group cut into updates of at most
 * `maxIdsPerUpdate` readings (in time order, so the cut is the same on every retry).
 */
export function groupReadings(
  readings: readonly Reading[],
  options: { retentionDays: number; maxIdsPerUpdate?: number },
): BucketUpdate[] {
  const maxIds = options.maxIdsPerUpdate ?? MAX_IDS_PER_UPDATE;
  const groups = new Map<string, { deviceId: string; metric: string; minute: string; entries: BucketEntry[] }>();
  for (const reading of dedupeReadings(readings)) {
    const minute = minuteOf(reading.at);
    for (const [metric, value] of Object.entries(reading.metrics)) {
      const key = `${reading.deviceId}\u0000${bucketKey(metric, minute)}`;
      let group = groups.get(key);
      if (!group) {
        group = { deviceId: reading.deviceId, metric, minute, entries: [] };
        groups.set(key, group);
      }
      group.entries.push({ eventId: reading.eventId, value, at: reading.at });
    }
  }
  const updates: BucketUpdate[] = [];
  for (const group of groups.values()) {
    const entries = [...group.entries].sort((a, b) => (orderKey(a) < orderKey(b) ? -1 : 1));
    for (let i = 0; i < entries.length; i += maxIds) {
      updates.push({
        deviceId: group.deviceId,
        metric: group.metric,
        minute: group.minute,
        bucket: bucketKey(group.metric, group.minute),
        expiresAt: bucketExpiry(group.minute, options.retentionDays),
        entries: entries.slice(i, i + maxIds),
      });
    }
  }
  return updates;
}

// ---------------------------------------------------------------------------------------------------------------
// The device registry

export interface DeviceSighting {
  deviceId: string;
  /** Earliest reading time in the batch. */
  firstSeen: string;
  /** Latest reading time in the batch, and that reading. */
  lastSeen: string;
  lastReading: { metrics: Record<string, number>; at: string };
  /** `orderKey` of the latest reading: the registry keeps the reading with the highest one. */
  lastKey: string;
  eventIds: string[];
}

export function summarizeDevices(readings: readonly Reading[]): DeviceSighting[] {
  const byDevice = new Map<string, DeviceSighting>();
  for (const reading of dedupeReadings(readings)) {
    const key = orderKey(reading);
    const seen = byDevice.get(reading.deviceId);
    if (!seen) {
      byDevice.set(reading.deviceId, {
        deviceId: reading.deviceId,
        firstSeen: reading.at,
        lastSeen: reading.at,
        lastReading: { metrics: reading.metrics, at: reading.at },
        lastKey: key,
        eventIds: [reading.eventId],
      });
      continue;
    }
    seen.eventIds.push(reading.eventId);
    if (reading.at < seen.firstSeen) seen.firstSeen = reading.at;
    if (key > seen.lastKey) {
      seen.lastSeen = reading.at;
      seen.lastReading = { metrics: reading.metrics, at: reading.at };
      seen.lastKey = key;
    }
  }
  return [...byDevice.values()];
}

// ---------------------------------------------------------------------------------------------------------------
// Applying a batch

/** Adds an update's readings to its bucket, each event id at most once, and folds in min, max and last. */
export interface DeviceMetricsWriter {
  applyBucket(update: BucketUpdate): Promise<void>;
}

/** Records a sighting: first seen only ever moves earlier, last seen and last reading only later. */
export interface DeviceRegistryWriter {
  recordSighting(sighting: DeviceSighting): Promise<void>;
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
  updates: number;
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
 * Every bucket update and every device sighting of a batch, concurrently (bounded). A failure fails only the events
 * that write touched; every write is idempotent, so a retried event re-applies only what is missing.
 */
export async function applyReadings(
  readings: readonly Reading[],
  ports: { metrics: DeviceMetricsWriter; registry: DeviceRegistryWriter },
  options: { retentionDays: number; concurrency?: number; maxIdsPerUpdate?: number },
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
  await forEachLimited(tasks, options.concurrency ?? 10, async (task) => {
    try {
      await task.run();
    } catch (error) {
      failures.push({ what: task.what, eventIds: task.eventIds, error });
    }
  });
  return { failedEventIds: new Set(failures.flatMap((f) => f.eventIds)), failures, updates: updates.length };
}

// ---------------------------------------------------------------------------------------------------------------
// GET /devices/{id}/metrics

export interface MetricsQuery {
  deviceId: string;
  since: string;
  until: string;
  metric?: string;
}

export function parseDeviceId(raw: string | undefined): string {
  const parsed = DeviceIdSchema.safeParse(raw ?? '');
  if (!parsed.success) throw new Rejection('invalid', `device id ${parsed.error.issues[0]?.message ?? 'is invalid'}`);
  return parsed.data;
}

/** `since`/`until` default to the last 60 minutes (`until` = now); the window may not exceed 24 h. */
export function parseMetricsQuery(
  rawId: string | undefined,
  params: Record<string, string | undefined>,
  now: Date,
): MetricsQuery {
  const deviceId = parseDeviceId(rawId);
  let metric: string | undefined;
  if (params.metric !== undefined) {
    const parsed = MetricNameSchema.safeParse(params.metric);
    if (!parsed.success) throw new Rejection('invalid', `metric ${parsed.error.issues[0]?.message ?? 'is invalid'}`);
    metric = parsed.data;
  }
  const until = parseTime('until', params.until) ?? now.toISOString();
  const since = parseTime('since', params.since) ?? new Date(Date.parse(until) - DEFAULT_WINDOW_MS).toISOString();
  if (since > until) throw new Rejection('invalid', 'since must not be after until');
  if (Date.parse(until) - Date.parse(since) > MAX_WINDOW_MS)
    throw new Rejection('invalid', 'until - since must not exceed 24 hours');
  return { deviceId, since, until, ...(metric === undefined ? {} : { metric }) };
}

/** One stored bucket, as the store reads it. */
export interface BucketAggregate {
  bucket: string;
  count: number;
  sum: number;
  min: number;
  max: number;
  last: number;
  lastAt: string;
}

export interface MinuteAggregate {
  minute: string;
  count: number;
  min: number;
  max: number;
  avg: number;
  sum: number;
  last: number;
  lastAt: string;
}

export function toMinuteAggregate(b: BucketAggregate): MinuteAggregate {
  return {
    minute: parseBucketKey(b.bucket).minute,
    count: b.count,
    min: b.min,
    max: b.max,
    avg: b.count > 0 ? b.sum / b.count : 0,
    sum: b.sum,
    last: b.last,
    lastAt: b.lastAt,
  };
}

/** Buckets by metric, each series sorted by minute ascending; buckets outside the minutes are left out. */
export function assembleMetrics(
  buckets: readonly BucketAggregate[],
  fromMinute: string,
  toMinute: string,
): Record<string, MinuteAggregate[]> {
  // A Map, not an object literal: `constructor` or `toString` is a valid metric name.
  const metrics = new Map<string, MinuteAggregate[]>();
  for (const b of buckets) {
    const { metric, minute } = parseBucketKey(b.bucket);
    if (minute < fromMinute || minute > toMinute) continue;
    const series = metrics.get(metric) ?? [];
    series.push(toMinuteAggregate(b));
    metrics.set(metric, series);
  }
  for (const series of metrics.values()) series.sort((a, b) => (a.minute < b.minute ? -1 : 1));
  return Object.fromEntries([...metrics].sort(([a], [b]) => (a < b ? -1 : 1)));
}

export interface DeviceMetricsReader {
  /** The device's metric names that have any stored bucket, in name order, at most `max`. */
  metricNames(deviceId: string, max: number): Promise<string[]>;
  /** Buckets of one metric from `fromMinute` to `toMinute` inclusive. */
  queryBuckets(deviceId: string, metric: string, fromMinute: string, toMinute: string): Promise<BucketAggregate[]>;
}

export interface DeviceMetricsAnswer {
  deviceId: string;
  since: string;
  until: string;
  metrics: Record<string, MinuteAggregate[]>;
}

/**
 * A device counts as known when it has any stored bucket (within the retention): 404 otherwise. Without `metric`,
 * every metric of the device is read, up to MAX_METRICS_PER_ANSWER.
 */
export async function readDeviceMetrics(
  reader: DeviceMetricsReader,
  query: MetricsQuery,
): Promise<DeviceMetricsAnswer> {
  const fromMinute = minuteOf(query.since);
  const toMinute = minuteOf(query.until);
  let names: string[];
  if (query.metric !== undefined) names = [query.metric];
  else {
    names = await reader.metricNames(query.deviceId, MAX_METRICS_PER_ANSWER + 1);
    if (names.length > MAX_METRICS_PER_ANSWER)
      throw new Rejection(
        'invalid',
        `device ${query.deviceId} has more than ${MAX_METRICS_PER_ANSWER} metrics: name one with metric=<name>`,
      );
  }
  const buckets = (
    await Promise.all(names.map((name) => reader.queryBuckets(query.deviceId, name, fromMinute, toMinute)))
  ).flat();
  const known =
    buckets.length > 0 ||
    (query.metric === undefined ? names.length > 0 : (await reader.metricNames(query.deviceId, 1)).length > 0);
  if (!known) throw new Rejection('not-found', `No metrics for device ${query.deviceId}`);
  return {
    deviceId: query.deviceId,
    since: query.since,
    until: query.until,
    metrics: assembleMetrics(buckets, fromMinute, toMinute),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// GET /devices

export interface DeviceSummary {
  deviceId: string;
  firstSeen: string;
  lastSeen: string;
  lastReading: { metrics: Record<string, number>; at: string };
}

/** A registry item as the list answers it: only these fields, whatever else the item holds. */
export const DeviceSummarySchema = z.object({
  deviceId: z.string(),
  firstSeen: z.string(),
  lastSeen: z.string(),
  lastReading: z.object({ metrics: z.record(z.string(), z.number()), at: z.string() }),
});

export interface ListDevicesQuery {
  limit: number;
  startKey?: { deviceId: string };
}

export function parseListDevicesQuery(params: Record<string, string | undefined>): ListDevicesQuery {
  const limit = parseLimit(params.limit);
  const key = decodeCursor(params.cursor);
  if (key === undefined) return { limit };
  const keys = Object.keys(key);
  const deviceId = key.deviceId;
  if (keys.length !== 1 || typeof deviceId !== 'string' || !DeviceIdSchema.safeParse(deviceId).success)
    throw new Rejection('invalid', 'cursor is not one this API returned');
  return { limit, startKey: { deviceId } };
}

export interface DeviceRegistryReader {
  list(query: ListDevicesQuery): Promise<Page<DeviceSummary>>;
}
