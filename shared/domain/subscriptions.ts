import { z } from 'zod';
import type { AlertMessage } from './alerts/model';
import type { EventEnvelope } from './events';
import { eventTypeAllowed } from './permissions';
import { EventTypePatternSchema } from './roles';
import { DeviceIdSchema, TELEMETRY_EVENT_TYPE } from './telemetry';

/**
 * Live subscriptions over the WebSocket API (ADR 0014): what a client may ask for, what it is sent, and which
 * connections an event or an alert goes to. Pure: the connections come in, the deliveries go out.
 */

/** A subscription filter as a client sends it: each field one value or a list; absent = any. */
const oneOrMany = <T extends z.ZodType>(item: T, max: number) =>
  z.union([item, z.array(item).min(1).max(max)]).transform((v) => (Array.isArray(v) ? v : [v]) as z.output<T>[]);

const SourceSchema = z.string().min(1).max(256);
export const AlertStateFilterSchema = z.enum(['raised', 'resolved']);

export const SubscriptionFilterSchema = z
  .strictObject({
    type: oneOrMany(EventTypePatternSchema, 20).optional(),
    source: oneOrMany(SourceSchema, 20).optional(),
    deviceId: oneOrMany(DeviceIdSchema, 100).optional(),
    /** Alerts instead of events: raised, resolved or both, optionally of some devices. */
    alertState: oneOrMany(AlertStateFilterSchema, 2).optional(),
  })
  .refine((f) => f.alertState === undefined || (f.type === undefined && f.source === undefined), {
    message: 'an alert subscription (alertState) filters by deviceId only, not by type or source',
  });
export type SubscriptionFilter = z.output<typeof SubscriptionFilterSchema>;

export const SubscriptionIdSchema = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 letters, digits, _ . -');

/** What a client sends on `$default`. */
export const ClientMessageSchema = z.discriminatedUnion('action', [
  z.strictObject({
    action: z.literal('subscribe'),
    id: SubscriptionIdSchema.optional(),
    filter: SubscriptionFilterSchema,
  }),
  z.strictObject({ action: z.literal('unsubscribe'), id: SubscriptionIdSchema }),
  z.strictObject({ action: z.literal('ping') }),
]);
export type ClientMessage = z.output<typeof ClientMessageSchema>;

/** A client message is small; a bigger one is refused before it is parsed. */
export const MAX_CLIENT_MESSAGE_BYTES = 8 * 1024;

export interface Subscription {
  id: string;
  filter: SubscriptionFilter;
}

/** What a connection item holds (the connections table), as the fan-out reads it. */
export interface Connection {
  connectionId: string;
  principalId: string;
  principalName: string;
  role: string;
  /** The API key whose revocation ends this connection: the key itself, or the one a token was exchanged for. */
  revocationKeyId?: string;
  /** Epoch ms at which the credential stops being valid (key expiry, token `exp`): the connection is closed then. */
  credentialExpiresAt?: number;
  /** What the principal may read, decided at `$connect` from its permissions (the HTTP API's read routes). */
  mayRead: { events: boolean; alerts: boolean };
  subscriptions: Subscription[];
  connectedAt: string;
}

/** Why a subscription is refused: told to the client, nothing changed. */
export function subscriptionRefusal(
  connection: Pick<Connection, 'mayRead' | 'subscriptions'>,
  subscription: Subscription,
  maxSubscriptions: number,
): string | undefined {
  const alerts = subscription.filter.alertState !== undefined;
  if (alerts && !connection.mayRead.alerts)
    return 'this principal may not read alerts (alerts.get.alert_list is not granted)';
  if (!alerts && !connection.mayRead.events)
    return 'this principal may not read events (events.get.event_list is not granted)';
  const others = connection.subscriptions.filter((s) => s.id !== subscription.id);
  if (others.length >= maxSubscriptions)
    return `at most ${maxSubscriptions} subscriptions per connection; unsubscribe one first`;
  return undefined;
}

export function eventMatches(filter: SubscriptionFilter, event: EventEnvelope): boolean {
  if (filter.alertState !== undefined) return false;
  if (filter.type && !eventTypeAllowed(filter.type, event.type)) return false;
  if (filter.source && !filter.source.includes(event.source)) return false;
  // A device's id is the source of its readings.
  if (filter.deviceId && !(event.type === TELEMETRY_EVENT_TYPE && filter.deviceId.includes(event.source))) return false;
  return true;
}

export function alertMatches(filter: SubscriptionFilter, message: AlertMessage): boolean {
  if (filter.alertState === undefined) return false;
  const state = message.type === 'alert.raised' ? 'raised' : 'resolved';
  if (!filter.alertState.includes(state)) return false;
  return !filter.deviceId || filter.deviceId.includes(message.alert.deviceId);
}

/** One item owed to one connection: what it is and which of the connection's subscriptions asked for it. */
export interface Owed<T> {
  subscriptions: string[];
  item: T;
}

