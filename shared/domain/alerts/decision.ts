import { type AlertRule, conditionHolds, windowCount } from '../alert-rules';
import {
  type Alert,
  compareSequenceNumbers,
  cooldownCutoff,
  cooledDown,
  initialState,
  isReplay,
  MAX_RAISES,
  MAX_RESOLUTIONS,
  RECENT_EVENT_IDS,
  type Reading,
  type RuleState,
  raisedAlert,
  resolvedAlert,
} from './model';

/**
 * The pure decisions: one reading against a state (`decide`), and all of one (device, rule) pair's readings of a
 * batch, in stream order, against the state read once (`decideGroup`), which is what the engine writes.
 */

export type Effect = { type: 'raise'; alert: Alert } | { type: 'resolve'; alert: Alert };

export type Decision =
  /** Applied before: do not count it again; maybe finish what its first attempt started. */
  | { kind: 'replay' }
  /** Nothing to record (no state and the condition does not hold). */
  | { kind: 'unchanged' }
  | { kind: 'update'; next: RuleState; effect?: Effect };

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
        next: {
          ...applied,
          consecutive,
          open: true,
          alert,
          lastRaisedAt: reading.occurredAt,
          raises: [...base.raises, { eventId: reading.eventId, alertId: alert.alertId }].slice(-MAX_RAISES),
        },
        effect: { type: 'raise', alert },
      };
    }
    return { kind: 'update', next: { ...applied, consecutive } };
  }
  if (base.open && base.alert) {
    const alert = resolvedAlert(base.alert, reading, value);
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

/** Raises and resolves one state write may record: each is then still in `raises`/`resolutions` for its retry. */
export const MAX_TRANSITIONS_PER_WRITE = Math.min(MAX_RAISES, MAX_RESOLUTIONS);

export interface GroupReading {
  reading: Reading;
  /** The value of the rule's metric in the reading. */
  value: number;
}

export type GroupStep =
  /** Applied by an earlier attempt (the stored state says so): the engine finishes what that attempt started. */
  | { kind: 'replay' }
  /** The same reading twice in this batch: the first copy counts. */
  | { kind: 'duplicate' }
  | { kind: 'applied'; effect?: Effect };

export interface GroupPlan {
  /** How many of the readings (from the first) the plan covers: all, or up to the MAX_TRANSITIONS_PER_WRITE-th. */
  count: number;
  /** One per covered reading, in order. */
  steps: GroupStep[];
  /** The state to write (its version is the read one + 1); undefined when nothing worth a write changed. */
  next?: RuleState;
  /**
   * For a write whose first transition is a raise: the rule itself, checked by the store in the same conditional
   * write (no alert open, `lastRaisedAt <= cutoff`), on top of the version check.
   */
  raise?: { cutoff: string };
}

/**
 * A (device, rule) pair's readings of one batch, in stream order, judged one after the other against the state as
 * read (`decide`), and the one write that records them all. Nothing is written when no reading changed what the
 * next one is judged against (a healthy device at rest): such readings are idempotent, so they need no record.
 * When something changed, the write records every reading of the pair in the batch (positions, recent ids).
 */
export function decideGroup(
  state: RuleState | undefined,
  readings: readonly GroupReading[],
  rule: AlertRule,
): GroupPlan {
  let current = state;
  let changed = false;
  let transitions = 0;
  let raise: GroupPlan['raise'];
  const steps: GroupStep[] = [];
  const applied: Reading[] = [];
  const seen = new Set<string>();
  for (const { reading, value } of readings) {
    if (state && isReplay(state, reading)) {
      steps.push({ kind: 'replay' });
      continue;
    }
    if (seen.has(reading.eventId) || (current && current !== state && isReplay(current, reading))) {
      steps.push({ kind: 'duplicate' });
      continue;
    }
    const decision = decide(current, reading, rule, value);
    applied.push(reading);
    seen.add(reading.eventId);
    if (decision.kind !== 'update') {
      steps.push({ kind: 'applied' });
      continue;
    }
    current = decision.next;
    changed = true;
    steps.push(decision.effect ? { kind: 'applied', effect: decision.effect } : { kind: 'applied' });
    if (!decision.effect) continue;
    if (transitions === 0 && decision.effect.type === 'raise')
      raise = { cutoff: cooldownCutoff(reading.occurredAt, rule.cooldownMinutes) };
    if (++transitions >= MAX_TRANSITIONS_PER_WRITE) break;
  }
  const count = steps.length;
  if (!changed || !current) return { count, steps };
  const base = state ?? initialState(current.deviceId, current.ruleId);
  const positions = { ...base.positions };
  for (const { position } of applied) {
    const last = positions[position.shardId];
    if (last === undefined || compareSequenceNumbers(position.sequenceNumber, last) > 0)
      positions[position.shardId] = position.sequenceNumber;
  }
  const next: RuleState = {
    ...current,
    version: base.version + 1,
    positions,
    lastEventId: applied[applied.length - 1]?.eventId ?? current.lastEventId,
    recentEventIds: [...base.recentEventIds, ...applied.map((r) => r.eventId)].slice(-RECENT_EVENT_IDS),
  };
  return { count, steps, next, ...(raise ? { raise } : {}) };
}
