import {
  type AttributeValue,
  ConditionalCheckFailedException,
  GetItemCommand,
  QueryCommand,
} from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  NumberValue,
  ScanCommand,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import {
  type BucketAggregate,
  BucketCache,
  type BucketCacheLimits,
  type BucketUpdate,
  type BucketWrite,
  type DeviceMetricsReader,
  type DeviceMetricsWriter,
  type DeviceRegistryReader,
  type DeviceRegistryWriter,
  type DeviceSighting,
  type DeviceSummary,
  DeviceSummarySchema,
  EMPTY_BUCKET,
  type KnownBucket,
  type KnownSighting,
  type LastValue,
  type ListDevicesQuery,
  parseBucketKey,
  planBucketWrite,
  planSighting,
  SightingCache,
  type StoredBucket,
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
export const SUM_DECIMALS = 9;

/**
 * Writes of one bucket before giving up when other writers keep changing it (each failed attempt means another
 * write succeeded): the records fail and come back.
 */
export const MAX_BUCKET_WRITE_ATTEMPTS = 6;

/** A sum as an exact decimal string (`toFixed`), so neither float noise nor the SDK's safe-integer check gets in. */
export function decimal(value: number): NumberValue {
  const fixed = value.toFixed(SUM_DECIMALS);
  return NumberValue.from(/^-?0\.0*$/.test(fixed) ? '0' : fixed);
}

type BucketKey = Pick<BucketUpdate, 'deviceId' | 'bucket'>;

/** A versioned stored state as the cache keeps it; undefined if a field is missing (then it is not cached). */
function known(stored: StoredBucket): Omit<KnownBucket, 'ids'> | undefined {
  const { version, count, min, max, last } = stored;
  if (version === undefined || min === undefined || max === undefined || last === undefined) return undefined;
  return { version, count, min, max, last };
}

/**
 * The condition that the bucket is still in the state `stored` describes: its version; for an item written before
 * versions, its count, min, max and last key (what the writes of that time changed); for none, no count at all.
 */
function expectation(stored: StoredBucket, names: Record<string, string>, values: Record<string, unknown>): string {
  if (stored.version !== undefined) {
    names['#version'] = 'version';
    values[':expected'] = stored.version;
    return '#version = :expected';
  }
  names['#count'] = 'count';
  if (stored.count === 0) return 'attribute_not_exists(#count)';
  names['#version'] = 'version';
  values[':expectedCount'] = stored.count;
  const parts = ['attribute_not_exists(#version)', '#count = :expectedCount'];
  const same = (name: string, attribute: string, value: unknown) => {
    names[name] = attribute;
    if (value === undefined) parts.push(`attribute_not_exists(${name})`);
    else {
      values[`:expected_${attribute}`] = value;
      parts.push(`${name} = :expected_${attribute}`);
    }
  };
  same('#min', 'min', stored.min);
  same('#max', 'max', stored.max);
  same('#lastKey', 'lastKey', stored.last?.key);
  return parts.join(' AND ');
}

/**
 * The one write per bucket and batch: `SET` min, max, last, lastAt, lastKey and the next version, `ADD` count, sum
 * and the new ids, on condition that the bucket is in the state the write was computed from. The expressions do not
 * grow with the number of readings (the ids travel as one set value), so a group is never cut. The `ADD`s keep the
 * sum an exact decimal in DynamoDB; under the version condition they are as exact as a `SET`.
 */
export function buildBucketWriteInput(tableName: string, key: BucketKey & { expiresAt: number }, write: BucketWrite) {
  const names: Record<string, string> = {
    '#min': 'min',
    '#max': 'max',
    '#last': 'last',
    '#lastAt': 'lastAt',
    '#lastKey': 'lastKey',
    '#version': 'version',
    '#exp': 'expiresAt',
  };
  const values: Record<string, unknown> = {
    ':min': write.min,
    ':max': write.max,
    ':last': write.last.value,
    ':lastAt': write.last.at,
    ':lastKey': write.last.key,
    ':version': write.version,
    ':exp': key.expiresAt,
  };
  let update =
    'SET #min = :min, #max = :max, #last = :last, #lastAt = :lastAt, #lastKey = :lastKey, #version = :version, ' +
    '#exp = if_not_exists(#exp, :exp)';
  if (write.add.ids.length > 0) {
    Object.assign(names, { '#count': 'count', '#sum': 'sum', '#ids': 'appliedIds' });
    Object.assign(values, { ':n': write.add.ids.length, ':s': decimal(write.add.sum), ':ids': new Set(write.add.ids) });
    update += ' ADD #count :n, #sum :s, #ids :ids';
  }
  const condition = expectation(write.expected, names, values);
  return {
    TableName: tableName,
    Key: { deviceId: key.deviceId, bucket: key.bucket },
    UpdateExpression: update,
    ConditionExpression: condition,
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
    // The item as it is when the condition fails: what to merge into. Engines that ignore this (dynalite) make
    // `applyBucket` read the item instead.
    ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
  } satisfies UpdateCommandInput;
}

/** A stored bucket from raw attribute values (a failed condition's `Item`, a `GetItem`), ids included. */
export function storedBucketOf(item: Record<string, AttributeValue> | undefined): StoredBucket {
  if (!item) return EMPTY_BUCKET;
  const num = (name: string) => (item[name]?.N === undefined ? undefined : Number(item[name]?.N));
  const version = num('version');
  const count = num('count') ?? 0;
  if (version === undefined && count === 0) return EMPTY_BUCKET;
  const ids: ReadonlySet<string> = new Set(item.appliedIds?.SS ?? []);
  const value = num('last');
  const at = item.lastAt?.S;
  const key = item.lastKey?.S;
  const last: LastValue | undefined =
    value === undefined || at === undefined || key === undefined ? undefined : { value, at, key };
  const min = num('min');
  const max = num('max');
  return {
    version,
    count,
    ...(min === undefined ? {} : { min }),
    ...(max === undefined ? {} : { max }),
    ...(last === undefined ? {} : { last }),
    has: (id) => ids.has(id),
    ids,
  };
}

/** Newer reading wins last seen / last reading; first seen is set once here and lowered by `buildFirstSeenInput`. */
export function buildSightingInput(tableName: string, s: DeviceSighting) {
  return {
    TableName: tableName,
    Key: { deviceId: s.deviceId },
    UpdateExpression: 'SET #first = if_not_exists(#first, :first), #lastSeen = :last, #reading = :r, #lastKey = :k',
    ConditionExpression: 'attribute_not_exists(#lastKey) OR #lastKey < :k',
    ExpressionAttributeNames: {
      '#first': 'firstSeen',
      '#lastSeen': 'lastSeen',
      '#reading': 'lastReading',
      '#lastKey': 'lastKey',
    },
    ExpressionAttributeValues: { ':first': s.firstSeen, ':last': s.lastSeen, ':r': s.lastReading, ':k': s.lastKey },
    ReturnValues: 'UPDATED_OLD',
    ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
  } satisfies UpdateCommandInput;
}

export function buildFirstSeenInput(tableName: string, s: DeviceSighting) {
  return {
    TableName: tableName,
    Key: { deviceId: s.deviceId },
    UpdateExpression: 'SET #first = :first',
    ConditionExpression: 'attribute_not_exists(#first) OR #first > :first',
    ExpressionAttributeNames: { '#first': 'firstSeen' },
    ExpressionAttributeValues: { ':first': s.firstSeen },
    ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
  } satisfies UpdateCommandInput;
}

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
export function toBucketAggregate(item: Record<string, AttributeValue>): BucketAggregate | undefined {
  const num = (name: string) => (item[name]?.N === undefined ? undefined : Number(item[name]?.N));
  const bucket = item.bucket?.S;
  const count = num('count');
  const sum = num('sum');
  const min = num('min');
  const max = num('max');
  const last = num('last');
  const lastAt = item.lastAt?.S;
  if (
    bucket === undefined ||
    count === undefined ||
    sum === undefined ||
    min === undefined ||
    max === undefined ||
    last === undefined ||
    lastAt === undefined
  )
    return undefined;
  return { bucket, count, sum, min, max, last, lastAt };
}

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
