import { describe, expect, it } from 'vitest';
import type { Alert, AlertMessage } from '../../shared/domain/alerts/model';
import type { EventEnvelope } from '../../shared/domain/events';
import {
  alertFrames,
  alertMatches,
  ClientMessageSchema,
  type Connection,
  DeliverySequencer,
  eventFrames,
  eventMatches,
  MAX_PUSH_BYTES,
  type Owed,
  owedByConnection,
  type PushFrame,
  type Subscription,
  type SubscriptionFilter,
  SubscriptionFilterSchema,
  subscriptionRefusal,
} from '../../shared/domain/subscriptions';

/** Subscription filters, client messages, matching, refusals and the packing of pushed messages (ADR 0014). */

const filter = (input: unknown): SubscriptionFilter => SubscriptionFilterSchema.parse(input);

const issues = (input: unknown): { path: string; message: string }[] => {
  const parsed = SubscriptionFilterSchema.safeParse(input);
  return parsed.success ? [] : parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
};

const event = (type: string, source: string, extra: Partial<EventEnvelope> = {}): EventEnvelope => ({
  id: `${type}:${source}:${extra.id ?? 'x'}`,
  type,
  source,
  occurredAt: '2026-01-01T00:00:00.000Z',
  receivedAt: '2026-01-01T00:00:00.000Z',
  principalId: 'p1',
  traceId: 't1',
  data: {},
  ...extra,
});

const alert = (type: AlertMessage['type'], deviceId: string): AlertMessage => {
  const body: Alert = {
    alertId: `a-${deviceId}`,
    deviceId,
    ruleId: 'hot',
    metric: 'temperature',
    value: 90,
    threshold: 80,
    comparison: '>',
    severity: 'critical',
    state: type === 'alert.raised' ? 'open' : 'resolved',
    raisedAt: '2026-01-01T00:00:00.000Z',
    eventId: 'e1',
  };
  return { type, alert: body };
};

const connection = (
  connectionId: string,
  subscriptions: Subscription[],
  extra: Partial<Connection> = {},
): Connection => ({
  connectionId,
  principalId: `p-${connectionId}`,
  principalName: connectionId,
  role: 'reader',
  mayRead: { events: true, alerts: true },
  subscriptions,
  connectedAt: '2026-01-01T00:00:00.000Z',
  ...extra,
});

const sub = (id: string, input: unknown): Subscription => ({ id, filter: filter(input) });

describe('SubscriptionFilterSchema', () => {
  it('accepts each field as one value and returns it as a list', () => {
    expect(filter({ type: 'payment.*', source: 'shop', deviceId: 'd-1' })).toEqual({
      type: ['payment.*'],
      source: ['shop'],
      deviceId: ['d-1'],
    });
  });

  it('accepts each field as a list and keeps the list', () => {
    expect(filter({ type: ['payment.*', 'order.created'], source: ['a', 'b'] })).toEqual({
      type: ['payment.*', 'order.created'],
      source: ['a', 'b'],
    });
  });

  it('accepts an empty filter, which matches any event', () => {
    expect(filter({})).toEqual({});
  });

  it('refuses a bad type pattern and names the field it is in', () => {
    expect(issues({ type: 'Payment Success' })).toEqual([{ path: 'type', message: 'must be *, a.b, or a.*' }]);
  });

  it('refuses a bad type pattern in a list and names its index', () => {
    expect(issues({ type: ['payment.*', 'pay*ment'] })).toEqual([
      { path: 'type.1', message: 'must be *, a.b, or a.*' },
    ]);
  });

  it('refuses a bad device id and names the field', () => {
    expect(issues({ deviceId: 'has space' }).map((i) => i.path)).toEqual(['deviceId']);
  });

  it('refuses an alert subscription that also filters by type', () => {
    expect(issues({ alertState: 'raised', type: 'payment.*' })).toEqual([
      { path: '', message: 'an alert subscription (alertState) filters by deviceId only, not by type or source' },
    ]);
  });

  it('refuses an alert subscription that also filters by source', () => {
    expect(issues({ alertState: ['raised', 'resolved'], source: 'shop' })).toHaveLength(1);
  });

  it('accepts an alert subscription filtered by device', () => {
    expect(filter({ alertState: 'resolved', deviceId: ['d-1', 'd-2'] })).toEqual({
      alertState: ['resolved'],
      deviceId: ['d-1', 'd-2'],
    });
  });

  it('refuses an unknown alert state', () => {
    expect(issues({ alertState: 'open' }).map((i) => i.path)).toEqual(['alertState']);
  });

  it('refuses an unknown field (the filter is strict)', () => {
    const parsed = SubscriptionFilterSchema.safeParse({ type: 'a.b', priority: 'high' });
    expect(parsed.error?.issues[0]?.code).toBe('unrecognized_keys');
  });

  it('refuses an empty list', () => {
    expect(issues({ source: [] }).map((i) => i.path)).toEqual(['source']);
  });

  it('accepts 20 types and 20 sources but refuses 21 of either', () => {
    const types = Array.from({ length: 21 }, (_, i) => `t${i}.x`);
    const sources = Array.from({ length: 21 }, (_, i) => `s${i}`);
    expect(issues({ type: types.slice(0, 20), source: sources.slice(0, 20) })).toEqual([]);
    expect(issues({ type: types }).map((i) => i.path)).toEqual(['type']);
    expect(issues({ source: sources }).map((i) => i.path)).toEqual(['source']);
  });

  it('accepts 100 device ids but refuses 101', () => {
    const devices = Array.from({ length: 101 }, (_, i) => `d-${i}`);
    expect(issues({ deviceId: devices.slice(0, 100) })).toEqual([]);
    expect(issues({ deviceId: devices }).map((i) => i.path)).toEqual(['deviceId']);
  });

  it('refuses a list of three alert states', () => {
    expect(issues({ alertState: ['raised', 'resolved', 'raised'] }).map((i) => i.path)).toEqual(['alertState']);
  });

  it('refuses a source longer than 256 characters', () => {
    expect(issues({ source: 's'.repeat(256) })).toEqual([]);
    expect(issues({ source: 's'.repeat(257) }).map((i) => i.path)).toEqual(['source']);
  });
});

