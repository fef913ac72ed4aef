import {
  type AttributeValue,
  ConditionalCheckFailedException,
  GetItemCommand,
  type GetItemCommandInput,
} from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  NumberValue,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import {
  DynamoDeviceMetricsStore,
  DynamoDeviceRegistry,
  MAX_BUCKET_WRITE_ATTEMPTS,
} from '../../shared/aws/dynamo-device-metrics-store';
import {
  applyReadings,
  bucketStats,
  groupReadings,
  minimumCalls,
  orderKey,
  type Reading,
  summarizeDevices,
} from '../../shared/domain/device-metrics';

/**
 * The DynamoDB adapter against a fake client: a table in memory that evaluates exactly the expression forms the
 * store sends (and refuses names or values an expression does not use, as DynamoDB does). It can leave out the item
 * of a failed condition (as dynalite does), let another writer in before a write, and fail a call after or before
 * applying it. The stack's real engines run the same adapter in test/integration/device-metrics.test.ts.
 */

type Doc = Record<string, unknown>;

class FakeDynamo {
  readonly items = new Map<string, Doc>();
  readonly calls = new Map<string, number>();
  /** DynamoDB and DynamoDB Local return the item of a failed condition when asked; dynalite ignores the parameter. */
  returnsItemOnConditionFailure = true;
  /** Runs before an UpdateItem is evaluated: another writer may change the item there. */
  beforeUpdate: ((input: UpdateCommandInput) => Promise<void> | void) | undefined;
  /** The next UpdateItem calls fail: 'after' applying (an uncertain outcome: a timeout) or 'before'. */
  readonly faults: ('after' | 'before')[] = [];
  /** Every item state a write leaves (for invariants). */
  readonly written: Doc[] = [];

  readonly client = { send: (command: unknown) => this.send(command) } as unknown as DynamoDBDocumentClient;

  callCount(name?: string): number {
    if (name) return this.calls.get(name) ?? 0;
    return [...this.calls.values()].reduce((a, b) => a + b, 0);
  }

  resetCalls(): void {
    this.calls.clear();
  }

  item(table: string, key: Doc): Doc | undefined {
    return this.items.get(keyOf(table, key));
  }

  private async send(command: unknown): Promise<unknown> {
    if (command instanceof UpdateCommand) {
      this.count('UpdateItem');
      const input = command.input;
      if (this.beforeUpdate) await this.beforeUpdate(input);
      const fault = this.faults.shift();
      if (fault === 'before') throw Object.assign(new Error('socket hang up'), { name: 'TimeoutError' });
      const result = this.update(input);
      if (fault === 'after') throw Object.assign(new Error('socket hang up'), { name: 'TimeoutError' });
      return result;
    }
    if (command instanceof GetItemCommand) {
      this.count('GetItem');
      const input: GetItemCommandInput = command.input;
      const key = Object.fromEntries(Object.entries(input.Key ?? {}).map(([k, v]) => [k, v.S]));
      const item = this.item(input.TableName as string, key);
      return { Item: item ? toRaw(item) : undefined };
    }
    throw new Error(`the fake does not do ${(command as object).constructor.name}`);
  }

  private count(name: string): void {
    this.calls.set(name, (this.calls.get(name) ?? 0) + 1);
  }

