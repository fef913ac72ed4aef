import { z } from 'zod';
import { MAX_DATA_DEPTH } from './events';
import { BASIC_INGEST_PREFIX } from './iot-policy';
import type { RuleExpression, TopicRuleSpec } from './topic-rule-spec';

/**
 * What a topic rule does to one MQTT message, as IoT Core's rules engine does it: SELECT the named payload fields, add
 * the computed ones (`topic(2) AS deviceId`, `timestamp() AS receivedAt`), and key the record by the partition key
 * expression. Shared by the local broker (for every message) and the redrive of the rule's error queue (for the
 * messages the action could not put), so a redriven reading is the record the rule would have put.
 */
export interface RuleContext {
  /** The topic as published (a Basic Ingest topic keeps its `$aws/rules/<rule>/` prefix here). */
  publishedTopic: string;
  clientId: string;
  /** `timestamp()`: epoch ms when the rules engine took the message. */
  timestamp: number;
}

export type RuleOutcome =
  | { ok: true; record: { partitionKey: string; data: Buffer } }
  | { ok: false; errorMessage: string };

/** The topic the rules see, and the one rule a Basic Ingest topic names (`$aws/rules/<rule>/<topic>`). */
export function ruleTopic(published: string): { topic: string; only?: string } {
  if (!published.startsWith(BASIC_INGEST_PREFIX)) return { topic: published };
  const rest = published.slice(BASIC_INGEST_PREFIX.length);
  const slash = rest.indexOf('/');
  if (slash <= 0) return { topic: '', only: rest };
  return { topic: rest.slice(slash + 1), only: rest.slice(0, slash) };
}

/** A rule expression's value for a message: `topic(n)`, `timestamp()`, `clientid()`. */
export function evaluateRuleExpression(
  sel: RuleExpression,
  topic: string,
  ctx: RuleContext,
): string | number | undefined {
  if (sel.fn === 'topic') return topic.split('/')[sel.segment - 1];
  if (sel.fn === 'timestamp') return ctx.timestamp;
  return ctx.clientId;
}

/** How deep a payload may nest (a reading needs 2 levels; event data is held to 32 as well, `MAX_DATA_DEPTH`). */
export const MAX_PAYLOAD_DEPTH = MAX_DATA_DEPTH;

/** Whether JSON text nests objects and arrays deeper than `max`, by one pass over it (brackets in strings ignored). */
export function nestsDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

/** The record the rule's Kinesis action puts for this message, or why it cannot act on it. */
export function applyTopicRule(rule: TopicRuleSpec, payload: Buffer, ctx: RuleContext): RuleOutcome {
  const { topic } = ruleTopic(ctx.publishedTopic);
  const text = payload.toString('utf8');
  // Checked on the text, before parsing: a 40 KB payload of 20,000 nested arrays parses, but writing it out again
  // (the record's JSON) would overflow the stack.
  if (nestsDeeperThan(text, MAX_PAYLOAD_DEPTH))
    return { ok: false, errorMessage: `payload nests deeper than ${MAX_PAYLOAD_DEPTH} levels of objects and arrays` };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    return { ok: false, errorMessage: 'payload is not a JSON object' };
  const fields = parsed as Record<string, unknown>;
  // SELECT <fields>: only the named payload fields (absent ones are left out, as IoT SQL does); SELECT *: all.
  const event: Record<string, unknown> = rule.fields
    ? Object.fromEntries(rule.fields.filter((f) => Object.hasOwn(fields, f)).map((f) => [f, fields[f]]))
    : { ...fields };
  for (const [alias, sel] of Object.entries(rule.select)) event[alias] = evaluateRuleExpression(sel, topic, ctx);
  const partitionKey = evaluateRuleExpression(rule.action.kinesis.partitionKey, topic, ctx);
  if (partitionKey === undefined || partitionKey === '')
    return { ok: false, errorMessage: 'the partition key expression is empty for this topic' };
  return { ok: true, record: { partitionKey: String(partitionKey), data: Buffer.from(JSON.stringify(event)) } };
}

/**
 * The message IoT's error action sends when a rule's action fails (the documented format: one message per rule and
 * message, with every failed action). Unknown fields (`cloudwatchTraceId`) are allowed.
 */
export const RuleErrorMessageSchema = z.object({
  ruleName: z.string().min(1),
  topic: z.string(),
  clientId: z.string().optional(),
  base64OriginalPayload: z.string(),
  failures: z
    .array(z.object({ failedAction: z.string(), failedResource: z.string(), errorMessage: z.string() }).loose())
    .optional(),
});
export type RuleErrorMessage = z.infer<typeof RuleErrorMessageSchema>;

export function ruleErrorMessage(
  ruleName: string,
  message: { topic: string; clientId: string; payload: Buffer },
  failure: { failedAction: string; failedResource: string; errorMessage: string },
): RuleErrorMessage {
  return {
    ruleName,
    topic: message.topic,
    clientId: message.clientId,
    base64OriginalPayload: message.payload.toString('base64'),
    failures: [failure],
  };
}
