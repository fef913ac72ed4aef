import { z } from 'zod';
import {
  type AlertRule,
  applicableRules,
  ComparisonSchema,
  conditionHolds,
  SeveritySchema,
  windowCount,
} from './alert-rules';
import { Rejection } from './errors';
import { deterministicId, type EventEnvelope } from './events';
import { decodeCursor, encodeCursor, onlyKnownParams, type Page, parseLimit, parseTime } from './listing';
import { DeviceIdSchema, isDeviceTelemetry } from './telemetry';

/**
 * Alerts: rules (`alert-rules.ts`) applied to device readings, one state per device and rule, alerts raised and
 * resolved, notifications owed. Pure decisions plus an engine that talks to two small ports (`AlertStore`,
 * `AlertNotifier`); the AWS adapters are in `shared/aws/`. See docs/decisions/0007-alerts.md.
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

export interface Resolution {
  eventId: string;
  alertId: string;
}

/** Resolves remembered per device and rule: enough for the retries of one batch. */
export const MAX_RESOLUTIONS = 5;

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
  /** The last few resolves (reading -> alert, oldest first), so a retry of such a reading can finish notifying. */
  resolutions: Resolution[];
}

// ---------------------------------------------------------------------------------------------------------------
// Pure decisions

/** Deterministic: a retry of the same reading for the same rule names the same alert, so it can recognise its own. */
export function alertIdFor(deviceId: string, ruleId: string, eventId: string): string {
  return deterministicId('alert', deviceId, ruleId, eventId);
}

/** The GSI sort key: time first, the id to keep equal times distinct. */
export function raisedAtKey(alert: Pick<Alert, 'raisedAt' | 'alertId'>): string {
  return `${alert.raisedAt}#${alert.alertId}`;
}

const RAISED_AT_KEY = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z#[0-9a-f-]{36}$/;

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
    resolutions: [],
  };
}

export type Effect = { type: 'raise'; alert: Alert } | { type: 'resolve'; alert: Alert };

export type Decision =
  /** Applied before: do not count it again; maybe finish what its first attempt started. */
  | { kind: 'replay' }
  /** Nothing to record (no state and the condition does not hold). */
  | { kind: 'unchanged' }
  | { kind: 'update'; next: RuleState; effect?: Effect };

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

/**
 * The rule applied to one reading. Raise when the condition held for the window's count of readings in a row, no
 * alert is open and the cooldown since the last raise has passed (measured in reading time, `occurredAt`); resolve
 * the open alert on the first reading for which it does not hold.
 */
