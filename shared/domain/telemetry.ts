import { z } from 'zod';
import { type EventEnvelope, MAX_CLOCK_SKEW_MS, MIN_NUMBER_MAGNITUDE, ownedEventId } from './events';

export const DeviceIdSchema = z.string().regex(/^[A-Za-z0-9_:-]{1,128}$/, 'must be 1-128 letters, digits, _ : or -');

/** Epoch milliseconds that a Date can hold (up to year 275760): beyond it a reading has no time at all. */
const EpochMs = z.number().int().nonnegative().max(8.64e15);

/**
 * A metric value the event store can hold: finite, within ±(2^53-1) (the SDK's document client refuses more), and
 * 0 or at least 1e-130 in magnitude (DynamoDB underflows below).
 */
const MetricValue = z
  .number()
  .min(-Number.MAX_SAFE_INTEGER)
  .max(Number.MAX_SAFE_INTEGER)
  .refine((n) => n === 0 || Math.abs(n) >= MIN_NUMBER_MAGNITUDE, {
    message: 'must be 0 or at least 1e-130 in magnitude',
  });

/**
 * At most this many metrics in one reading. Each metric of a reading becomes an aggregate write and an alert
 * evaluation downstream: the cap bounds what one message may cost the consumers (and how long it can hold a shard),
 * far below what fits in IoT's 128 KB.
 */
export const MAX_METRICS_PER_READING = 100;
const TOO_MANY_METRICS = `holds more than ${MAX_METRICS_PER_READING} metrics`;

/**
 * The metric count of a reading, checked before the schema walks the metrics: an oversized reading is refused for
 * the price of counting its keys.
 */
export function metricsCountIssue(reading: unknown): { path: string; message: string } | undefined {
  const metrics = typeof reading === 'object' && reading !== null ? (reading as { metrics?: unknown }).metrics : null;
  if (typeof metrics !== 'object' || metrics === null) return undefined;
  return Object.keys(metrics).length > MAX_METRICS_PER_READING
    ? { path: 'metrics', message: TOO_MANY_METRICS }
    : undefined;
}

/** What a device publishes on `devices/<deviceId>/telemetry`. */
export const TelemetryPayloadSchema = z.object({
  ts: z
    .union([z.iso.datetime({ offset: true }), EpochMs])
    .optional()
    .describe(
      'When the reading was taken: ISO-8601 with Z or an offset, or epoch milliseconds; default: when IoT received it',
    ),
  metrics: z
    .record(z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,63}$/), MetricValue)
    .refine((m) => Object.keys(m).length > 0, { message: 'must hold at least one metric' })
    .refine((m) => Object.keys(m).length <= MAX_METRICS_PER_READING, { message: TOO_MANY_METRICS })
    .describe(
      `Metric name (a letter, then up to 63 letters, digits or _) to number; at least one, at most ${MAX_METRICS_PER_READING}`,
    ),
  seq: z.number().int().nonnegative().optional().describe("The device's own counter; part of the reading's identity"),
});

/** What the topic rule hands the function: the payload plus `topic(2) AS deviceId, timestamp() AS receivedAt`. */
export const TelemetryRuleEventSchema = TelemetryPayloadSchema.extend({
  deviceId: DeviceIdSchema,
  receivedAt: EpochMs,
}).superRefine((reading, ctx) => {
  // As for HTTP events: a reading from more than 5 minutes in the future is a device clock gone wrong. (zod runs
  // this refinement even when a field failed, so only compare fields that are themselves valid.)
  const ts = reading.ts === undefined ? Number.NaN : new Date(reading.ts).getTime();
  if (!EpochMs.safeParse(reading.receivedAt).success || Number.isNaN(ts)) return;
  if (ts > reading.receivedAt + MAX_CLOCK_SKEW_MS)
    ctx.addIssue({ code: 'custom', path: ['ts'], message: 'is more than 5 minutes in the future' });
});
export type TelemetryRuleEvent = z.infer<typeof TelemetryRuleEventSchema>;

export const TELEMETRY_EVENT_TYPE = 'device.telemetry';

/**
 * Whether the events table's type index holds events of this type: not device readings, which are a fleet's
 * volume under one type (one index partition) and are read by device (ADR 0004).
 */
export const indexedByType = (type: string): boolean => type !== TELEMETRY_EVENT_TYPE;

/**
 * Only a device, over its own authenticated MQTT connection, produces telemetry for itself: the telemetry path sets
 * principalId `device:<deviceId>` and source `<deviceId>`. Consumers act only on such events, so a principal posting
 * `device.telemetry` over HTTP cannot fake a device's metrics or raise its alerts.
 */
export function isDeviceTelemetry(event: { type: string; source: string; principalId: string }): boolean {
  return event.type === TELEMETRY_EVENT_TYPE && event.principalId === `device:${event.source}`;
}

/**
 * A reading becomes an ordinary event. Its id is derived from the device's principal and the reading's content, so
 * the same message delivered twice (a device's QoS 1 redelivery, a stream record read again) is stored once, and no other principal can
 * produce that id (ADR 0011).
 */
export function telemetryToEnvelope(reading: TelemetryRuleEvent): EventEnvelope {
  const occurredAt = reading.ts === undefined ? reading.receivedAt : reading.ts;
  const occurredIso = new Date(occurredAt).toISOString();
  // Metrics in a canonical key order: the same reading serialized differently is still the same reading.
  const metrics = Object.fromEntries(Object.entries(reading.metrics).sort(([a], [b]) => (a < b ? -1 : 1)));
  const principalId = `device:${reading.deviceId}`;
  const id = ownedEventId(principalId, JSON.stringify([occurredIso, reading.seq ?? null, metrics]));
  return {
    id,
    type: TELEMETRY_EVENT_TYPE,
    source: reading.deviceId,
    occurredAt: occurredIso,
    receivedAt: new Date(reading.receivedAt).toISOString(),
    principalId,
    traceId: id,
    data: {
      metrics: reading.metrics,
      ...(reading.seq === undefined ? {} : { seq: reading.seq }),
    },
  };
}
