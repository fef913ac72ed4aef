import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { DeleteMessageBatchCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Alert, AlertMessage } from '../../shared/domain/alerts';
import { api, awsClients, connectDevice, type Device, eventually, newDevice, stack } from './support';

/**
 * Alerts end to end: device readings over MQTT -> telemetry rule -> Kinesis -> alerts consumer -> alerts table,
 * SQS `alerts` queue and MQTT `devices/<id>/alerts` -> GET /alerts.
 *
 * The alerts queue is read by one watcher for the whole file that deletes every message it receives and files it
 * by device: `receiveMatching` (visibility timeout 0, 10 messages per receive) can keep seeing the same ten messages
 * of other devices and never reach ours, and these tests must count messages, not just find one.
 */

const RULE = 'high-temperature';
const Page = (body: unknown) => body as { items: Alert[]; nextCursor: string | null };

class QueueWatcher {
  private readonly byDevice = new Map<string, AlertMessage[]>();
  private running = true;
  private readonly loop: Promise<void>;

  constructor(private readonly queueUrl: string) {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    const { sqs } = awsClients();
    while (this.running) {
      try {
        const { Messages = [] } = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: this.queueUrl,
            MaxNumberOfMessages: 10,
            WaitTimeSeconds: 1,
            VisibilityTimeout: 30,
          }),
        );
        for (const m of Messages) {
          const body = JSON.parse(m.Body ?? 'null') as AlertMessage;
          const list = this.byDevice.get(body.alert.deviceId) ?? [];
          list.push(body);
          this.byDevice.set(body.alert.deviceId, list);
        }
        if (Messages.length > 0)
          await sqs.send(
            new DeleteMessageBatchCommand({
              QueueUrl: this.queueUrl,
              Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
            }),
          );
      } catch {
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  messages(deviceId: string): AlertMessage[] {
    return this.byDevice.get(deviceId) ?? [];
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

/** A device connection subscribed to its own alerts topic, recording what arrives. */
async function subscribedDevice(
  prefix: string,
): Promise<{ device: Device; client: mqtt.MqttClient; mqtt: AlertMessage[] }> {
  const device = await newDevice(prefix);
  const client = await connectDevice(device);
  const received: AlertMessage[] = [];
  client.on('message', (topic, payload) => {
    if (topic === `devices/${device.deviceId}/alerts`) received.push(JSON.parse(payload.toString()) as AlertMessage);
  });
  const granted = await client.subscribeAsync(`devices/${device.deviceId}/alerts`, { qos: 1 });
  expect(granted.map((g) => g.qos)).toEqual([1]);
  return { device, client, mqtt: received };
}

const reading = (temperature: number, ts: number, seq: number) => JSON.stringify({ metrics: { temperature }, ts, seq });

/** The rule state of a device: how the tests know the alerts function has seen every reading (its window count). */
async function consecutive(deviceId: string): Promise<number | undefined> {
  const { Item } = await awsClients().dynamo.send(
    new GetCommand({
      TableName: stack().resources.alertsTable,
      Key: { pk: `STATE#${deviceId}#${RULE}` },
      ConsistentRead: true,
    }),
  );
  return Item?.consecutive as number | undefined;
}

async function seen(deviceId: string, count: number, what: string): Promise<void> {
  await eventually(async () => ((await consecutive(deviceId)) === count ? true : undefined), 20_000, what);
}

const types = (messages: AlertMessage[]) => messages.map((m) => m.type);
const settle = () => new Promise((r) => setTimeout(r, 1500));

let queue: QueueWatcher;
const clients: mqtt.MqttClient[] = [];

beforeAll(() => {
  queue = new QueueWatcher(stack().resources.alerts);
});

afterAll(async () => {
  await queue.stop();
  await Promise.all(clients.map((c) => c.endAsync()));
});

describe('alerts: raise once per cooldown, resolve, list', () => {
  it('a reading of 85 raises one critical alert on MQTT, in the queue and in GET /alerts; a sustained condition does not raise again; 20 resolves it', async () => {
    const { device, client, mqtt } = await subscribedDevice('alert');
    clients.push(client);
    const { deviceId } = device;
    const topic = `devices/${deviceId}/telemetry`;
    const t0 = Date.now() - 60_000;

    await client.publishAsync(topic, reading(85, t0, 1), { qos: 1 });
    const raised = await eventually(async () => mqtt.find((m) => m.type === 'alert.raised'), 20_000, 'alert.raised');
    expect(raised.alert).toMatchObject({
      deviceId,
      ruleId: RULE,
      metric: 'temperature',
      value: 85,
      threshold: 80,
      comparison: '>',
      severity: 'critical',
      state: 'open',
      raisedAt: new Date(t0).toISOString(),
    });
    const { alertId } = raised.alert;
    await eventually(async () => (queue.messages(deviceId).length > 0 ? true : undefined), 15_000, 'queue message');
    expect(queue.messages(deviceId)).toEqual([raised]);

    const listed = await api('GET', `/alerts?deviceId=${deviceId}`);
    expect(listed.status).toBe(200);
    expect(Page(listed.body).items).toEqual([raised.alert]);
    expect(Page(listed.body).nextCursor).toBeNull();

    // Five more readings above the threshold, well within the 15 minute cooldown.
    for (let i = 1; i <= 5; i++) await client.publishAsync(topic, reading(81 + i, t0 + i * 1000, 1 + i), { qos: 1 });
    await seen(deviceId, 6, 'the alerts function to see all six readings above 80');

    // Then back to normal: resolved.
    await client.publishAsync(topic, reading(20, t0 + 6000, 7), { qos: 1 });
    const resolved = await eventually(
      async () => mqtt.find((m) => m.type === 'alert.resolved'),
      20_000,
      'alert.resolved on MQTT',
    );
    expect(resolved.alert).toMatchObject({
      alertId,
      state: 'resolved',
      resolvedAt: new Date(t0 + 6000).toISOString(),
      resolvedValue: 20,
    });
    const resolvedList = await eventually(
      async () => {
        const r = await api('GET', `/alerts?deviceId=${deviceId}&state=resolved`);
        return Page(r.body).items.length > 0 ? r : undefined;
      },
      10_000,
      'the resolved alert in GET /alerts',
    );
    expect(resolvedList.status).toBe(200);
    expect(Page(resolvedList.body).items).toEqual([resolved.alert]);
    const openList = await api('GET', `/alerts?deviceId=${deviceId}&state=open`);
    expect(Page(openList.body).items).toEqual([]);

    // Above the threshold again, 7 s after the raise: the cooldown holds it back even though nothing is open.
    await client.publishAsync(topic, reading(90, t0 + 7000, 8), { qos: 1 });
    await seen(deviceId, 1, 'the alerts function to see the reading after the resolve');
    await settle();
    expect(types(mqtt)).toEqual(['alert.raised', 'alert.resolved']);
    expect(types(queue.messages(deviceId))).toEqual(['alert.raised', 'alert.resolved']);
    expect(new Set([...mqtt, ...queue.messages(deviceId)].map((m) => m.alert.alertId))).toEqual(new Set([alertId]));
    expect(Page((await api('GET', `/alerts?deviceId=${deviceId}`)).body).items).toHaveLength(1);
  });

  it('ten readings above the threshold published at once on one connection raise exactly one alert', async () => {
    const { device, client, mqtt } = await subscribedDevice('burst');
    clients.push(client);
    const t0 = Date.now() - 30_000;
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        client.publishAsync(`devices/${device.deviceId}/telemetry`, reading(90 + i, t0 + i, i + 1), { qos: 1 }),
      ),
    );
    await seen(device.deviceId, 10, 'the alerts function to see all ten readings');
    await eventually(async () => (mqtt.length > 0 && queue.messages(device.deviceId).length > 0 ? true : undefined));
    await settle();
    expect(types(mqtt)).toEqual(['alert.raised']);
    expect(types(queue.messages(device.deviceId))).toEqual(['alert.raised']);
    const listed = Page((await api('GET', `/alerts?deviceId=${device.deviceId}&state=open`)).body);
    expect(listed.items.map((a) => a.alertId)).toEqual([mqtt[0]?.alert.alertId]);
  });

  it('readings of one device spread over both shards, in concurrent batches, raise exactly one alert', async () => {
    const { device, client, mqtt } = await subscribedDevice('shards');
    clients.push(client);
    const { kinesis } = awsClients();
    const t0 = Date.now() - 20_000;
    const envelope = (i: number) => {
      const id = crypto.randomUUID();
      return {
        id,
        type: 'device.telemetry',
        source: device.deviceId,
        occurredAt: new Date(t0 + i).toISOString(),
        receivedAt: new Date(t0 + i).toISOString(),
        principalId: `device:${device.deviceId}`,
        traceId: id,
        data: { metrics: { temperature: 95 }, seq: i },
      };
    };
    // Bypasses ingest (which keys records by device, one shard) to put the same device on both shards.
    const hashKeys = ['0', (2n ** 128n - 1n).toString()];
    const results = await Promise.all(
      hashKeys.map((ExplicitHashKey, shard) =>
        kinesis.send(
          new PutRecordsCommand({
            StreamName: stack().resources.eventStream,
            Records: Array.from({ length: 5 }, (_, i) => ({
              Data: Buffer.from(JSON.stringify(envelope(shard * 5 + i))),
              PartitionKey: device.deviceId,
              ExplicitHashKey,
            })),
          }),
        ),
      ),
    );
    const shards = new Set(results.flatMap((r) => (r.Records ?? []).map((x) => x.ShardId)));
    expect(shards.size).toBe(2);
    await seen(device.deviceId, 10, 'the alerts function to see all ten readings');
    await eventually(async () => (mqtt.length > 0 && queue.messages(device.deviceId).length > 0 ? true : undefined));
    await settle();
    expect(types(mqtt)).toEqual(['alert.raised']);
    expect(types(queue.messages(device.deviceId))).toEqual(['alert.raised']);
  });
  it('a spike and the recovery put together (one batch): one alert, raised and resolved, both notifications once', async () => {
    const { device, client, mqtt } = await subscribedDevice('spike');
    clients.push(client);
    const t0 = Date.now() - 10_000;
    const envelope = (i: number, temperature: number) => {
      const id = crypto.randomUUID();
      return {
        id,
        type: 'device.telemetry',
        source: device.deviceId,
        occurredAt: new Date(t0 + i).toISOString(),
        receivedAt: new Date(t0 + i).toISOString(),
        principalId: `device:${device.deviceId}`,
        traceId: id,
        data: { metrics: { temperature }, seq: i },
      };
    };
    const records = [envelope(0, 20), envelope(1, 95), envelope(2, 21)];
    await awsClients().kinesis.send(
      new PutRecordsCommand({
        StreamName: stack().resources.eventStream,
        Records: records.map((e) => ({ Data: Buffer.from(JSON.stringify(e)), PartitionKey: device.deviceId })),
      }),
    );
    const resolved = await eventually(
      async () => mqtt.find((m) => m.type === 'alert.resolved'),
      20_000,
      'alert.resolved on MQTT',
    );
    expect(resolved.alert).toMatchObject({
      deviceId: device.deviceId,
      state: 'resolved',
      eventId: records[1]?.id,
      value: 95,
      resolvedEventId: records[2]?.id,
      resolvedValue: 21,
    });
    await eventually(async () => (queue.messages(device.deviceId).length >= 2 ? true : undefined), 15_000, 'queue');
    await settle();
    expect(types(mqtt).sort()).toEqual(['alert.raised', 'alert.resolved']);
    expect(types(queue.messages(device.deviceId)).sort()).toEqual(['alert.raised', 'alert.resolved']);
    const listed = Page((await api('GET', `/alerts?deviceId=${device.deviceId}`)).body);
    expect(listed.items).toEqual([resolved.alert]);
    expect(await consecutive(device.deviceId)).toBe(0);
  });
});

