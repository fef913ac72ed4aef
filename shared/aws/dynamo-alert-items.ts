import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { z } from 'zod';
import { type Alert, type AlertChannel, type AlertMessageType, AlertSchema, type RuleState } from '../domain/alerts';

/**
 * The alerts table (`topology.tables.alertsTable`, partition key `pk`), two item kinds:
 * - `ALERT#<alertId>`: the alert, with `state` and `raisedAtKey` (= `<raisedAt>#<alertId>`) for the `byState` and
 *   `byDevice` indexes (both sorted by `raisedAtKey`), and `notifiedRaisedAt` / `notifiedResolvedAt` once delivered
 *   on both channels (`notifiedRaisedQueueAt`, `notifiedRaisedDeviceAt`, ... while only one took it);
 * - `STATE#<deviceId>#<ruleId>`: the rule state, written only with a version check. It carries no `state`,
 *   `deviceId` or `raisedAtKey` attribute, so it never appears in an index (and never clashes with their key types).
 */
export const alertPk = (alertId: string) => `ALERT#${alertId}`;
export const statePk = (deviceId: string, ruleId: string) => `STATE#${deviceId}#${ruleId}`;

export const NOTIFIED_ATTRIBUTE: Record<AlertMessageType, string> = {
  'alert.raised': 'notifiedRaisedAt',
  'alert.resolved': 'notifiedResolvedAt',
};
/** A message one channel took while the other did not: `notifiedRaisedQueueAt`, `notifiedResolvedDeviceAt`, ... */
export const channelAttribute = (type: AlertMessageType, channel: AlertChannel) =>
  `${NOTIFIED_ATTRIBUTE[type].slice(0, -2)}${channel === 'queue' ? 'Queue' : 'Device'}At`;

export const StateItemSchema = z.object({
  device: z.string(),
  rule: z.string(),
  version: z.number().int(),
  open: z.boolean(),
  consecutive: z.number().int(),
  positions: z.record(z.string(), z.string()),
  lastEventId: z.string().optional(),
  recentEventIds: z.array(z.string()).default([]),
  lastRaisedAt: z.string().optional(),
  alert: AlertSchema.optional(),
  raises: z.array(z.object({ eventId: z.string(), alertId: z.string() })).default([]),
  resolutions: z.array(z.object({ eventId: z.string(), alertId: z.string() })).default([]),
});

export function toState(item: Record<string, unknown>): RuleState {
  const { device, rule, ...state } = StateItemSchema.parse(item);
  return { deviceId: device, ruleId: rule, ...state };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface BatchReadRetry {
  /** `BatchGetItem` calls per `getStates`, the first included, while DynamoDB leaves keys unprocessed. */
  attempts: number;
  baseDelayMs: number;
  sleep: (ms: number) => Promise<void>;
}

export const defaultBatchReadRetry: BatchReadRetry = { attempts: 5, baseDelayMs: 20, sleep };

export const AlertItemSchema = AlertSchema.extend({
  notifiedRaisedAt: z.string().optional(),
  notifiedResolvedAt: z.string().optional(),
});

/** Just the alert's own fields: table keys and bookkeeping stay inside the adapter. */
export function toAlert(item: Record<string, unknown>): Alert {
  const parsed = AlertItemSchema.parse(item);
  const { notifiedRaisedAt: _r, notifiedResolvedAt: _s, ...alert } = parsed;
  return alert;
}

export function isConditionFailure(error: unknown): boolean {
  return (
    error instanceof ConditionalCheckFailedException || (error as Error)?.name === 'ConditionalCheckFailedException'
  );
}

/** `SET a = :a, ...` for the defined values and `REMOVE b` for the undefined ones, names and values as placeholders. */
export function updateExpression(fields: Record<string, unknown>, ifNotExists: readonly string[] = []) {
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = {};
  const set: string[] = [];
  const remove: string[] = [];
  Object.entries(fields).forEach(([name, value], i) => {
    names[`#f${i}`] = name;
    if (value === undefined) remove.push(`#f${i}`);
    else {
      values[`:f${i}`] = value;
      set.push(ifNotExists.includes(name) ? `#f${i} = if_not_exists(#f${i}, :f${i})` : `#f${i} = :f${i}`);
    }
  });
  const expression = [set.length ? `SET ${set.join(', ')}` : '', remove.length ? `REMOVE ${remove.join(', ')}` : '']
    .filter(Boolean)
    .join(' ');
  return { expression, names, values };
}
