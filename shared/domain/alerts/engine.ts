import { type AlertRule, applicableRules, conditionHolds } from '../alert-rules';
import { decideGroup, type GroupPlan, type GroupReading } from './decision';
import {
  type Alert,
  type AlertMessage,
  type AlertMessageType,
  alertIdFor,
  asRaised,
  MAX_QUEUE_BATCH,
  messageKey,
  type Reading,
  type RuleState,
  raisedAlert,
  resolvedAlert,
  ruleStateKey,
} from './model';
import {
  ALERT_CHANNELS,
  type AlertChannel,
  type AlertNotifier,
  type AlertStore,
  type ChannelMarks,
  MAX_STATE_READ_BATCH,
  type StoredAlert,
} from './ports';
import type { AlertStateCache } from './state-cache';

/**
 * The engine: a batch of readings applied per (device, rule) pair, each pair's state read once (all pairs in
 * `BatchGetItem`s of 100), its readings decided in memory in stream order, its state written once when it changed,
 * then its alert items, then the notifications the batch owes, together. See docs/decisions/0007-alerts.md.
 */

export interface BatchRecord {
  /** What `batchItemFailures` names (the Kinesis sequence number). */
  recordId: string;
  reading: Reading;
}

export interface OwedMessage {
  /** The record that owes the message: it fails if the message does not go out, and its retry owes it again. */
  recordId: string;
  message: AlertMessage;
  /** Channels that already took this message (an earlier attempt): it is owed to the others only. */
  skip?: readonly AlertChannel[];
}

/** A message a redelivered reading still owes, unless every channel has confirmed it. */
function owedUnlessNotified(
  stored: StoredAlert,
  type: AlertMessageType,
  alert: Alert,
): Omit<OwedMessage, 'recordId'>[] {
  if (stored.notified.includes(type)) return [];
  const skip = stored.channels?.[type] ?? [];
  if (ALERT_CHANNELS.every((c) => skip.includes(c))) return [];
  return [{ message: { type, alert }, ...(skip.length > 0 ? { skip } : {}) }];
}

export interface EngineOutcome {
  /** In stream order. */
  owed: OwedMessage[];
  /** Records not (completely) applied, in stream order: their retry must come after a redelivery of them. */
  failed: { recordId: string; error: unknown }[];
}

interface PairItem extends GroupReading {
  /** The record's place in the batch. */
  index: number;
  recordId: string;
}

interface Pair {
  key: string;
  deviceId: string;
  rule: AlertRule;
  /** The pair's readings, in stream order. */
  items: PairItem[];
}

interface PairResult {
  owed: (OwedMessage & { index: number })[];
  /** The pair's first item that was not (completely) applied. */
  failure?: { at: number; error: unknown };
  /** The pair's state after the batch (what the table holds now), when every item was applied. */
  state?: RuleState | undefined;
}

