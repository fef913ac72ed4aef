import type { AlertMessage } from './alerts/model';
import type { EventEnvelope } from './events';
import {
  alertFrames,
  alertMatches,
  type Connection,
  DeliverySequencer,
  type DroppedNotice,
  eventFrames,
  eventMatches,
  owedByConnection,
  type PushFrame,
  type Subscription,
} from './subscriptions';

/**
 * Live delivery to WebSocket connections (ADR 0014): which connections exist (read again only when they changed, or
 * to re-check credentials), what each is owed, and the posts. At most once: a failed post is not retried (the
 * client sees the gap in `seq`); a gone connection is forgotten; a connection over its rate, or whose credential was
 * revoked or expired, is told why and closed. Nothing here waits on one slow connection for long: posts run in
 * parallel, each with the client's own timeout.
 */

/** The connections table, behind a port (`shared/aws/ws-connection-store.ts`). */
export interface ConnectionStore {
  /** A counter bumped by every connect, disconnect and subscription change (a strongly consistent read). */
  version(): Promise<number>;
  all(): Promise<Connection[]>;
  get(connectionId: string): Promise<Connection | undefined>;
  put(connection: Connection, expiresAtSeconds: number): Promise<void>;
  countByPrincipal(principalId: string): Promise<number>;
  /** Replaces the connection's subscriptions; false when the connection is gone. */
  setSubscriptions(connectionId: string, subscriptions: readonly Subscription[]): Promise<boolean>;
  delete(connectionId: string): Promise<void>;
  bumpVersion(): Promise<void>;
}

/** The management API (`PostToConnection`, `DeleteConnection`). */
export interface ConnectionPusher {
  post(connectionId: string, data: string): Promise<'ok' | 'gone' | 'failed'>;
  close(connectionId: string): Promise<void>;
}

/** Why a key may no longer be used, if it may not (`keyRefusal` over the principals table). */
export type KeyCheck = (keyId: string) => Promise<'revoked' | 'expired' | undefined>;

export interface DeliveryLimits {
  eventsPerSecond: number;
  burst: number;
}

export interface DeliveryOptions {
  limits: DeliveryLimits;
  /** Names this container's deliveries (`DeliverySequencer`). */
  stream: string;
  /** How long the cached connections (and their credential checks) are trusted without a change: the revocation bound. */
  refreshMs?: number;
  parallelPosts?: number;
  log?: (message: string, fields?: Record<string, unknown>) => void;
}

export interface DeliveryStats {
  connections: number;
  posts: number;
  items: number;
  failed: number;
  gone: number;
  dropped: number;
}

const DEFAULT_REFRESH_MS = 5000;
const MAX_TRACKED_CONNECTIONS = 100_000;

interface Bucket {
  tokens: number;
  at: number;
}

export class WsDelivery {
  private cache: { version: number; loadedAt: number; connections: Connection[] } | undefined;
  private readonly buckets = new Map<string, Bucket>();
  private readonly events: DeliverySequencer;
  private readonly alerts: DeliverySequencer;

  constructor(
    private readonly store: ConnectionStore,
    private readonly pusher: ConnectionPusher,
    private readonly keyCheck: KeyCheck,
    private readonly options: DeliveryOptions,
  ) {
    this.events = new DeliverySequencer(`${options.stream}:events`);
    this.alerts = new DeliverySequencer(`${options.stream}:alerts`);
  }

  /**
   * `events` may be given as a function: it is called only when some connection has a subscription, so a stream
   * consumer with nobody listening does not decode its batch.
   */
  async deliverEvents(
    events: readonly EventEnvelope[] | (() => readonly EventEnvelope[]),
    now = Date.now(),
  ): Promise<DeliveryStats> {
    if (Array.isArray(events) && events.length === 0) return emptyStats(0);
    const connections = await this.connections(now);
    if (!connections.some((c) => c.subscriptions.length > 0)) return emptyStats(connections.length);
    const list = typeof events === 'function' ? events() : events;
    const owed = owedByConnection(connections, list, eventMatches, now);
    return this.push(connections.length, owed, now, (id, items) => eventFrames(id, items, this.events));
  }

  async deliverAlerts(messages: readonly AlertMessage[], now = Date.now()): Promise<DeliveryStats> {
    if (messages.length === 0) return emptyStats(0);
    const connections = await this.connections(now);
    const owed = owedByConnection(
      connections.filter((c) => c.mayRead.alerts),
      messages,
      alertMatches,
      now,
    );
    return this.push(connections.length, owed, now, (id, items) => alertFrames(id, items, this.alerts));
  }

  /**
   * Reads every connection and checks the credentials they rest on now, closing those revoked or expired: what a
   * scheduled sweep does for connections no delivery reaches. Returns how many stay open.
   */
  async sweep(now = Date.now()): Promise<number> {
    this.cache = undefined;
    return (await this.connections(now)).length;
  }

