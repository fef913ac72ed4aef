import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { createDocumentClient } from '../../shared/aws/clients';
import { DynamoEventStore } from '../../shared/aws/dynamo-event-store';
import { requireEnv } from '../../shared/config';
import { Rejection } from '../../shared/domain/errors';
import { EventSourceSchema, EventTypeSchema } from '../../shared/domain/events';
import {
  decodeCursor,
  encodeCursor,
  onlyKnownParams,
  type Page,
  parseLimit,
  parseTime,
} from '../../shared/domain/listing';
import { indexedByType } from '../../shared/domain/telemetry';
import { json } from '../../shared/http';
import { httpLambda } from '../commons';

const store = new DynamoEventStore(createDocumentClient(), requireEnv('EVENTS_TABLE_NAME'));

/** GET /events?type=…|source=…&since&until&limit&cursor: newest first, from the type or source index. */
export const lambdaHandler = async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
  const params = onlyKnownParams(event.queryStringParameters, ['type', 'source', 'since', 'until', 'limit', 'cursor']);
  const { type, source } = params;
  if ((type === undefined) === (source === undefined))
    throw new Rejection('invalid', 'give exactly one of type or source');
  if (type !== undefined && !EventTypeSchema.safeParse(type).success)
    throw new Rejection('invalid', 'type must be a dotted lower-case name such as payment.success');
  if (type !== undefined && !indexedByType(type))
    throw new Rejection(
      'invalid',
      `${type} is not listed by type (a fleet's readings): list a device's readings with source=<device id>`,
    );
  if (source !== undefined && !EventSourceSchema.safeParse(source).success)
    throw new Rejection('invalid', 'source must be 1-256 letters, digits or ._:/@- (as events carry it)');
  const since = parseTime('since', params.since);
  const until = parseTime('until', params.until);
  if (since && until && since > until) throw new Rejection('invalid', 'since must not be after until');
  const after = decodeCursor(params.cursor);
  // A cursor resumes the query it came from: one from another type, source or time range would skip or repeat
  // events, and a key of another shape is refused here rather than by DynamoDB (a 500).
  if (after) {
    const indexKey = type !== undefined ? 'typeKey' : 'source';
    const keys = Object.keys(after).sort().join(',');
    const { timeKey } = after;
    if (
      keys !== ['id', indexKey, 'timeKey'].sort().join(',') ||
      Object.values(after).some((v) => typeof v !== 'string') ||
      after[indexKey] !== (type ?? source) ||
      typeof timeKey !== 'string' ||
      timeKey < (since ?? '0000') ||
      timeKey > `${until ?? '9999'}#~`
    )
      throw new Rejection('invalid', 'cursor belongs to another query');
  }
  const page = await store.list({
    by: type !== undefined ? { type } : { source: source as string },
    ...(since ? { since } : {}),
    ...(until ? { until } : {}),
    limit: parseLimit(params.limit),
    ...(after ? { after } : {}),
  });
  const body: Page<unknown> = { items: page.items, nextCursor: encodeCursor(page.next) };
  return json(200, body);
};

export const handler = httpLambda(lambdaHandler);
