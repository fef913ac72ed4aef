import {
  BatchWriteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import { RateLimitsOverrideSchema } from '../domain/rate-limits';
import type {
  ApiKeyRecord,
  DeviceFleetStore,
  DeviceRecord,
  DeviceRegistration,
  PrincipalRecord,
  PrincipalStore,
} from '../ports';

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
  limits: RateLimitsOverrideSchema.optional(),
  usageKey: z.string().optional(),
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

/** BatchWriteItem: at most 25 requests per call. */
const BATCH_WRITE_LIMIT = 25;
/** Calls in flight at once for a bulk write: overlaps round trips without hammering one partition. */
const PARALLEL_BATCH_CALLS = 8;
/** Attempts per call at its unprocessed items (full-jitter exponential backoff between them) before giving up. */
const MAX_BATCH_ATTEMPTS = 10;
const BACKOFF_BASE_MS = 25;
const BACKOFF_CAP_MS = 2000;

type WriteRequest = { PutRequest: { Item: Record<string, unknown> } } | { DeleteRequest: { Key: { pk: string } } };

export class DynamoPrincipalStore implements PrincipalStore, DeviceFleetStore {
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

  /** Every item whose `pk` starts with `prefix`, page by page (a filtered scan: operator paths only). */
  private async scanPrefix(prefix: string, projection?: string): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.client.send(
        new ScanCommand({
          TableName: this.tableName,
          FilterExpression: 'begins_with(pk, :p)',
          ExpressionAttributeValues: { ':p': prefix },
          ...(projection ? { ProjectionExpression: projection } : {}),
          ExclusiveStartKey: startKey,
        }),
      );
      items.push(...(page.Items ?? []));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return items;
  }

  putApiKey(key: ApiKeyRecord): Promise<void> {
    return this.put(`KEY#${key.keyId}`, key);
  }

  putDevice(device: DeviceRecord): Promise<void> {
    return this.put(`DEVICE#${device.deviceId}`, device);
  }

  /** Operator listing (the CLI), not a hot path: a filtered scan is fine at the scale of API keys. */
  async listApiKeys(): Promise<ApiKeyRecord[]> {
    const keys = (await this.scanPrefix('KEY#')).map((item) => ApiKeyItem.parse(item));
    return keys.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  /** Both items of every device, 25 per BatchWriteItem call, a few calls in flight (`tem devices register --count`). */
  putDevicesBatch(registrations: readonly DeviceRegistration[]): Promise<void> {
    return this.batchWrite(
      registrations.flatMap(({ principal, device }) => [
        { PutRequest: { Item: { ...principal, pk: `PRINCIPAL#${principal.principalId}` } } },
        { PutRequest: { Item: { ...device, pk: `DEVICE#${device.deviceId}` } } },
      ]),
    );
  }

  /** Operator path, not a hot one: a filtered scan of the `DEVICE#<prefix>` items. */
  async listDeviceIds(prefix: string): Promise<string[]> {
    const ids: string[] = [];
    for (const item of await this.scanPrefix(`DEVICE#${prefix}`, 'deviceId'))
      if (typeof item.deviceId === 'string') ids.push(item.deviceId);
    return ids.sort();
  }

  deleteDevicesBatch(deviceIds: readonly string[]): Promise<void> {
    return this.batchWrite(
      deviceIds.flatMap((id) => [
        { DeleteRequest: { Key: { pk: `DEVICE#${id}` } } },
        { DeleteRequest: { Key: { pk: `PRINCIPAL#device:${id}` } } },
      ]),
    );
  }

  private async batchWrite(requests: readonly WriteRequest[]): Promise<void> {
    const chunks: WriteRequest[][] = [];
    for (let i = 0; i < requests.length; i += BATCH_WRITE_LIMIT) chunks.push(requests.slice(i, i + BATCH_WRITE_LIMIT));
    let next = 0;
    const worker = async () => {
      while (next < chunks.length) await this.writeChunk(chunks[next++] as WriteRequest[]);
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL_BATCH_CALLS, chunks.length) }, worker));
  }

  /** One call's requests; what comes back unprocessed is sent again after a backoff, a bounded number of times. */
  private async writeChunk(chunk: WriteRequest[]): Promise<void> {
    let pending = chunk;
    for (let attempt = 1; ; attempt++) {
      const { UnprocessedItems } = await this.client.send(
        new BatchWriteCommand({ RequestItems: { [this.tableName]: pending } }),
      );
      pending = (UnprocessedItems?.[this.tableName] ?? []) as WriteRequest[];
      if (pending.length === 0) return;
      if (attempt >= MAX_BATCH_ATTEMPTS)
        throw new Error(`${pending.length} principal table writes still unprocessed after ${attempt} attempts`);
      const cap = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt);
      await new Promise((resolve) => setTimeout(resolve, Math.random() * cap));
    }
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