  /**
   * The connections, from the cache while nothing changed and it is fresh; otherwise read again, and every
   * credential they rest on checked: a connection whose key was revoked or expired is closed here.
   */
  private async connections(now: number): Promise<Connection[]> {
    const version = await this.store.version();
    const refreshMs = this.options.refreshMs ?? DEFAULT_REFRESH_MS;
    if (this.cache && this.cache.version === version && now - this.cache.loadedAt < refreshMs)
      return this.cache.connections;
    const all = await this.store.all();
    const keyIds = [...new Set(all.flatMap((c) => (c.revocationKeyId ? [c.revocationKeyId] : [])))];
    const refusals = new Map<string, string>();
    await Promise.all(
      keyIds.map(async (keyId) => {
        const refusal = await this.keyCheck(keyId);
        if (refusal) refusals.set(keyId, refusal);
      }),
    );
    const live: Connection[] = [];
    const ended: { connection: Connection; reason: string }[] = [];
    for (const connection of all) {
      const refusal = connection.revocationKeyId ? refusals.get(connection.revocationKeyId) : undefined;
      if (refusal) ended.push({ connection, reason: `credential ${refusal}` });
      else if (connection.credentialExpiresAt !== undefined && connection.credentialExpiresAt <= now)
        ended.push({ connection, reason: 'credential expired' });
      else live.push(connection);
    }
    await this.each(ended, ({ connection, reason }) => this.drop(connection.connectionId, reason));
    this.cache = { version, loadedAt: now, connections: live };
    return live;
  }

  private async push<T>(
    connections: number,
    owed: Map<string, { subscriptions: string[]; item: T }[]>,
    now: number,
    framesOf: (connectionId: string, items: { subscriptions: string[]; item: T }[]) => PushFrame[],
  ): Promise<DeliveryStats> {
    const stats = emptyStats(connections);
    const { eventsPerSecond, burst } = this.options.limits;
    const posts: { connectionId: string; frame: PushFrame }[] = [];
    const overRate: string[] = [];
    for (const [connectionId, items] of owed) {
      if (!this.takeTokens(connectionId, items.length, now)) {
        overRate.push(connectionId);
        continue;
      }
      stats.items += items.length;
      for (const frame of framesOf(connectionId, items)) posts.push({ connectionId, frame });
    }
    // Connections in parallel; one connection's messages one after another, so they arrive in `seq` order and a
    // `GoneException` stops the rest of them.
    const byConnection = new Map<string, PushFrame[]>();
    for (const { connectionId, frame } of posts)
      byConnection.set(connectionId, [...(byConnection.get(connectionId) ?? []), frame]);
    const gone = new Set<string>();
    await this.each([...byConnection], async ([connectionId, frames]) => {
      for (const frame of frames) {
        stats.posts++;
        const outcome = await this.pusher.post(connectionId, JSON.stringify(frame));
        if (outcome === 'failed') stats.failed++;
        if (outcome === 'gone') {
          gone.add(connectionId);
          return;
        }
      }
    });
    for (const connectionId of gone) await this.forget(connectionId);
    stats.gone = gone.size;
    await this.each(overRate, (id) =>
      this.drop(id, `over ${eventsPerSecond} deliveries a second (burst ${burst}): subscribe with a narrower filter`),
    );
    stats.dropped = overRate.length;
    return stats;
  }

  /** A token bucket per connection (`eventsPerSecond`, `burst`): all of a batch's items for it, or none. */
  private takeTokens(connectionId: string, count: number, now: number): boolean {
    const { eventsPerSecond, burst } = this.options.limits;
    const bucket = this.buckets.get(connectionId) ?? { tokens: burst, at: now };
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * eventsPerSecond);
    bucket.at = now;
    // Re-inserted, so the Map's order is the recency order; bounded like the sequencer (connections that closed
    // without the fan-out seeing them are forgotten eventually).
    this.buckets.delete(connectionId);
    this.buckets.set(connectionId, bucket);
    if (this.buckets.size > MAX_TRACKED_CONNECTIONS) {
      const oldest = this.buckets.keys().next().value;
      if (oldest !== undefined) this.buckets.delete(oldest);
    }
    if (bucket.tokens < count) return false;
    bucket.tokens -= count;
    return true;
  }

  /** Tells the client why (best effort), closes the connection and forgets it. */
  private async drop(connectionId: string, reason: string): Promise<void> {
    const notice: DroppedNotice = { type: 'dropped', reason };
    this.options.log?.('closing a WebSocket connection', { connectionId, reason });
    await this.pusher.post(connectionId, JSON.stringify(notice));
    await this.pusher.close(connectionId).catch(() => {});
    await this.forget(connectionId);
  }

  private async forget(connectionId: string): Promise<void> {
    this.buckets.delete(connectionId);
    this.events.forget(connectionId);
    this.alerts.forget(connectionId);
    if (this.cache) this.cache.connections = this.cache.connections.filter((c) => c.connectionId !== connectionId);
    await this.store.delete(connectionId).catch(() => {});
    await this.store.bumpVersion().catch(() => {});
  }

  private async each<T>(items: readonly T[], work: (item: T) => Promise<void>): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < items.length) await work(items[next++] as T);
    };
    await Promise.all(Array.from({ length: Math.min(this.options.parallelPosts ?? 32, items.length) }, worker));
  }
}

function emptyStats(connections: number): DeliveryStats {
  return { connections, posts: 0, items: 0, failed: 0, gone: 0, dropped: 0 };
}
