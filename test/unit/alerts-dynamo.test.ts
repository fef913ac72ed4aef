import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { type BatchGetCommand, type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AlertFanOut, IotAlertPublisher, SqsAlertQueue } from '../../shared/aws/alert-notifier';
import { awsCallCounts, resetAwsCallCounts } from '../../shared/aws/call-counter';
import { createDocumentClient } from '../../shared/aws/clients';
import { DynamoAlertStore, statePk } from '../../shared/aws/dynamo-alert-store';
import { type AlertRule, parseAlertRules } from '../../shared/domain/alert-rules';
import {
  AlertBatch,
  type AlertBatchShape,
  AlertEngine,
  alertBatchShape,
  alertIdFor,
  minimumAlertCalls,
  type Reading,
  type RuleState,
} from '../../shared/domain/alerts';

/**
 * The DynamoDB adapter under the engine, against dynalite in this process (real conditional writes, BatchGetItem,
 * ConsistentRead), with the SDK clients of `shared/aws/clients.ts`: the AWS calls are counted by the same
 * call-counter middleware the functions carry, and compared with `minimumAlertCalls`.
 */

interface DynaliteServer {
  listen(port: number, host: string, done: () => void): void;
  address(): AddressInfo;
  close(done: () => void): void;
}
const dynalite = createRequire(import.meta.url)('dynalite') as (options: { createTableMs: number }) => DynaliteServer;

const TABLE = 'alerts-test';
const [hot, lowBattery] = parseAlertRules({
  rules: [
    { id: 'hot', description: 'hot', metric: 'temperature', comparison: '>', threshold: 80, severity: 'critical' },
    {
      id: 'battery',
      description: 'low',
      metric: 'battery',
      comparison: '<',
      threshold: 10,
      severity: 'warning',
      cooldownMinutes: 60,
      window: { count: 3 },
    },
  ],
}) as [AlertRule, AlertRule];
const rules = [hot, lowBattery];

let server: DynaliteServer;
let client: DynamoDBDocumentClient;
const saved: Record<string, string | undefined> = {};
const env = {
  AWS_ENDPOINT_URL_DYNAMODB: '',
  AWS_REGION: 'eu-west-1',
  AWS_ACCESS_KEY_ID: 'local',
  AWS_SECRET_ACCESS_KEY: 'local',
};

