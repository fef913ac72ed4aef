import type { StreamRecord } from '../ports';
import { DeviceIdSchema } from './telemetry';
import { applyTopicRule, evaluateRuleExpression, RuleErrorMessageSchema, ruleTopic } from './topic-rule';
import type { TopicRuleSpec } from './topic-rule-spec';

/** One message of the rule's error queue, as an SQS event record carries it. */
export interface RuleErrorDelivery {
  messageId: string;
  body: string;
  /** Epoch ms the error action sent it: stands in for the rule's `timestamp()` (see `planRedrive`). */
  sentTimestamp: number;
}

/** A message the rule will never be able to act on (its payload is not a JSON object): reported, not retried. */
export interface UnactionableMessage {
  messageId: string;
  reason: 'invalid telemetry';
  deviceId?: string;
  issues: { path: string; message: string }[];
  /** The original payload as the device sent it, base64 (it may not be text). */
  base64OriginalPayload: string;
  topic: string;
}

export interface RedrivePlan {
  /** Records to put on the stream again, by stream name; `id` is the SQS message id, to report a failed put. */
  records: (StreamRecord & { stream: string })[];
  unactionable: UnactionableMessage[];
  /** Messages that are not a known rule's error message: failed, so they end in the dead-letter queue. */
  malformed: { messageId: string; reason: string }[];
}

/**
 * Re-applies each failed message's rule to its original payload, as the rules engine would have. `timestamp()` is the
 * time the error action sent the message (the same on every receive, so a message received twice makes the same
 * record, and the consumers' id checks keep it stored once). A reading with its own `ts` gets the id it would have had;
 * one without `ts` is dated a few milliseconds later than the rule would have dated it.
 */
export function planRedrive(
  deliveries: readonly RuleErrorDelivery[],
  rules: Readonly<Record<string, TopicRuleSpec>>,
): RedrivePlan {
  const plan: RedrivePlan = { records: [], unactionable: [], malformed: [] };
  for (const d of deliveries) {
    let body: unknown;
    try {
      body = JSON.parse(d.body);
    } catch {
      plan.malformed.push({ messageId: d.messageId, reason: 'body is not JSON' });
      continue;
    }
    const parsed = RuleErrorMessageSchema.safeParse(body);
    if (!parsed.success) {
      plan.malformed.push({ messageId: d.messageId, reason: 'not an IoT rule error message' });
      continue;
    }
    const message = parsed.data;
    const rule = Object.hasOwn(rules, message.ruleName) ? rules[message.ruleName] : undefined;
    if (!rule) {
      plan.malformed.push({ messageId: d.messageId, reason: `unknown rule ${message.ruleName.slice(0, 64)}` });
      continue;
    }
    const outcome = applyTopicRule(rule, Buffer.from(message.base64OriginalPayload, 'base64'), {
      publishedTopic: message.topic,
      clientId: message.clientId ?? '',
      timestamp: d.sentTimestamp,
    });
    if (outcome.ok) {
      plan.records.push({ id: d.messageId, stream: rule.action.kinesis.stream, ...outcome.record });
      continue;
    }
    // The rule keys a device's records by its id (`topic(2)`): the same expression names the device here.
    const key = evaluateRuleExpression(rule.action.kinesis.partitionKey, ruleTopic(message.topic).topic, {
      publishedTopic: message.topic,
      clientId: message.clientId ?? '',
      timestamp: d.sentTimestamp,
    });
    const deviceId = typeof key === 'string' ? key : undefined;
    plan.unactionable.push({
      messageId: d.messageId,
      reason: 'invalid telemetry',
      ...(deviceId !== undefined && DeviceIdSchema.safeParse(deviceId).success ? { deviceId } : {}),
      issues: [{ path: '', message: outcome.errorMessage }],
      base64OriginalPayload: message.base64OriginalPayload,
      topic: message.topic,
    });
  }
  return plan;
}
