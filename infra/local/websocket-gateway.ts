import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { FunctionName, WebSocketSpec } from '../topology';
import { acceptHandshake, refuse } from './websocket-connect';
import { ConnectionRegistry } from './websocket-connections';
import { MAX_MESSAGE_BYTES, management, send } from './websocket-management';

export { SLOW_CLIENT_BUFFER_BYTES } from './websocket-management';

/**
 * API Gateway's WebSocket API, locally (ADR 0014), with the semantics the functions rely on:
 * - `$connect`: the REQUEST authorizer first (a throw of `Unauthorized` is a 401, a Deny a 403, anything else a
 *   500), then the `$connect` integration; a non-2xx answer refuses the handshake with that status. A subprotocol is
 *   selected only if the integration's answer names one (`Sec-WebSocket-Protocol`), as API Gateway requires.
 * - every message is a `$default` route event (with the connection's authorizer context); the integration's `body`,
 *   if any, goes back to the client (the route response). A message over 128 KB closes the connection (1009).
 * - a closed connection is a `$disconnect` event; API Gateway's idle timeout (10 min) and maximum duration (2 h).
 * - the management API the SDK's `ApiGatewayManagementApiClient` calls: `POST|GET|DELETE /<stage>/@connections/<id>`,
 *   410 `GoneException` for a connection that is not there, 413 over 128 KB. A client that stops reading is closed
 *   (1008) once 1 MiB waits for it: the local stand-in for API Gateway's own buffering, so a stalled client costs the
 *   stack bounded memory and its poster a `GoneException`, never a wait.
 *
 * The handshake is in `websocket-connect.ts`, the open connections in `websocket-connections.ts`, the management
 * API in `websocket-management.ts`; this file serves them on one port.
 */

const API_ID = 'localws';

export interface WebSocketGatewayDeps {
  spec: WebSocketSpec;
  region: string;
  accountId: string;
  invoke: (name: FunctionName, event: unknown) => Promise<unknown>;
  log: (message: string, fields?: Record<string, unknown>) => void;
}

/** Builds an event's `requestContext` for one route of one connection. */
export type RequestContextOf = (
  routeKey: string,
  eventType: string,
  connectionId: string,
  extra?: object,
) => Record<string, unknown>;

export interface WebSocketGatewayStats {
  connections: number;
  connectsRefused: number;
  messagesIn: number;
  posts: number;
  postsGone: number;
  closedSlow: number;
}

export class LocalWebSocketGateway {
  private server: Server | undefined;
  /** The subprotocol each pending handshake's `$connect` integration selected. */
  private readonly selected = new WeakMap<IncomingMessage, string>();
  private readonly wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_MESSAGE_BYTES,
    // Only what the `$connect` integration selected; none otherwise.
    handleProtocols: (protocols, request) => {
      const chosen = this.selected.get(request);
      return chosen !== undefined && protocols.has(chosen) ? chosen : false;
    },
  });
  private readonly connections: ConnectionRegistry;
  private port = 0;
  readonly stats: WebSocketGatewayStats = {
    connections: 0,
    connectsRefused: 0,
    messagesIn: 0,
    posts: 0,
    postsGone: 0,
    closedSlow: 0,
  };

  constructor(private readonly deps: WebSocketGatewayDeps) {
    this.connections = new ConnectionRegistry(deps, this.stats, (...args) => this.requestContext(...args));
  }

  /** The URL clients connect to (`wss://<api>.execute-api.<region>.amazonaws.com/<stage>` in AWS). */
  get url(): string {
    return `ws://127.0.0.1:${this.port}/${this.deps.spec.stage}`;
  }

  /** What the functions' management client is given as its endpoint (the stage's callback URL in AWS). */
  get managementUrl(): string {
    return `http://127.0.0.1:${this.port}/${this.deps.spec.stage}`;
  }

  listen(port = 0): Promise<number> {
    const server = createServer((req, res) => {
      management(req, res, { deps: this.deps, stats: this.stats, connections: this.connections }).catch((error) => {
        this.deps.log('WebSocket management call failed', { error: (error as Error).message });
        if (!res.headersSent) send(res, 500, 'InternalServerErrorException', 'internal error');
      });
    });
    server.on('upgrade', (req, socket, head) => {
      this.upgrade(req, socket, head).catch((error) => {
        this.deps.log('WebSocket connect failed', { error: (error as Error).message });
        refuse(socket, 500, 'Internal server error');
      });
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        const address = server.address();
        this.port = typeof address === 'object' && address ? address.port : port;
        resolve(this.port);
      });
    });
  }

  async close(): Promise<void> {
    this.connections.closeAll();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private requestContext(routeKey: string, eventType: string, connectionId: string, extra: object = {}) {
    return {
      routeKey,
      eventType,
      connectionId,
      requestId: randomUUID(),
      apiId: API_ID,
      stage: this.deps.spec.stage,
      domainName: `127.0.0.1:${this.port}`,
      requestTimeEpoch: Date.now(),
      ...extra,
    };
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const accepted = await acceptHandshake(req, socket, {
      deps: this.deps,
      stats: this.stats,
      methodArn: `arn:aws:execute-api:${this.deps.region}:${this.deps.accountId}:${API_ID}/${this.deps.spec.stage}/$connect`,
      requestContext: (...args) => this.requestContext(...args),
    });
    if (!accepted) return;
    const { connectionId, authorizer, identity, selected } = accepted;
    if (selected !== undefined) this.selected.set(req, selected);
    this.wss.handleUpgrade(req, socket, head, (ws) => this.connections.open(connectionId, ws, authorizer, identity));
  }
}
