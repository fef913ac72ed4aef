import { z } from 'zod';
import type { EventEnvelope } from '../events';
import { DeviceIdSchema, isDeviceTelemetry } from '../telemetry';

/**
 * Readings and buckets: what the consumer takes from a `device.telemetry` event, and how a bucket (one device, metric
 * and minute) is named. Keys, idempotency and limits: docs/decisions/0006-device-metrics.md.
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

/** First occurrence per event id: the same event twice in one batch counts once. */
export function dedupeReadings(readings: readonly Reading[]): Reading[] {
  const seen = new Set<string>();
  return readings.filter((r) => {
    if (seen.has(r.eventId)) return false;
    seen.add(r.eventId);
    return true;
  });
}
