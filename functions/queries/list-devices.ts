import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { createDocumentClient } from '../../shared/aws/clients';
import { DynamoDeviceRegistry } from '../../shared/aws/dynamo-device-metrics-store';
import { requireEnv } from '../../shared/config';
import { parseListDevicesQuery } from '../../shared/domain/device-metrics';
import { onlyKnownParams } from '../../shared/domain/listing';
import { json } from '../../shared/http';
import { httpLambda } from '../commons';

const registry = new DynamoDeviceRegistry(createDocumentClient(), requireEnv('DEVICES_TABLE_NAME'));

/** GET /devices?limit&cursor → `{"items":[{deviceId, firstSeen, lastSeen, lastReading}], "nextCursor"}`. */
export const lambdaHandler = async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
  const query = parseListDevicesQuery(onlyKnownParams(event.queryStringParameters, ['limit', 'cursor']));
  return json(200, await registry.list(query));
};

export const handler = httpLambda(lambdaHandler);
