import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import { evaluatePolicy, type PolicyDocument } from '../../shared/domain/iam-policy';
import type { FunctionName, WebSocketSpec } from '../topology';
import { FunctionError } from './function-host';
import { AuthorizerResultSchema } from './gateway';

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
 */

const MAX_MESSAGE_BYTES = 128 * 1024;
const IDLE_TIMEOUT_MS = 10 * 60 * 1000;
const MAX_DURATION_MS = 2 * 3600 * 1000;
export const SLOW_CLIENT_BUFFER_BYTES = 1024 * 1024;
const API_ID = 'localws';

export interface WebSocketGatewayDeps {
  spec: WebSocketSpec;
  region: string;
  accountId: string;
  invoke: (name: FunctionName, event: unknown) => Promise<unknown>;
  log: (message: string, fields?: Record<string, unknown>) => void;
}

interface LiveConnection {
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
  private readonly connections = new Map<string, LiveConnection>();
  private port = 0;
  readonly stats: WebSocketGatewayStats = {
    connections: 0,
    connectsRefused: 0,
    messagesIn: 0,
    posts: 0,
    postsGone: 0,
    closedSlow: 0,
  };

  constructor(private readonly deps: WebSocketGatewayDeps) {}

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
      this.management(req, res).catch((error) => {
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
    for (const [id, c] of this.connections) {
      c.socket.close(1001, 'going away');
      this.forget(id);
    }
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
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== `/${this.deps.spec.stage}` && url.pathname !== `/${this.deps.spec.stage}/`)
      return refuse(socket, 404, 'Not Found');
    const connectionId = randomBytes(12).toString('base64');
    const headers: Record<string, string> = {};
    const multiValueHeaders: Record<string, string[]> = {};
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i] as string;
      const value = req.rawHeaders[i + 1] as string;
      headers[name] = value;
      multiValueHeaders[name] = [...(multiValueHeaders[name] ?? []), value];
    }
    const query: Record<string, string> = {};
    const multiQuery: Record<string, string[]> = {};
    for (const [name, value] of url.searchParams) {
      query[name] = value;
      multiQuery[name] = [...(multiQuery[name] ?? []), value];
    }
    const identity = { sourceIp: req.socket.remoteAddress ?? '127.0.0.1', userAgent: headers['User-Agent'] ?? '' };
    const methodArn = `arn:aws:execute-api:${this.deps.region}:${this.deps.accountId}:${API_ID}/${this.deps.spec.stage}/$connect`;
    const base = {
      headers,
      multiValueHeaders,
      queryStringParameters: Object.keys(query).length > 0 ? query : null,
      multiValueQueryStringParameters: Object.keys(multiQuery).length > 0 ? multiQuery : null,
    };
    // The authorizer.
    let raw: unknown;
    try {
      raw = await this.deps.invoke(this.deps.spec.authorizer, {
        type: 'REQUEST',
        methodArn,
        ...base,
        requestContext: this.requestContext('$connect', 'CONNECT', connectionId, { identity }),
      });
    } catch (error) {
      this.stats.connectsRefused++;
      if (error instanceof FunctionError && error.errorMessage === 'Unauthorized')
        return refuse(socket, 401, 'Unauthorized');
      this.deps.log('WebSocket authorizer failed', { error: (error as Error).message });
      return refuse(socket, 500, 'Internal server error');
    }
    const result = AuthorizerResultSchema.safeParse(raw);
    if (!result.success) {
      this.stats.connectsRefused++;
      return refuse(socket, 500, 'Internal server error');
    }
    if (evaluatePolicy(result.data.policyDocument as PolicyDocument, methodArn, 'execute-api:Invoke') !== 'Allow') {
      this.stats.connectsRefused++;
      return refuse(socket, 403, 'Forbidden');
    }
    const authorizer: Record<string, string> = {
      principalId: result.data.principalId,
      ...Object.fromEntries(Object.entries(result.data.context ?? {}).map(([k, v]) => [k, String(v)])),
    };
    // The `$connect` integration.
    const answer = (await this.deps
      .invoke(this.deps.spec.routes.$connect, {
        ...base,
        isBase64Encoded: false,
        requestContext: this.requestContext('$connect', 'CONNECT', connectionId, { identity, authorizer }),
      })
      .catch((error) => {
        this.deps.log('WebSocket $connect integration failed', { error: (error as Error).message });
        return { statusCode: 500 };
      })) as { statusCode?: number; body?: string; headers?: Record<string, string> } | null;
    const status = answer?.statusCode ?? 200;
    if (status < 200 || status > 299) {
      this.stats.connectsRefused++;
      return refuse(socket, status, answer?.body ?? '');
    }
    const selected = Object.entries(answer?.headers ?? {}).find(
      ([n]) => n.toLowerCase() === 'sec-websocket-protocol',
    )?.[1];
    if (selected !== undefined) this.selected.set(req, selected);
    this.wss.handleUpgrade(req, socket, head, (ws) => this.open(connectionId, ws, authorizer, identity));
  }

  private open(
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

  private forget(connectionId: string): boolean {
    const connection = this.connections.get(connectionId);
    if (!connection) return false;
    for (const timer of connection.timers) clearTimeout(timer);
    this.connections.delete(connectionId);
    this.stats.connections = this.connections.size;
    return true;
  }

  private async management(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const match = new RegExp(`^/${this.deps.spec.stage}/@connections/([^/]+)$`).exec(url.pathname);
    if (!match?.[1]) return send(res, 404, 'NotFoundException', `no such resource ${url.pathname}`);
    const connectionId = decodeURIComponent(match[1]);
    const connection = this.connections.get(connectionId);
    const body = await readBody(req, MAX_MESSAGE_BYTES);
    if (!connection || connection.socket.readyState !== connection.socket.OPEN) {
      if (req.method === 'POST') this.stats.postsGone++;
      return send(res, 410, 'GoneException', `connection ${connectionId} is gone`);
    }
    switch (req.method) {
      case 'POST': {
        if (body === undefined) return send(res, 413, 'PayloadTooLargeException', 'a message is at most 128 KB');
        if (connection.socket.bufferedAmount > SLOW_CLIENT_BUFFER_BYTES) {
          this.stats.closedSlow++;
          this.stats.postsGone++;
          this.deps.log('WebSocket client not reading: closed', { connectionId });
          connection.socket.close(1008, 'slow consumer: not reading');
          this.forget(connectionId);
          connection.socket.terminate();
          return send(res, 410, 'GoneException', `connection ${connectionId} is gone`);
        }
        this.stats.posts++;
        connection.socket.send(body);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        return;
      }
      case 'DELETE':
        connection.socket.close(1000, 'closed by the server');
        res.writeHead(204).end();
        return;
      case 'GET':
        res.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            ConnectedAt: new Date(connection.connectedAt).toISOString(),
            LastActiveAt: new Date(connection.lastActiveAt).toISOString(),
            Identity: { SourceIp: connection.sourceIp, UserAgent: connection.userAgent },
          }),
        );
        return;
      default:
        return send(res, 405, 'MethodNotAllowedException', `${req.method} is not allowed here`);
    }
  }
}

/** An error as the management API's REST-JSON protocol carries it (the SDK reads `x-amzn-errortype`). */
function send(res: ServerResponse, status: number, errorType: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json', 'x-amzn-errortype': errorType });
  res.end(JSON.stringify({ message }));
}

/** Refuses a handshake with an HTTP answer, as API Gateway does. */
function refuse(socket: Duplex, status: number, body: string): void {
  const reason =
    { 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 429: 'Too Many Requests' }[status] ?? 'Error';
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** The body, or undefined past `limit` bytes. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) over = true;
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(over ? undefined : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
