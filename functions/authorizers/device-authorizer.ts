import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { createDocumentClient } from '../../shared/aws/clients';
import { DynamoPrincipalStore } from '../../shared/aws/dynamo-principal-store';
import { requireEnv } from '../../shared/config';
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

const store = new DynamoPrincipalStore(createDocumentClient(), requireEnv('PRINCIPALS_TABLE_NAME'));

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
  return {
    isAuthenticated: true,
    principalId: deviceId.replace(/[^A-Za-z0-9]/g, '').slice(0, 128) || 'device',
    // IoT Core keeps a connection's policy until the refresh: 300 s (its minimum) bounds how long a revoked device
    // or permission stays usable on a live connection.
    disconnectAfterInSeconds: 86_400,
    refreshAfterInSeconds: 300,
    policyDocuments: [JSON.stringify(policy)],
  };
};

export const handler = middy(lambdaHandler);