/**
 * For each connection, the items it is owed, in the order given (stream order), with the subscriptions that matched.
 * A connection whose credential has expired is owed nothing (it is closed instead).
 */
export function owedByConnection<T>(
  connections: readonly Connection[],
  items: readonly T[],
  matches: (filter: SubscriptionFilter, item: T) => boolean,
  now: number,
): Map<string, Owed<T>[]> {
  const owed = new Map<string, Owed<T>[]>();
  for (const connection of connections) {
    if (connection.subscriptions.length === 0) continue;
    if (connection.credentialExpiresAt !== undefined && connection.credentialExpiresAt <= now) continue;
    const list: Owed<T>[] = [];
    for (const item of items) {
      const ids = connection.subscriptions.filter((s) => matches(s.filter, item)).map((s) => s.id);
      if (ids.length > 0) list.push({ subscriptions: ids, item });
    }
    if (list.length > 0) owed.set(connection.connectionId, list);
  }
  return owed;
}

/**
 * API Gateway's largest WebSocket message is 128 KB: deliveries are packed into messages under this, and an item
 * that alone would pass it is sent as a reference (fetch it with `GET /events/{id}`).
 */
export const MAX_PUSH_BYTES = 120 * 1024;

export type PushFrame =
  | { type: 'events'; stream: string; seq: number; events: ({ subscriptions: string[] } & PushedEvent)[] }
  | { type: 'alerts'; stream: string; seq: number; alerts: { subscriptions: string[]; alert: AlertMessage }[] };

type PushedEvent =
  | { event: EventEnvelope }
  | { truncated: true; event: Pick<EventEnvelope, 'id' | 'type' | 'source' | 'occurredAt'> };

/**
 * Numbers what one container sends to each connection: `stream` names the container and kind, `seq` counts items
 * within it without gaps, so a client that sees `seq` jump within one `stream` knows it missed items (dropped by a
 * failed post) and resumes with `GET /events?since=...`. A new `stream` value carries no continuity.
 */
export class DeliverySequencer {
  private readonly next = new Map<string, number>();

  constructor(
    readonly stream: string,
    private readonly maxConnections = 100_000,
  ) {}

  /** Reserves `count` numbers for a connection; returns the first. */
  take(connectionId: string, count: number): number {
    const first = this.next.get(connectionId) ?? 1;
    this.next.delete(connectionId); // re-inserted: the Map's order is the recency order
    this.next.set(connectionId, first + count);
    if (this.next.size > this.maxConnections) {
      const oldest = this.next.keys().next().value;
      if (oldest !== undefined) this.next.delete(oldest);
    }
    return first;
  }

  forget(connectionId: string): void {
    this.next.delete(connectionId);
  }
}

/** Packs a connection's owed events into messages under MAX_PUSH_BYTES, numbered by the sequencer. */
export function eventFrames(
  connectionId: string,
  owed: readonly Owed<EventEnvelope>[],
  sequencer: DeliverySequencer,
): PushFrame[] {
  const frames: PushFrame[] = [];
  let current: ({ subscriptions: string[] } & PushedEvent)[] = [];
  let bytes = 0;
  const flush = () => {
    if (current.length === 0) return;
    frames.push({
      type: 'events',
      stream: sequencer.stream,
      seq: sequencer.take(connectionId, current.length),
      events: current,
    });
    current = [];
    bytes = 0;
  };
  for (const { subscriptions, item } of owed) {
    let entry: { subscriptions: string[] } & PushedEvent = { subscriptions, event: item };
    let size = Buffer.byteLength(JSON.stringify(entry));
    if (size > MAX_PUSH_BYTES - 200) {
      const { id, type, source, occurredAt } = item;
      entry = { subscriptions, truncated: true, event: { id, type, source, occurredAt } };
      size = Buffer.byteLength(JSON.stringify(entry));
    }
    if (bytes + size > MAX_PUSH_BYTES - 200) flush();
    current.push(entry);
    bytes += size + 1;
  }
  flush();
  return frames;
}

export function alertFrames(
  connectionId: string,
  owed: readonly Owed<AlertMessage>[],
  sequencer: DeliverySequencer,
): PushFrame[] {
  // An alert message is a few hundred bytes: a batch's alerts for one connection fit one message.
  if (owed.length === 0) return [];
  return [
    {
      type: 'alerts',
      stream: sequencer.stream,
      seq: sequencer.take(connectionId, owed.length),
      alerts: owed.map((o) => ({ subscriptions: o.subscriptions, alert: o.item })),
    },
  ];
}

/** What `$default` answers (the route response). */
export type ClientReply =
  | { type: 'subscribed'; id: string; filter: SubscriptionFilter }
  | { type: 'unsubscribed'; id: string }
  | { type: 'pong' }
  | { type: 'error'; message: string };

/** Sent before the fan-out closes a connection: why. */
export interface DroppedNotice {
  type: 'dropped';
  reason: string;
}
