import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { NumberValue, type UpdateCommandInput } from '@aws-sdk/lib-dynamodb';
import {
  type BucketAggregate,
  type BucketUpdate,
  type BucketWrite,
  type DeviceSighting,
  EMPTY_BUCKET,
  type KnownBucket,
  type LastValue,
  type StoredBucket,
} from '../domain/device-metrics';

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

export type BucketKey = Pick<BucketUpdate, 'deviceId' | 'bucket'>;

/** A versioned stored state as the cache keeps it; undefined if a field is missing (then it is not cached). */
export function known(stored: StoredBucket): Omit<KnownBucket, 'ids'> | undefined {
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