describe('ClientMessageSchema', () => {
  it('parses a subscribe message with an id and a filter', () => {
    expect(ClientMessageSchema.parse({ action: 'subscribe', id: 'pay-1', filter: { type: 'payment.*' } })).toEqual({
      action: 'subscribe',
      id: 'pay-1',
      filter: { type: ['payment.*'] },
    });
  });

  it('parses a subscribe message without an id', () => {
    expect(ClientMessageSchema.parse({ action: 'subscribe', filter: {} })).toEqual({ action: 'subscribe', filter: {} });
  });

  it('refuses a subscribe message without a filter', () => {
    expect(ClientMessageSchema.safeParse({ action: 'subscribe', id: 'a' }).success).toBe(false);
  });

  it('refuses a subscribe message whose filter is invalid, naming the path in the filter', () => {
    const parsed = ClientMessageSchema.safeParse({ action: 'subscribe', filter: { type: 'BAD' } });
    expect(parsed.error?.issues[0]?.path).toEqual(['filter', 'type']);
  });

  it('parses an unsubscribe message with an id', () => {
    expect(ClientMessageSchema.parse({ action: 'unsubscribe', id: 'pay-1' })).toEqual({
      action: 'unsubscribe',
      id: 'pay-1',
    });
  });

  it('refuses an unsubscribe message without an id', () => {
    expect(ClientMessageSchema.safeParse({ action: 'unsubscribe' }).success).toBe(false);
  });

  it('refuses a subscription id with characters outside letters, digits, _ . -', () => {
    expect(ClientMessageSchema.safeParse({ action: 'unsubscribe', id: 'a b' }).success).toBe(false);
    expect(ClientMessageSchema.safeParse({ action: 'unsubscribe', id: 'x'.repeat(65) }).success).toBe(false);
    expect(ClientMessageSchema.safeParse({ action: 'unsubscribe', id: 'x'.repeat(64) }).success).toBe(true);
  });

  it('parses a ping message', () => {
    expect(ClientMessageSchema.parse({ action: 'ping' })).toEqual({ action: 'ping' });
  });

  it('refuses a ping message with an extra field', () => {
    expect(ClientMessageSchema.safeParse({ action: 'ping', id: 'a' }).success).toBe(false);
  });

  it('refuses an unknown action, naming the action field', () => {
    const parsed = ClientMessageSchema.safeParse({ action: 'publish', filter: {} });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.path).toEqual(['action']);
  });
});

