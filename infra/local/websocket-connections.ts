import { randomUUID } from 'node:crypto';
import type { WebSocket } from 'ws';
import type { RequestContextOf, WebSocketGatewayDeps, WebSocketGatewayStats } from './websocket-gateway';

const IDLE_TIMEOUT_MS = 10 * 60 * 1000;
const MAX_DURATION_MS = 2 * 3600 * 1000;

export interface LiveConnection {
  socket: WebSocket;
  authorizer: Record<string, string>;
  connectedAt: number;
  lastActiveAt: number;
  sourceIp: string;
  userAgent: string;
  timers: NodeJS.Timeout[];
  /** `$default` events of one connection run one after another, in the order the messages came. */
  queue: Promise<void>;
}

/**
 * The open connections, by id: each one's `$default` and `$disconnect` events, API Gateway's idle timeout and
 * maximum duration, and the `connections` counter.
 */
export class ConnectionRegistry {
  private readonly connections = new Map<string, LiveConnection>();

  constructor(
    private readonly deps: WebSocketGatewayDeps,
    private readonly stats: WebSocketGatewayStats,
    private readonly requestContext: RequestContextOf,
  ) {}

  get(connectionId: string): LiveConnection | undefined {
    return this.connections.get(connectionId);
  }

  /** Closes every connection without a `$disconnect` event: the gateway is going away. */
  closeAll(): void {
    for (const [id, c] of this.connections) {
      c.socket.close(1001, 'going away');
      this.forget(id);
    }
  }

  open(
    connectionId: string,
    socket: WebSocket,
    authorizer: Record<string, string>,
    identity: { sourceIp: string; userAgent: string },
  ): void {
    const now = Date.now();
    const connection: LiveConnection = {
      socket,
      authorizer,
      connectedAt: now,
      lastActiveAt: now,
      ...identity,
      timers: [],
      queue: Promise.resolve(),
    };
    this.connections.set(connectionId, connection);
    this.stats.connections = this.connections.size;
    const idle = () => setTimeout(() => socket.close(1001, 'Going away'), IDLE_TIMEOUT_MS).unref();
    connection.timers.push(idle(), setTimeout(() => socket.close(1001, 'Going away'), MAX_DURATION_MS).unref());
    socket.on('message', (data, isBinary) => {
      this.stats.messagesIn++;
      connection.lastActiveAt = Date.now();
      clearTimeout(connection.timers[0]);
      connection.timers[0] = idle();
      const bytes = Buffer.isBuffer(data) ? data : Buffer.concat(Array.isArray(data) ? data : [Buffer.from(data)]);
      connection.queue = connection.queue.then(() => this.route(connectionId, connection, bytes, isBinary));
    });
    socket.on('close', () => {
      if (!this.forget(connectionId)) return;
      this.deps
        .invoke(this.deps.spec.routes.$disconnect, {
          isBase64Encoded: false,
          requestContext: this.requestContext('$disconnect', 'DISCONNECT', connectionId, { authorizer }),
        })
        .catch((error) => this.deps.log('WebSocket $disconnect failed', { error: (error as Error).message }));
    });
    socket.on('error', () => socket.terminate());
  }

  private async route(connectionId: string, connection: LiveConnection, data: Buffer, isBinary: boolean) {
    try {
      const answer = (await this.deps.invoke(this.deps.spec.routes.$default, {
        body: isBinary ? data.toString('base64') : data.toString('utf8'),
        isBase64Encoded: isBinary,
        requestContext: this.requestContext('$default', 'MESSAGE', connectionId, {
          messageId: randomUUID(),
          authorizer: connection.authorizer,
        }),
      })) as { body?: string } | null;
      if (answer?.body && connection.socket.readyState === connection.socket.OPEN) connection.socket.send(answer.body);
    } catch (error) {
      this.deps.log('WebSocket $default integration failed', { error: (error as Error).message });
      if (connection.socket.readyState === connection.socket.OPEN)
        connection.socket.send(JSON.stringify({ message: 'Internal server error', connectionId }));
    }
  }

  /** Drops a connection and its timers; false when it was not (or no longer) open. */
  forget(connectionId: string): boolean {
    const connection = this.connections.get(connectionId);
    if (!connection) return false;
    for (const timer of connection.timers) clearTimeout(timer);
    this.connections.delete(connectionId);
    this.stats.connections = this.connections.size;
    return true;
  }
}