export function decide(state: RuleState | undefined, reading: Reading, rule: AlertRule, value: number): Decision {
  if (state && isReplay(state, reading)) return { kind: 'replay' };
  const base = state ?? initialState(reading.deviceId, rule.id);
  const applied: RuleState = {
    ...base,
    version: base.version + 1,
    positions: { ...base.positions, [reading.position.shardId]: reading.position.sequenceNumber },
    lastEventId: reading.eventId,
    recentEventIds: [...base.recentEventIds, reading.eventId].slice(-RECENT_EVENT_IDS),
  };
  if (conditionHolds(rule, value)) {
    const consecutive = base.consecutive + 1;
    if (
      consecutive >= windowCount(rule) &&
      !base.open &&
      cooledDown(base.lastRaisedAt, reading.occurredAt, rule.cooldownMinutes)
    ) {
      const alert = raisedAlert(reading, rule, value);
      return {
        kind: 'update',
        next: { ...applied, consecutive, open: true, alert, lastRaisedAt: reading.occurredAt },
        effect: { type: 'raise', alert },
      };
    }
    return { kind: 'update', next: { ...applied, consecutive } };
  }
  if (base.open && base.alert) {
    const alert: Alert = {
      ...base.alert,
      state: 'resolved',
      resolvedAt: reading.occurredAt,
      resolvedEventId: reading.eventId,
      resolvedValue: value,
    };
    return {
      kind: 'update',
      next: {
        ...applied,
        consecutive: 0,
        open: false,
        alert,
        resolutions: [...base.resolutions, { eventId: reading.eventId, alertId: alert.alertId }].slice(
          -MAX_RESOLUTIONS,
        ),
      },
      effect: { type: 'resolve', alert },
    };
  }
  if (!state || (state.consecutive === 0 && !state.open)) return { kind: 'unchanged' };
  return { kind: 'update', next: { ...applied, consecutive: 0, open: false } };
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

// ---------------------------------------------------------------------------------------------------------------
// Ports

export interface StoredAlert {
  alert: Alert;
  /** The message types whose delivery has been confirmed. */
  notified: AlertMessageType[];
}

export interface AlertPartitionQuery {
  index: 'byDevice' | 'byState';
  /** The device id (byDevice) or the state (byState). */
  key: string;
  /** byDevice only: keep alerts in this state. */
  state?: AlertStateName;
  since?: string;
  until?: string;
  /** Continue after this `raisedAtKey` (exclusive). */
  after?: string;
  limit: number;
}

export interface AlertPartitionPage {
  /** Newest first. */
  items: Alert[];
  /** Where the query stopped, if it may have more: the `raisedAtKey` to continue after. */
  resumeAfter?: string;
}

export interface AlertStore {
  getState(deviceId: string, ruleId: string): Promise<RuleState | undefined>;
  /**
   * Writes `next` if the stored version is still `expectedVersion` (undefined: no state yet). For a raise it also
   * re-checks, in the same conditional write, that no alert is open and `lastRaisedAt <= raise.cutoff`. `false`: the
   * state changed since it was read.
   */
  putState(next: RuleState, expectedVersion: number | undefined, raise?: { cutoff: string }): Promise<boolean>;
  getAlert(alertId: string): Promise<StoredAlert | undefined>;
  /** Writes the alert item unless it exists; `false` when it did. */
  createAlert(alert: Alert): Promise<boolean>;
  /** Marks the alert item resolved (creating it from `alert` if it is missing); idempotent. */
  resolveAlert(alert: Alert): Promise<void>;
  markNotified(alertId: string, type: AlertMessageType, at: string): Promise<void>;
  queryAlerts(query: AlertPartitionQuery): Promise<AlertPartitionPage>;
}

export interface AlertNotifier {
  /** Sends every message to each channel; returns those not delivered to all of them. */
  deliver(messages: readonly AlertMessage[]): Promise<{ failed: AlertMessage[] }>;
}

// ---------------------------------------------------------------------------------------------------------------
// The engine

export class AlertEngine {
  constructor(
    private readonly rules: readonly AlertRule[],
    private readonly store: AlertStore,
    private readonly maxConflicts = 5,
  ) {}

  /**
   * Applies a reading to every rule on a metric it carries and returns the notifications owed: for alerts it raised
   * or resolved now, and for those a previous attempt of the same reading raised or resolved but did not get
   * confirmed as delivered. Throws when the store fails; some rules may then have been applied, and a retry of the
   * reading finishes them.
   */
  async evaluate(reading: Reading): Promise<AlertMessage[]> {
    const results = await Promise.allSettled(
      applicableRules(this.rules, reading.metrics).map(({ rule, value }) => this.evaluateRule(reading, rule, value)),
    );
    const failure = results.find((r) => r.status === 'rejected');
    if (failure) throw failure.reason;
    return results.flatMap((r) => (r.status === 'fulfilled' ? r.value : []));
  }

  private async evaluateRule(reading: Reading, rule: AlertRule, value: number): Promise<AlertMessage[]> {
    for (let attempt = 1; ; attempt++) {
      const state = await this.store.getState(reading.deviceId, rule.id);
      const decision = decide(state, reading, rule, value);
      if (decision.kind === 'unchanged') return [];
      if (decision.kind === 'replay') return state ? this.finish(reading, rule, value, state) : [];
      const raise =
        decision.effect?.type === 'raise'
          ? { cutoff: cooldownCutoff(reading.occurredAt, rule.cooldownMinutes) }
          : undefined;
      if (!(await this.store.putState(decision.next, state?.version, raise))) {
        if (attempt >= this.maxConflicts)
          throw new Error(`state of ${reading.deviceId}/${rule.id} kept changing (${attempt} attempts)`);
        continue;
      }
      if (decision.effect?.type === 'raise') {
        await this.store.createAlert(decision.effect.alert);
        return [{ type: 'alert.raised', alert: decision.effect.alert }];
      }
      if (decision.effect?.type === 'resolve') {
        await this.store.resolveAlert(decision.effect.alert);
        return [{ type: 'alert.resolved', alert: decision.effect.alert }];
      }
      return [];
    }
  }

  /** A reading seen before: if it raised or resolved an alert whose notification is unconfirmed, owe it again. */
  private async finish(reading: Reading, rule: AlertRule, value: number, state: RuleState): Promise<AlertMessage[]> {
    if (conditionHolds(rule, value)) {
      const alertId = alertIdFor(reading.deviceId, rule.id, reading.eventId);
      const stored = await this.store.getAlert(alertId);
      if (stored)
        return stored.notified.includes('alert.raised')
          ? []
          : [{ type: 'alert.raised', alert: asRaised(stored.alert) }];
      // The state records the raise but the alert item was never written: the first attempt failed in between.
      if (state.alert?.alertId !== alertId) return [];
      const alert = asRaised(state.alert);
      await this.store.createAlert(alert);
      return [{ type: 'alert.raised', alert }];
    }
    const alertId = state.resolutions.find((r) => r.eventId === reading.eventId)?.alertId;
    if (alertId === undefined) return [];
    const stored = await this.store.getAlert(alertId);
    if (stored?.alert.state === 'resolved')
      return stored.notified.includes('alert.resolved') ? [] : [{ type: 'alert.resolved', alert: stored.alert }];
    // The state records the resolve but the alert item was not updated: the first attempt failed in between, so its
    // later readings were held back and the state still holds this alert.
    if (state.alert?.alertId !== alertId || state.alert.state !== 'resolved') return [];
    await this.store.resolveAlert(state.alert);
    return [{ type: 'alert.resolved', alert: state.alert }];
  }
}

/**
 * One invocation's records. Readings are applied in stream order as they come (`apply`); the notifications they
 * owe are delivered together at the end (`deliver`), so the queue gets full `SendMessageBatch` calls.
 *
 * A device whose reading failed has its later readings in the batch refused without being applied: they are
 * retried after it, in order, instead of being judged against a state that misses the failed one.
 */
export class AlertBatch {
  private readonly blocked = new Set<string>();
  private readonly owed: { recordId: string; messages: AlertMessage[] }[] = [];

  constructor(
    private readonly engine: AlertEngine,
    private readonly notifier: AlertNotifier,
    private readonly store: Pick<AlertStore, 'markNotified'>,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async apply(recordId: string, reading: Reading): Promise<void> {
    if (this.blocked.has(reading.deviceId))
      throw new Error(`an earlier reading of ${reading.deviceId} failed in this batch`);
    try {
      const messages = await this.engine.evaluate(reading);
      if (messages.length > 0) this.owed.push({ recordId, messages });
    } catch (error) {
      this.blocked.add(reading.deviceId);
      throw error;
    }
  }

  get pending(): readonly AlertMessage[] {
    return this.owed.flatMap((o) => o.messages);
  }

  /**
   * Sends what the applied readings owe, marks what was delivered, and returns the record ids whose notifications
   * did not all go out: those records must be retried (and will find their alerts and owe them again).
   */
  async deliver(): Promise<{ failedRecordIds: string[]; delivered: AlertMessage[]; failed: AlertMessage[] }> {
    const unique = new Map<string, AlertMessage>();
    for (const message of this.pending) unique.set(messageKey(message), message);
    if (unique.size === 0) return { failedRecordIds: [], delivered: [], failed: [] };
    const { failed } = await this.notifier.deliver([...unique.values()]);
    const failedKeys = new Set(failed.map(messageKey));
    const delivered = [...unique.values()].filter((m) => !failedKeys.has(messageKey(m)));
    const at = this.now().toISOString();
    // A mark that fails only costs a duplicate notification if the reading is redelivered: not worth a retry.
    await Promise.allSettled(delivered.map((m) => this.store.markNotified(m.alert.alertId, m.type, at)));
    const failedRecordIds = this.owed
      .filter((o) => o.messages.some((m) => failedKeys.has(messageKey(m))))
      .map((o) => o.recordId);
    return { failedRecordIds, delivered, failed };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// GET /alerts

export const ALERT_QUERY_PARAMS = ['deviceId', 'state', 'since', 'until', 'limit', 'cursor'] as const;

export interface AlertQuery {
  deviceId?: string;
  state?: AlertStateName;
  since?: string;
  until?: string;
  limit: number;
  /** One partition: continue after this key. Both states merged: per state, after this key, or `done`. */
  cursor?: { after: string } | { open?: string; resolved?: string };
}

const RaisedAtKeySchema = z.string().regex(RAISED_AT_KEY);
const SingleCursorSchema = z.strictObject({ after: RaisedAtKeySchema });
const MergedPosition = z.union([RaisedAtKeySchema, z.literal('done')]);
const MergedCursorSchema = z.strictObject({ open: MergedPosition.optional(), resolved: MergedPosition.optional() });

/** Validates the query string of `GET /alerts`; any problem is a 400. */
export function parseAlertQuery(params: Record<string, string | undefined> | null): AlertQuery {
  const p = onlyKnownParams(params, ALERT_QUERY_PARAMS);
  const query: AlertQuery = { limit: parseLimit(p.limit) };
  // An empty value counts as absent, as for limit, since and cursor (API Gateway passes `?state=` as "").
  if (p.deviceId !== undefined && p.deviceId !== '') {
    if (!DeviceIdSchema.safeParse(p.deviceId).success)
      throw new Rejection('invalid', 'deviceId must be 1-128 letters, digits, _ : or -');
    query.deviceId = p.deviceId;
  }
  if (p.state !== undefined && p.state !== '') {
    if (p.state !== 'open' && p.state !== 'resolved') throw new Rejection('invalid', 'state must be open or resolved');
    query.state = p.state;
  }
  const since = parseTime('since', p.since);
  const until = parseTime('until', p.until);
  if (since !== undefined) query.since = since;
  if (until !== undefined) query.until = until;
  if (since !== undefined && until !== undefined && since > until)
    throw new Rejection('invalid', 'since must not be after until');
  const raw = decodeCursor(p.cursor);
  if (raw !== undefined) {
    const merged = query.deviceId === undefined && query.state === undefined;
    const parsed = (merged ? MergedCursorSchema : SingleCursorSchema).safeParse(raw);
    if (!parsed.success || Object.keys(parsed.data).length === 0)
      throw new Rejection('invalid', 'cursor does not belong to this query');
    query.cursor = parsed.data;
  }
  return query;
}

/**
 * Alerts newest first (by `raisedAt`). With `deviceId`: that device's alerts (`byDevice`), optionally of one state.
 * Without: the alerts of `state` (`byState`), or of both states merged into one newest-first list.
 */
export async function listAlerts(store: Pick<AlertStore, 'queryAlerts'>, query: AlertQuery): Promise<Page<Alert>> {
  const range = {
    ...(query.since === undefined ? {} : { since: query.since }),
    ...(query.until === undefined ? {} : { until: query.until }),
  };
  const single = (cursor: AlertQuery['cursor']) =>
    cursor && 'after' in cursor && cursor.after !== undefined ? { after: cursor.after } : {};
  if (query.deviceId !== undefined || query.state !== undefined) {
    const page = await store.queryAlerts({
      ...(query.deviceId !== undefined
        ? { index: 'byDevice', key: query.deviceId, ...(query.state ? { state: query.state } : {}) }
        : { index: 'byState', key: query.state as AlertStateName }),
      ...range,
      ...single(query.cursor),
      limit: query.limit,
    });
    return {
      items: page.items,
      nextCursor: page.resumeAfter === undefined ? null : encodeCursor({ after: page.resumeAfter }),
    };
  }
  const cursor = (query.cursor ?? {}) as { open?: string; resolved?: string };
  const sources = await Promise.all(
    ALERT_STATES.map(async (state) => {
      const position = cursor[state];
      if (position === 'done') return { state, position, items: [], more: false };
      const page = await store.queryAlerts({
        index: 'byState',
        key: state,
        ...range,
        ...(position === undefined ? {} : { after: position }),
        limit: query.limit,
      });
      return { state, position, items: page.items, more: page.resumeAfter !== undefined };
    }),
  );
  return mergeNewestFirst(sources, query.limit);
}

export interface MergeSource {
  state: AlertStateName;
  /** Where this source's page started (undefined: at the newest). */
  position: string | undefined;
  /** Newest first. */
  items: Alert[];
  more: boolean;
}

/** Merges newest-first pages of several partitions into one page, with a cursor holding each partition's place. */
export function mergeNewestFirst(sources: readonly MergeSource[], limit: number): Page<Alert> {
  const all = sources
    .flatMap((s) => s.items.map((alert) => ({ state: s.state, alert, key: raisedAtKey(alert) })))
    .sort((a, b) => (a.key < b.key ? 1 : a.key > b.key ? -1 : 0))
    .slice(0, limit);
  const next: Record<string, string> = {};
  for (const source of sources) {
    const taken = all.filter((e) => e.state === source.state);
    const last = taken[taken.length - 1];
    if (taken.length === source.items.length && !source.more) next[source.state] = 'done';
    else if (last) next[source.state] = last.key;
    else if (source.position !== undefined) next[source.state] = source.position;
  }
  const finished = sources.every((s) => next[s.state] === 'done');
  return { items: all.map((e) => e.alert), nextCursor: finished ? null : encodeCursor(next) };
}
