import { z } from 'zod';
import { webSocket } from '../../infra/topology/resources';
import { decodeCallerContext } from '../../shared/authorizer-context';
import { createDocumentClient } from '../../shared/aws/clients';
import { DynamoConnectionStore } from '../../shared/aws/ws-connection-store';
import { requireEnv } from '../../shared/config';
import { headerValues, WS_SUBPROTOCOL } from '../../shared/domain/credentials';
import {
  ClientMessageSchema,
  type ClientReply,
  type Connection,
  MAX_CLIENT_MESSAGE_BYTES,
  subscriptionRefusal,
} from '../../shared/domain/subscriptions';
import { logger } from '../../shared/observability';
import { lambda } from '../commons';

const store = new DynamoConnectionStore(createDocumentClient(), requireEnv('CONNECTIONS_TABLE_NAME'));
const { limits } = webSocket;
/** API Gateway closes a WebSocket connection after 2 hours at most: its item expires a little later. */
const MAX_CONNECTION_SECONDS = 2 * 3600 + 300;

/** The part of API Gateway's WebSocket route event this function reads. */
export interface WebSocketRouteEvent {
  requestContext: {
    routeKey: string;
    connectionId: string;
    authorizer?: Record<string, unknown> | null;
  };
  headers?: Record<string, string | undefined> | null;
  body?: string | null;
  isBase64Encoded?: boolean;
}

export interface WebSocketRouteResult {
  statusCode: number;
  body?: string;
  headers?: Record<string, string>;
}

const AuthorizerExtras = z.object({
  revocationKeyId: z.string().min(1).optional(),
  mayReadEvents: z.enum(['true', 'false']),
  mayReadAlerts: z.enum(['true', 'false']),
});

const reply = (message: ClientReply): WebSocketRouteResult => ({ statusCode: 200, body: JSON.stringify(message) });

async function connect(event: WebSocketRouteEvent): Promise<WebSocketRouteResult> {
  const authorizer = event.requestContext.authorizer ?? {};
  const caller = decodeCallerContext(authorizer);
  const extras = AuthorizerExtras.parse(authorizer);
  if ((await store.countByPrincipal(caller.principalId)) >= limits.connectionsPerPrincipal) {
    logger.info('WebSocket connection refused: per-principal limit', { principalId: caller.principalId });
    return {
      statusCode: 429,
      body: JSON.stringify({ message: `at most ${limits.connectionsPerPrincipal} connections per principal` }),
    };
  }
  const now = Date.now();
  const connection: Connection = {
    connectionId: event.requestContext.connectionId,
    principalId: caller.principalId,
    principalName: caller.principalName,
    role: caller.role,
    ...(extras.revocationKeyId === undefined ? {} : { revocationKeyId: extras.revocationKeyId }),
    ...(caller.credentialExpiresAt === undefined ? {} : { credentialExpiresAt: caller.credentialExpiresAt }),
    mayRead: { events: extras.mayReadEvents === 'true', alerts: extras.mayReadAlerts === 'true' },
    subscriptions: [],
    connectedAt: new Date(now).toISOString(),
  };
  await store.put(connection, Math.floor(now / 1000) + MAX_CONNECTION_SECONDS);
  await store.bumpVersion();
  // A browser that offered subprotocols (one of them carrying its credential) needs one selected, or it gives up.
  const offered = headerValues(event, 'sec-websocket-protocol').flatMap((v) => v.split(',').map((p) => p.trim()));
  return offered.includes(WS_SUBPROTOCOL)
    ? { statusCode: 200, headers: { 'Sec-WebSocket-Protocol': WS_SUBPROTOCOL } }
    : { statusCode: 200 };
}

async function message(event: WebSocketRouteEvent): Promise<WebSocketRouteResult> {
  const raw = event.isBase64Encoded ? Buffer.from(event.body ?? '', 'base64').toString('utf8') : (event.body ?? '');
  if (Buffer.byteLength(raw) > MAX_CLIENT_MESSAGE_BYTES)
    return reply({ type: 'error', message: `a message is at most ${MAX_CLIENT_MESSAGE_BYTES} bytes` });
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return reply({
      type: 'error',
      message: 'a message is a JSON object with an "action": subscribe, unsubscribe or ping',
    });
  }
  const parsed = ClientMessageSchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(message)'}: ${i.message}`);
    return reply({ type: 'error', message: `invalid message: ${issues.join('; ')}` });
  }
  const request = parsed.data;
  if (request.action === 'ping') return reply({ type: 'pong' });
  const connectionId = event.requestContext.connectionId;
  const connection = await store.get(connectionId);
  if (!connection) return reply({ type: 'error', message: 'this connection is closing; connect again' });
  if (request.action === 'unsubscribe') {
    if (!connection.subscriptions.some((s) => s.id === request.id))
      return reply({ type: 'error', message: `no subscription ${request.id}` });
    await store.setSubscriptions(
      connectionId,
      connection.subscriptions.filter((s) => s.id !== request.id),
    );
    await store.bumpVersion();
    return reply({ type: 'unsubscribed', id: request.id });
  }
  const id = request.id ?? nextId(connection);
  const subscription = { id, filter: request.filter };
  const refusal = subscriptionRefusal(connection, subscription, limits.subscriptionsPerConnection);
  if (refusal) return reply({ type: 'error', message: refusal });
  const others = connection.subscriptions.filter((s) => s.id !== id);
  if (!(await store.setSubscriptions(connectionId, [...others, subscription])))
    return reply({ type: 'error', message: 'this connection is closing; connect again' });
  await store.bumpVersion();
  return reply({ type: 'subscribed', id, filter: request.filter });
}

function nextId(connection: Connection): string {
  for (let n = connection.subscriptions.length + 1; ; n++)
    if (!connection.subscriptions.some((s) => s.id === `s${n}`)) return `s${n}`;
}

async function disconnect(event: WebSocketRouteEvent): Promise<WebSocketRouteResult> {
  await store.delete(event.requestContext.connectionId);
  await store.bumpVersion();
  return { statusCode: 200 };
}

/**
 * The WebSocket API's routes (ADR 0014): `$connect` (after the authorizer) registers the connection within the
 * per-principal limit; `$default` takes the client's subscribe, unsubscribe and ping and answers through the route
 * response; `$disconnect` forgets the connection.
 */
export const lambdaHandler = async (event: WebSocketRouteEvent): Promise<WebSocketRouteResult> => {
  switch (event.requestContext.routeKey) {
    case '$connect':
      return connect(event);
    case '$disconnect':
      return disconnect(event);
    default:
      return message(event);
  }
};

export const handler = lambda(lambdaHandler);
