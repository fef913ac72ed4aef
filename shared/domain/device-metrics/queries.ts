import { z } from 'zod';
import { Rejection } from '../errors';
import { decodeCursor, type Page, parseLimit, parseTime } from '../listing';
import { DeviceIdSchema } from '../telemetry';
import { MetricNameSchema, minuteOf, parseBucketKey } from './readings';

/** The read side: `GET /devices/{id}/metrics` and `GET /devices` (docs/decisions/0006-device-metrics.md, Reads). */

/** `GET /devices/{id}/metrics` without `metric`: at most this many metrics (24 h of 20 metrics is ~4 MB of JSON). */
export const MAX_METRICS_PER_ANSWER = 20;
export const DEFAULT_WINDOW_MS = 60 * 60 * 1000;
export const MAX_WINDOW_MS = 24 * 60 * 60 * 1000;

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
