import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { IOT_MAX_PAYLOAD_BYTES } from '../../infra/local/iot-broker';
import {
  connectDevice,
  controlStats,
  eventually,
  isEmbedded,
  newDevice,
  receiveMatching,
  stack,
  storedBySource,
} from './support';
import { tem } from './tem-cli';

const dir = mkdtempSync(path.join(tmpdir(), 'tem-storm-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A valid reading padded to `bytes` with a field the rule does not select. */
function readingOf(bytes: number, seq: number): string {
  const base = { metrics: { temperature: 21 }, ts: Date.now(), seq, pad: '' };
  const pad = bytes - Buffer.byteLength(JSON.stringify(base));
  return JSON.stringify({ ...base, pad: 'x'.repeat(pad) });
}

const closed = (client: mqtt.MqttClient, withinMs: number) =>
  new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), withinMs);
    client.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });

describe.runIf(isEmbedded())('hostile MQTT clients', () => {
  it('a PUBLISH over 128 KB closes the connection and stores nothing; one at the limit is stored; the device is served again', async () => {
    const device = await newDevice('big');
    const topic = `devices/${device.deviceId}/telemetry`;
    const atLimit = readingOf(IOT_MAX_PAYLOAD_BYTES, 1);
    const over = readingOf(IOT_MAX_PAYLOAD_BYTES + 1, 2);
    expect(Buffer.byteLength(atLimit)).toBe(IOT_MAX_PAYLOAD_BYTES);

    const first = await connectDevice(device);
    await first.publishAsync(topic, atLimit, { qos: 1 });
    const gone = closed(first, 10_000);
    // No PUBACK comes for the refused message: QoS 0 so the client does not wait for one.
    first.publish(topic, over, { qos: 0 });
    expect(await gone).toBe(true);
    first.end(true);

    const again = await connectDevice(device);
    await again.publishAsync(topic, readingOf(200, 3), { qos: 1 });
    await again.endAsync();
    const stored = await eventually(
      async () => {
        const items = await storedBySource(device.deviceId);
        return items.length >= 2 ? items : undefined;
      },
      20_000,
      'the reading at the limit and the one after',
    );
    // The over-limit reading (seq 2) never reached the stream.
    await new Promise((r) => setTimeout(r, 1000));
    const seqs = (await storedBySource(device.deviceId)).map((i) => (i.data as { seq: number }).seq).sort();
    expect(seqs).toEqual([1, 3]);
    expect(stored.every((i) => !('pad' in (i.data as object)))).toBe(true);
  });

  it('a connect storm: 200 devices at once all get CONNACK 0, wrong tokens and a stolen client id are refused, and readings are stored after', async () => {
    const prefix = `storm-${randomBytes(3).toString('hex')}-`;
    const file = path.join(dir, 'fleet.json');
    const registered = await tem(['devices', 'register', '--prefix', prefix, '--count', '200', '--out', file]);
    expect(registered.code, registered.stderr).toBe(0);
    const { devices } = JSON.parse(readFileSync(file, 'utf8')) as { devices: { deviceId: string; token: string }[] };
    const url = stack().mqtt as string;
    const attempt = (clientId: string, username: string, password: string) =>
      new Promise<{ clientId: string; code: number; client: mqtt.MqttClient }>((resolve) => {
        const client = mqtt.connect(url, {
          clientId,
          username,
          password,
          reconnectPeriod: 0,
          connectTimeout: 30_000,
        });
        client.once('connect', () => resolve({ clientId, code: 0, client }));
        client.once('error', (error) => resolve({ clientId, code: (error as { code?: number }).code ?? -1, client }));
      });
    const [victim] = devices as [{ deviceId: string; token: string }];
    const outcomes = await Promise.all([
      ...devices.map((d) => attempt(d.deviceId, d.deviceId, d.token)),
      ...Array.from({ length: 5 }, (_, i) => attempt(`${prefix}${i}`, `${prefix}${i}`, `temd_${'0'.repeat(43)}`)),
      // Another device's client id with this device's credentials: refused (the client id must be the device id).
      attempt(victim.deviceId, `${prefix}00001`, devices[1]?.token ?? ''),
    ]);
    try {
      const legit = outcomes.slice(0, devices.length);
      expect(legit.filter((o) => o.code !== 0).map((o) => o.clientId)).toEqual([]);
      const refused = outcomes.slice(devices.length);
      for (const o of refused) expect([4, 5], o.clientId).toContain(o.code);
      // Still serving: one of the storm's devices publishes and its reading is stored.
      const one = legit[10]?.client as mqtt.MqttClient;
      const deviceId = legit[10]?.clientId as string;
      await one.publishAsync(`devices/${deviceId}/telemetry`, readingOf(120, 1), { qos: 1 });
      await eventually(
        async () => ((await storedBySource(deviceId)).length === 1 ? true : undefined),
        20_000,
        'a reading of the storm stored',
      );
    } finally {
      await Promise.all(outcomes.map((o) => o.client.endAsync(true)));
      await tem(['devices', 'delete', '--prefix', prefix]);
    }
  });
  it('8,000 metrics, deep or wide JSON under 128 KB: each in telemetryErrors with its reason; the shard goes on at once', async () => {
    const device = await newDevice('hostile');
    const topic = `devices/${device.deviceId}/telemetry`;
    // The issue's case: 8,000 metrics (~110 KB), once one record that stalled its shard for minutes.
    const wideMetrics = { seq: 1, metrics: Object.fromEntries(Array.from({ length: 8000 }, (_, i) => [`m${i}`, i])) };
    // 20,000 levels of nesting (40 KB) inside a metric, and an array of 40,000 numbers as one.
    const deep = `{"seq":2,"metrics":{"t":${'['.repeat(20_000)}${']'.repeat(20_000)}}}`;
    const wideArray = JSON.stringify({ seq: 3, metrics: { t: Array.from({ length: 40_000 }, () => 1) } });
    for (const payload of [JSON.stringify(wideMetrics), deep, wideArray])
      expect(Buffer.byteLength(payload)).toBeLessThan(IOT_MAX_PAYLOAD_BYTES);
    const discardedBefore = (await controlStats()).pollers.reduce((n, p) => n + p.recordsDiscarded, 0);
    const client = await connectDevice(device);
    const sentAt = Date.now();
    try {
      for (const payload of [JSON.stringify(wideMetrics), deep, wideArray])
        await client.publishAsync(topic, payload, { qos: 1 });
      await client.publishAsync(topic, JSON.stringify({ seq: 4, metrics: { temperature: 20 } }), { qos: 1 });
    } finally {
      await client.endAsync();
    }
    const stored = await eventually(
      async () => {
        const items = await storedBySource(device.deviceId);
        return items.length > 0 ? items : undefined;
      },
      20_000,
      'the valid reading after the hostile ones',
    );
    // Behind the three on its shard, and still stored within seconds (no retries, no timeouts).
    expect(Date.now() - sentAt).toBeLessThan(10_000);
    expect(stored.map((i) => (i.data as { seq: number }).seq)).toEqual([4]);
    // The deep one never became a record: the rule refused it, its error action and redrive reported it.
    const reasons: string[] = [];
    for (let i = 0; i < 3; i++) {
      const m = await receiveMatching<{ deviceId: string; issues: { path: string; message: string }[] }>(
        stack().resources.telemetryErrors,
        (body) => body.deviceId === device.deviceId,
        30_000,
      );
      reasons.push(...m.issues.map((issue) => `${issue.path}: ${issue.message}`));
    }
    expect(reasons.sort()).toEqual([
      ': payload nests deeper than 32 levels of objects and arrays',
      'metrics.t: Invalid input: expected number, received array',
      'metrics: holds more than 100 metrics',
    ]);
    // No consumer gave up on a record (a timeout, a crash): nothing was discarded to the DLQ meanwhile.
    const discarded = (await controlStats()).pollers.reduce((n, p) => n + p.recordsDiscarded, 0);
    expect(discarded).toBe(discardedBefore);
  });
});
