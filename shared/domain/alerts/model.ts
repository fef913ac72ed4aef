import { z } from 'zod';
import { type AlertRule, ComparisonSchema, SeveritySchema } from '../alert-rules';
import { deterministicId, type EventEnvelope } from '../events';
import { DeviceIdSchema, isDeviceTelemetry } from '../telemetry';

/**
 * The alerts model: alerts, readings, the per device and rule state, ids and keys, and the messages owed. No I/O.
 * See docs/decisions/0007-alerts.md.
 */

export const ALERT_STATES = ['open', 'resolved'] as const;
export type AlertStateName = (typeof ALERT_STATES)[number];

export const AlertSchema = z.object({
  alertId: z.string().min(1),
  deviceId: z.string().min(1),
  ruleId: z.string().min(1),
  metric: z.string().min(1),
  /** The reading's value that raised the alert. */
  value: z.number(),
  threshold: z.number(),
  comparison: ComparisonSchema,
  severity: SeveritySchema,
  state: z.enum(ALERT_STATES),
  /** `occurredAt` of the reading that raised it (UTC ISO-8601). */
  raisedAt: z.string(),
  /** The event id of that reading. */
  eventId: z.string().min(1),
  resolvedAt: z.string().optional(),
  resolvedEventId: z.string().optional(),
  resolvedValue: z.number().optional(),
});
export type Alert = z.infer<typeof AlertSchema>;

export type AlertMessageType = 'alert.raised' | 'alert.resolved';

/** What goes to the alerts queue and to `devices/<deviceId>/alerts`. Delivered at least once: dedupe by alertId + type. */
export interface AlertMessage {
  type: AlertMessageType;
  alert: Alert;
}

/** Where a reading sits in the stream: its shard and sequence number. */
export interface StreamPosition {
  shardId: string;
  sequenceNumber: string;
}

/** A `device.telemetry` event, as the rules see it. */
export interface Reading {
  eventId: string;
  deviceId: string;
  /** UTC ISO-8601 (`toISOString`), so strings compare in time order. */
  occurredAt: string;
  metrics: Readonly<Record<string, number>>;
  position: StreamPosition;
}

/** A transition a reading caused: the reading's event id and the alert it raised or resolved. */
export interface AlertRef {
  eventId: string;
  alertId: string;
}
export type Resolution = AlertRef;

/**
 * Raises and resolves remembered per device and rule (each list), and the most one state write records: so every
 * transition of the last write is in a list, which is what a retry of its reading needs to finish it.
 */
export const MAX_RESOLUTIONS = 5;
export const MAX_RAISES = MAX_RESOLUTIONS;

/** One per device and rule (`STATE#<deviceId>#<ruleId>`): what the next reading is judged against. */
export interface RuleState {
  deviceId: string;
  ruleId: string;
  /** Bumped by every write; a write succeeds only if the version it read is still the stored one. */
  version: number;
  open: boolean;
  /** Readings in a row for which the condition held (the window count). */
  consecutive: number;
  /** Per shard, the sequence number of the last reading applied: a redelivered reading is at or before it. */
  positions: Record<string, string>;
  lastEventId?: string;
  /**
   * The ids of the last readings applied (at most RECENT_EVENT_IDS): a reading written to the stream again (an
   * ingest retry that had in fact landed, `tem dlq replay`) has a new position but the same id.
   */
  recentEventIds: string[];
  lastRaisedAt?: string;
  /** The last alert raised for this device and rule (open or resolved). */
  alert?: Alert;
  /** The last few raises (reading -> alert, oldest first), so a retry of such a reading can finish raising. */
  raises: AlertRef[];
  /** The last few resolves (reading -> alert, oldest first), so a retry of such a reading can finish notifying. */
  resolutions: AlertRef[];
}

/** How a (device, rule) pair is named in maps and batch reads. Device ids and rule ids have no `#`. */
export function ruleStateKey(deviceId: string, ruleId: string): string {
  return `${deviceId}#${ruleId}`;
}

/** Deterministic: a retry of the same reading for the same rule names the same alert, so it can recognise its own. */
export function alertIdFor(deviceId: string, ruleId: string, eventId: string): string {
  return deterministicId('alert', deviceId, ruleId, eventId);
}

/** The GSI sort key: time first, the id to keep equal times distinct. */
export function raisedAtKey(alert: Pick<Alert, 'raisedAt' | 'alertId'>): string {
  return `${alert.raisedAt}#${alert.alertId}`;
}

export const RAISED_AT_KEY = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z#[0-9a-f-]{36}$/;

export function alertIdOfKey(key: string): string {
  return key.slice(key.indexOf('#') + 1);
}

/** The latest `lastRaisedAt` that allows a new raise at `occurredAt`. */
export function cooldownCutoff(occurredAt: string, cooldownMinutes: number): string {
  return new Date(Date.parse(occurredAt) - cooldownMinutes * 60_000).toISOString();
}

