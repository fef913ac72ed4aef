import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { evaluatePolicy, type PolicyDocument } from '../../shared/domain/iam-policy';
import { FunctionError } from './function-host';
import { AuthorizerResultSchema } from './gateway-authorizer';
import type { RequestContextOf, WebSocketGatewayDeps, WebSocketGatewayStats } from './websocket-gateway';

/** What a handshake runs with: the gateway's deps and counters, and its request contexts. */
export interface HandshakeContext {
  deps: WebSocketGatewayDeps;
  stats: WebSocketGatewayStats;
  /** The `$connect` route's method ARN: what the authorizer's policy must allow. */
  methodArn: string;
  requestContext: RequestContextOf;
}

/** A handshake the authorizer and the `$connect` integration let through. */
export interface AcceptedConnection {
  connectionId: string;
  authorizer: Record<string, string>;
  identity: { sourceIp: string; userAgent: string };
  /** The subprotocol the `$connect` integration selected, if any. */
  selected: string | undefined;
}

/**
 * The `$connect` route: the REQUEST authorizer, then the `$connect` integration. Undefined when the handshake was
 * refused (answered on the socket here).
 */
export async function acceptHandshake(
  req: IncomingMessage,
  socket: Duplex,
  ctx: HandshakeContext,
): Promise<AcceptedConnection | undefined> {
  const { deps, stats, methodArn } = ctx;
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (url.pathname !== `/${deps.spec.stage}` && url.pathname !== `/${deps.spec.stage}/`)
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
  const base = {
    headers,
    multiValueHeaders,
    queryStringParameters: Object.keys(query).length > 0 ? query : null,
    multiValueQueryStringParameters: Object.keys(multiQuery).length > 0 ? multiQuery : null,
  };
  // The authorizer.
  let raw: unknown;
  try {
    raw = await deps.invoke(deps.spec.authorizer, {
      type: 'REQUEST',
      methodArn,
      ...base,
      requestContext: ctx.requestContext('$connect', 'CONNECT', connectionId, { identity }),
    });
  } catch (error) {
    stats.connectsRefused++;
    if (error instanceof FunctionError && error.errorMessage === 'Unauthorized')
      return refuse(socket, 401, 'Unauthorized');
    deps.log('WebSocket authorizer failed', { error: (error as Error).message });
    return refuse(socket, 500, 'Internal server error');
  }
  const result = AuthorizerResultSchema.safeParse(raw);
  if (!result.success) {
    stats.connectsRefused++;
    return refuse(socket, 500, 'Internal server error');
  }
  if (evaluatePolicy(result.data.policyDocument as PolicyDocument, methodArn, 'execute-api:Invoke') !== 'Allow') {
    stats.connectsRefused++;
    return refuse(socket, 403, 'Forbidden');
  }
  const authorizer: Record<string, string> = {
    principalId: result.data.principalId,
    ...Object.fromEntries(Object.entries(result.data.context ?? {}).map(([k, v]) => [k, String(v)])),
  };
  // The `$connect` integration.
  const answer = (await deps
    .invoke(deps.spec.routes.$connect, {
      ...base,
      isBase64Encoded: false,
      requestContext: ctx.requestContext('$connect', 'CONNECT', connectionId, { identity, authorizer }),
    })
    .catch((error) => {
      deps.log('WebSocket $connect integration failed', { error: (error as Error).message });
      return { statusCode: 500 };
    })) as { statusCode?: number; body?: string; headers?: Record<string, string> } | null;
  const status = answer?.statusCode ?? 200;
  if (status < 200 || status > 299) {
    stats.connectsRefused++;
    return refuse(socket, status, answer?.body ?? '');
  }
  const selected = Object.entries(answer?.headers ?? {}).find(
    ([n]) => n.toLowerCase() === 'sec-websocket-protocol',
  )?.[1];
  return { connectionId, authorizer, identity, selected };
}

/** Refuses a handshake with an HTTP answer, as API Gateway does. */
export function refuse(socket: Duplex, status: number, body: string): undefined {
  const reason =
    { 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 429: 'Too Many Requests' }[status] ?? 'Error';
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
  return undefined;
}
