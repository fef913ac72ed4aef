import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import type { ApiKeyRecord, PrincipalRecord, PrincipalStore } from '../ports';

/** One table, two item kinds: `KEY#<keyId>` (credential) and `PRINCIPAL#<id>` (role and overrides). */
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

export class DynamoPrincipalStore implements PrincipalStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  private async getItem(pk: string): Promise<Record<string, unknown> | undefined> {
    const { Item } = await this.client.send(new GetCommand({ TableName: this.tableName, Key: { pk } }));
    return Item;
  }

  async getApiKey(keyId: string): Promise<ApiKeyRecord | undefined> {
    const item = await this.getItem(`KEY#${keyId}`);
    return item ? ApiKeyItem.parse(item) : undefined;
  }

  async getPrincipal(principalId: string): Promise<PrincipalRecord | undefined> {
    const item = await this.getItem(`PRINCIPAL#${principalId}`);
    return item ? PrincipalItem.parse(item) : undefined;
  }

  async putPrincipal(principal: PrincipalRecord): Promise<void> {
    await this.client.send(
      new PutCommand({ TableName: this.tableName, Item: { pk: `PRINCIPAL#${principal.principalId}`, ...principal } }),
    );
  }

  async putApiKey(key: ApiKeyRecord): Promise<void> {
    await this.client.send(new PutCommand({ TableName: this.tableName, Item: { pk: `KEY#${key.keyId}`, ...key } }));
  }
}
