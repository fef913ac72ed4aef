import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import {
  type DeviceRegistryReader,
  type DeviceRegistryWriter,
  type DeviceSighting,
  type DeviceSummary,
  DeviceSummarySchema,
  type KnownSighting,
  type ListDevicesQuery,
  planSighting,
  SightingCache,
} from '../domain/device-metrics';
import { encodeCursor, type Page } from '../domain/listing';

/**
 * DynamoDB side of device metrics (docs/decisions/0006-device-metrics.md).
 *
 * `deviceMetricsTable`: `deviceId` + `bucket` (`<metric>#<minute>`), attributes `version`, `count`, `sum`, `min`,
 * `max`, `last`, `lastAt`, `lastKey`, `appliedIds` (string set of the event ids counted), `expiresAt` (TTL).
 * `devicesTable`: `deviceId`, `firstSeen`, `lastSeen`, `lastReading {metrics, at}`, `lastKey`.
 */

/** Sums are sent as decimals with this many places: the stored sum then never needs more than DynamoDB's 38 digits. */
import { buildFirstSeenInput, buildSightingInput } from './dynamo-bucket-items';

export class DynamoDeviceRegistry implements DeviceRegistryWriter, DeviceRegistryReader {
  /** Per container: one-way facts about the entries it wrote, so that a write that cannot change one is not sent. */
  private readonly known: SightingCache;

  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    options: { maxDevices?: number } = {},
  ) {
    this.known = new SightingCache(options.maxDevices);
  }

  /**
   * One write for a batch newer than the entry (readings in order: the common case), whose old first seen comes back
   * with it; a second one only when the batch's first reading is earlier than the stored first seen. What the
   * container knows skips writes whose condition would fail (a redelivery, a late batch).
   */
  async recordSighting(s: DeviceSighting): Promise<void> {
    const plan = planSighting(this.known.get(s.deviceId), s);
    const learned: KnownSighting = {};
    let lowerFirst = plan.earlierFirst;
    if (plan.newer) {
      try {
        const { Attributes } = await this.client.send(new UpdateCommand(buildSightingInput(this.tableName, s)));
        learned.lastKey = s.lastKey;
        // A new entry took the batch's first seen; an existing one kept its own, which UPDATED_OLD returns.
        const stored = typeof Attributes?.firstSeen === 'string' ? Attributes.firstSeen : s.firstSeen;
        learned.firstSeen = stored;
        lowerFirst = stored > s.firstSeen;
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
        // A newer reading is stored. The failed write returns the entry, except on engines that ignore that.
        learned.lastKey = error.Item?.lastKey?.S ?? s.lastKey;
        const stored = error.Item?.firstSeen?.S;
        if (stored !== undefined) {
          learned.firstSeen = stored;
          lowerFirst = stored > s.firstSeen;
        }
      }
    }
    if (lowerFirst) {
      try {
        await this.client.send(new UpdateCommand(buildFirstSeenInput(this.tableName, s)));
        learned.firstSeen = s.firstSeen;
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
        learned.firstSeen = error.Item?.firstSeen?.S ?? s.firstSeen;
      }
    }
    this.known.learn(s.deviceId, learned);
  }

  /** A paginated Scan: one item per device, at most 100 per page (ADR 0006). Order is DynamoDB's, not by name. */
  async list(query: ListDevicesQuery): Promise<Page<DeviceSummary>> {
    const { Items, LastEvaluatedKey } = await this.client.send(
      new ScanCommand({
        TableName: this.tableName,
        Limit: query.limit,
        ExclusiveStartKey: query.startKey,
        ProjectionExpression: '#d, #first, #last, #reading',
        ExpressionAttributeNames: {
          '#d': 'deviceId',
          '#first': 'firstSeen',
          '#last': 'lastSeen',
          '#reading': 'lastReading',
        },
      }),
    );
    return {
      items: (Items ?? []).map((item) => DeviceSummarySchema.parse(item)),
      nextCursor: encodeCursor(LastEvaluatedKey),
    };
  }
}
