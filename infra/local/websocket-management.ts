import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBodyUpTo } from './http-body';
import type { ConnectionRegistry } from './websocket-connections';
import type { WebSocketGatewayDeps, WebSocketGatewayStats } from './websocket-gateway';

/** API Gateway's WebSocket message quota, both ways: a client's frame and a management POST. */
export const MAX_MESSAGE_BYTES = 128 * 1024;
export const SLOW_CLIENT_BUFFER_BYTES = 1024 * 1024;

export interface ManagementContext {
  deps: WebSocketGatewayDeps;
  stats: WebSocketGatewayStats;
  connections: ConnectionRegistry;
}

/** The management API (`POST|GET|DELETE /<stage>/@connections/<id>`) as `ApiGatewayManagementApiClient` calls it. */
export async function management(req: IncomingMessage, res: ServerResponse, ctx: ManagementContext): Promise<void> {
  const { deps, stats, connections } = ctx;
  const url = new URL(req.url ?? '/', 'http://localhost');
  const match = new RegExp(`^/${deps.spec.stage}/@connections/([^/]+)$`).exec(url.pathname);
  if (!match?.[1]) return send(res, 404, 'NotFoundException', `no such resource ${url.pathname}`);
  const connectionId = decodeURIComponent(match[1]);
  const connection = connections.get(connectionId);
  const body = await readBodyUpTo(req, MAX_MESSAGE_BYTES);
  if (!connection || connection.socket.readyState !== connection.socket.OPEN) {
    if (req.method === 'POST') stats.postsGone++;
    return send(res, 410, 'GoneException', `connection ${connectionId} is gone`);
  }
  switch (req.method) {
    case 'POST': {
      if (body === undefined) return send(res, 413, 'PayloadTooLargeException', 'a message is at most 128 KB');
      if (connection.socket.bufferedAmount > SLOW_CLIENT_BUFFER_BYTES) {
        stats.closedSlow++;
        stats.postsGone++;
        deps.log('WebSocket client not reading: closed', { connectionId });
        connection.socket.close(1008, 'slow consumer: not reading');
        connections.forget(connectionId);
        connection.socket.terminate();
        return send(res, 410, 'GoneException', `connection ${connectionId} is gone`);
      }
      stats.posts++;
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

/** An error as the management API's REST-JSON protocol carries it (the SDK reads `x-amzn-errortype`). */
export function send(res: ServerResponse, status: number, errorType: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json', 'x-amzn-errortype': errorType });
  res.end(JSON.stringify({ message }));
}
