import { z } from 'zod';
import { deterministicId, type EventEnvelope } from './events';

export const DeviceIdSchema = z.string().regex(/^[A-Za-z0-9_:-]{1,128}$/, 'must be 1-128 letters, digits, _ : or -');

/** What a device publishes on `devices/<deviceId>/telemetry`. */
/** Epoch milliseconds that a Date can hold (up to year 275760): beyond it a reading has no time at all. */
const EpochMs = z.number().int().nonnegative().max(8.64e15);

export const TelemetryPayloadSchema = z.object({
  ts: z.union([z.iso.datetime({ offset: true }), EpochMs]).optional(),
  metrics: z
    .record(z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,63}$/), z.number().finite())
    .refine((m) => Object.keys(m).length > 0, { message: 'must hold at least one metric' }),
  seq: z.number().int().nonnegative().optional(),
});

/** What the topic rule hands the function: the payload plus `topic(2) AS deviceId, timestamp() AS receivedAt`. */
export const TelemetryRuleEventSchema = TelemetryPayloadSchema.extend({
  deviceId: DeviceIdSchema,
  receivedAt: EpochMs,
});
export type TelemetryRuleEvent = z.infer<typeof TelemetryRuleEventSchema>;

export const TELEMETRY_EVENT_TYPE = 'device.telemetry';

/**
 * A reading becomes an ordinary event. Its id is derived from its content, so the same message delivered twice
 * (an IoT retry, an async-invoke retry) is stored once.
 */
export function telemetryToEnvelope(reading: TelemetryRuleEvent): EventEnvelope {
  const occurredAt = reading.ts === undefined ? reading.receivedAt : reading.ts;
  const occurredIso = new Date(occurredAt).toISOString();
  // Metrics in a canonical key order: the same reading serialized differently is still the same reading.
  const metrics = Object.fromEntries(Object.entries(reading.metrics).sort(([a], [b]) => (a < b ? -1 : 1)));
  const id = deterministicId(reading.deviceId, occurredIso, reading.seq, JSON.stringify(metrics));
  return {
    id,
    type: TELEMETRY_EVENT_TYPE,
    source: reading.deviceId,
    occurredAt: occurredIso,
    receivedAt: new Date(reading.receivedAt).toISOString(),
    principalId: `device:${reading.deviceId}`,
    traceId: id,
    data: {
      metrics: reading.metrics,
      ...(reading.seq === undefined ? {} : { seq: reading.seq }),
    },
  };
}
