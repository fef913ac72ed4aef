import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { createDocumentClient } from '../../shared/aws/clients';
import { DynamoPrincipalStore } from '../../shared/aws/dynamo-principal-store';
import { ConfigError, intEnv, requireEnv } from '../../shared/config';
import { DecisionCache } from '../../shared/domain/decision-cache';
import {
  DEVICE_PUBLISH_PERMISSION,
  DEVICE_SUBSCRIBE_PERMISSION,
  deviceIdFromUsername,
  devicePolicy,
} from '../../shared/domain/iot-policy';
import { decide } from '../../shared/domain/permissions';
import { authenticateDevice } from '../../shared/domain/principals';
import { DeviceIdSchema } from '../../shared/domain/telemetry';
import { logger } from '../../shared/observability';
import { lambda } from '../commons';

const store = new DynamoPrincipalStore(createDocumentClient(), requireEnv('PRINCIPALS_TABLE_NAME'));
/**
 * How often IoT Core re-invokes this authorizer for a live connection (its policy refresh): the bound on how long a
 * revoked device or permission stays usable on an open connection. IoT Core accepts 300..86,400 s; the local broker
 * honours any value, so tests may shorten it.
 */
const refreshAfterInSeconds = intEnv('DEVICE_POLICY_REFRESH_SECONDS', 300);
if (refreshAfterInSeconds < 1 || refreshAfterInSeconds > 86_400)
  throw new ConfigError(`DEVICE_POLICY_REFRESH_SECONDS must be 1..86400, got ${refreshAfterInSeconds}`);
/**
 * Decisions per (device, token) for this container, dropped within seconds of any revocation (the auth epoch, as in
 * the HTTP authorizer, ADR 0003): a fleet reconnecting at once (a broker restart, a network blip) costs no table reads
 * for devices this container has just seen.
 */
const cache = new DecisionCache<IotAuthorizerResponse>({
  ttlMs: 60_000,
  epochCheckMs: 5000,
  readEpoch: () => store.getAuthEpoch(),
  maxEntries: 20_000,
});

/** What IoT Core sends a custom authorizer for an MQTT CONNECT (the password arrives base64-encoded). */
const IotAuthorizerEvent = z.object({
  protocols: z.array(z.string()).optional(),
  protocolData: z.object({
    mqtt: z.object({ username: z.string().optional(), password: z.string().optional(), clientId: z.string() }),
  }),
});

export interface IotAuthorizerResponse {
  isAuthenticated: boolean;
  principalId?: string;
  disconnectAfterInSeconds?: number;
  refreshAfterInSeconds?: number;
  policyDocuments?: string[];
}

const DENY: IotAuthorizerResponse = { isAuthenticated: false };

/**
 * IoT Core custom authorizer: username = device id, password = device token. Answers with an IoT policy limited to
 * the device's own client id and topics, shaped by the same permission policy as the HTTP routes.
 */
export const lambdaHandler = async (event: unknown, context: Context): Promise<IotAuthorizerResponse> => {
  const parsed = IotAuthorizerEvent.safeParse(event);
  const mqtt = parsed.success ? parsed.data.protocolData.mqtt : undefined;
  if (!mqtt?.username || !mqtt.password) {
    logger.info('device refused', { reason: 'missing-credentials' });
    return DENY;
  }
  const deviceId = deviceIdFromUsername(mqtt.username);
  if (!DeviceIdSchema.safeParse(deviceId).success || mqtt.clientId !== deviceId) {
    logger.info('device refused', { reason: 'client-id-mismatch', clientId: mqtt.clientId });
    return DENY;
  }
  const token = Buffer.from(mqtt.password, 'base64').toString('utf8');
  const key = DecisionCache.keyOf(`${deviceId}\u0000${token}`);
  await cache.checkEpoch();
  const cached = cache.get(key);
  if (cached) return cached;
  const result = await authenticateDevice(deviceId, token, store);
  if (!result.ok) {
    logger.info('device refused', { reason: result.reason, deviceId });
    return DENY;
  }
  const { grants } = result.principal;
  // arn:aws:lambda:<region>:<account>:function:<name> -> arn:aws:iot:<region>:<account>
  const [, partition, , region, account] = context.invokedFunctionArn.split(':');
  const policy = devicePolicy(`arn:${partition}:iot:${region}:${account}`, deviceId, {
    publish: decide(grants, DEVICE_PUBLISH_PERMISSION).allowed,
    subscribe: decide(grants, DEVICE_SUBSCRIBE_PERMISSION).allowed,
  });
  logger.info('device accepted', { deviceId, statements: policy.Statement.length });
  const response: IotAuthorizerResponse = {
    isAuthenticated: true,
    principalId: deviceId.replace(/[^A-Za-z0-9]/g, '').slice(0, 128) || 'device',
    disconnectAfterInSeconds: 86_400,
    refreshAfterInSeconds,
    policyDocuments: [JSON.stringify(policy)],
  };
  cache.set(key, response);
  return response;
};

export const handler = lambda(lambdaHandler);
