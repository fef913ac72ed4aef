import { describe, expect, it } from 'vitest';
import { isArchivedOnly } from '../../shared/domain/storage-policy';
import { TELEMETRY_EVENT_TYPE } from '../../shared/domain/telemetry';
import {
  api,
  devEventId,
  devKey,
  eventually,
  newDevice,
  publishMqtt,
  receiveMatching,
  stack,
  storedBySource,
} from './support';

interface Accepted {
  accepted: number;
  ids: string[];
}

describe('HTTP: POST /events -> authorizer -> ingest -> Kinesis -> consumer -> DynamoDB -> GET /events/{id}', () => {
  it('accepts an event with the dev API key and serves it back by id within seconds', async () => {
    const posted = await api('POST', '/events', {
      body: { type: 'payment.success', data: { amount: 42, currency: 'EUR' } },
    });
    expect(posted.status).toBe(202);
    const { accepted, ids } = posted.body as Accepted;
    expect(accepted).toBe(1);
    expect(ids).toHaveLength(1);
    const id = ids[0] as string;

    const read = await eventually(
      async () => {
        const r = await api('GET', `/events/${id}`);
        return r.status === 200 ? r : undefined;
      },
      10_000,
      `event ${id} to be readable`,
    );
    expect(read.body).toMatchObject({
      id,
      type: 'payment.success',
      source: 'local-admin',
      principalId: 'local-admin',
      data: { amount: 42, currency: 'EUR' },
    });
  });

  it('a client-chosen id is an idempotency key owned by the producer: a retry is the same event, stored once', async () => {
    const key = crypto.randomUUID();
    const source = `skeleton-${key.slice(0, 8)}`;
    const first = await api('POST', '/events', {
      body: { id: key, source, type: 'user.created', data: { user: 'a' } },
    });
    expect(first.status).toBe(202);
    const id = (first.body as Accepted).ids[0] as string;
    expect(id).toBe(await devEventId(key));
    expect(id).not.toBe(key);
    const again = await api('POST', '/events', {
      body: { id: key, source, type: 'user.created', data: { user: 'b' } },
    });
    expect((again.body as Accepted).ids).toEqual([id]);
    // Behind the retry on the same shard: once the marker is stored, so is the retry.
    const marker = await api('POST', '/events', { body: { source, type: 'user.created', data: { marker: true } } });
    const markerId = (marker.body as Accepted).ids[0] as string;
    await eventually(async () => ((await api('GET', `/events/${markerId}`)).status === 200 ? true : undefined));
    const stored = await api('GET', `/events/${id}`);
    // Puts replace: the latest copy of the producer's event is what stays (docs/ingestion.md, "Idempotency").
    expect(stored.body).toMatchObject({ id, idempotencyKey: key, data: { user: 'b' } });
    expect((await storedBySource(source)).filter((e) => e.id === id)).toHaveLength(1);
  });

  it('answers 404 for an event that does not exist', async () => {
    const r = await api('GET', `/events/${crypto.randomUUID()}`);
    expect(r.status).toBe(404);
    expect(r.body).toMatchObject({ message: expect.stringContaining('No event') });
  });
});

