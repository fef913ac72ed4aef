import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { createDocumentClient } from '../../shared/aws/clients';
import { DynamoDeviceMetricsStore } from '../../shared/aws/dynamo-device-metrics-store';
import { requireEnv } from '../../shared/config';
import { parseMetricsQuery, readDeviceMetrics } from '../../shared/domain/device-metrics';
import { onlyKnownParams } from '../../shared/domain/listing';
import { json } from '../../shared/http';
import { httpLambda } from '../commons';

const store = new DynamoDeviceMetricsStore(createDocumentClient(), requireEnv('DEVICE_METRICS_TABLE_NAME'));

/**
 * GET /devices/{id}/metrics?since&until&metric → per-minute aggregates, each metric's series by minute ascending.
 * Defaults to the last 60 minutes; at most 24 h; 404 for a device without any stored metrics.
 */
export const lambdaHandler = async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
  const params = onlyKnownParams(event.queryStringParameters, ['since', 'until', 'metric']);
  const query = parseMetricsQuery(event.pathParameters?.id, params, new Date());
  return json(200, await readDeviceMetrics(store, query));
};

export const handler = httpLambda(lambdaHandler);
