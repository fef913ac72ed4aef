import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { createDocumentClient } from '../../shared/aws/clients';
import { DynamoEventStore } from '../../shared/aws/dynamo-event-store';
import { requireEnv } from '../../shared/config';
import { Rejection } from '../../shared/domain/errors';
import { httpErrors, json } from '../../shared/http';

const store = new DynamoEventStore(createDocumentClient(), requireEnv('EVENTS_TABLE_NAME'));

export const lambdaHandler = async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
  const id = event.pathParameters?.id;
  if (!id || id.length > 128) throw new Rejection('invalid', 'Path parameter id is missing or too long');
  const found = await store.get(id);
  if (!found) throw new Rejection('not-found', `No event with id ${id}`);
  return json(200, found);
};

export const handler = middy(lambdaHandler).use(httpErrors());