describe('gateway answers', () => {
  it('401 without an API key, and the ingest function is never reached', async () => {
    const r = await api('POST', '/events', { key: null, body: { type: 'payment.success', data: {} } });
    expect(r.status).toBe(401);
    expect(r.body).toEqual({ message: 'Unauthorized' });
  });

  it.each([
    ['malformed', 'not-a-key'],
    ['unknown', `tem_${'0'.repeat(16)}_${'A'.repeat(43)}`],
    ['wrong secret', () => `${devKey().slice(0, -4)}AAAA`],
  ])('401 for a %s key', async (_name, key) => {
    const r = await api('GET', '/healthz', { key: typeof key === 'function' ? key() : key });
    expect(r.status).toBe(401);
    expect(r.body).toEqual({ message: 'Unauthorized' });
  });

  it('404 (not API Gateway default 403) for an unknown route', async () => {
    const r = await api('GET', '/nope');
    expect(r.status).toBe(404);
    expect(r.body).toEqual({ message: 'Not Found' });
  });

  it('200 on /healthz', async () => {
    const r = await api('GET', '/healthz');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ status: 'ok' });
  });

  it('400 with indexed field errors for an invalid event, and nothing is written', async () => {
    const id = crypto.randomUUID();
    const r = await api('POST', '/events', {
      body: {
        events: [
          { id, type: 'order.cancelled', data: {} },
          { type: 'Not A Type', data: 'x' },
        ],
      },
    });
    expect(r.status).toBe(400);
    const body = r.body as { message: string; errors: { index: number; path: string }[] };
    expect(body.errors.map((e) => `${e.index}:${e.path}`).sort()).toEqual(['1:data', '1:type']);
    await new Promise((res) => setTimeout(res, 1500));
    expect((await api('GET', `/events/${await devEventId(id)}`)).status).toBe(404);
  });

  it('400 for a body that is not JSON, 415 for another content type', async () => {
    expect((await api('POST', '/events', { rawBody: '{not json' })).status).toBe(400);
    const r = await api('POST', '/events', { rawBody: 'type=x', contentType: 'text/plain' });
    expect(r.status).toBe(415);
  });
});

describe.runIf(Boolean(stack().mqtt))(
  'MQTT: devices/{id}/telemetry -> topic rule -> Kinesis -> store consumer -> where the storage policy keeps readings',
  () => {
    it('stores a device reading as a device.telemetry event with the device as source', async () => {
      const device = await newDevice();
      const { deviceId } = device;
      await publishMqtt(device, `devices/${deviceId}/telemetry`, {
        metrics: { temperature: 21.5, humidity: 40 },
        seq: 1,
      });
      const items = await eventually(
        async () => {
          const stored = await storedBySource(deviceId);
          return stored.length > 0 ? stored : undefined;
        },
        10_000,
        'the reading stored',
      );
      expect(items).toHaveLength(1);
      expect(items[0]).toMatchObject({
        type: 'device.telemetry',
        source: deviceId,
        data: { metrics: { temperature: 21.5, humidity: 40 }, seq: 1 },
      });
      // Readings kept in the raw archive only (policies/storage.json, ADR 0018) are not in the query API.
      const byApi = await api('GET', `/events/${items[0]?.id}`);
      if (isArchivedOnly(TELEMETRY_EVENT_TYPE)) expect(byApi.status).toBe(404);
      else {
        expect(byApi.body).toMatchObject({ data: { metrics: { temperature: 21.5, humidity: 40 }, seq: 1 } });
        expect(byApi.status).toBe(200);
      }
    });

    it('sends invalid telemetry to the telemetry error queue with the reason', async () => {
      const device = await newDevice('bad');
      const { deviceId } = device;
      await publishMqtt(device, `devices/${deviceId}/telemetry`, { metrics: { temperature: 'hot' } });
      const message = await receiveMatching<{ reason: string; deviceId: string; issues: { path: string }[] }>(
        stack().resources.telemetryErrors,
        (m) => m.deviceId === deviceId,
      );
      expect(message.reason).toBe('invalid telemetry');
      expect(message.issues.map((i) => i.path)).toContain('metrics.temperature');
    });

    it('reports a payload that is not JSON in the telemetry error queue, through the rule error redrive', async () => {
      const device = await newDevice('raw');
      const topic = `devices/${device.deviceId}/telemetry`;
      await publishMqtt(device, topic, 'temperature=81');
      // The rule cannot act on it (its error action puts it in ruleErrors); the redrive reports it as invalid.
      const message = await receiveMatching<{
        reason: string;
        deviceId: string;
        issues: { message: string }[];
        base64OriginalPayload: string;
        topic: string;
      }>(stack().resources.telemetryErrors, (m) => m.deviceId === device.deviceId, 30_000);
      expect(message).toMatchObject({ reason: 'invalid telemetry', topic });
      expect(message.issues).toEqual([{ path: '', message: 'payload is not a JSON object' }]);
      expect(Buffer.from(message.base64OriginalPayload, 'base64').toString()).toBe('temperature=81');
    });
  },
);
