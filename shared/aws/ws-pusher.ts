import {
  type ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import type { ConnectionPusher } from '../domain/ws-delivery';

/**
 * `PostToConnection` / `DeleteConnection` on the WebSocket API's management API. A `GoneException` (410) means the
 * client has left: the caller forgets the connection. Anything else fails this one post only (at most once).
 */
export class ManagementApiPusher implements ConnectionPusher {
  constructor(private readonly client: Pick<ApiGatewayManagementApiClient, 'send'>) {}

  async post(connectionId: string, data: string): Promise<'ok' | 'gone' | 'failed'> {
    try {
      await this.client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: Buffer.from(data) }));
      return 'ok';
    } catch (error) {
      return (error as { name?: string }).name === 'GoneException' ? 'gone' : 'failed';
    }
  }

  async close(connectionId: string): Promise<void> {
    try {
      await this.client.send(new DeleteConnectionCommand({ ConnectionId: connectionId }));
    } catch (error) {
      if ((error as { name?: string }).name !== 'GoneException') throw error;
    }
  }
}