describe('eventMatches', () => {
  it('matches payment.success with the pattern payment.* but not payment itself or paymentx.success', () => {
    const f = filter({ type: 'payment.*' });
    expect(eventMatches(f, event('payment.success', 'shop'))).toBe(true);
    expect(eventMatches(f, event('payment', 'shop'))).toBe(false);
    expect(eventMatches(f, event('paymentx.success', 'shop'))).toBe(false);
    expect(eventMatches(f, event('order.created', 'shop'))).toBe(false);
  });

  it('matches an exact type only with that type', () => {
    const f = filter({ type: 'payment.success' });
    expect(eventMatches(f, event('payment.success', 'shop'))).toBe(true);
    expect(eventMatches(f, event('payment.failed', 'shop'))).toBe(false);
  });

  it('matches any type with the pattern *', () => {
    const f = filter({ type: '*' });
    expect(eventMatches(f, event('payment.success', 'shop'))).toBe(true);
    expect(eventMatches(f, event('device.telemetry', 'd-1'))).toBe(true);
  });

  it('matches any event with an empty filter', () => {
    expect(eventMatches(filter({}), event('order.created', 'shop'))).toBe(true);
  });

  it('matches a source filter only with one of its sources', () => {
    const f = filter({ source: ['shop', 'warehouse'] });
    expect(eventMatches(f, event('order.created', 'warehouse'))).toBe(true);
    expect(eventMatches(f, event('order.created', 'shopfront'))).toBe(false);
  });

  it('requires both the type and the source when both are given', () => {
    const f = filter({ type: 'order.*', source: 'shop' });
    expect(eventMatches(f, event('order.created', 'shop'))).toBe(true);
    expect(eventMatches(f, event('order.created', 'other'))).toBe(false);
    expect(eventMatches(f, event('payment.success', 'shop'))).toBe(false);
  });

  it('matches a device filter only with device.telemetry whose source is one of the devices', () => {
    const f = filter({ deviceId: ['d-1', 'd-2'] });
    expect(eventMatches(f, event('device.telemetry', 'd-1'))).toBe(true);
    expect(eventMatches(f, event('device.telemetry', 'd-3'))).toBe(false);
    expect(eventMatches(f, event('order.created', 'd-1'))).toBe(false);
  });

  it('never matches an event with an alert subscription', () => {
    expect(eventMatches(filter({ alertState: ['raised', 'resolved'] }), event('alert.raised', 'd-1'))).toBe(false);
    expect(eventMatches(filter({ alertState: 'raised', deviceId: 'd-1' }), event('device.telemetry', 'd-1'))).toBe(
      false,
    );
  });
});

describe('alertMatches', () => {
  it('never matches an alert with an event subscription', () => {
    expect(alertMatches(filter({}), alert('alert.raised', 'd-1'))).toBe(false);
    expect(alertMatches(filter({ deviceId: 'd-1' }), alert('alert.raised', 'd-1'))).toBe(false);
  });

  it('matches only the states it names', () => {
    const raised = filter({ alertState: 'raised' });
    expect(alertMatches(raised, alert('alert.raised', 'd-1'))).toBe(true);
    expect(alertMatches(raised, alert('alert.resolved', 'd-1'))).toBe(false);
    const resolved = filter({ alertState: 'resolved' });
    expect(alertMatches(resolved, alert('alert.resolved', 'd-1'))).toBe(true);
    expect(alertMatches(resolved, alert('alert.raised', 'd-1'))).toBe(false);
  });

  it('matches both states when both are named', () => {
    const both = filter({ alertState: ['raised', 'resolved'] });
    expect(alertMatches(both, alert('alert.raised', 'd-1'))).toBe(true);
    expect(alertMatches(both, alert('alert.resolved', 'd-9'))).toBe(true);
  });

  it('matches only the alerts of the devices it names', () => {
    const f = filter({ alertState: 'raised', deviceId: ['d-1', 'd-2'] });
    expect(alertMatches(f, alert('alert.raised', 'd-2'))).toBe(true);
    expect(alertMatches(f, alert('alert.raised', 'd-3'))).toBe(false);
  });
});

describe('subscriptionRefusal', () => {
  const mayRead = { events: true, alerts: true };

  it('refuses an event subscription to a principal that may not read events', () => {
    expect(
      subscriptionRefusal({ mayRead: { events: false, alerts: true }, subscriptions: [] }, sub('a', {}), 10),
    ).toMatch(/may not read events/);
  });

  it('refuses an alert subscription to a principal that may not read alerts', () => {
    expect(
      subscriptionRefusal(
        { mayRead: { events: true, alerts: false }, subscriptions: [] },
        sub('a', { alertState: 'raised' }),
        10,
      ),
    ).toMatch(/may not read alerts/);
  });

  it('accepts an alert subscription from a principal that may read alerts but not events', () => {
    expect(
      subscriptionRefusal(
        { mayRead: { events: false, alerts: true }, subscriptions: [] },
        sub('a', { alertState: 'raised' }),
        10,
      ),
    ).toBeUndefined();
  });

  it('accepts subscriptions up to the limit and refuses one more', () => {
    const two = [sub('a', {}), sub('b', {})];
    expect(subscriptionRefusal({ mayRead, subscriptions: two.slice(0, 1) }, sub('b', {}), 2)).toBeUndefined();
    expect(subscriptionRefusal({ mayRead, subscriptions: two }, sub('c', {}), 2)).toBe(
      'at most 2 subscriptions per connection; unsubscribe one first',
    );
  });

  it('does not count a subscription twice when its id is replaced at the limit', () => {
    const two = [sub('a', {}), sub('b', {})];
    expect(subscriptionRefusal({ mayRead, subscriptions: two }, sub('b', { type: 'x.*' }), 2)).toBeUndefined();
  });
});

