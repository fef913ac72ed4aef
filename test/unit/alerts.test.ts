import { SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { AlertFanOut, IotAlertPublisher, SqsAlertQueue } from '../../shared/aws/alert-notifier';
import { type AlertRule, parseAlertRules } from '../../shared/domain/alert-rules';
import {
  type Alert,
  type AlertMessage,
  type AlertMessageType,
  type AlertPartitionQuery,
  alertIdFor,
  asRaised,
  compareSequenceNumbers,
  cooldownCutoff,
  cooledDown,
  decide,
  decideGroup,
  listAlerts,
  MAX_QUEUE_BATCH,
  MAX_TRANSITIONS_PER_WRITE,
  mergeNewestFirst,
  messageKey,
  parseAlertQuery,
  positionOf,
  type Reading,
  type RuleState,
  raisedAtKey,
  toQueueBatches,
  toReading,
} from '../../shared/domain/alerts';
import { Rejection } from '../../shared/domain/errors';
import type { EventEnvelope } from '../../shared/domain/events';
import { decodeCursor, encodeCursor } from '../../shared/domain/listing';

const [hot, lowBattery] = parseAlertRules({
  rules: [
    { id: 'hot', description: 'hot', metric: 'temperature', comparison: '>', threshold: 80, severity: 'critical' },
    {
      id: 'battery',
      description: 'low',
      metric: 'battery',
      comparison: '<',
      threshold: 10,
      severity: 'warning',
      cooldownMinutes: 60,
      window: { count: 3 },
    },
  ],
}) as [AlertRule, AlertRule];

const T0 = Date.parse('2026-03-01T10:00:00.000Z');
let seq = 1000;
/** A reading `minutes` after T0, on shard 0 unless told, each at a later sequence number. */
function reading(metrics: Record<string, number>, minutes = 0, overrides: Partial<Reading> = {}): Reading {
  seq += 1;
  return {
    eventId: `evt-${seq}`,
    deviceId: 'dev-1',
    occurredAt: new Date(T0 + minutes * 60_000).toISOString(),
    metrics,
    position: { shardId: 'shardId-000000000000', sequenceNumber: `4959${String(seq).padStart(20, '0')}` },
    ...overrides,
  };
}

/** Applies readings one after the other through `decide`, as the engine would with a store that never conflicts. */
function run(rule: AlertRule, readings: Reading[]) {
  let state: RuleState | undefined;
  const effects: string[] = [];
  for (const r of readings) {
    const decision = decide(state, r, rule, r.metrics[rule.metric] as number);
    if (decision.kind === 'update') {
      state = decision.next;
      effects.push(decision.effect?.type ?? '-');
    } else effects.push(decision.kind);
  }
  return { state, effects };
}

describe('deterministic ids and keys', () => {
  it('the alert id depends on device, rule and event only, and looks like a UUID', () => {
    const id = alertIdFor('dev-1', 'hot', 'evt-1');
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(alertIdFor('dev-1', 'hot', 'evt-1')).toBe(id);
    expect(new Set([id, alertIdFor('dev-2', 'hot', 'evt-1'), alertIdFor('dev-1', 'cold', 'evt-1')]).size).toBe(3);
    expect(alertIdFor('dev-1', 'hot', 'evt-2')).not.toBe(id);
  });

  it('raisedAtKey sorts by time, then id', () => {
    const a = raisedAtKey({ raisedAt: '2026-03-01T10:00:00.000Z', alertId: 'b' });
    expect(a).toBe('2026-03-01T10:00:00.000Z#b');
    expect(a < raisedAtKey({ raisedAt: '2026-03-01T10:00:00.001Z', alertId: 'a' })).toBe(true);
  });

  it('positions come from the record eventID (shard) and sequence number', () => {
    expect(positionOf('shardId-000000000001:4959123', '4959123')).toEqual({
      shardId: 'shardId-000000000001',
      sequenceNumber: '4959123',
    });
    expect(positionOf('', '1').shardId).toBe('unknown');
  });

  it('sequence numbers compare as numbers, not as strings', () => {
    expect(compareSequenceNumbers('9', '10')).toBeLessThan(0);
    expect(compareSequenceNumbers('49590000000000000000000000000000000000000000000000000002', '4959')).toBeGreaterThan(
      0,
    );
    expect(compareSequenceNumbers('4959001', '4959002')).toBeLessThan(0);
    expect(compareSequenceNumbers('4959002', '4959002')).toBe(0);
  });
});

describe('cooldown arithmetic', () => {
  it('the cutoff is occurredAt minus the cooldown', () => {
    expect(cooldownCutoff('2026-03-01T10:15:00.000Z', 15)).toBe('2026-03-01T10:00:00.000Z');
    expect(cooldownCutoff('2026-03-01T00:05:00.000Z', 10)).toBe('2026-02-28T23:55:00.000Z');
    expect(cooldownCutoff('2026-03-01T10:00:00.000Z', 0)).toBe('2026-03-01T10:00:00.000Z');
  });

  it('a raise is allowed without a previous raise, or exactly when the cooldown has passed', () => {
    expect(cooledDown(undefined, '2026-03-01T10:00:00.000Z', 15)).toBe(true);
    expect(cooledDown('2026-03-01T10:00:00.000Z', '2026-03-01T10:14:59.999Z', 15)).toBe(false);
    expect(cooledDown('2026-03-01T10:00:00.000Z', '2026-03-01T10:15:00.000Z', 15)).toBe(true);
    expect(cooledDown('2026-03-01T10:00:00.000Z', '2026-03-01T09:00:00.000Z', 15)).toBe(false);
  });
});

describe('decide', () => {
  it('raises on the first reading above the threshold, with the alert fields', () => {
    const r = reading({ temperature: 85 });
    const decision = decide(undefined, r, hot, 85);
    expect(decision.kind).toBe('update');
    if (decision.kind !== 'update') return;
    expect(decision.effect?.type).toBe('raise');
    expect(decision.effect?.alert).toEqual({
      alertId: alertIdFor('dev-1', 'hot', r.eventId),
      deviceId: 'dev-1',
      ruleId: 'hot',
      metric: 'temperature',
      value: 85,
      threshold: 80,
      comparison: '>',
      severity: 'critical',
      state: 'open',
      raisedAt: r.occurredAt,
      eventId: r.eventId,
    });
    expect(decision.next).toMatchObject({ open: true, consecutive: 1, version: 1, lastRaisedAt: r.occurredAt });
    expect(decision.next.positions).toEqual({ [r.position.shardId]: r.position.sequenceNumber });
  });

  it('a reading written to the stream again (new position, same id) is a replay, also after newer readings', () => {
    const raise = reading({ temperature: 85 });
    const oldLow = reading({ temperature: 20 });
    const later = [90, 91, 92].map((t, i) => reading({ temperature: t }, i + 1));
    const replayedLow = {
      ...oldLow,
      position: { shardId: oldLow.position.shardId, sequenceNumber: '4959999999999999999999' },
    };
    const { state, effects } = run(hot, [raise, oldLow, ...later, replayedLow]);
    // the old low reading resolved once; its copy, re-put later with a higher sequence number, changes nothing
    expect(effects).toEqual(['raise', 'resolve', '-', '-', '-', 'replay']);
    expect(state?.recentEventIds).toContain(oldLow.eventId);
  });

  it('does not write anything for a healthy device without state', () => {
    expect(decide(undefined, reading({ temperature: 20 }), hot, 20)).toEqual({ kind: 'unchanged' });
  });

  it('a sustained condition raises once; the first reading under the threshold resolves', () => {
    const readings = [85, 90, 95, 81, 99, 86].map((t, i) => reading({ temperature: t }, i));
    const below = reading({ temperature: 20 }, 7);
    const { state, effects } = run(hot, [...readings, below]);
    expect(effects).toEqual(['raise', '-', '-', '-', '-', '-', 'resolve']);
    expect(state).toMatchObject({ open: false, consecutive: 0 });
    expect(state?.resolutions).toEqual([
      { eventId: below.eventId, alertId: alertIdFor('dev-1', 'hot', readings[0]?.eventId as string) },
    ]);
    expect(state?.alert).toMatchObject({
      state: 'resolved',
      resolvedAt: below.occurredAt,
      resolvedEventId: below.eventId,
      resolvedValue: 20,
      eventId: readings[0]?.eventId,
      value: 85,
    });
  });

  it('after a resolve, no new alert within the cooldown since the raise; one once it has passed', () => {
    const { effects } = run(hot, [
      reading({ temperature: 85 }, 0), // raise
      reading({ temperature: 20 }, 1), // resolve
      reading({ temperature: 85 }, 5), // within 15 min of the raise
      reading({ temperature: 85 }, 14.99),
      reading({ temperature: 85 }, 15), // cooldown over: raise
      reading({ temperature: 86 }, 16),
    ]);
    expect(effects).toEqual(['raise', 'resolve', '-', '-', 'raise', '-']);
  });

  it('an open alert is not raised again, even when the condition outlasts the cooldown', () => {
    const minutes = [0, 10, 20, 30, 45, 60];
    const { effects } = run(
      hot,
      minutes.map((m) => reading({ temperature: 90 }, m)),
    );
    expect(effects).toEqual(['raise', '-', '-', '-', '-', '-']);
  });

  it('a zero cooldown allows a raise right after a resolve', () => {
    const instant = { ...hot, cooldownMinutes: 0 };
    const { effects } = run(instant, [
      reading({ temperature: 85 }, 0),
      reading({ temperature: 1 }, 0),
      reading({ temperature: 85 }, 0),
    ]);
    expect(effects).toEqual(['raise', 'resolve', 'raise']);
  });

  it('a window raises only after N consecutive readings; a good reading in between restarts the count', () => {
    const b = (v: number, m: number) => reading({ battery: v }, m);
    const { effects, state } = run(lowBattery, [b(5, 0), b(4, 1), b(50, 2), b(5, 3), b(5, 4), b(3, 5), b(2, 6)]);
    expect(effects).toEqual(['-', '-', '-', '-', '-', 'raise', '-']);
    expect(state?.consecutive).toBe(4);
  });

  it('a reading applied before (same shard, same or earlier sequence number, or same event) is a replay', () => {
    const first = reading({ temperature: 85 });
    const second = reading({ temperature: 85 });
    const { state } = run(hot, [first, second]);
    if (!state) throw new Error('no state');
    expect(decide(state, first, hot, 85)).toEqual({ kind: 'replay' });
    expect(decide(state, second, hot, 85)).toEqual({ kind: 'replay' });
    expect(decide(state, { ...second, position: { ...second.position, sequenceNumber: '1' } }, hot, 85).kind).toBe(
      'replay',
    );
    // The same event again at a later position (a producer retry) is recognised by its id.
    expect(decide(state, { ...second, position: { shardId: 'other', sequenceNumber: '1' } }, hot, 85).kind).toBe(
      'replay',
    );
    // Another shard's reading cannot be ordered against this one: it is applied.
    const elsewhere = reading({ temperature: 85 }, 1, { position: { shardId: 'shardId-1', sequenceNumber: '1' } });
    expect(decide(state, elsewhere, hot, 85).kind).toBe('update');
  });

  it('asRaised strips the resolution', () => {
    const { state } = run(hot, [reading({ temperature: 85 }), reading({ temperature: 1 })]);
    if (!state?.alert) throw new Error('no alert');
    expect(asRaised(state.alert)).toEqual({
      ...state.alert,
      state: 'open',
      resolvedAt: undefined,
      resolvedEventId: undefined,
      resolvedValue: undefined,
    });
    expect(Object.keys(asRaised(state.alert))).not.toContain('resolvedAt');
  });
});

describe("decideGroup: one pair's readings of a batch, one write", () => {
  const group = (rule: AlertRule, readings: Reading[]) =>
    readings.map((r) => ({ reading: r, value: r.metrics[rule.metric] as number }));

  it('a healthy device at rest: nothing to write', () => {
    const { state } = run(hot, [reading({ temperature: 85 }), reading({ temperature: 20 })]);
    const plan = decideGroup(
      state,
      group(
        hot,
        [20, 21, 22].map((t) => reading({ temperature: t }, 1)),
      ),
      hot,
    );
    expect(plan).toEqual({ count: 3, steps: [{ kind: 'applied' }, { kind: 'applied' }, { kind: 'applied' }] });
    expect(decideGroup(undefined, group(hot, [reading({ temperature: 20 })]), hot).next).toBeUndefined();
  });

  it('the same outcome as deciding reading by reading, in one write that records every reading', () => {
    const readings = [20, 85, 90, 20, 30, 95].map((t, i) => reading({ temperature: t }, i * 20));
    const oneByOne = run(hot, readings);
    const plan = decideGroup(undefined, group(hot, readings), hot);
    expect(plan.steps.map((s) => (s.kind === 'applied' ? (s.effect?.type ?? '-') : s.kind))).toEqual(
      oneByOne.effects.map((e) => (e === 'unchanged' ? '-' : e)),
    );
    const { version: _v, recentEventIds: _r, ...rest } = oneByOne.state as RuleState;
    expect(plan.next).toMatchObject({ ...rest, version: 1 });
    // Also the first reading, which alone changed nothing: everything the batch applied is recognised on replay.
    expect(plan.next?.recentEventIds).toEqual(readings.map((r) => r.eventId));
    expect(plan.next?.lastEventId).toBe(readings[5]?.eventId);
  });

  it('guards the write with the rule only when its first transition is a raise', () => {
    const raising = decideGroup(undefined, group(hot, [reading({ temperature: 85 }, 3)]), hot);
    expect(raising.raise).toEqual({ cutoff: cooldownCutoff(new Date(T0 + 3 * 60_000).toISOString(), 15) });
    const { state } = run(hot, [reading({ temperature: 85 }, 0)]);
    // resolve, then a raise past the cooldown: the stored item has the alert open, so only the version guards it
    const plan = decideGroup(
      state,
      group(hot, [reading({ temperature: 20 }, 1), reading({ temperature: 90 }, 20)]),
      hot,
    );
    expect(plan.steps.map((s) => s.kind === 'applied' && s.effect?.type)).toEqual(['resolve', 'raise']);
    expect(plan.raise).toBeUndefined();
    expect(plan.next?.version).toBe((state?.version ?? 0) + 1);
  });

  it("stops after MAX_TRANSITIONS_PER_WRITE raises and resolves, so each is still in the state's lists", () => {
    const instant = { ...hot, cooldownMinutes: 0 };
    const flapping = Array.from({ length: 12 }, (_, i) => reading({ temperature: i % 2 === 0 ? 90 : 10 }, i));
    const plan = decideGroup(undefined, group(instant, flapping), instant);
    expect(plan.count).toBe(MAX_TRANSITIONS_PER_WRITE);
    const refs = [...(plan.next?.raises ?? []), ...(plan.next?.resolutions ?? [])].map((r) => r.eventId).sort();
    expect(refs).toEqual(
      flapping
        .slice(0, MAX_TRANSITIONS_PER_WRITE)
        .map((r) => r.eventId)
        .sort(),
    );
    const rest = decideGroup(plan.next, group(instant, flapping.slice(plan.count)), instant);
    expect(rest.next?.version).toBe(2);
  });

  it('tells readings applied before (replays) from copies within the batch (duplicates)', () => {
    const first = reading({ battery: 5 });
    const { state } = run(lowBattery, [first]);
    const second = reading({ battery: 5 });
    const copy = { ...second, position: { ...second.position, sequenceNumber: `${second.position.sequenceNumber}0` } };
    const plan = decideGroup(state, group(lowBattery, [first, second, copy]), lowBattery);
    expect(plan.steps.map((s) => s.kind)).toEqual(['replay', 'applied', 'duplicate']);
    expect(plan.next?.consecutive).toBe(2);
  });
});

describe('toReading', () => {
  const envelope = (over: Partial<EventEnvelope> = {}): EventEnvelope => ({
    id: 'e1',
    type: 'device.telemetry',
    source: 'dev-1',
    occurredAt: '2026-03-01T10:00:00+01:00',
    receivedAt: '2026-03-01T09:00:01.000Z',
    principalId: 'device:dev-1',
    traceId: 'e1',
    data: { metrics: { temperature: 85, label: 'x', bad: null } },
    ...over,
  });
  const position = { shardId: 's', sequenceNumber: '1' };

  it('keeps numeric metrics and normalises the time to UTC', () => {
    expect(toReading(envelope(), position)).toEqual({
      reading: {
        eventId: 'e1',
        deviceId: 'dev-1',
        occurredAt: '2026-03-01T09:00:00.000Z',
        metrics: { temperature: 85 },
        position,
      },
    });
  });

  it('ignores other event types quietly and skips unusable telemetry with a reason', () => {
    expect(toReading(envelope({ type: 'payment.success' }), position)).toEqual({
      skip: 'not device telemetry (payment.success)',
      ignored: true,
    });
    // Telemetry a device did not send itself (a service posting device.telemetry) never raises an alert.
    expect(toReading(envelope({ principalId: 'svc-orders' }), position)).toMatchObject({ ignored: true });
    expect(toReading(envelope({ source: 'a#b', principalId: 'device:a#b' }), position)).toEqual({
      skip: 'source is not a device id',
    });
    expect(toReading(envelope({ occurredAt: 'soon' }), position)).toEqual({ skip: 'occurredAt is not a time' });
    expect(toReading(envelope({ data: { metrics: 5 } }), position)).toEqual({ skip: 'data.metrics is not an object' });
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Notifications

const message = (i: number, type: AlertMessageType = 'alert.raised'): AlertMessage => ({
  type,
  alert: {
    alertId: `a-${i}`,
    deviceId: `dev-${i % 3}`,
    ruleId: 'hot',
    metric: 'temperature',
    value: 85,
    threshold: 80,
    comparison: '>',
    severity: 'critical',
    state: 'open',
    raisedAt: '2026-03-01T10:00:00.000Z',
    eventId: `e-${i}`,
  },
});

describe('SQS batch entries', () => {
  it('at most 10 per call, Ids unique within a call, bodies are the messages', () => {
    const messages = Array.from({ length: 23 }, (_, i) => message(i));
    const batches = toQueueBatches(messages);
    expect(batches.map((b) => b.length)).toEqual([10, 10, 3]);
    expect(MAX_QUEUE_BATCH).toBe(10);
    for (const batch of batches) expect(new Set(batch.map((e) => e.Id)).size).toBe(batch.length);
    expect(batches.flat().map((e) => JSON.parse(e.MessageBody))).toEqual(messages);
    expect(toQueueBatches([])).toEqual([]);
    expect(toQueueBatches(messages.slice(0, 10))).toHaveLength(1);
  });
});

type BatchInput = { Entries: { Id: string; MessageBody: string }[] };
function fakeSqs(answer: (entries: BatchInput['Entries'], call: number) => unknown) {
  const calls: BatchInput['Entries'][] = [];
  return {
    calls,
    client: {
      send: async (command: unknown) => {
        if (!(command instanceof SendMessageBatchCommand)) throw new Error('unexpected command');
        const entries = (command.input as BatchInput).Entries;
        calls.push(entries);
        return answer(entries, calls.length);
      },
    },
  };
}
const noSleep = { attempts: 3, baseDelayMs: 1, sleep: async () => {} };

describe('SqsAlertQueue', () => {
  it('sends 23 messages in three calls of at most 10', async () => {
    const sqs = fakeSqs(() => ({ Successful: [], Failed: [] }));
    const queue = new SqsAlertQueue(sqs.client as never, 'url', noSleep);
    expect(await queue.send(Array.from({ length: 23 }, (_, i) => message(i)))).toEqual([]);
    expect(sqs.calls.map((c) => c.length).sort()).toEqual([10, 10, 3]);
  });

  it('retries only the refused entries, and gives up on a sender fault at once', async () => {
    const sqs = fakeSqs((entries, call) => {
      if (call === 1)
        return {
          Failed: [
            { Id: 'm1', SenderFault: false, Code: 'InternalError' },
            { Id: 'm3', SenderFault: true, Code: 'InvalidMessageContents' },
          ],
        };
      return { Failed: entries.filter((e) => e.Id === 'm4').map((e) => ({ Id: e.Id, SenderFault: false })) };
    });
    const queue = new SqsAlertQueue(sqs.client as never, 'url', noSleep);
    const messages = Array.from({ length: 5 }, (_, i) => message(i));
    sqs.calls.length = 0;
    const undelivered = await queue.send(messages);
    expect(sqs.calls[0]?.map((e) => e.Id)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    expect(sqs.calls[1]?.map((e) => e.Id)).toEqual(['m1']);
    expect(sqs.calls).toHaveLength(2);
    expect(undelivered).toEqual([messages[3]]);
  });

  it('a call that throws leaves its entries pending; after the attempts they are reported undelivered', async () => {
    const sqs = fakeSqs((_, call) => {
      if (call < 3) throw new Error('socket hang up');
      return { Failed: [{ Id: 'm0', SenderFault: false }] };
    });
    const queue = new SqsAlertQueue(sqs.client as never, 'url', noSleep);
    const messages = [message(0), message(1)];
    expect(await queue.send(messages)).toEqual([messages[0]]);
    expect(sqs.calls).toHaveLength(3);
  });
});

describe('IotAlertPublisher and AlertFanOut', () => {
  it('publishes each message on the device alerts topic with QoS 1', async () => {
    const sent: { topic: string; qos: number; payload: string }[] = [];
    const publisher = new IotAlertPublisher({
      send: async (command: { input: { topic: string; qos: number; payload: Uint8Array } }) => {
        if (command.input.topic === 'devices/dev-2/alerts') throw new Error('throttled');
        sent.push({ ...command.input, payload: Buffer.from(command.input.payload).toString() });
        return {};
      },
    } as never);
    const messages = [message(0), message(1), message(2)];
    expect(await publisher.publish(messages)).toEqual([messages[2]]);
    expect(sent).toEqual([
      { topic: 'devices/dev-0/alerts', qos: 1, payload: JSON.stringify(messages[0]) },
      { topic: 'devices/dev-1/alerts', qos: 1, payload: JSON.stringify(messages[1]) },
    ]);
  });

  it('a message is delivered only when both channels took it', async () => {
    const messages = [message(0), message(1), message(2)];
    const fanOut = new AlertFanOut(
      { send: async () => [messages[0] as AlertMessage] },
      { publish: async () => [messages[0] as AlertMessage, messages[2] as AlertMessage] },
    );
    expect((await fanOut.deliver(messages)).failed).toEqual([messages[0], messages[2]]);
  });

  it('says which channel took a message the other refused, and sends a message only where it is missing', async () => {
    const messages = [message(0), message(1)];
    const queued: AlertMessage[] = [];
    const published: AlertMessage[] = [];
    const fanOut = new AlertFanOut(
      {
        send: async (ms) => {
          queued.push(...ms);
          return ms.filter((m) => m === messages[0]);
        },
      },
      {
        publish: async (ms) => {
          published.push(...ms);
          return [];
        },
      },
    );
    const first = await fanOut.deliver(messages);
    expect(first.failed).toEqual([messages[0]]);
    expect([...first.tookFailed]).toEqual([[messageKey(messages[0] as AlertMessage), ['device']]]);
    queued.length = 0;
    published.length = 0;
    const retry = await fanOut.deliver([messages[0] as AlertMessage], first.tookFailed);
    expect(published).toEqual([]);
    expect(queued).toEqual([messages[0]]);
    expect(retry.failed).toEqual([messages[0]]);
    expect(retry.tookFailed.size).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// GET /alerts

const rejects = (params: Record<string, string>) => {
  try {
    parseAlertQuery(params);
    return undefined;
  } catch (error) {
    if (error instanceof Rejection && error.kind === 'invalid') return error.message;
    throw error;
  }
};

describe('parseAlertQuery', () => {
  it('defaults and normalises', () => {
    expect(parseAlertQuery(null)).toEqual({ limit: 50 });
    expect(parseAlertQuery({ deviceId: '', state: '', since: '', limit: '' })).toEqual({ limit: 50 });
    expect(
      parseAlertQuery({ deviceId: 'dev-1', state: 'open', since: '2026-03-01T11:00:00+01:00', limit: '5' }),
    ).toEqual({ deviceId: 'dev-1', state: 'open', since: '2026-03-01T10:00:00.000Z', limit: 5 });
  });

  it.each([
    [{ device: 'dev-1' }, /unknown query parameter/],
    [{ state: 'closed' }, /state must be open or resolved/],
    [{ deviceId: 'a/b' }, /deviceId/],
    [{ limit: '0' }, /limit/],
    [{ limit: '101' }, /limit/],
    [{ since: 'yesterday' }, /since/],
    [{ since: '2026-03-02T00:00:00Z', until: '2026-03-01T00:00:00Z' }, /since must not be after until/],
    [{ cursor: 'not-a-cursor' }, /cursor/],
    [{ deviceId: 'dev-1', cursor: encodeCursor({ open: 'done' }) as string }, /cursor does not belong/],
    [{ cursor: encodeCursor({ after: '2026-03-01T10:00:00.000Z#x' }) as string }, /cursor does not belong/],
  ])('refuses %j', (params, message) => {
    expect(rejects(params)).toMatch(message);
  });

  it('accepts the cursors it hands out', () => {
    const key = raisedAtKey({ raisedAt: '2026-03-01T10:00:00.000Z', alertId: alertIdFor('d', 'r', 'e') });
    expect(parseAlertQuery({ deviceId: 'd', cursor: encodeCursor({ after: key }) as string }).cursor).toEqual({
      after: key,
    });
    expect(parseAlertQuery({ cursor: encodeCursor({ open: 'done', resolved: key }) as string }).cursor).toEqual({
      open: 'done',
      resolved: key,
    });
  });
});

/** Alerts at minute offsets, with a state. */
function alertAt(minute: number, state: 'open' | 'resolved', deviceId = 'dev-1'): Alert {
  const raisedAt = new Date(T0 + minute * 60_000).toISOString();
  return {
    ...(message(minute).alert as Alert),
    alertId: alertIdFor(deviceId, 'hot', `e${minute}`),
    deviceId,
    state,
    raisedAt,
  };
}

/** A store that answers partition queries from a list, like the GSIs would (newest first, exclusive start). */
function listingStore(alerts: Alert[]) {
  const queries: AlertPartitionQuery[] = [];
  return {
    queries,
    async queryAlerts(q: AlertPartitionQuery) {
      queries.push(q);
      const matching = alerts
        .filter((a) => (q.index === 'byState' ? a.state === q.key : a.deviceId === q.key))
        .filter((a) => q.state === undefined || a.state === q.state)
        .filter((a) => q.since === undefined || raisedAtKey(a) >= q.since)
        .filter((a) => q.until === undefined || raisedAtKey(a) <= `${q.until}$`)
        .filter((a) => q.after === undefined || raisedAtKey(a) < q.after)
        .sort((x, y) => (raisedAtKey(x) < raisedAtKey(y) ? 1 : -1));
      const items = matching.slice(0, q.limit);
      const last = items[items.length - 1];
      return { items, ...(matching.length > q.limit && last ? { resumeAfter: raisedAtKey(last) } : {}) };
    },
  };
}

async function allPages(store: ReturnType<typeof listingStore>, params: Record<string, string>) {
  const pages: Alert[][] = [];
  let cursor: string | null = null;
  do {
    const page = await listAlerts(store, parseAlertQuery({ ...params, ...(cursor ? { cursor } : {}) }));
    pages.push(page.items);
    cursor = page.nextCursor;
  } while (cursor && pages.length < 50);
  return pages;
}

describe('listAlerts', () => {
  const alerts = [
    alertAt(1, 'resolved'),
    alertAt(2, 'open', 'dev-2'),
    alertAt(3, 'resolved', 'dev-2'),
    alertAt(4, 'open'),
    alertAt(5, 'resolved'),
    alertAt(6, 'open'),
    alertAt(7, 'resolved', 'dev-2'),
  ];
  const minutes = (items: Alert[]) => items.map((a) => (Date.parse(a.raisedAt) - T0) / 60_000);

  it('with deviceId: that device, newest first, state filter passed to the byDevice query', async () => {
    const store = listingStore(alerts);
    const page = await listAlerts(store, parseAlertQuery({ deviceId: 'dev-1', state: 'open' }));
    expect(minutes(page.items)).toEqual([6, 4]);
    expect(page.nextCursor).toBeNull();
    expect(store.queries).toEqual([{ index: 'byDevice', key: 'dev-1', state: 'open', limit: 50 }]);
  });

  it('with state only: the byState partition, paged by cursor without gaps or repeats', async () => {
    const store = listingStore(alerts);
    expect((await allPages(store, { state: 'resolved', limit: '2' })).map(minutes)).toEqual([
      [7, 5],
      [3, 1],
    ]);
    expect(store.queries.every((q) => q.index === 'byState' && q.key === 'resolved')).toBe(true);
  });

  it('without deviceId and state: both states merged newest first, paged', async () => {
    const store = listingStore(alerts);
    const pages = await allPages(store, { limit: '3' });
    expect(pages.map(minutes)).toEqual([[7, 6, 5], [4, 3, 2], [1]]);
    const one = await allPages(listingStore(alerts), { limit: '1' });
    expect(one.flat().map((a) => a.alertId)).toEqual([...alerts].reverse().map((a) => a.alertId));
  });

  it('applies since and until', async () => {
    const since = new Date(T0 + 3 * 60_000).toISOString();
    const until = new Date(T0 + 6 * 60_000).toISOString();
    const page = await listAlerts(listingStore(alerts), parseAlertQuery({ since, until }));
    expect(minutes(page.items)).toEqual([6, 5, 4, 3]);
  });

  it('mergeNewestFirst keeps the place of a partition it took nothing from', () => {
    const page = mergeNewestFirst(
      [
        { state: 'open', position: undefined, items: [alertAt(9, 'open'), alertAt(8, 'open')], more: true },
        { state: 'resolved', position: 'prev', items: [alertAt(1, 'resolved')], more: false },
      ],
      2,
    );
    expect(minutes(page.items)).toEqual([9, 8]);
    expect(decodeCursor(page.nextCursor ?? undefined)).toEqual({
      open: raisedAtKey(alertAt(8, 'open')),
      resolved: 'prev',
    });
  });
});
