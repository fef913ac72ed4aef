import { type AttributeValue, ConditionalCheckFailedException, QueryCommand } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  NumberValue,
  ScanCommand,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import {
  type BucketAggregate,
  type BucketEntry,
  type BucketUpdate,
  bucketStats,
  type DeviceMetricsReader,
  type DeviceMetricsWriter,
  type DeviceRegistryReader,
  type DeviceRegistryWriter,
  type DeviceSighting,
  type DeviceSummary,
  DeviceSummarySchema,
  type ListDevicesQuery,
  parseBucketKey,
} from '../domain/device-metrics';
import { encodeCursor, type Page } from '../domain/listing';

/**
 * DynamoDB side of device metrics (docs/decisions/0006-device-metrics.md).
 *
 * `deviceMetricsTable`: `deviceId` + `bucket` (`<metric>#<minute>`), attributes `count`, `sum`, `min`, `max`, `last`,
 * `lastAt`, `lastKey`, `appliedIds` (string set of the event ids counted), `expiresAt` (TTL).
 * `devicesTable`: `deviceId`, `firstSeen`, `lastSeen`, `lastReading {metrics, at}`, `lastKey`.
 */

/** Sums are sent as decimals with this many places: the stored sum then never needs more than DynamoDB's 38 digits. */
export const SUM_DECIMALS = 9;

/** A sum as an exact decimal string (`toFixed`), so neither float noise nor the SDK's safe-integer check gets in. */
export function decimal(value: number): NumberValue {
  const fixed = value.toFixed(SUM_DECIMALS);
  return NumberValue.from(/^-?0\.0*$/.test(fixed) ? '0' : fixed);
}

type Key = { deviceId: string; bucket: string };

function keyOf(update: BucketUpdate): Key {
  return { deviceId: update.deviceId, bucket: update.bucket };
}

/**
 * `ADD count, sum, appliedIds` for entries none of whose ids the bucket has counted yet; the condition names each
 * id, so a redelivery of any of them fails the whole write (then `applyBucket` falls back to the missing ids).
 */
export function buildAddInput(tableName: string, update: BucketUpdate, entries: readonly BucketEntry[]) {
  const values: Record<string, unknown> = {
    ':n': entries.length,
    ':s': decimal(entries.reduce((sum, e) => sum + e.value, 0)),
    ':ids': new Set(entries.map((e) => e.eventId)),
    ':exp': update.expiresAt,
  };
  const conditions = entries.map((e, i) => {
    values[`:i${i}`] = e.eventId;
    return `NOT contains(#ids, :i${i})`;
  });
  return {
    TableName: tableName,
    Key: keyOf(update),
    UpdateExpression: 'ADD #count :n, #sum :s, #ids :ids SET #exp = if_not_exists(#exp, :exp)',
    ConditionExpression: conditions.join(' AND '),
    ExpressionAttributeNames: { '#count': 'count', '#sum': 'sum', '#ids': 'appliedIds', '#exp': 'expiresAt' },
    ExpressionAttributeValues: values,
  } satisfies UpdateCommandInput;
}

/**
 * min, max and last: each a `SET` that only happens when it improves on the stored value, so applying it again (a
 * retry, a concurrent batch) changes nothing; a failed condition is the no-op case, not an error.
 */
export function buildExtremeInputs(tableName: string, update: BucketUpdate): UpdateCommandInput[] {
  const stats = bucketStats(update.entries);
  const base = { TableName: tableName, Key: keyOf(update) };
  const expiry = '#exp = if_not_exists(#exp, :exp)';
  return [
    {
      ...base,
      UpdateExpression: `SET #min = :v, ${expiry}`,
      ConditionExpression: 'attribute_not_exists(#min) OR #min > :v',
      ExpressionAttributeNames: { '#min': 'min', '#exp': 'expiresAt' },
      ExpressionAttributeValues: { ':v': stats.min, ':exp': update.expiresAt },
    },
    {
      ...base,
      UpdateExpression: `SET #max = :v, ${expiry}`,
      ConditionExpression: 'attribute_not_exists(#max) OR #max < :v',
      ExpressionAttributeNames: { '#max': 'max', '#exp': 'expiresAt' },
      ExpressionAttributeValues: { ':v': stats.max, ':exp': update.expiresAt },
    },
    {
      ...base,
      UpdateExpression: `SET #last = :v, #lastAt = :at, #lastKey = :k, ${expiry}`,
      ConditionExpression: 'attribute_not_exists(#lastKey) OR #lastKey < :k',
      ExpressionAttributeNames: { '#last': 'last', '#lastAt': 'lastAt', '#lastKey': 'lastKey', '#exp': 'expiresAt' },
      ExpressionAttributeValues: {
        ':v': stats.last.value,
        ':at': stats.last.at,
        ':k': stats.last.key,
        ':exp': update.expiresAt,
      },
    },
  ];
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
  } satisfies UpdateCommandInput;
}

/** Runs a conditional write; `false` when its condition did not hold. */
async function conditional(client: DynamoDBDocumentClient, input: UpdateCommandInput): Promise<boolean> {
  try {
    await client.send(new UpdateCommand(input));
    return true;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return false;
    throw error;
  }
}

/** The ids a bucket has counted, from the item a failed condition returned (raw attribute values). */
export function appliedIdsOf(item: Record<string, AttributeValue> | undefined): Set<string> {
  return new Set(item?.appliedIds?.SS ?? []);
}

export class DynamoDeviceMetricsStore implements DeviceMetricsWriter, DeviceMetricsReader {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async applyBucket(update: BucketUpdate): Promise<void> {
    await Promise.all([
      this.addCounts(update),
      ...buildExtremeInputs(this.tableName, update).map((input) => conditional(this.client, input)),
    ]);
  }

  /**
   * One conditional ADD for the whole update. If some id was already counted (a redelivery, a retried batch), the
   * failed condition returns the item: the ids it lacks are then added one by one, each conditional on its own id,
   * so concurrent writers of the same id still count it once.
   */
  private async addCounts(update: BucketUpdate): Promise<void> {
    try {
      await this.client.send(
        new UpdateCommand({
          ...buildAddInput(this.tableName, update, update.entries),
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const applied = appliedIdsOf(error.Item);
      const missing = update.entries.filter((e) => !applied.has(e.eventId));
      for (const entry of missing) await conditional(this.client, buildAddInput(this.tableName, update, [entry]));
    }
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
 * A bucket whose counting write has not happened yet (only a min/max/last write did, and the batch is being
 * retried) has no count: it is left out until it is complete.
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
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async recordSighting(sighting: DeviceSighting): Promise<void> {
    let newer = true;
    let previousFirst: unknown;
    try {
      const { Attributes } = await this.client.send(new UpdateCommand(buildSightingInput(this.tableName, sighting)));
      previousFirst = Attributes?.firstSeen;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      newer = false;
    }
    // Readings older than the registry's (a late batch, a retry) may still move first seen earlier.
    if (!newer || (typeof previousFirst === 'string' && previousFirst > sighting.firstSeen))
      await conditional(this.client, buildFirstSeenInput(this.tableName, sighting));
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