describe('owedByConnection', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');

  it('lists the matching items of each connection in the order given', () => {
    const events = [event('order.created', 's', { id: '1' }), event('payment.success', 's', { id: '2' })];
    events.push(event('order.shipped', 's', { id: '3' }));
    const owed = owedByConnection(
      [connection('c1', [sub('orders', { type: 'order.*' })]), connection('c2', [sub('all', {})])],
      events,
      eventMatches,
      now,
    );
    expect(owed.get('c1')?.map((o) => o.item.id)).toEqual([events[0]?.id, events[2]?.id]);
    expect(owed.get('c2')?.map((o) => o.item.id)).toEqual(events.map((e) => e.id));
  });

  it('names every subscription of the connection that matched an item', () => {
    const owed = owedByConnection(
      [
        connection('c1', [
          sub('orders', { type: 'order.*' }),
          sub('shop', { source: 'shop' }),
          sub('x', { type: 'x.y' }),
        ]),
      ],
      [event('order.created', 'shop')],
      eventMatches,
      now,
    );
    expect(owed.get('c1')).toEqual([{ subscriptions: ['orders', 'shop'], item: event('order.created', 'shop') }]);
  });

  it('owes nothing to a connection whose credential has expired, and something to one that expires later', () => {
    const owed = owedByConnection(
      [
        connection('expired', [sub('all', {})], { credentialExpiresAt: now }),
        connection('valid', [sub('all', {})], { credentialExpiresAt: now + 1 }),
      ],
      [event('a.b', 's')],
      eventMatches,
      now,
    );
    expect([...owed.keys()]).toEqual(['valid']);
  });

  it('owes nothing to a connection without subscriptions or whose subscriptions match nothing', () => {
    const owed = owedByConnection(
      [connection('none', []), connection('other', [sub('x', { type: 'x.y' })])],
      [event('a.b', 's')],
      eventMatches,
      now,
    );
    expect(owed.size).toBe(0);
  });

  it('owes alerts only to alert subscriptions', () => {
    const owed = owedByConnection(
      [connection('events', [sub('all', {})]), connection('alerts', [sub('al', { alertState: 'raised' })])],
      [alert('alert.raised', 'd-1')],
      alertMatches,
      now,
    );
    expect([...owed.keys()]).toEqual(['alerts']);
  });
});

describe('DeliverySequencer', () => {
  it('numbers a connection from 1 without gaps', () => {
    const sequencer = new DeliverySequencer('s1');
    expect(sequencer.take('c1', 3)).toBe(1);
    expect(sequencer.take('c1', 2)).toBe(4);
    expect(sequencer.take('c1', 1)).toBe(6);
  });

  it('numbers each connection separately', () => {
    const sequencer = new DeliverySequencer('s1');
    expect(sequencer.take('c1', 5)).toBe(1);
    expect(sequencer.take('c2', 2)).toBe(1);
    expect(sequencer.take('c1', 1)).toBe(6);
    expect(sequencer.take('c2', 1)).toBe(3);
  });

  it('restarts a forgotten connection from 1', () => {
    const sequencer = new DeliverySequencer('s1');
    sequencer.take('c1', 5);
    sequencer.forget('c1');
    expect(sequencer.take('c1', 1)).toBe(1);
  });

  it('forgets the least recently numbered connection beyond its capacity', () => {
    const sequencer = new DeliverySequencer('s1', 2);
    sequencer.take('c1', 1);
    sequencer.take('c2', 1);
    sequencer.take('c1', 1); // c1 is now the most recent
    sequencer.take('c3', 1); // c2 is forgotten
    expect(sequencer.take('c1', 1)).toBe(3);
    expect(sequencer.take('c2', 1)).toBe(1);
  });
});