/** The one shard a batch's records come from (a Lambda batch is one shard's); undefined if mixed or unknown. */
function shardOf(records: readonly BatchRecord[]): string | undefined {
  const shards = new Set(records.map((r) => r.reading.position.shardId));
  const [only] = shards;
  return shards.size === 1 && only !== 'unknown' ? only : undefined;
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** The (device, rule) pairs a batch touches, each with its readings in stream order. */
function pairsOf(rules: readonly AlertRule[], records: readonly BatchRecord[]): Pair[] {
  const pairs = new Map<string, Pair>();
  records.forEach(({ recordId, reading }, index) => {
    for (const { rule, value } of applicableRules(rules, reading.metrics)) {
      const key = ruleStateKey(reading.deviceId, rule.id);
      let pair = pairs.get(key);
      if (!pair) {
        pair = { key, deviceId: reading.deviceId, rule, items: [] };
        pairs.set(key, pair);
      }
      pair.items.push({ index, recordId, reading, value });
    }
  });
  return [...pairs.values()];
}

/**
 * The alert item writes of a plan: one per alert, at the step that raised it or else the step that resolved it. A
 * raise and its resolve in the same plan are one upsert of the resolved alert (`resolveAlert` fills the raise's
 * fields); a raise left open is a `createAlert`.
 */
function alertWrites(plan: GroupPlan): Map<number, Alert> {
  const writes = new Map<number, Alert>();
  const firstStep = new Map<string, number>();
  plan.steps.forEach((step, i) => {
    if (step.kind !== 'applied' || !step.effect) return;
    const { alert } = step.effect;
    const first = firstStep.get(alert.alertId);
    if (first === undefined) firstStep.set(alert.alertId, i);
    writes.set(first ?? i, alert);
  });
  return writes;
}

const messageType = (effect: { type: 'raise' | 'resolve' }): AlertMessageType =>
  effect.type === 'raise' ? 'alert.raised' : 'alert.resolved';

export class AlertEngine {
  constructor(
    private readonly rules: readonly AlertRule[],
    private readonly store: AlertStore,
    private readonly maxConflicts = 5,
    /** States kept between batches, trusted while this container holds the shard's claim (ADR 0007). */
    private readonly cache?: AlertStateCache,
  ) {}

  /**
   * Applies a batch (one shard's records, in stream order) and returns the notifications owed: for alerts raised or
   * resolved now, and for those an earlier attempt of a redelivered reading raised or resolved but did not get
   * confirmed as delivered. A pair whose state could not be read or written fails its device's records from that
   * pair's first reading on; one whose alert item could not be written, from the reading that raised or resolved it.
   */
  async apply(records: readonly BatchRecord[]): Promise<EngineOutcome> {
    const pairs = pairsOf(this.rules, records);
    const owed: PairResult['owed'] = [];
    const failFrom = new Map<string, { index: number; error: unknown }>();
    const fail = (pair: Pair, at: number, error: unknown) => {
      const index = pair.items[at]?.index ?? 0;
      const current = failFrom.get(pair.deviceId);
      if (!current || index < current.index) failFrom.set(pair.deviceId, { index, error });
    };
    const shard = this.cache && pairs.length > 0 ? shardOf(records) : undefined;
    let cached: Map<string, RuleState | null> | undefined;
    if (shard && this.cache) {
      try {
        // Another container applied a batch of this shard since our last one: what we kept may be stale.
        if (!(await this.store.claimShard(shard, this.cache.owner))) this.cache.drop(shard);
      } catch (error) {
        // No batch is applied without its claim: a container that had held the shard must learn it lost it.
        this.cache.drop(shard);
        return { owed: [], failed: records.map(({ recordId }) => ({ recordId, error })) };
      }
      cached = this.cache.shard(shard);
    }
    const known = cached;
    const toRead = known ? pairs.filter((p) => !known.has(p.key)) : pairs;
    const run = async (pair: Pair, read: RuleState | undefined) => {
      const result = await this.applyPair(pair, read);
      owed.push(...result.owed);
      if (result.failure) fail(pair, result.failure.at, result.failure.error);
      else if (shard && this.cache) this.cache.set(shard, pair.key, result.state);
    };
    await Promise.all([
      ...(known ? pairs.filter((p) => known.has(p.key)).map((p) => run(p, known.get(p.key) ?? undefined)) : []),
      ...chunks(toRead, MAX_STATE_READ_BATCH).map(async (chunk) => {
        let states: Map<string, RuleState>;
        try {
          states = await this.store.getStates(chunk.map((p) => ({ deviceId: p.deviceId, ruleId: p.rule.id })));
        } catch (error) {
          for (const pair of chunk) fail(pair, 0, error);
          return;
        }
        await Promise.all(chunk.map((pair) => run(pair, states.get(pair.key))));
      }),
    ]);
    // A failed pair may have written part of its batch: read the shard again next time.
    if (shard && this.cache && failFrom.size > 0) this.cache.drop(shard);
    const ruleOrder = new Map(this.rules.map((r, i) => [r.id, i]));
    owed.sort(
      (a, b) =>
        a.index - b.index ||
        (ruleOrder.get(a.message.alert.ruleId) ?? 0) - (ruleOrder.get(b.message.alert.ruleId) ?? 0),
    );
    const failed = records.flatMap(({ recordId, reading }, index) => {
      const from = failFrom.get(reading.deviceId);
      return from && index >= from.index ? [{ recordId, error: from.error }] : [];
    });
    return { owed: owed.map(({ index: _, ...o }) => o), failed };
  }

  /** One reading as a batch of its own; throws when it could not be applied. */
  async evaluate(reading: Reading): Promise<AlertMessage[]> {
    const { owed, failed } = await this.apply([{ recordId: reading.eventId, reading }]);
    if (failed[0]) throw failed[0].error;
    return owed.map((o) => o.message);
  }

  private async applyPair(pair: Pair, read: RuleState | undefined): Promise<PairResult> {
    const owed: PairResult['owed'] = [];
    let state = read;
    // Usually one round: a plan covers every reading unless it reaches MAX_TRANSITIONS_PER_WRITE raises and resolves.
    for (let from = 0; from < pair.items.length; ) {
      const items = pair.items.slice(from);
      let written: { plan: GroupPlan; against: RuleState | undefined };
      try {
        written = await this.write(pair, items, state);
      } catch (error) {
        return { owed, failure: { at: from, error } };
      }
      const { plan, against } = written;
      const writes = alertWrites(plan);
      for (let i = 0; i < plan.count; i++) {
        const step = plan.steps[i];
        const item = items[i] as PairItem;
        try {
          if (step?.kind === 'replay' && against) {
            for (const o of await this.finish(item.reading, pair.rule, item.value, against))
              owed.push({ index: item.index, recordId: item.recordId, ...o });
          }
          const alert = writes.get(i);
          if (alert?.state === 'open') await this.store.createAlert(alert);
          else if (alert) await this.store.resolveAlert(alert);
        } catch (error) {
          return { owed, failure: { at: from + i, error } };
        }
        if (step?.kind === 'applied' && step.effect)
          owed.push({
            index: item.index,
            recordId: item.recordId,
            message: { type: messageType(step.effect), alert: step.effect.alert },
          });
      }
      state = plan.next ?? against;
      from += plan.count;
    }
    return { owed, state };
  }

  /** Decides the readings against the state and writes it if it changed; on a lost race re-reads and re-decides. */
  private async write(
    pair: Pair,
    items: readonly PairItem[],
    read: RuleState | undefined,
  ): Promise<{ plan: GroupPlan; against: RuleState | undefined }> {
    let state = read;
    for (let attempt = 1; ; attempt++) {
      const plan = decideGroup(state, items, pair.rule);
      if (!plan.next || (await this.store.putState(plan.next, state?.version, plan.raise)))
        return { plan, against: state };
      if (attempt >= this.maxConflicts)
        throw new Error(`state of ${pair.deviceId}/${pair.rule.id} kept changing (${attempt} attempts)`);
      state = await this.store.getState(pair.deviceId, pair.rule.id);
    }
  }

  /**
   * A reading applied before: if the state records that it raised or resolved an alert, make sure the alert item
   * says so and owe the notification again unless its delivery was confirmed.
   */
  private async finish(
    reading: Reading,
    rule: AlertRule,
    value: number,
    state: RuleState,
  ): Promise<Omit<OwedMessage, 'recordId'>[]> {
    if (conditionHolds(rule, value)) {
      const alertId = alertIdFor(reading.deviceId, rule.id, reading.eventId);
      const raised = state.raises.some((r) => r.alertId === alertId) || state.alert?.alertId === alertId;
      if (!raised) return [];
      const stored = await this.store.getAlert(alertId);
      if (stored) return owedUnlessNotified(stored, 'alert.raised', asRaised(stored.alert));
      // The state records the raise but the alert item was never written: the first attempt failed in between.
      const alert = state.alert?.alertId === alertId ? asRaised(state.alert) : raisedAlert(reading, rule, value);
      await this.store.createAlert(alert);
      return [{ message: { type: 'alert.raised', alert } }];
    }
    const alertId = state.resolutions.find((r) => r.eventId === reading.eventId)?.alertId;
    if (alertId === undefined) return [];
    const stored = await this.store.getAlert(alertId);
    if (stored?.alert.state === 'resolved') return owedUnlessNotified(stored, 'alert.resolved', stored.alert);
    // The state records the resolve but the alert item was not updated: the first attempt failed in between (its
    // raise, if in the same attempt, was redelivered before this reading and wrote the item).
    const raised = stored?.alert ?? (state.alert?.alertId === alertId ? state.alert : undefined);
    if (!raised) return [];
    const alert = resolvedAlert(raised, reading, value);
    await this.store.resolveAlert(alert);
    return [{ message: { type: 'alert.resolved', alert } }];
  }
}

export interface BatchResult {
  /** Records to report in `batchItemFailures`: not applied, or owing a message that did not go out. */
  failedRecordIds: string[];
  /** Why records were not applied (the first error per record). */
  errors: { recordId: string; error: unknown }[];
  delivered: AlertMessage[];
  failed: AlertMessage[];
}

/**
 * One invocation's records: collected in stream order (`add`), applied together by the engine, then the
 * notifications they owe delivered together (`run`), so the queue gets full `SendMessageBatch` calls.
 */
export class AlertBatch {
  private readonly records: BatchRecord[] = [];

  constructor(
    private readonly engine: Pick<AlertEngine, 'apply'>,
    private readonly notifier: AlertNotifier,
    private readonly store: Pick<AlertStore, 'markNotified'>,
    private readonly now: () => Date = () => new Date(),
  ) {}

  add(recordId: string, reading: Reading): void {
    this.records.push({ recordId, reading });
  }

  get size(): number {
    return this.records.length;
  }

  /**
   * Applies the readings, sends what they owe, marks what was delivered (one write per alert), and returns the
   * records that must be retried (they will find their alerts and owe them again).
   */
  async run(): Promise<BatchResult> {
    const { owed, failed: errors } = await this.engine.apply(this.records);
    const unique = new Map<string, AlertMessage>();
    const owners = new Map<string, Set<string>>();
    // Channels that took a message before (a retry): it goes to the others only, so nobody receives it twice.
    const skips = new Map<string, readonly AlertChannel[]>();
    for (const { recordId, message, skip } of owed) {
      const key = messageKey(message);
      unique.set(key, message);
      owners.set(key, (owners.get(key) ?? new Set()).add(recordId));
      if (skip) skips.set(key, skip);
    }
    const failedIds = new Set(errors.map((e) => e.recordId));
    let delivered: AlertMessage[] = [];
    let failed: AlertMessage[] = [];
    if (unique.size > 0) {
      let tookFailed: ReadonlyMap<string, readonly AlertChannel[]> | undefined;
      ({ failed, tookFailed } = await this.notifier.deliver([...unique.values()], skips));
      const failedKeys = new Set(failed.map(messageKey));
      delivered = [...unique.values()].filter((m) => !failedKeys.has(messageKey(m)));
      for (const key of failedKeys) for (const id of owners.get(key) ?? []) failedIds.add(id);
      const byAlert = new Map<string, { types: AlertMessageType[]; channels?: ChannelMarks }>();
      const marks = (alertId: string) => byAlert.get(alertId) ?? byAlert.set(alertId, { types: [] }).get(alertId);
      for (const m of delivered) marks(m.alert.alertId)?.types.push(m.type);
      // A message some channel took is marked for that channel: its retry sends it only where it is still missing.
      for (const m of failed) {
        const key = messageKey(m);
        const took = [...new Set([...(skips.get(key) ?? []), ...(tookFailed?.get(key) ?? [])])];
        const entry = took.length > 0 ? marks(m.alert.alertId) : undefined;
        if (entry) entry.channels = { ...entry.channels, [m.type]: took };
      }
      const at = this.now().toISOString();
      // A mark that fails only costs a duplicate notification if the reading is redelivered: not worth a retry.
      await Promise.allSettled(
        [...byAlert].map(([alertId, { types, channels }]) => this.store.markNotified(alertId, types, at, channels)),
      );
    }
    const failedRecordIds = this.records.map((r) => r.recordId).filter((id) => failedIds.has(id));
    return { failedRecordIds: [...new Set(failedRecordIds)], errors, delivered, failed };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The minimum AWS calls the design allows

/** What a batch of readings not seen before does, in the units that cost calls. */
export interface AlertBatchShape {
  /** Distinct (device, rule) pairs the batch touches (a rule applies to a reading that carries its metric). */
  pairs: number;
  /**
   * State writes: one per pair whose state changed (a breach, or a good reading after a breach or an open alert),
   * plus one per further MAX_TRANSITIONS_PER_WRITE raises and resolves of one pair in one batch.
   */
  stateWrites: number;
  /** Alerts raised in the batch and still open at its end: one `createAlert` each. */
  alertsCreated: number;
  /** Alerts resolved in the batch (raised in it or before): one `resolveAlert` each. */
  alertsResolved: number;
  /** `alert.raised` and `alert.resolved` messages. */
  messages: number;
  /** Shard claims (a consumer with a state cache writes one per batch). */
  claims?: number;
  /** Pairs served from the state cache (no read). */
  cachedPairs?: number;
}

export interface AlertCalls {
  /** `BatchGetItem`: ceil(pairs / 100) per batch. */
  stateReads: number;
  stateWrites: number;
  /** Alert items: created + resolved. */
  alertWrites: number;
  /** Delivery marks: one per alert notified (its raise and resolve in one write). */
  marks: number;
  /** `SendMessageBatch`: ceil(messages / 10) per batch. */
  queueCalls: number;
  /** IoT `Publish`: one per message. */
  publishes: number;
  total: number;
  /** The same, named as `shared/aws/call-counter.ts` counts them (commands with no call left out). */
  byCommand: Record<string, number>;
}

/**
 * The fewest AWS calls the alerts consumer can make for these batches (each shape one invocation): per batch
 * a shard claim (with a state cache), ceil(uncached pairs/100) reads, a write per changed pair, one per alert item, ceil(messages/10) queue calls, a publish per
 * message and a delivery mark per alert. Not included, because a healthy run makes none: conflict re-reads (a
 * `GetItem` and another write per lost race), `UnprocessedKeys` retries, SDK retries, and the `GetItem` a
 * redelivered reading that had raised or resolved an alert costs.
 */
export function minimumAlertCalls(shapes: AlertBatchShape | readonly AlertBatchShape[]): AlertCalls {
  const list: readonly AlertBatchShape[] = Array.isArray(shapes) ? shapes : [shapes as AlertBatchShape];
  const sum = (f: (s: AlertBatchShape) => number) => list.reduce((n, s) => n + f(s), 0);
  const stateReads = sum((s) => Math.ceil((s.pairs - (s.cachedPairs ?? 0)) / MAX_STATE_READ_BATCH));
  const claims = sum((s) => s.claims ?? 0);
  const stateWrites = sum((s) => s.stateWrites);
  const created = sum((s) => s.alertsCreated);
  const resolved = sum((s) => s.alertsResolved);
  const marks = created + resolved;
  const queueCalls = sum((s) => Math.ceil(s.messages / MAX_QUEUE_BATCH));
  const publishes = sum((s) => s.messages);
  const byCommand: Record<string, number> = {
    'DynamoDBClient.BatchGetItemCommand': stateReads,
    'DynamoDBClient.UpdateItemCommand': claims + stateWrites + resolved + marks,
    'DynamoDBClient.PutItemCommand': created,
    'SQSClient.SendMessageBatchCommand': queueCalls,
    'IoTDataPlaneClient.PublishCommand': publishes,
  };
  for (const [command, n] of Object.entries(byCommand)) if (n === 0) delete byCommand[command];
  return {
    stateReads,
    stateWrites,
    alertWrites: created + resolved,
    marks,
    queueCalls,
    publishes,
    total: claims + stateReads + stateWrites + created + resolved + marks + queueCalls + publishes,
    byCommand,
  };
}

/**
 * The shape of one batch of readings not seen before, given the states before it (no entry: no state), and the
 * states after it: a pure replay of what the engine decides, for a benchmark to compute `minimumAlertCalls` of the
 * batches it sends.
 */
export function alertBatchShape(
  rules: readonly AlertRule[],
  readings: readonly Reading[],
  states: ReadonlyMap<string, RuleState> = new Map(),
  /** For a consumer with a state cache: the `<shard>|<pair>` keys it holds (updated with this batch's). */
  cached?: Set<string>,
): { shape: AlertBatchShape; states: Map<string, RuleState> } {
  const after = new Map(states);
  const pairs = pairsOf(
    rules,
    readings.map((reading, i) => ({ recordId: String(i), reading })),
  );
  const shard = readings[0]?.position.shardId ?? '';
  const shape: AlertBatchShape = {
    pairs: pairs.length,
    stateWrites: 0,
    alertsCreated: 0,
    alertsResolved: 0,
    messages: 0,
    ...(cached && pairs.length > 0
      ? { claims: 1, cachedPairs: pairs.filter((p) => cached.has(`${shard}|${p.key}`)).length }
      : {}),
  };
  if (cached) for (const p of pairs) cached.add(`${shard}|${p.key}`);
  for (const pair of pairs) {
    let state = after.get(pair.key);
    for (let from = 0; from < pair.items.length; ) {
      const plan = decideGroup(state, pair.items.slice(from), pair.rule);
      if (plan.next) shape.stateWrites++;
      for (const alert of alertWrites(plan).values()) {
        if (alert.state === 'open') shape.alertsCreated++;
        else shape.alertsResolved++;
      }
      shape.messages += plan.steps.filter((s) => s.kind === 'applied' && s.effect).length;
      state = plan.next ?? state;
      from += plan.count;
    }
    if (state) after.set(pair.key, state);
  }
  return { shape, states: after };
}
