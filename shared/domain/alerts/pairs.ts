import { type AlertRule, applicableRules } from '../alert-rules';
import type { GroupPlan, GroupReading } from './decision';
import type { OwedMessage } from './engine';
import { type Alert, type Reading, type RuleState, ruleStateKey } from './model';

/** How a batch is cut into (device, rule) pairs, each decided on its own (ADR 0007). */

export interface BatchRecord {
  /** What `batchItemFailures` names (the Kinesis sequence number). */
  recordId: string;
  reading: Reading;
}

export interface PairItem extends GroupReading {
  /** The record's place in the batch. */
  index: number;
  recordId: string;
}

export interface Pair {
  key: string;
  deviceId: string;
  rule: AlertRule;
  /** The pair's readings, in stream order. */
  items: PairItem[];
}

export interface PairResult {
  owed: (OwedMessage & { index: number })[];
  /** The pair's first item that was not (completely) applied. */
  failure?: { at: number; error: unknown };
  /** The pair's state after the batch (what the table holds now), when every item was applied. */
  state?: RuleState | undefined;
}

/** The one shard a batch's records come from (a Lambda batch is one shard's); undefined if mixed or unknown. */
export function shardOf(records: readonly BatchRecord[]): string | undefined {
  const shards = new Set(records.map((r) => r.reading.position.shardId));
  const [only] = shards;
  return shards.size === 1 && only !== 'unknown' ? only : undefined;
}

export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** The (device, rule) pairs a batch touches, each with its readings in stream order. */
export function pairsOf(rules: readonly AlertRule[], records: readonly BatchRecord[]): Pair[] {
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
export function alertWrites(plan: GroupPlan): Map<number, Alert> {
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
