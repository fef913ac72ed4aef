import { describe, expect, it } from 'vitest';
import { topicRules } from '../../infra/topology';
import { TELEMETRY_RULE } from '../../shared/domain/iot-policy';
import { planRedrive } from '../../shared/domain/rule-redrive';
import { decodeStreamRecord } from '../../shared/domain/stream-records';
import { applyTopicRule, nestsDeeperThan, ruleErrorMessage, ruleTopic } from '../../shared/domain/topic-rule';

const rule = topicRules[TELEMETRY_RULE];
if (!rule) throw new Error('no telemetry rule');
const reading = { metrics: { temperature: 21.5 }, ts: 1_764_000_000_000, seq: 7 };
const payload = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));

/** What the rule's error action sends for a message published on `topic`. */
const errorBody = (topic: string, body: unknown, clientId = 'dev-1') =>
  JSON.stringify(
    ruleErrorMessage(
      TELEMETRY_RULE,
      { topic, clientId, payload: payload(body) },
      { failedAction: 'KinesisAction', failedResource: 'stream', errorMessage: 'unavailable' },
    ),
  );

describe('applyTopicRule (the rule as the rules engine applies it)', () => {
  it('selects the named fields, adds the computed ones and keys the record by the device id from the topic', () => {
    const outcome = applyTopicRule(rule, payload({ ...reading, deviceId: 'forged', extra: 1 }), {
      publishedTopic: 'devices/dev-1/telemetry',
      clientId: 'dev-1',
      timestamp: 42,
    });
    expect(outcome).toEqual({
      ok: true,
      record: {
        partitionKey: 'dev-1',
        data: Buffer.from(JSON.stringify({ ...reading, deviceId: 'dev-1', receivedAt: 42 })),
      },
    });
  });

  it('refuses a payload nested deeper than 32 levels before parsing it, and never throws on 20,000 levels', () => {
    const ctx = { publishedTopic: 'devices/dev-1/telemetry', clientId: 'dev-1', timestamp: 42 };
    const nested = (levels: number) => `{"metrics":{"t":${'['.repeat(levels - 2)}${']'.repeat(levels - 2)}}}`;
    expect(applyTopicRule(rule, payload(nested(32)), ctx).ok).toBe(true);
    for (const levels of [33, 20_000])
      expect(applyTopicRule(rule, payload(nested(levels)), ctx)).toEqual({
        ok: false,
        errorMessage: 'payload nests deeper than 32 levels of objects and arrays',
      });
    // Brackets inside strings, escaped quotes included, are text, not nesting.
    expect(nestsDeeperThan(JSON.stringify({ s: `\\"${'['.repeat(100)}` }), 2)).toBe(false);
    expect(nestsDeeperThan('[[[]]]', 3)).toBe(false);
    expect(nestsDeeperThan('[[[[]]]]', 3)).toBe(true);
  });

  it('sees a Basic Ingest topic without its $aws/rules/<rule>/ prefix', () => {
    expect(ruleTopic(`$aws/rules/${TELEMETRY_RULE}/devices/d/telemetry`)).toEqual({
      topic: 'devices/d/telemetry',
      only: TELEMETRY_RULE,
    });
    const outcome = applyTopicRule(rule, payload(reading), {
      publishedTopic: `$aws/rules/${TELEMETRY_RULE}/devices/d/telemetry`,
      clientId: 'd',
      timestamp: 1,
    });
    expect(outcome.ok && outcome.record.partitionKey).toBe('d');
  });

  it.each([['not json'], ['[1,2]'], ['null'], ['7']])('cannot act on the payload %s', (body) => {
    expect(
      applyTopicRule(rule, payload(body), { publishedTopic: 'devices/d/telemetry', clientId: 'd', timestamp: 1 }),
    ).toEqual({ ok: false, errorMessage: 'payload is not a JSON object' });
  });
});

describe('planRedrive (the ruleErrors redrive)', () => {
  it('rebuilds the record the rule would have put: the same reading id as the original', () => {
    const original = applyTopicRule(rule, payload(reading), {
      publishedTopic: 'devices/dev-1/telemetry',
      clientId: 'dev-1',
      timestamp: reading.ts + 1000,
    });
    if (!original.ok) throw new Error('rule failed');
    const plan = planRedrive(
      [{ messageId: 'm1', body: errorBody('devices/dev-1/telemetry', reading), sentTimestamp: reading.ts + 1003 }],
      topicRules,
    );
    expect(plan.malformed).toEqual([]);
    expect(plan.unactionable).toEqual([]);
    expect(plan.records).toHaveLength(1);
    const [record] = plan.records;
    expect(record).toMatchObject({ id: 'm1', stream: 'eventStream', partitionKey: 'dev-1' });
    // The reading carries its own ts: the redriven copy is the same event (same id), so it is stored once.
    const decode = (data: Uint8Array) => decodeStreamRecord(Buffer.from(data).toString('base64'));
    const again = decode(record?.data ?? new Uint8Array());
    const first = decode(original.record.data);
    expect(again.kind).toBe('event');
    expect(again.kind === 'event' && first.kind === 'event' && again.envelope.id === first.envelope.id).toBe(true);
  });

  it('dates a reading without ts by when the error action sent it, the same on every receive', () => {
    const body = errorBody('devices/dev-1/telemetry', { metrics: { t: 1 } });
    const twice = [1, 2].map(() => planRedrive([{ messageId: 'm', body, sentTimestamp: 5000 }], topicRules));
    expect(twice[0]?.records[0]?.data).toEqual(twice[1]?.records[0]?.data);
    expect(JSON.parse(Buffer.from(twice[0]?.records[0]?.data ?? []).toString())).toMatchObject({ receivedAt: 5000 });
  });

  it('reports a payload the rule can never act on as invalid telemetry of its device, with the original payload', () => {
    const plan = planRedrive(
      [{ messageId: 'm2', body: errorBody('devices/dev-9/telemetry', 'garbage'), sentTimestamp: 1 }],
      topicRules,
    );
    expect(plan.records).toEqual([]);
    expect(plan.unactionable).toEqual([
      {
        messageId: 'm2',
        reason: 'invalid telemetry',
        deviceId: 'dev-9',
        issues: [{ path: '', message: 'payload is not a JSON object' }],
        base64OriginalPayload: Buffer.from('garbage').toString('base64'),
        topic: 'devices/dev-9/telemetry',
      },
    ]);
  });

  it.each([
    ['a body that is not JSON', '{', 'body is not JSON'],
    ['another message shape', JSON.stringify({ hello: 'world' }), 'not an IoT rule error message'],
    [
      'an unknown rule',
      JSON.stringify({ ruleName: 'other', topic: 't', base64OriginalPayload: '' }),
      'unknown rule other',
    ],
    [
      'a rule name from the prototype',
      JSON.stringify({ ruleName: 'constructor', topic: 't', base64OriginalPayload: '' }),
      'unknown rule constructor',
    ],
  ])('fails %s (it ends in the dead-letter queue)', (_what, body, reason) => {
    expect(planRedrive([{ messageId: 'x', body, sentTimestamp: 1 }], topicRules)).toEqual({
      records: [],
      unactionable: [],
      malformed: [{ messageId: 'x', reason }],
    });
  });
});