export function cooledDown(lastRaisedAt: string | undefined, occurredAt: string, cooldownMinutes: number): boolean {
  return lastRaisedAt === undefined || lastRaisedAt <= cooldownCutoff(occurredAt, cooldownMinutes);
}

/** Orders Kinesis sequence numbers (decimal strings of up to 128 bits) without BigInt: length first, then digits. */
export function compareSequenceNumbers(a: string, b: string): number {
  if (a.length !== b.length && /^\d+$/.test(a) && /^\d+$/.test(b)) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Has this reading already been applied to the state (a redelivery after a partial batch failure, a retry)? */
export const RECENT_EVENT_IDS = 32;

export function isReplay(state: RuleState, reading: Reading): boolean {
  if (state.lastEventId === reading.eventId || state.recentEventIds.includes(reading.eventId)) return true;
  const last = state.positions[reading.position.shardId];
  return last !== undefined && compareSequenceNumbers(reading.position.sequenceNumber, last) <= 0;
}

export function initialState(deviceId: string, ruleId: string): RuleState {
  return {
    deviceId,
    ruleId,
    version: 0,
    open: false,
    consecutive: 0,
    positions: {},
    recentEventIds: [],
    raises: [],
    resolutions: [],
  };
}

export function raisedAlert(reading: Reading, rule: AlertRule, value: number): Alert {
  return {
    alertId: alertIdFor(reading.deviceId, rule.id, reading.eventId),
    deviceId: reading.deviceId,
    ruleId: rule.id,
    metric: rule.metric,
    value,
    threshold: rule.threshold,
    comparison: rule.comparison,
    severity: rule.severity,
    state: 'open',
    raisedAt: reading.occurredAt,
    eventId: reading.eventId,
  };
}

/** The alert as it was raised (what an `alert.raised` message carries, also when it is resolved since). */
export function asRaised(alert: Alert): Alert {
  const { resolvedAt: _a, resolvedEventId: _b, resolvedValue: _c, ...raised } = alert;
  return { ...raised, state: 'open' };
}

/** The alert resolved by a reading (the first one for which the condition no longer holds). */
export function resolvedAlert(alert: Alert, reading: Reading, value: number): Alert {
  return {
    ...asRaised(alert),
    state: 'resolved',
    resolvedAt: reading.occurredAt,
    resolvedEventId: reading.eventId,
    resolvedValue: value,
  };
}

const MetricsSchema = z.record(z.string(), z.unknown());

/**
 * A stream envelope as a reading, or why it is not one. Only `device.telemetry` events are readings; the device is
 * the event's `source`. Non-numeric metric values are ignored, not fatal: a retry could not change them.
 */
export function toReading(
  event: EventEnvelope,
  position: StreamPosition,
): { reading: Reading } | { skip: string; ignored?: true } {
  if (!isDeviceTelemetry(event)) return { skip: `not device telemetry (${event.type})`, ignored: true };
  if (!DeviceIdSchema.safeParse(event.source).success) return { skip: 'source is not a device id' };
  const occurred = Date.parse(event.occurredAt);
  if (Number.isNaN(occurred)) return { skip: 'occurredAt is not a time' };
  const parsed = MetricsSchema.safeParse(event.data.metrics);
  if (!parsed.success) return { skip: 'data.metrics is not an object' };
  const metrics: Record<string, number> = {};
  for (const [name, value] of Object.entries(parsed.data))
    if (typeof value === 'number' && Number.isFinite(value)) metrics[name] = value;
  return {
    reading: {
      eventId: event.id,
      deviceId: event.source,
      occurredAt: new Date(occurred).toISOString(),
      metrics,
      position,
    },
  };
}

/** `shardId-000000000001:4959...` (a Kinesis record's `eventID`) -> its shard; the sequence number comes separately. */
export function positionOf(eventId: string, sequenceNumber: string): StreamPosition {
  const colon = eventId.lastIndexOf(':');
  return { shardId: colon > 0 ? eventId.slice(0, colon) : 'unknown', sequenceNumber };
}

export function messageKey(message: AlertMessage): string {
  return `${message.alert.alertId}:${message.type}`;
}

/** SQS `SendMessageBatch` takes at most 10 entries per call. */
export const MAX_QUEUE_BATCH = 10;

export interface QueueEntry {
  /** Unique within its call: how a per-entry failure is told apart. */
  Id: string;
  MessageBody: string;
}

/** The messages as `SendMessageBatch` entries, in calls of at most 10; entry Ids are message indexes (`m<i>`). */
export function toQueueBatches(messages: readonly AlertMessage[]): QueueEntry[][] {
  const batches: QueueEntry[][] = [];
  messages.forEach((message, index) => {
    if (index % MAX_QUEUE_BATCH === 0) batches.push([]);
    batches[batches.length - 1]?.push({ Id: `m${index}`, MessageBody: JSON.stringify(message) });
  });
  return batches;
}

export function entryIndex(id: string): number {
  return Number(id.slice(1));
}