describe('GET /alerts', () => {
  it('pages a device’s alerts newest first, filters by state and since', async () => {
    const { device, client, mqtt } = await subscribedDevice('pages');
    clients.push(client);
    const topic = `devices/${device.deviceId}/telemetry`;
    const t0 = Date.now() - 3 * 3600_000;
    const minute = 60_000;
    // Three episodes, 20 minutes apart (past the 15 minute cooldown); the last one stays open.
    const script = [
      [85, 0],
      [10, 1],
      [85, 20],
      [10, 21],
      [85, 40],
    ] as const;
    for (const [i, [temperature, at]] of script.entries()) {
      await client.publishAsync(topic, reading(temperature, t0 + at * minute, i + 1), { qos: 1 });
      // One at a time: each must be judged after the previous one.
      await eventually(
        async () => (mqtt.length === [1, 2, 3, 4, 5][i] ? true : undefined),
        20_000,
        `notification ${i + 1}`,
      );
    }
    const pages: Alert[][] = [];
    let cursor: string | null = null;
    do {
      const r = await api('GET', `/alerts?deviceId=${device.deviceId}&limit=1${cursor ? `&cursor=${cursor}` : ''}`);
      expect(r.status).toBe(200);
      pages.push(Page(r.body).items);
      cursor = Page(r.body).nextCursor;
    } while (cursor && pages.length < 10);
    const all = pages.flat();
    expect(all.map((a) => a.raisedAt)).toEqual([40, 20, 0].map((m) => new Date(t0 + m * minute).toISOString()));
    expect(all.map((a) => a.state)).toEqual(['open', 'resolved', 'resolved']);

    const resolved = Page((await api('GET', `/alerts?deviceId=${device.deviceId}&state=resolved&limit=1`)).body);
    expect(resolved.items.map((a) => a.raisedAt)).toEqual([new Date(t0 + 20 * minute).toISOString()]);
    const next = Page(
      (await api('GET', `/alerts?deviceId=${device.deviceId}&state=resolved&limit=1&cursor=${resolved.nextCursor}`))
        .body,
    );
    expect(next.items.map((a) => a.raisedAt)).toEqual([new Date(t0).toISOString()]);

    const since = new Date(t0 + 10 * minute).toISOString();
    const recent = Page((await api('GET', `/alerts?deviceId=${device.deviceId}&since=${since}`)).body);
    expect(recent.items).toHaveLength(2);

    // By state across devices: this device's open alert is among the open ones, none of its resolved ones.
    const open = Page((await api('GET', '/alerts?state=open&limit=100')).body).items;
    expect(open.filter((a) => a.deviceId === device.deviceId).map((a) => a.alertId)).toEqual([all[0]?.alertId]);
    expect(open.every((a) => a.state === 'open')).toBe(true);
  });

  it('without deviceId or state: every alert, both states, newest first, paged without repeats', async () => {
    const first = await api('GET', '/alerts?limit=100');
    expect(first.status).toBe(200);
    const everything = Page(first.body).items;
    expect(new Set(everything.map((a) => a.state))).toEqual(new Set(['open', 'resolved']));
    const keys = everything.map((a) => `${a.raisedAt}#${a.alertId}`);
    expect([...keys].sort().reverse()).toEqual(keys);

    const paged: Alert[] = [];
    let cursor: string | null = null;
    do {
      const r = await api('GET', `/alerts?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      paged.push(...Page(r.body).items);
      cursor = Page(r.body).nextCursor;
    } while (cursor && paged.length <= everything.length + 2);
    expect(paged.map((a) => a.alertId).slice(0, everything.length)).toEqual(everything.map((a) => a.alertId));
  });

  it.each([
    ['an unknown parameter', '/alerts?device=x'],
    ['a bad state', '/alerts?state=closed'],
    ['a bad limit', '/alerts?limit=1000'],
    ['a bad time', '/alerts?since=yesterday'],
    ['a bad device id', '/alerts?deviceId=a%2Fb'],
    ['a cursor it did not issue', '/alerts?cursor=abc'],
  ])('answers 400 for %s', async (_what, path) => {
    const r = await api('GET', path);
    expect(r.status).toBe(400);
    expect(r.body).toEqual({ message: expect.any(String) });
  });
});
