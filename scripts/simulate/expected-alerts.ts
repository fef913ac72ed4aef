import { type AlertRule, applicableRules } from '../../shared/domain/alert-rules';
import {
  type Alert,
  type AlertMessageType,
  decide,
  initialState,
  type RuleState,
  ruleStateKey,
} from '../../shared/domain/alerts';

/**
 * The alerts a run must produce, from the readings that reached the stream, judged by the same pure rule functions
 * the alerts consumer runs (`decide`), per device in send order, starting from what the stack already holds for the
 * device (its open alerts and the raises still within their cooldown: a reused fleet carries earlier runs' state).
 */

/** A reading as the alert rules see it. */
export interface JudgedReading {
  eventId: string;
  ts: number;
  metrics: Readonly<Record<string, number>>;
}

export interface ExpectedAlert {
  /** `alertId:type`: how deliveries are told apart (the stack dedupes the same way). */
  key: string;
  type: AlertMessageType;
  alertId: string;
  deviceId: string;
  ruleId: string;
  /** The reading that raised or resolved it. */
  eventId: string;
}

export const alertKey = (alertId: string, type: AlertMessageType) => `${alertId}:${type}`;

/**
 * Per (device, rule), the state the stack's alerts imply: the latest alert raised (open or resolved) is the last
 * raise (`lastRaisedAt` = its `raisedAt`); it is open if that alert is. `consecutive` is unknown from alerts, so a
 * run must begin each device with a normal reading, which resets it.
 */
export function priorStates(alerts: readonly Alert[], deviceIds: ReadonlySet<string>): Map<string, RuleState> {
  const latest = new Map<string, Alert>();
  for (const alert of alerts) {
    if (!deviceIds.has(alert.deviceId)) continue;
    const key = ruleStateKey(alert.deviceId, alert.ruleId);
    const known = latest.get(key);
    if (!known || alert.raisedAt > known.raisedAt) latest.set(key, alert);
  }
  const states = new Map<string, RuleState>();
  for (const [key, alert] of latest)
    states.set(key, {
      ...initialState(alert.deviceId, alert.ruleId),
      version: 1,
      open: alert.state === 'open',
      lastRaisedAt: alert.raisedAt,
      alert,
    });
  return states;
}

/** Every raise and resolve the readings cause, device by device, reading by reading, rule by rule. */
export function expectedAlerts(
  rules: readonly AlertRule[],
  readingsByDevice: ReadonlyMap<string, readonly JudgedReading[]>,
  prior: ReadonlyMap<string, RuleState> = new Map(),
): ExpectedAlert[] {
  const expected: ExpectedAlert[] = [];
  for (const [deviceId, readings] of readingsByDevice) {
    const states = new Map<string, RuleState | undefined>();
    readings.forEach((judged, index) => {
      const reading = {
        eventId: judged.eventId,
        deviceId,
        occurredAt: new Date(judged.ts).toISOString(),
        metrics: judged.metrics,
        // One simulated shard, in send order: no reading of the run is a replay of another.
        position: { shardId: 'simulated', sequenceNumber: String(index + 1).padStart(12, '0') },
      };
      for (const { rule, value } of applicableRules(rules, judged.metrics)) {
        const key = ruleStateKey(deviceId, rule.id);
        const state = states.has(key) ? states.get(key) : prior.get(key);
        const decision = decide(state, reading, rule, value);
        if (decision.kind !== 'update') {
          states.set(key, state);
          continue;
        }
        states.set(key, decision.next);
        const effect = decision.effect;
        if (!effect) continue;
        const type = effect.type === 'raise' ? 'alert.raised' : 'alert.resolved';
        expected.push({
          key: alertKey(effect.alert.alertId, type),
          type,
          alertId: effect.alert.alertId,
          deviceId,
          ruleId: rule.id,
          eventId: judged.eventId,
        });
      }
    });
  }
  return expected;
}
