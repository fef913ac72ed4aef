import { type AlertRule, conditionHolds } from '../alert-rules';
import { decideGroup, type GroupPlan } from './decision';
import {
  type Alert,
  type AlertMessage,
  type AlertMessageType,
  alertIdFor,
  asRaised,
  type Reading,
  type RuleState,
  raisedAlert,
  resolvedAlert,
} from './model';
import {
  alertWrites,
  type BatchRecord,
  chunks,
  type Pair,
  type PairItem,
  type PairResult,
  pairsOf,
  shardOf,
} from './pairs';
import { ALERT_CHANNELS, type AlertChannel, type AlertStore, MAX_STATE_READ_BATCH, type StoredAlert } from './ports';
import type { AlertStateCache } from './state-cache';

export * from './batch';
export * from './calls';
export type { BatchRecord } from './pairs';

/**
 * The engine: a batch of readings applied per (device, rule) pair, each pair's state read once (all pairs in
 * `BatchGetItem`s of 100), its readings decided in memory in stream order, its state written once when it changed,
 * then its alert items, then the notifications the batch owes, together. See docs/decisions/0007-alerts.md.
 */

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
