import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { StackInfo } from '../../infra/local/stack';
import { DynamoConnectionStore } from '../../shared/aws/ws-connection-store';
import { ManagementApiPusher } from '../../shared/aws/ws-pusher';
import type { DroppedNotice } from '../../shared/domain/subscriptions';
import { clientConfig, dynamoConfig } from './stores';

/**
 * Closes every WebSocket connection that rests on an API key (the key itself, or a token exchanged for it) at once,
 * as part of revoking it: the fan-out would close them at its next delivery past its 5 s check, but an idle one
 * would stay open until API Gateway's idle timeout (ADR 0014). Returns how many were closed, or why none could be.
 */
export async function closeConnectionsOfKey(info: StackInfo, keyId: string): Promise<number | string> {
  const table = info.resources?.connectionsTable;
  const endpoint = info.resources?.wsManagementEndpoint;
  if (!table || !endpoint) return 'the state file names no WebSocket connections table or management endpoint';
  const dynamodb = new DynamoDBClient(dynamoConfig(info));
  const documents = DynamoDBDocumentClient.from(dynamodb);
  const { endpoint: _dynamoEndpoint, ...config } = clientConfig(info, 'dynamodb');
  const management = new ApiGatewayManagementApiClient({ ...config, endpoint });
  try {
    const store = new DynamoConnectionStore(documents, table);
    const pusher = new ManagementApiPusher(management);
    const affected = (await store.all()).filter((c) => c.revocationKeyId === keyId);
    const notice: DroppedNotice = { type: 'dropped', reason: 'credential revoked' };
    for (const connection of affected) {
      await pusher.post(connection.connectionId, JSON.stringify(notice));
      await pusher.close(connection.connectionId);
      await store.delete(connection.connectionId);
    }
    if (affected.length > 0) await store.bumpVersion();
    return affected.length;
  } finally {
    documents.destroy();
    dynamodb.destroy();
    management.destroy();
  }
}
