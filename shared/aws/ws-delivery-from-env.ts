import { randomUUID } from 'node:crypto';
import { requireEnv } from '../config';
import { keyRefusal } from '../domain/principals';
import { type DeliveryLimits, WsDelivery } from '../domain/ws-delivery';
import { logger } from '../observability';
import { createDocumentClient, createWsManagementClient } from './clients';
import { DynamoPrincipalStore } from './dynamo-principal-store';
import { DynamoConnectionStore } from './ws-connection-store';
import { ManagementApiPusher } from './ws-pusher';

/**
 * Live delivery to WebSocket subscribers, from a function's settings (the connections table, the principals table
 * for credential checks, the management API's endpoint), once per container. `stream` names this container in the
 * numbering clients use to see gaps (ADR 0014).
 */
export function wsDeliveryFromEnv(kind: string, limits: DeliveryLimits): WsDelivery {
  const documents = createDocumentClient();
  const principals = new DynamoPrincipalStore(documents, requireEnv('PRINCIPALS_TABLE_NAME'));
  return new WsDelivery(
    new DynamoConnectionStore(documents, requireEnv('CONNECTIONS_TABLE_NAME')),
    new ManagementApiPusher(createWsManagementClient(requireEnv('WS_MANAGEMENT_ENDPOINT'))),
    async (keyId) => keyRefusal(await principals.getApiKey(keyId), Date.now()),
    {
      limits,
      stream: `${kind}-${randomUUID().slice(0, 8)}`,
      log: (message, fields) => logger.info(message, fields ?? {}),
    },
  );
}
