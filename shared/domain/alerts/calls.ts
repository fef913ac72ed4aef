import type { AlertRule } from '../alert-rules';
import { decideGroup } from './decision';
import { MAX_QUEUE_BATCH, type Reading, type RuleState } from './model';
import { alertWrites, pairsOf } from './pairs';
import { MAX_STATE_READ_BATCH } from './ports';

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
