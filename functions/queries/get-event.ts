import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { createDocumentClient } from '../../shared/aws/clients';
import { DynamoEventStore } from '../../shared/aws/dynamo-event-store';
import { requireEnv } from '../../shared/config';
import { Rejection } from '../../shared/domain/errors';
import { EventIdSchema } from '../../shared/domain/events';
import { json } from '../../shared/http';
import { httpLambda } from '../commons';

const store = new DynamoEventStore(createDocumentClient(), requireEnv('EVENTS_TABLE_NAME'));

export const lambdaHandler = async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
  const id = event.pathParameters?.id;
  // Every event id is a UUID (or, for events stored before ids were owned, a producer's ULID): anything else, such as
  // a path traversal or a query fragment, names no event and is refused before the table is asked.
  if (!id || !EventIdSchema.safeParse(id).success)
    throw new Rejection(
      'invalid',
      'Path parameter id must be an event id (a UUID or a ULID, as POST /events answered)',
    );
  const found = await store.get(id);
  if (!found) throw new Rejection('not-found', `No event with id ${id}`);
  return json(200, found);
};

export const handler = httpLambda(lambdaHandler);
