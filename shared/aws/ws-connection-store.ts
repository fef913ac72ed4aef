import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import { type Connection, type Subscription, SubscriptionFilterSchema } from '../domain/subscriptions';
import type { ConnectionStore } from '../domain/ws-delivery';

/**
 * The connections table (`topology.tables.connectionsTable`): one item per connection, `pk` = its id, and one
 * `#version` item, bumped by every change, that a fan-out container reads (strongly consistent) before each batch to
 * know whether its cached connections are still right. Connection items carry `principalId` (the `byPrincipal`
 * index: connections per principal) and `expiresAt` (TTL: API Gateway closes a connection after 2 hours at most).
 */
const VERSION_KEY = '#version';

const ConnectionItem = z.object({
  pk: z.string(),
  principalId: z.string(),
  principalName: z.string(),
  role: z.string(),
  revocationKeyId: z.string().optional(),
  credentialExpiresAt: z.number().optional(),
  mayRead: z.object({ events: z.boolean(), alerts: z.boolean() }),
  // Stored as the client's parsed filter; parsed again so a hand-edited item cannot break the fan-out.
  subscriptions: z.array(z.object({ id: z.string(), filter: z.unknown() })).default([]),
  connectedAt: z.string(),
});

function toConnection(item: Record<string, unknown>): Connection | undefined {
  const parsed = ConnectionItem.safeParse(item);
  if (!parsed.success) return undefined;
  const { pk, subscriptions, ...rest } = parsed.data;
  const subs: Subscription[] = [];
  for (const s of subscriptions) {
    const filter = SubscriptionFilterSchema.safeParse(s.filter);
    if (filter.success) subs.push({ id: s.id, filter: filter.data });
  }
  return {
    connectionId: pk,
    ...rest,
    ...(rest.revocationKeyId === undefined ? {} : { revocationKeyId: rest.revocationKeyId }),
    subscriptions: subs,
  } as Connection;
}

export class DynamoConnectionStore implements ConnectionStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async version(): Promise<number> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: VERSION_KEY }, ConsistentRead: true }),
    );
    return typeof Item?.version === 'number' ? Item.version : 0;
  }

  async bumpVersion(): Promise<void> {
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: VERSION_KEY },
        UpdateExpression: 'ADD #v :one',
        ExpressionAttributeNames: { '#v': 'version' },
        ExpressionAttributeValues: { ':one': 1 },
      }),
    );
  }

  async all(): Promise<Connection[]> {
    const connections: Connection[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.client.send(
        new ScanCommand({
          TableName: this.tableName,
          ConsistentRead: true,
          FilterExpression: 'attribute_exists(principalId)',
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      for (const item of page.Items ?? []) {
        const connection = toConnection(item);
        if (connection) connections.push(connection);
      }
      start = page.LastEvaluatedKey;
    } while (start);
    return connections;
  }

  async get(connectionId: string): Promise<Connection | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: connectionId }, ConsistentRead: true }),
    );
    return Item ? toConnection(Item) : undefined;
  }

  async put(connection: Connection, expiresAtSeconds: number): Promise<void> {
    const { connectionId, ...rest } = connection;
    await this.client.send(
      new PutCommand({ TableName: this.tableName, Item: { pk: connectionId, ...rest, expiresAt: expiresAtSeconds } }),
    );
  }

  async countByPrincipal(principalId: string): Promise<number> {
    const { Count } = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: 'byPrincipal',
        KeyConditionExpression: 'principalId = :p',
        ExpressionAttributeValues: { ':p': principalId },
        Select: 'COUNT',
      }),
    );
    return Count ?? 0;
  }

  async setSubscriptions(connectionId: string, subscriptions: readonly Subscription[]): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: connectionId },
          UpdateExpression: 'SET subscriptions = :s',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeValues: { ':s': subscriptions },
        }),
      );
      return true;
    } catch (error) {
      if ((error as { name?: string }).name === 'ConditionalCheckFailedException') return false;
      throw error;
    }
  }

  async delete(connectionId: string): Promise<void> {
    await this.client.send(new DeleteCommand({ TableName: this.tableName, Key: { pk: connectionId } }));
  }
}
