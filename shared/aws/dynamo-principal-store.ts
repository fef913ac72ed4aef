import { type DynamoDBDocumentClient, GetCommand, PutCommand, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import type { ApiKeyRecord, DeviceRecord, PrincipalRecord, PrincipalStore } from '../ports';

/**
 * One table, item kinds told apart by the key prefix: `KEY#<keyId>` (API key), `PRINCIPAL#<id>` (role and
 * overrides), `DEVICE#<deviceId>` (MQTT credential) and `CONFIG#authEpoch` (the revocation counter).
 */
const ApiKeyItem = z.object({
  keyId: z.string(),
  principalId: z.string(),
  secretHash: z.string(),
  status: z.enum(['active', 'revoked']),
  createdAt: z.string(),
  expiresAt: z.string().optional(),
});

const PrincipalItem = z.object({
  principalId: z.string(),
  name: z.string(),
  role: z.string(),
  extra: z.array(z.string()).default([]),
  revoked: z.array(z.string()).default([]),
  eventTypes: z.array(z.string()).optional(),
  createdAt: z.string(),
});

const DeviceItem = z.object({
  deviceId: z.string(),
  principalId: z.string(),
  tokenHash: z.string(),
  status: z.enum(['active', 'revoked']),
  createdAt: z.string(),
});

const EPOCH_KEY = 'CONFIG#authEpoch';

export class DynamoPrincipalStore implements PrincipalStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  private async getItem(pk: string): Promise<Record<string, unknown> | undefined> {
    const { Item } = await this.client.send(new GetCommand({ TableName: this.tableName, Key: { pk } }));
    return Item;
  }

  private async put(pk: string, item: object): Promise<void> {
    await this.client.send(new PutCommand({ TableName: this.tableName, Item: { ...item, pk } }));
  }

  async getApiKey(keyId: string): Promise<ApiKeyRecord | undefined> {
    const item = await this.getItem(`KEY#${keyId}`);
    return item ? ApiKeyItem.parse(item) : undefined;
  }

  async getPrincipal(principalId: string): Promise<PrincipalRecord | undefined> {
    const item = await this.getItem(`PRINCIPAL#${principalId}`);
    return item ? PrincipalItem.parse(item) : undefined;
  }

  async getDevice(deviceId: string): Promise<DeviceRecord | undefined> {
    const item = await this.getItem(`DEVICE#${deviceId}`);
    return item ? DeviceItem.parse(item) : undefined;
  }

  putPrincipal(principal: PrincipalRecord): Promise<void> {
    return this.put(`PRINCIPAL#${principal.principalId}`, principal);
  }

  putApiKey(key: ApiKeyRecord): Promise<void> {
    return this.put(`KEY#${key.keyId}`, key);
  }

  putDevice(device: DeviceRecord): Promise<void> {
    return this.put(`DEVICE#${device.deviceId}`, device);
  }

  /** Operator listing (the CLI), not a hot path: a filtered scan is fine at the scale of API keys. */
  async listApiKeys(): Promise<ApiKeyRecord[]> {
    const keys: ApiKeyRecord[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.client.send(
        new ScanCommand({
          TableName: this.tableName,
          FilterExpression: 'begins_with(pk, :p)',
          ExpressionAttributeValues: { ':p': 'KEY#' },
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) keys.push(ApiKeyItem.parse(item));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return keys.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  async getAuthEpoch(): Promise<number> {
    const item = await this.getItem(EPOCH_KEY);
    return typeof item?.epoch === 'number' ? item.epoch : 0;
  }

  async bumpAuthEpoch(): Promise<number> {
    const { Attributes } = await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: EPOCH_KEY },
        UpdateExpression: 'ADD epoch :one',
        ExpressionAttributeValues: { ':one': 1 },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    return Number(Attributes?.epoch ?? 0);
  }
}
