import { type EventEnvelope, EventEnvelopeSchema } from './events';
import { metricsCountIssue, TelemetryRuleEventSchema, telemetryToEnvelope } from './telemetry';

/** Why a device reading that the topic rule put on the stream is not an event (what `telemetryErrors` receives). */
export interface TelemetryRejection {
  reason: 'invalid telemetry';
  deviceId?: string;
  issues: { path: string; message: string }[];
  /** The rule's output as it was on the stream. */
  reading: unknown;
}

/**
 * Two writers share the event stream: the ingest functions put event envelopes, and the IoT topic rule puts device
 * readings as its SQL selected them (`metrics, ts, seq, topic(2) AS deviceId, timestamp() AS receivedAt`). A reading
 * is validated here, in the consumer's batch, and becomes the same envelope in every consumer (its id is derived
 * from the device and the reading, ADR 0011; that id is also its correlation id, ADR 0016).
 */
export type DecodedRecord =
  | { kind: 'event'; envelope: EventEnvelope }
  | { kind: 'rejectedReading'; rejection: TelemetryRejection };

/**
 * A stream record's payload to an event; throws (a poison record, failing just that record) when it is neither an
 * envelope nor a reading. An invalid reading is not poison: a retry cannot fix it, so it is reported, not thrown.
 */
export function decodeStreamRecord(base64Data: string): DecodedRecord {
  const value = parseJson(base64Data);
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new Error('record data is not a JSON object');
  // Only the ingest functions write `principalId`; the rule's SELECT names its fields, so a reading never has one.
  if (Object.hasOwn(value, 'principalId')) return { kind: 'event', envelope: EventEnvelopeSchema.parse(value) };
  if (!Object.hasOwn(value, 'deviceId') || !Object.hasOwn(value, 'receivedAt'))
    throw new Error('record is neither an event nor a device reading');
  const tooMany = metricsCountIssue(value);
  const parsed = tooMany ? undefined : TelemetryRuleEventSchema.safeParse(value);
  if (parsed?.success) {
    const envelope = telemetryToEnvelope(parsed.data);
    // A reading's correlation id is its event id (ADR 0016): derived from the reading, so a redelivery keeps it.
    return { kind: 'event', envelope: { ...envelope, correlationId: envelope.id } };
  }
  const deviceId = (value as { deviceId?: unknown }).deviceId;
  const issues = tooMany
    ? [tooMany]
    : (parsed?.error.issues ?? []).slice(0, 10).map((i) => ({ path: i.path.join('.'), message: i.message }));
  return {
    kind: 'rejectedReading',
    rejection: {
      reason: 'invalid telemetry',
      ...(typeof deviceId === 'string' ? { deviceId: deviceId.slice(0, 128) } : {}),
      issues,
      reading: value,
    },
  };
}

/** The envelope of a record that must be an event (an ingest function's record); throws otherwise. */
export function decodeEnvelope(base64Data: string): EventEnvelope {
  return EventEnvelopeSchema.parse(parseJson(base64Data));
}

function parseJson(base64Data: string): unknown {
  const text = Buffer.from(base64Data, 'base64').toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    throw new Error('record data is not JSON');
  }
}
