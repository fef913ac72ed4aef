import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { createDocumentClient } from '../../shared/aws/clients';
import { DynamoAlertStore } from '../../shared/aws/dynamo-alert-store';
import { requireEnv } from '../../shared/config';
import { listAlerts, parseAlertQuery } from '../../shared/domain/alerts';
import { json } from '../../shared/http';
import { httpLambda } from '../commons';

const store = new DynamoAlertStore(createDocumentClient(), requireEnv('ALERTS_TABLE_NAME'));

/** `GET /alerts?deviceId&state&since&until&limit&cursor` -> `{"items":[...],"nextCursor":...}`, newest first. */
export const lambdaHandler = async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
  const query = parseAlertQuery(event.queryStringParameters);
  return json(200, await listAlerts(store, query));
};

export const handler = httpLambda(lambdaHandler);
