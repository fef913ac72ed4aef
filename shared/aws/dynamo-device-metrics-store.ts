import {
  type AttributeValue,
  ConditionalCheckFailedException,
  GetItemCommand,
  QueryCommand,
} from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import {
  type BucketAggregate,
  BucketCache,
  type BucketCacheLimits,
  type BucketUpdate,
  type DeviceMetricsReader,
  type DeviceMetricsWriter,
  EMPTY_BUCKET,
  parseBucketKey,
  planBucketWrite,
} from '../domain/device-metrics';

/**
 * DynamoDB side of device metrics (docs/decisions/0006-device-metrics.md).
 *
 * `deviceMetricsTable`: `deviceId` + `bucket` (`<metric>#<minute>`), attributes `version`, `count`, `sum`, `min`,
 * `max`, `last`, `lastAt`, `lastKey`, `appliedIds` (string set of the event ids counted), `expiresAt` (TTL).
 * `devicesTable`: `deviceId`, `firstSeen`, `lastSeen`, `lastReading {metrics, at}`, `lastKey`.
 */

/** Sums are sent as decimals with this many places: the stored sum then never needs more than DynamoDB's 38 digits. */
import {
  type BucketKey,
  buildBucketWriteInput,
  known,
  MAX_BUCKET_WRITE_ATTEMPTS,
  storedBucketOf,
  toBucketAggregate,
} from './dynamo-bucket-items';

export * from './dynamo-bucket-items';
export { DynamoDeviceRegistry } from './dynamo-device-registry';

export interface DeviceMetricsStoreOptions {
  cache?: Partial<BucketCacheLimits>;
}

export class DynamoDeviceMetricsStore implements DeviceMetricsWriter, DeviceMetricsReader {
  /** Per container (the store lives at module scope): what this container last wrote to each bucket. */
  private readonly cache: BucketCache;

  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    options: DeviceMetricsStoreOptions = {},
  ) {
    this.cache = new BucketCache(options.cache);
  }

  /** What the cache holds (for tests and logs). */
  cacheSize(): ReturnType<BucketCache['size']> {
    return this.cache.size();
  }

  /**
   * One conditional UpdateItem when the bucket's state is known (this container wrote it last) or new. Otherwise the
   * failed condition tells what is stored (`ALL_OLD`, or a consistent `GetItem` on engines that do not return it):
   * the readings it lacks are merged into it and written again, conditional on that version, a bounded number of
   * times. A failure other than the condition leaves the outcome unknown: the cached state is dropped, and the retry
   * of the batch starts from what the table says.
   */
  async applyBucket(update: BucketUpdate): Promise<void> {
    const { deviceId, metric, minute } = update;
    let stored = this.cache.get(deviceId, metric, minute) ?? EMPTY_BUCKET;
    for (let attempt = 1; ; attempt++) {
      const write = planBucketWrite(stored, update.entries);
      if (!write) {
        // Nothing to add: a redelivery. A state read from the table is worth remembering.
        const facts = known(stored);
        if (stored.ids && facts) this.cache.put(deviceId, metric, minute, { ...facts, ids: stored.ids });
        return;
      }
      try {
        await this.client.send(new UpdateCommand(buildBucketWriteInput(this.tableName, update, write)));
        this.cache.afterWrite(deviceId, metric, minute, stored, write);
        return;
      } catch (error) {
        this.cache.forget(deviceId, metric, minute);
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
        if (attempt >= MAX_BUCKET_WRITE_ATTEMPTS)
          throw new Error(`bucket ${deviceId} ${update.bucket} changed under each of ${attempt} writes`);
        stored = storedBucketOf(error.Item ?? (await this.readBucket(update)));
      }
    }
  }

  /** The item as it is now (strongly consistent), raw attribute values: the sum may exceed the safe-integer range. */
  private async readBucket(key: BucketKey): Promise<Record<string, AttributeValue> | undefined> {
    const { Item } = await this.client.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: { deviceId: { S: key.deviceId }, bucket: { S: key.bucket } },
        ConsistentRead: true,
      }),
    );
    return Item;
  }

  async metricNames(deviceId: string, max: number): Promise<string[]> {
    // A skip scan: one Limit-1 query per metric. Metric names hold no `#` or `$` (both sort below [0-9A-Za-z_]), so
    // `<metric>$` sorts after every bucket of <metric> and before every bucket of the next metric name.
    const names: string[] = [];
    let after: string | undefined;
    while (names.length < max) {
      const { Items } = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: after === undefined ? '#d = :d' : '#d = :d AND #b >= :after',
          ExpressionAttributeNames: { '#d': 'deviceId', '#b': 'bucket' },
          ExpressionAttributeValues: {
            ':d': { S: deviceId },
            ...(after === undefined ? {} : { ':after': { S: after } }),
          },
          ProjectionExpression: '#b',
          Limit: 1,
        }),
      );
      const bucket = Items?.[0]?.bucket?.S;
      if (bucket === undefined) break;
      const { metric } = parseBucketKey(bucket);
      names.push(metric);
      after = `${metric}$`;
    }
    return names;
  }

  /**
   * Native attribute values, numbers parsed with `Number`: a stored sum may outgrow the safe-integer range the
   * document client insists on when unmarshalling (it would answer a BigInt or throw).
   */
  async queryBuckets(
    deviceId: string,
    metric: string,
    fromMinute: string,
    toMinute: string,
  ): Promise<BucketAggregate[]> {
    const buckets: BucketAggregate[] = [];
    let startKey: Record<string, AttributeValue> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: '#d = :d AND #b BETWEEN :from AND :to',
          ExpressionAttributeNames: {
            '#d': 'deviceId',
            '#b': 'bucket',
            '#count': 'count',
            '#sum': 'sum',
            '#min': 'min',
            '#max': 'max',
            '#last': 'last',
            '#lastAt': 'lastAt',
          },
          ExpressionAttributeValues: {
            ':d': { S: deviceId },
            ':from': { S: `${metric}#${fromMinute}` },
            ':to': { S: `${metric}#${toMinute}` },
          },
          // appliedIds stays in the table: it is for the writer and can be most of the item.
          ProjectionExpression: '#b, #count, #sum, #min, #max, #last, #lastAt',
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) {
        const aggregate = toBucketAggregate(item);
        if (aggregate) buckets.push(aggregate);
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return buckets;
  }
}

/**
 * Every bucket is written whole (count, sum, min, max and last in one write). An item without a count is one written
 * before that, whose counting write had not happened yet: it is left out until it is complete.
 */