beforeAll(async () => {
  server = dynalite({ createTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  env.AWS_ENDPOINT_URL_DYNAMODB = `http://127.0.0.1:${server.address().port}`;
  for (const [name, value] of Object.entries(env)) {
    saved[name] = process.env[name];
    process.env[name] = value;
  }
  client = createDocumentClient();
  await client.send(
    new CreateTableCommand({
      TableName: TABLE,
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
    }) as never,
  );
});

afterAll(async () => {
  client?.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

beforeEach(() => resetAwsCallCounts());

const T0 = Date.parse('2026-03-01T10:00:00.000Z');
let seq = 0;
let run = 0;

/** `devices` devices round-robin, reading k at T0 + k s; device i < hotDevices runs hot from k = 2 on. */
function fleet(prefix: string, devices: number, fromK: number, toK: number, hotDevices: number, shard = 0): Reading[] {
  const readings: Reading[] = [];
  for (let k = fromK; k < toK; k++)
    for (let i = 0; i < devices; i++) {
      seq += 1;
      readings.push({
        eventId: `${prefix}-${i}-${k}-${shard}`,
        deviceId: `${prefix}-${i}`,
        occurredAt: new Date(T0 + k * 1000).toISOString(),
        metrics: { temperature: i < hotDevices && k >= 2 ? 90 : 20, battery: 80 },
        position: { shardId: `shardId-00000000000${shard}`, sequenceNumber: `4960${String(seq).padStart(20, '0')}` },
      });
    }
  return readings;
}

/** The notifier adapters over fake clients, counted under the call counter's names. */
function notifier(counts: Record<string, number>) {
  const count = (name: string) => {
    counts[name] = (counts[name] ?? 0) + 1;
  };
  return new AlertFanOut(
    new SqsAlertQueue(
      {
        send: async () => {
          count('SQSClient.SendMessageBatchCommand');
          return { Failed: [] };
        },
      } as never,
      'url',
    ),
    new IotAlertPublisher({
      send: async () => {
        count('IoTDataPlaneClient.PublishCommand');
        return {};
      },
    } as never),
  );
}

async function invoke(engine: AlertEngine, store: DynamoAlertStore, counts: Record<string, number>, rs: Reading[]) {
  const batch = new AlertBatch(engine, notifier(counts), store);
  for (const r of rs) batch.add(r.position.sequenceNumber, r);
  return batch.run();
}

describe('DynamoAlertStore under the engine: AWS calls as counted by call-counter', () => {
  it('1,000 readings of 100 devices in batches of 100 make exactly the minimum calls', async () => {
    const prefix = `fleet${++run}`;
    const store = new DynamoAlertStore(client, TABLE);
    const engine = new AlertEngine(rules, store);
    const counts: Record<string, number> = {};
    const shapes: AlertBatchShape[] = [];
    let states = new Map<string, RuleState>();
    for (let k = 0; k < 10; k++) {
      const batch = fleet(prefix, 100, k, k + 1, 4);
      const planned = alertBatchShape(rules, batch, states);
      states = planned.states;
      shapes.push(planned.shape);
      expect((await invoke(engine, store, counts, batch)).failedRecordIds).toEqual([]);
    }
    const expected = minimumAlertCalls(shapes);
    expect({ ...awsCallCounts(), ...counts }).toEqual(expected.byCommand);
    // 10 batches x 2 reads, 4 hot devices: 4 x 8 writes, 4 alert items + their marks, 4 publishes, 1 queue call.
    expect(expected).toMatchObject({ stateReads: 20, stateWrites: 32, alertWrites: 4, total: 65 });
    const { Item } = await client.send(
      new GetCommand({ TableName: TABLE, Key: { pk: statePk(`${prefix}-0`, 'hot') }, ConsistentRead: true }),
    );
    expect(Item).toMatchObject({ consecutive: 8, open: true, version: 8 });
  });

  it('a cold container (new engine and store) costs the same: nothing is carried between invocations', async () => {
    const prefix = `cold${++run}`;
    const warm = new DynamoAlertStore(client, TABLE);
    const warmEngine = new AlertEngine(rules, warm);
    const first = fleet(prefix, 50, 0, 4, 5);
    await invoke(warmEngine, warm, {}, first);
    const after = alertBatchShape(rules, first).states;
    resetAwsCallCounts();
    const counts: Record<string, number> = {};
    const next = fleet(prefix, 50, 4, 8, 5);
    const cold = new DynamoAlertStore(createDocumentClient(), TABLE);
    expect((await invoke(new AlertEngine(rules, cold), cold, counts, next)).failedRecordIds).toEqual([]);
    expect({ ...awsCallCounts(), ...counts }).toEqual(
      minimumAlertCalls(alertBatchShape(rules, next, after).shape).byCommand,
    );
    expect(awsCallCounts()).toEqual({
      'DynamoDBClient.BatchGetItemCommand': 1,
      'DynamoDBClient.UpdateItemCommand': 5,
    });
  });

  it('two shards at once, real conditional writes: one alert, the loser re-reads (GetItem) and rewrites', async () => {
    const prefix = `race${++run}`;
    const counts: Record<string, number> = {};
    const a = new DynamoAlertStore(client, TABLE);
    const b = new DynamoAlertStore(client, TABLE);
    const results = await Promise.all([
      invoke(new AlertEngine([hot], a), a, counts, fleet(prefix, 1, 2, 7, 1, 0)),
      invoke(new AlertEngine([hot], b), b, counts, fleet(prefix, 1, 2, 7, 1, 1)),
    ]);
    expect(results.flatMap((r) => r.failedRecordIds)).toEqual([]);
    expect(results.flatMap((r) => r.delivered).map((m) => m.type)).toEqual(['alert.raised']);
    const calls = awsCallCounts();
    const { Item } = await client.send(
      new GetCommand({ TableName: TABLE, Key: { pk: statePk(`${prefix}-0`, 'hot') }, ConsistentRead: true }),
    );
    expect(Item).toMatchObject({ consecutive: 10, open: true, version: 2 });
    expect(calls['DynamoDBClient.GetItemCommand']).toBe(1);
    expect(calls['DynamoDBClient.UpdateItemCommand']).toBe(4); // A's write, B's lost one and its rewrite, the mark
    expect(calls['DynamoDBClient.BatchGetItemCommand']).toBe(2);
  });

  it('two shards counting towards a window at once (no raise to guard): the version check keeps every count', async () => {
    const prefix = `count${++run}`;
    const slow = { ...lowBattery, window: { count: 10 } };
    const low = (fromK: number, toK: number, shard: number) =>
      fleet(prefix, 1, fromK, toK, 0, shard).map((r) => ({ ...r, metrics: { battery: 5 } }));
    const a = new DynamoAlertStore(client, TABLE);
    const b = new DynamoAlertStore(client, TABLE);
    await invoke(new AlertEngine([slow], a), a, {}, low(0, 1, 0));
    // Both read version 1; one write wins, the other is refused, re-reads and counts on top.
    await Promise.all([
      invoke(new AlertEngine([slow], a), a, {}, low(1, 3, 0)),
      invoke(new AlertEngine([slow], b), b, {}, low(1, 3, 1)),
    ]);
    expect(await a.getState(`${prefix}-0`, 'battery')).toMatchObject({ consecutive: 5, open: false, version: 3 });
  });

  it('a raise and its resolve in one batch: one upsert creates the resolved item, one write marks both deliveries', async () => {
    const prefix = `flap${++run}`;
    const store = new DynamoAlertStore(client, TABLE);
    const counts: Record<string, number> = {};
    const [spike, cool] = fleet(prefix, 1, 2, 4, 1);
    if (!spike || !cool) throw new Error('no readings');
    const batch = [spike, { ...cool, metrics: { temperature: 20 } }];
    const result = await invoke(new AlertEngine([hot], store), store, counts, batch);
    expect(result.delivered.map((m) => m.type)).toEqual(['alert.raised', 'alert.resolved']);
    expect(awsCallCounts()).toEqual({
      'DynamoDBClient.BatchGetItemCommand': 1,
      'DynamoDBClient.UpdateItemCommand': 3, // state, the alert item (upsert), the delivery marks
    });
    const stored = await store.getAlert(alertIdFor(spike.deviceId, 'hot', spike.eventId));
    expect(stored?.alert).toMatchObject({ state: 'resolved', eventId: spike.eventId, resolvedEventId: cool.eventId });
    expect(stored?.notified.sort()).toEqual(['alert.raised', 'alert.resolved']);
  });

  it('marks a message one channel took; a later full mark supersedes it', async () => {
    const prefix = `chan${++run}`;
    const store = new DynamoAlertStore(client, TABLE);
    const result = await invoke(new AlertEngine([hot], store), store, {}, fleet(prefix, 1, 1, 4, 1));
    const alertId = result.delivered[0]?.alert.alertId ?? '';
    expect(result.delivered.map((m) => m.type)).toEqual(['alert.raised']);
    const at = new Date().toISOString();
    await store.markNotified(alertId, [], at, { 'alert.resolved': ['device'] });
    expect(await store.getAlert(alertId)).toMatchObject({
      notified: ['alert.raised'],
      channels: { 'alert.resolved': ['device'] },
    });
    expect((await store.getAlert(alertId))?.alert).not.toHaveProperty('notifiedResolvedDeviceAt');
    await store.markNotified(alertId, ['alert.resolved'], at);
    const stored = await store.getAlert(alertId);
    expect(stored?.notified.sort()).toEqual(['alert.raised', 'alert.resolved']);
    expect(stored).not.toHaveProperty('channels');
  });

  it('putState: writes only over the version it read; a raise also needs nothing open and the cooldown passed', async () => {
    const store = new DynamoAlertStore(client, TABLE);
    const base: RuleState = {
      deviceId: `cond${++run}`,
      ruleId: 'hot',
      version: 1,
      open: false,
      consecutive: 1,
      positions: {},
      recentEventIds: [],
      raises: [],
      resolutions: [],
    };
    expect(await store.putState(base, undefined)).toBe(true);
    expect(await store.putState({ ...base, version: 1 }, undefined)).toBe(false); // it exists now
    expect(await store.putState({ ...base, version: 2, consecutive: 2 }, 1)).toBe(true);
    expect(await store.putState({ ...base, version: 2, consecutive: 0 }, 1)).toBe(false); // stale: version is 2
    const raisedAt = '2026-03-01T10:00:00.000Z';
    expect(
      await store.putState({ ...base, version: 3, open: true, lastRaisedAt: raisedAt }, 2, { cutoff: raisedAt }),
    ).toBe(true);
    // Even at the right version, a raise while one is open (or within the cooldown) is refused.
    expect(await store.putState({ ...base, version: 4, open: true }, 3, { cutoff: raisedAt })).toBe(false);
    expect(await store.putState({ ...base, version: 4, open: false, lastRaisedAt: raisedAt }, 3)).toBe(true);
    expect(await store.putState({ ...base, version: 5, open: true }, 4, { cutoff: '2026-03-01T09:59:59.999Z' })).toBe(
      false,
    );
    expect((await store.getState(base.deviceId, 'hot'))?.version).toBe(4);
  });

  it('reads a state item written before raises were recorded (no raises attribute)', async () => {
    const store = new DynamoAlertStore(client, TABLE);
    await client.send(
      new PutCommand({
        TableName: TABLE,
        Item: {
          pk: statePk('legacy', 'hot'),
          itemType: 'rule-state',
          device: 'legacy',
          rule: 'hot',
          version: 3,
          open: false,
          consecutive: 0,
          positions: {},
          recentEventIds: [],
          resolutions: [],
        },
      }),
    );
    const states = await store.getStates([
      { deviceId: 'legacy', ruleId: 'hot' },
      { deviceId: 'nobody', ruleId: 'hot' },
    ]);
    expect([...states.keys()]).toEqual(['legacy#hot']);
    expect(states.get('legacy#hot')).toMatchObject({ version: 3, raises: [] });
  });
});

describe('DynamoAlertStore.getStates', () => {
  const state = (device: string) => ({
    pk: statePk(device, 'hot'),
    device,
    rule: 'hot',
    version: 1,
    open: false,
    consecutive: 1,
    positions: {},
  });
  const noSleep = { attempts: 3, baseDelayMs: 1, sleep: async () => {} };

  it('one consistent BatchGetItem for the keys (duplicates once); unprocessed keys are asked for again', async () => {
    const calls: { Keys: { pk: string }[]; ConsistentRead?: boolean }[] = [];
    const fake = {
      send: async (command: BatchGetCommand) => {
        const request = command.input.RequestItems?.[TABLE] as (typeof calls)[number];
        calls.push(request);
        if (calls.length === 1)
          return {
            Responses: { [TABLE]: [state('a')] },
            UnprocessedKeys: { [TABLE]: { Keys: [{ pk: statePk('b', 'hot') }] } },
          };
        return { Responses: { [TABLE]: [state('b')] } };
      },
    };
    const store = new DynamoAlertStore(fake as never, TABLE, 10, noSleep);
    const states = await store.getStates([
      { deviceId: 'a', ruleId: 'hot' },
      { deviceId: 'b', ruleId: 'hot' },
      { deviceId: 'a', ruleId: 'hot' },
    ]);
    expect([...states.keys()].sort()).toEqual(['a#hot', 'b#hot']);
    expect(calls.map((c) => c.Keys.map((k) => k.pk))).toEqual([
      [statePk('a', 'hot'), statePk('b', 'hot')],
      [statePk('b', 'hot')],
    ]);
    expect(calls.every((c) => c.ConsistentRead === true)).toBe(true);
  });

  it('fails when keys stay unprocessed after the attempts, and refuses more than 100 keys', async () => {
    let n = 0;
    const fake = {
      send: async () => {
        n++;
        return { Responses: {}, UnprocessedKeys: { [TABLE]: { Keys: [{ pk: statePk('a', 'hot') }] } } };
      },
    };
    const store = new DynamoAlertStore(fake as never, TABLE, 10, noSleep);
    await expect(store.getStates([{ deviceId: 'a', ruleId: 'hot' }])).rejects.toThrow(/unprocessed/);
    expect(n).toBe(3);
    const many = Array.from({ length: 101 }, (_, i) => ({ deviceId: `d${i}`, ruleId: 'hot' }));
    await expect(store.getStates(many)).rejects.toThrow(/at most 100/);
  });
});
