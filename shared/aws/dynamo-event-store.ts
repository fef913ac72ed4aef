import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { type EventEnvelope, EventEnvelopeSchema, timeKey } from '../domain/events';
import type { EventQuery, EventStore } from '../ports';

/**
 * `data` is the producer's payload, opaque to the store: it is kept as a JSON string, because a DynamoDB map would
 * refuse numbers the payload may legitimately hold (beyond 38 digits, 1e126, or 2^53 through the document client).
 */
function toItem(event: EventEnvelope, expiresAt?: number): Record<string, unknown> {
  return {
    ...event,
    data: JSON.stringify(event.data),
    timeKey: timeKey(event),
    ...(expiresAt === undefined ? {} : { expiresAt }),
  };
}

/** Item attributes that are storage, not event, are stripped before an event leaves the store. */
function toEnvelope(item: Record<string, unknown>): EventEnvelope {
  const { timeKey: _timeKey, expiresAt: _expiresAt, data, ...event } = item;
  return EventEnvelopeSchema.parse({ ...event, data: typeof data === 'string' ? JSON.parse(data) : data });
}

export class DynamoEventStore implements EventStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async putIfAbsent(event: EventEnvelope, expiresAt?: number): Promise<boolean> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: toItem(event, expiresAt),
          // The event id is the idempotency key: a redelivered record finds its item and changes nothing.
          ConditionExpression: 'attribute_not_exists(id)',
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async get(id: string): Promise<EventEnvelope | undefined> {
    const { Item } = await this.client.send(new GetCommand({ TableName: this.tableName, Key: { id } }));
    return Item ? toEnvelope(Item) : undefined;
  }

  async list(query: EventQuery): Promise<{ items: EventEnvelope[]; next?: Record<string, unknown> }> {
    const [index, attribute, value] =
      'type' in query.by ? ['byType', 'type', query.by.type] : ['bySource', 'source', query.by.source];
    // timeKey = occurredAt#id: ISO times sort as strings; '~' sorts after every id character.
    const { Items, LastEvaluatedKey } = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: index,
        KeyConditionExpression: '#k = :k AND timeKey BETWEEN :from AND :to',
        ExpressionAttributeNames: { '#k': attribute },
        ExpressionAttributeValues: {
          ':k': value,
          ':from': query.since ?? '0000',
          ':to': `${query.until ?? '9999'}#~`,
        },
        ScanIndexForward: false,
        Limit: query.limit,
        ...(query.after ? { ExclusiveStartKey: query.after } : {}),
      }),
    );
    return { items: (Items ?? []).map(toEnvelope), ...(LastEvaluatedKey ? { next: LastEvaluatedKey } : {}) };
  }
}
