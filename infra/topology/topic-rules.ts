import { TELEMETRY_RULE } from '../../shared/domain/iot-policy';
import type { RuleExpression, TopicRuleSpec } from './specs';

export const topicRules: Readonly<Record<string, TopicRuleSpec>> = {
  [TELEMETRY_RULE]: {
    topicFilter: 'devices/+/telemetry',
    fields: ['metrics', 'ts', 'seq'],
    select: { deviceId: { fn: 'topic', segment: 2 }, receivedAt: { fn: 'timestamp' } },
    action: { kinesis: { stream: 'eventStream', partitionKey: { fn: 'topic', segment: 2 } } },
    errorQueue: 'ruleErrors',
  },
};

/** A rule expression in IoT SQL: `topic(2)`, `timestamp()`, `clientid()`. */
export function ruleExpressionSql(e: RuleExpression): string {
  return e.fn === 'topic' ? `topic(${e.segment})` : `${e.fn}()`;
}

/** IoT SQL for a structured topic rule, e.g. `SELECT metrics, topic(2) AS deviceId FROM 'devices/+/telemetry'`. */
export function topicRuleSql(rule: TopicRuleSpec): string {
  const extras = Object.entries(rule.select).map(([alias, sel]) => `${ruleExpressionSql(sel)} AS ${alias}`);
  return `SELECT ${[...(rule.fields ?? ['*']), ...extras].join(', ')} FROM '${rule.topicFilter}'`;
}

/** Does an MQTT topic match a filter with `+` (one level) and `#` (rest) wildcards? */
export function mqttTopicMatches(filter: string, topic: string): boolean {
  // MQTT 3.1.1 4.7.2: a filter starting with a wildcard never matches a `$` topic ($SYS/..., $aws/...).
  if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false;
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}