  /** UpdateItem: `SET a = :v, b = if_not_exists(b, :v) ADD c :v`, conditions of `=`, `<`, `>`, attribute_not_exists. */
  update(input: UpdateCommandInput): { Attributes?: Doc } {
    const names = input.ExpressionAttributeNames ?? {};
    const values = (input.ExpressionAttributeValues ?? {}) as Doc;
    const expressions = `${input.UpdateExpression} ${input.ConditionExpression ?? ''}`;
    for (const used of [...Object.keys(names), ...Object.keys(values)])
      if (!new RegExp(`${used}\\b`).test(expressions)) throw new Error(`ValidationException: unused ${used}`);
    const id = keyOf(input.TableName as string, input.Key as Doc);
    const old = this.items.get(id);
    const attr = (token: string) => names[token] ?? token;
    const val = (token: string) => {
      if (!(token in values)) throw new Error(`ValidationException: no value ${token}`);
      return values[token];
    };
    if (input.ConditionExpression && !holds(input.ConditionExpression, old, attr, val))
      throw new ConditionalCheckFailedException({
        message: 'The conditional request failed',
        $metadata: {},
        ...(this.returnsItemOnConditionFailure && old && input.ReturnValuesOnConditionCheckFailure === 'ALL_OLD'
          ? { Item: toRaw(old) }
          : {}),
      });
    const next: Doc = structuredClone(old ?? { ...(input.Key as Doc) });
    const touched: string[] = [];
    const [setPart, addPart] = (input.UpdateExpression as string).split(' ADD ');
    for (const clause of (setPart as string).replace(/^SET /, '').split(/, (?=#)/)) {
      const m = /^(#\w+) = (?:if_not_exists\((#\w+), (:\w+)\)|(:\w+))$/.exec(clause);
      if (!m) throw new Error(`the fake does not parse ${clause}`);
      const name = attr(m[1] as string);
      touched.push(name);
      if (m[3]) next[name] = next[attr(m[2] as string)] ?? plain(val(m[3]));
      else next[name] = plain(val(m[4] as string));
    }
    for (const clause of addPart ? addPart.split(', ') : []) {
      const [nameToken, valueToken] = clause.split(' ') as [string, string];
      const name = attr(nameToken);
      touched.push(name);
      const v = plain(val(valueToken));
      if (v instanceof Set) next[name] = new Set([...((next[name] as Set<string>) ?? []), ...v]);
      else next[name] = ((next[name] as number) ?? 0) + (v as number);
    }
    this.items.set(id, next);
    this.written.push(next);
    if (input.ReturnValues === 'UPDATED_OLD' && old)
      return { Attributes: Object.fromEntries(touched.filter((n) => n in old).map((n) => [n, old[n]])) };
    return {};
  }
}

function keyOf(table: string, key: Doc): string {
  return `${table}|${key.deviceId}|${key.bucket ?? ''}`;
}

function plain(v: unknown): unknown {
  if (v instanceof NumberValue) return Number(v.toString());
  return v;
}

function holds(expression: string, item: Doc | undefined, attr: (t: string) => string, val: (t: string) => unknown) {
  return expression.split(' OR ').some((alternative) =>
    alternative.split(' AND ').every((clause) => {
      const missing = /^attribute_not_exists\((#\w+)\)$/.exec(clause);
      if (missing) return item?.[attr(missing[1] as string)] === undefined;
      const m = /^(#\w+) (=|<|>) (:\w+)$/.exec(clause);
      if (!m) throw new Error(`the fake does not parse ${clause}`);
      const left = item?.[attr(m[1] as string)];
      const right = plain(val(m[3] as string));
      if (left === undefined) return false;
      if (m[2] === '=') return left === right;
      return m[2] === '<' ? (left as string) < (right as string) : (left as string) > (right as string);
    }),
  );
}

function toRaw(doc: Doc): Record<string, AttributeValue> {
  const raw = (v: unknown): AttributeValue => {
    if (typeof v === 'number') return { N: String(v) };
    if (typeof v === 'string') return { S: v };
    if (v instanceof Set) return { SS: [...v] as string[] };
    return { M: toRaw(v as Doc) };
  };
  return Object.fromEntries(Object.entries(doc).map(([k, v]) => [k, raw(v)]));
}

// ---------------------------------------------------------------------------------------------------------------

const METRICS = 'metrics';
const DEVICES = 'devices';
const at = (s: number) => new Date(Date.parse('2026-11-25T01:02:00.000Z') + s * 1000).toISOString();

/** 100 devices x 3 metrics, 10 readings each over two minutes: 1,000 readings, 600 buckets. */
function realisticBatch(offsetS = 0, devices = 100): Reading[] {
  const readings: Reading[] = [];
  for (let d = 0; d < devices; d++)
    for (let i = 0; i < 10; i++) {
      const s = offsetS + i * 12 + (d % 5) * 0.1;
      readings.push({
        eventId: `dev-${d}-${s}`,
        deviceId: `dev-${d}`,
        at: at(s),
        metrics: { temperature: 20 + ((d * 7 + i * 3) % 17) * 0.5, humidity: 40 + ((d + i) % 9), battery: 100 - i },
      });
    }
  return readings;
}

function setup() {
  const fake = new FakeDynamo();
  const stores = () => ({
    metrics: new DynamoDeviceMetricsStore(fake.client, METRICS),
    registry: new DynamoDeviceRegistry(fake.client, DEVICES),
  });
  return { fake, stores, ports: stores() };
}

/** Every stored bucket is exactly the aggregate of the readings whose ids it holds; with `all`, of all of them. */
function expectConsistent(fake: FakeDynamo, readings: readonly Reading[], all = true) {
  const byId = new Map(readings.map((r) => [r.eventId, r]));
  let buckets = 0;
  for (const [key, item] of fake.items) {
    if (!key.startsWith(`${METRICS}|`)) continue;
    buckets++;
    expectItemConsistent(item, byId);
  }
  if (all) {
    const groups = groupReadings(readings, { retentionDays: 30 });
    expect(buckets).toBe(groups.length);
    for (const g of groups) {
      const item = fake.item(METRICS, { deviceId: g.deviceId, bucket: g.bucket });
      expect((item?.appliedIds as Set<string> | undefined)?.size).toBe(g.entries.length);
    }
  }
}

function expectItemConsistent(item: Doc, byId: Map<string, Reading>) {
  const metric = String(item.bucket).split('#')[0] as string;
  const entries = [...(item.appliedIds as Set<string>)].map((id) => {
    const r = byId.get(id);
    if (!r) throw new Error(`unknown id ${id}`);
    return { eventId: id, value: r.metrics[metric] as number, at: r.at };
  });
  const stats = bucketStats(entries);
  expect({
    count: item.count,
    sum: Math.round((item.sum as number) * 1e6),
    min: item.min,
    max: item.max,
    last: item.last,
    lastAt: item.lastAt,
    lastKey: item.lastKey,
  }).toEqual({
    count: stats.count,
    sum: Math.round(stats.sum * 1e6),
    min: stats.min,
    max: stats.max,
    last: stats.last.value,
    lastAt: stats.last.at,
    lastKey: stats.last.key,
  });
}

describe('DynamoDeviceMetricsStore + DynamoDeviceRegistry: AWS calls per batch', () => {
  it('makes the minimum for 1,000 fresh readings, new buckets and known ones: one UpdateItem per bucket and device', async () => {
    const { fake, ports } = setup();
    const first = realisticBatch(0);
    const second = realisticBatch(6); // the same 600 buckets, 6 s later each
    for (const batch of [first, second]) {
      fake.resetCalls();
      const result = await applyReadings(batch, ports, { retentionDays: 30 });
      expect(result.failures).toEqual([]);
      expect(fake.callCount()).toBe(minimumCalls(batch));
      expect(fake.callCount()).toBe(700);
      expect(fake.callCount('UpdateItem')).toBe(700);
    }
    expectConsistent(fake, [...first, ...second]);
    // the cache's ids: one per reading and minute, shared by the three metrics
    expect(ports.metrics.cacheSize()).toEqual({ minutes: 200, buckets: 600, ids: 2000 });
  });

  it('makes no call for a redelivered batch it wrote, and one per bucket and device in a cold container', async () => {
    const { fake, ports, stores } = setup();
    const batch = realisticBatch();
    await applyReadings(batch, ports, { retentionDays: 30 });
    fake.resetCalls();
    await applyReadings(batch, ports, { retentionDays: 30 });
    expect(fake.callCount()).toBe(0);
    // another container: each write fails its condition and returns the item, which already counts everything
    const cold = stores();
    fake.resetCalls();
    await applyReadings(batch, cold, { retentionDays: 30 });
    expect(Object.fromEntries(fake.calls)).toEqual({ UpdateItem: 700 });
    // ... after which it knows the buckets too
    fake.resetCalls();
    await applyReadings(batch, cold, { retentionDays: 30 });
    expect(fake.callCount()).toBe(0);
    expectConsistent(fake, batch);
  });

  it('writes every bucket whole: count, sum, min, max and last in the same UpdateItem', async () => {
    const { fake, ports } = setup();
    const batch = realisticBatch(0, 10);
    const inputs: UpdateCommandInput[] = [];
    fake.beforeUpdate = (input) => {
      if (input.TableName === METRICS) inputs.push(input);
    };
    await applyReadings(batch, ports, { retentionDays: 30 });
    await applyReadings(realisticBatch(6, 10), ports, { retentionDays: 30 });
    expect(inputs).toHaveLength(2 * 60);
    for (const input of inputs)
      expect(Object.values(input.ExpressionAttributeNames ?? {}).sort()).toEqual(
        ['appliedIds', 'count', 'expiresAt', 'last', 'lastAt', 'lastKey', 'max', 'min', 'sum', 'version'].sort(),
      );
    // and so every state a reader can see is one
    const byId = new Map([...batch, ...realisticBatch(6, 10)].map((r) => [r.eventId, r]));
    for (const item of fake.written.filter((i) => typeof i.bucket === 'string')) expectItemConsistent(item, byId);
  });
});

describe('DynamoDeviceMetricsStore: other writers, engines and failures', () => {
  const deviceId = 'sensor-1';
  const readings = (from: number, to: number): Reading[] =>
    Array.from({ length: to - from }, (_, k) => {
      const i = from + k;
      return { eventId: `e${i}`, deviceId, at: at(i * 5), metrics: { temperature: ((i * 37) % 50) - 10 } };
    });
  const bucketOf = (list: Reading[]) => {
    const [update] = groupReadings(list, { retentionDays: 30 });
    if (!update) throw new Error('no update');
    return update;
  };
  const stored = (fake: FakeDynamo) => fake.item(METRICS, { deviceId, bucket: 'temperature#2026-11-25T01:02Z' });

  it('merges into what another writer stored: the failed condition returns the item, one write follows', async () => {
    const { fake, stores } = setup();
    const mine = stores().metrics;
    const other = stores().metrics;
    await mine.applyBucket(bucketOf(readings(0, 4)));
    await other.applyBucket(bucketOf(readings(2, 8))); // cold: fails on the new-bucket condition, merges e4..e7
    fake.resetCalls();
    await mine.applyBucket(bucketOf(readings(6, 10))); // its cached version is stale: fails, merges e8, e9
    expect(Object.fromEntries(fake.calls)).toEqual({ UpdateItem: 2 });
    expect(stored(fake)).toMatchObject({ count: 10, version: 3 });
    expectConsistent(fake, readings(0, 10));
  });

  it('reads the item when the failed condition does not return it (dynalite), and stays exact', async () => {
    const { fake, stores } = setup();
    fake.returnsItemOnConditionFailure = false;
    const mine = stores().metrics;
    await mine.applyBucket(bucketOf(readings(0, 4)));
    fake.resetCalls();
    await stores().metrics.applyBucket(bucketOf(readings(2, 8)));
    expect(Object.fromEntries(fake.calls)).toEqual({ UpdateItem: 2, GetItem: 1 });
    fake.resetCalls();
    await stores().metrics.applyBucket(bucketOf(readings(0, 8))); // a full redelivery, cold
    expect(Object.fromEntries(fake.calls)).toEqual({ UpdateItem: 1, GetItem: 1 });
    await mine.applyBucket(bucketOf(readings(6, 10)));
    expect(stored(fake)).toMatchObject({ count: 10 });
    expectConsistent(fake, readings(0, 10));
  });

  it('retries when another writer gets in between, and gives up after a bounded number of attempts', async () => {
    const { fake, stores } = setup();
    const mine = stores().metrics;
    await mine.applyBucket(bucketOf(readings(0, 2)));
    // Another writer gets in before each of the next `times` writes of the bucket (it only raises the version).
    const interfere = (times: number) => {
      let left = times;
      fake.beforeUpdate = (input) => {
        if (input.TableName !== METRICS || left-- <= 0) return;
        const version = (stored(fake)?.version as number) + 1;
        fake.update({
          TableName: METRICS,
          Key: { deviceId, bucket: 'temperature#2026-11-25T01:02Z' },
          UpdateExpression: 'SET #version = :v',
          ExpressionAttributeNames: { '#version': 'version' },
          ExpressionAttributeValues: { ':v': version },
        });
      };
    };
    interfere(2);
    fake.resetCalls();
    await mine.applyBucket(bucketOf(readings(2, 4)));
    expect(fake.callCount('UpdateItem')).toBe(3);
    expect(stored(fake)).toMatchObject({ count: 4 });
    interfere(Number.POSITIVE_INFINITY);
    fake.resetCalls();
    await expect(mine.applyBucket(bucketOf(readings(4, 6)))).rejects.toThrow(/changed under each of 6 writes/);
    expect(fake.callCount('UpdateItem')).toBe(MAX_BUCKET_WRITE_ATTEMPTS);
    expect(stored(fake)).toMatchObject({ count: 4 });
  });

  it('after an uncertain outcome (applied, then a timeout) forgets the bucket, and the retry counts nothing twice', async () => {
    const { fake, stores } = setup();
    const mine = stores().metrics;
    await mine.applyBucket(bucketOf(readings(0, 4)));
    fake.faults.push('after');
    await expect(mine.applyBucket(bucketOf(readings(4, 6)))).rejects.toThrow(/socket hang up/);
    // the batch comes back, with more: the store no longer trusts its cache, the table says e4, e5 are in
    fake.resetCalls();
    await mine.applyBucket(bucketOf(readings(0, 8)));
    expect(Object.fromEntries(fake.calls)).toEqual({ UpdateItem: 2 });
    expect(stored(fake)).toMatchObject({ count: 8 });
    // a failure before applying: same path, nothing lost
    fake.faults.push('before');
    await expect(mine.applyBucket(bucketOf(readings(8, 9)))).rejects.toThrow();
    await mine.applyBucket(bucketOf(readings(8, 10)));
    expect(stored(fake)).toMatchObject({ count: 10 });
    expectConsistent(fake, readings(0, 10));
  });

  it('counts each id once with concurrent writers of overlapping readings', async () => {
    const { fake, stores } = setup();
    const all = readings(0, 12);
    const writers = [all, all.slice(3), all.slice(1, 7), all.slice(5), all];
    await Promise.all(writers.map((list) => stores().metrics.applyBucket(bucketOf(list))));
    expect(stored(fake)).toMatchObject({ count: 12 });
    expectConsistent(fake, all);
    for (const item of fake.written) expectItemConsistent(item, new Map(all.map((r) => [r.eventId, r])));
  });

  it('takes over an item written before versions: no double count, missing max folded in, version 1', async () => {
    const { fake, stores } = setup();
    const list = readings(0, 3);
    const [a, b] = list as [Reading, Reading];
    // the old writes: count, sum and ids of a and b landed, the min/max/last writes of b did not
    fake.items.set(`${METRICS}|${deviceId}|temperature#2026-11-25T01:02Z`, {
      deviceId,
      bucket: 'temperature#2026-11-25T01:02Z',
      count: 2,
      sum: (a.metrics.temperature as number) + (b.metrics.temperature as number),
      appliedIds: new Set([a.eventId, b.eventId]),
      min: a.metrics.temperature,
      max: a.metrics.temperature,
      last: a.metrics.temperature,
      lastAt: a.at,
      lastKey: orderKey(a),
      expiresAt: 1,
    });
    await stores().metrics.applyBucket(bucketOf(list));
    expect(stored(fake)).toMatchObject({ count: 3, version: 1 });
    expectConsistent(fake, list);
  });
});

describe('DynamoDeviceRegistry', () => {
  const sightingOf = (from: number, to: number) => {
    const list: Reading[] = Array.from({ length: to - from }, (_, k) => ({
      eventId: `e${from + k}`,
      deviceId: 'sensor-1',
      at: at(from + k),
      metrics: { t: from + k },
    }));
    const [s] = summarizeDevices(list);
    if (!s) throw new Error('no sighting');
    return s;
  };
  const entry = (fake: FakeDynamo) => fake.item(DEVICES, { deviceId: 'sensor-1' });

  it('one write per batch in order; none for a redelivery; two only to move first seen earlier', async () => {
    const { fake, ports } = setup();
    for (const [from, to] of [
      [10, 20],
      [20, 30],
      [30, 40],
    ] as const)
      await ports.registry.recordSighting(sightingOf(from, to));
    expect(fake.callCount('UpdateItem')).toBe(3);
    fake.resetCalls();
    await ports.registry.recordSighting(sightingOf(20, 30));
    expect(fake.callCount()).toBe(0);
    await ports.registry.recordSighting(sightingOf(5, 8)); // a late batch: older, and earlier than first seen
    expect(fake.callCount('UpdateItem')).toBe(1);
    expect(entry(fake)).toMatchObject({ firstSeen: at(5), lastSeen: at(39), lastKey: `${at(39)}#e39` });
  });

  it('in a cold container, learns from the failed condition; without its item (dynalite), tries first seen too', async () => {
    const { fake, ports, stores } = setup();
    await ports.registry.recordSighting(sightingOf(10, 20));
    fake.resetCalls();
    await stores().registry.recordSighting(sightingOf(12, 15));
    expect(fake.callCount('UpdateItem')).toBe(1);
    fake.returnsItemOnConditionFailure = false;
    fake.resetCalls();
    await stores().registry.recordSighting(sightingOf(12, 15));
    expect(fake.callCount('UpdateItem')).toBe(2);
    await stores().registry.recordSighting(sightingOf(1, 3));
    expect(entry(fake)).toMatchObject({ firstSeen: at(1), lastSeen: at(19) });
  });
});