describe('eventFrames', () => {
  const owedOf = (events: EventEnvelope[]): Owed<EventEnvelope>[] =>
    events.map((item) => ({ subscriptions: ['s'], item }));
  const eventsOf = (frame: PushFrame | undefined) => (frame?.type === 'events' ? frame.events : []);
  const bigEvent = (n: number, bytes: number) =>
    event('blob.stored', 'shop', { id: `${n}`, data: { blob: 'x'.repeat(bytes) } });

  it('sends nothing when nothing is owed', () => {
    expect(eventFrames('c1', [], new DeliverySequencer('s'))).toEqual([]);
  });

  it('packs small events into one frame numbered from 1', () => {
    const events = [event('a.b', 's', { id: '1' }), event('a.c', 's', { id: '2' })];
    const frames = eventFrames('c1', owedOf(events), new DeliverySequencer('lambda-1:events'));
    expect(frames).toEqual([
      {
        type: 'events',
        stream: 'lambda-1:events',
        seq: 1,
        events: events.map((e) => ({ subscriptions: ['s'], event: e })),
      },
    ]);
  });

  it('packs events into frames under MAX_PUSH_BYTES, keeping every event and the order', () => {
    const events = Array.from({ length: 12 }, (_, n) => bigEvent(n, 30_000));
    const frames = eventFrames('c1', owedOf(events), new DeliverySequencer('lambda-1:events'));
    expect(frames.length).toBeGreaterThan(1);
    for (const frame of frames) {
      const bytes = Buffer.byteLength(JSON.stringify(frame));
      expect(bytes).toBeLessThan(MAX_PUSH_BYTES);
      expect(bytes).toBeLessThan(128 * 1024);
    }
    expect(frames.flatMap((f) => eventsOf(f).map((e) => e.event.id))).toEqual(events.map((e) => e.id));
    expect(frames.flatMap((f) => eventsOf(f).filter((e) => 'truncated' in e))).toEqual([]);
  });

  it('counts bytes, not characters, when packing multi-byte text', () => {
    const events = Array.from({ length: 6 }, (_, n) =>
      event('a.b', 's', { id: `${n}`, data: { text: '€'.repeat(12_000) } }),
    );
    for (const frame of eventFrames('c1', owedOf(events), new DeliverySequencer('s'))) {
      expect(Buffer.byteLength(JSON.stringify(frame))).toBeLessThan(MAX_PUSH_BYTES);
    }
  });

  it('numbers consecutive frames so their seq continues without gaps, across calls too', () => {
    const sequencer = new DeliverySequencer('s');
    const events = Array.from({ length: 9 }, (_, n) => bigEvent(n, 40_000));
    const frames = eventFrames('c1', owedOf(events), sequencer);
    let expected = 1;
    for (const frame of frames) {
      expect(frame.seq).toBe(expected);
      expected += eventsOf(frame).length;
    }
    expect(expected).toBe(10);
    expect(eventFrames('c1', owedOf([event('a.b', 's')]), sequencer)[0]?.seq).toBe(10);
  });

  it('sends an event too big alone as a truncated reference with id, type, source and occurredAt', () => {
    const huge = bigEvent(1, MAX_PUSH_BYTES);
    const small = event('a.b', 's', { id: '2' });
    const frames = eventFrames(
      'c1',
      [{ subscriptions: ['s1', 's2'], item: huge }, ...owedOf([small])],
      new DeliverySequencer('s'),
    );
    expect(frames).toHaveLength(1);
    expect(eventsOf(frames[0])).toEqual([
      {
        subscriptions: ['s1', 's2'],
        truncated: true,
        event: { id: huge.id, type: huge.type, source: huge.source, occurredAt: huge.occurredAt },
      },
      { subscriptions: ['s'], event: small },
    ]);
    expect(frames[0]?.seq).toBe(1);
  });
});

describe('alertFrames', () => {
  it('sends a batch of alerts for one connection in one numbered frame', () => {
    const sequencer = new DeliverySequencer('lambda-1:alerts');
    const messages = [alert('alert.raised', 'd-1'), alert('alert.resolved', 'd-1')];
    const frames = alertFrames(
      'c1',
      messages.map((item) => ({ subscriptions: ['al'], item })),
      sequencer,
    );
    expect(frames).toEqual([
      {
        type: 'alerts',
        stream: 'lambda-1:alerts',
        seq: 1,
        alerts: messages.map((m) => ({ subscriptions: ['al'], alert: m })),
      },
    ]);
    expect(sequencer.take('c1', 1)).toBe(3);
  });

  it('sends nothing and takes no number when nothing is owed', () => {
    const sequencer = new DeliverySequencer('s');
    expect(alertFrames('c1', [], sequencer)).toEqual([]);
    expect(sequencer.take('c1', 1)).toBe(1);
  });
});
