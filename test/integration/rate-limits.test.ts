import { describe, expect, it } from 'vitest';
import { createApiKey, LOCAL_USAGE_KEYS } from '../../shared/domain/admin';
import type { RateLimitsOverride } from '../../shared/domain/rate-limits';
import {
  type ApiResponse,
  api,
  connectDevice,
  controlStats,
  eventually,
  isEmbedded,
  newDevice,
  principalStore,
} from './support';
import { tem } from './tem-cli';

/**
 * Per-producer rate limits (ADR 0013) against the embedded stack over real HTTP and MQTT: each principal has its own
 * bucket (its role's numbers or its own), 429 + Retry-After over it, the next request after the wait is served, and
 * a device publishing faster than IoT Core's per-connection limit is disconnected as IoT Core does (THROTTLED).
 * Counts, not timings: how many requests are served is bounded by the burst plus what the elapsed time refills.
 */
const unique = (name: string) => `${name}-${crypto.randomUUID().slice(0, 8)}`;

async function producerWith(limits?: RateLimitsOverride): Promise<string> {
  const issued = await createApiKey(
    principalStore(),
    { name: unique('rl'), role: 'producer', ...(limits ? { limits } : {}) },
    new Date(),
    LOCAL_USAGE_KEYS,
  );
  return issued.apiKey;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.runIf(isEmbedded())('per-producer rate limits', () => {
  it('a principal with a tiny rate gets 429 with Retry-After after its burst; another is unaffected; after the wait it is served', async () => {
    const tiny = await producerWith({ rate: 1, burst: 2 });
    const other = await producerWith();
    const started = performance.now();
    const answers: ApiResponse[] = await Promise.all(
      Array.from({ length: 6 }, () => api('GET', '/healthz', { key: tiny })),
    );
    const elapsedSeconds = (performance.now() - started) / 1000;
    const served = answers.filter((a) => a.status === 200).length;
    const refused = answers.filter((a) => a.status === 429);
    expect(served + refused.length).toBe(answers.length);
    // The burst, plus at most what the elapsed time refilled at 1/s.
    expect(served).toBeGreaterThanOrEqual(2);
    expect(served).toBeLessThanOrEqual(2 + Math.ceil(elapsedSeconds));
    expect(refused.length).toBeGreaterThan(0);
    for (const r of refused) {
      expect(r.headers.get('retry-after')).toBe('1');
      expect(r.headers.get('content-type')).toBe('application/json');
      expect(r.body).toEqual({ message: "Too Many Requests: over this principal's rate limit" });
    }
    // Another producer, same role, its own bucket: served while the tiny one is refused.
    expect((await api('GET', '/healthz', { key: other })).status).toBe(200);
    // Wait as told, and the next request is served.
    await sleep(Number(refused[0]?.headers.get('retry-after')) * 1000);
    expect((await api('GET', '/healthz', { key: tiny })).status).toBe(200);
  });

  it('over the limit nothing reaches the function: a refused POST /events invokes no ingest', async () => {
    const key = await producerWith({ rate: 1, burst: 1 });
    const first = await api('POST', '/events', { key, body: { type: 'payment.success', data: { amount: 1 } } });
    expect(first.status).toBe(202);
    const ingestCalls = async () =>
      ((await controlStats()) as unknown as { functions: { httpIngest: { invocations: number } } }).functions.httpIngest
        .invocations;
    let refused: ApiResponse | undefined;
    // The first refusal comes at once unless a second passed since the first request; a few tries bound that.
    for (let i = 0; i < 5 && !refused; i++) {
      const before = await ingestCalls();
      const r = await api('POST', '/events', { key, body: { type: 'payment.success', data: { amount: 2 } } });
      if (r.status === 429) {
        refused = r;
        expect(await ingestCalls()).toBe(before);
      }
    }
    expect(refused?.headers.get('retry-after')).toBe('1');
  });

  it('a daily quota: served up to it, then 429 with Retry-After = seconds until 00:00 UTC', async () => {
    const key = await producerWith({ rate: 10, burst: 10, dailyQuota: 2 });
    expect((await api('GET', '/healthz', { key })).status).toBe(200);
    expect((await api('GET', '/healthz', { key })).status).toBe(200);
    const before = Date.now();
    const over = await api('GET', '/healthz', { key });
    expect(over.status).toBe(429);
    expect(over.body).toEqual({
      message: "Limit Exceeded: this principal's daily quota is used up (it resets at 00:00 UTC)",
    });
    const toMidnight = Math.ceil((Math.floor(before / 86_400_000 + 1) * 86_400_000 - before) / 1000);
    const retryAfter = Number(over.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(Math.abs(retryAfter - toMidnight)).toBeLessThanOrEqual(2);
  });

  it('tem keys create --rate/--burst/--quota sets the limits; ones that do not fit are refused clearly', async () => {
    const made = await tem([
      'keys',
      'create',
      '--name',
      unique('cli-rl'),
      '--role',
      'producer',
      '--rate',
      '1',
      '--burst',
      '1',
    ]);
    expect(made.code).toBe(0);
    const key = made.out.apiKey as string;
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await api('GET', '/healthz', { key })).status);
    expect(statuses).toContain(429);

    const bad = await tem(['keys', 'create', '--name', unique('cli-bad'), '--role', 'producer', '--rate', '900']);
    expect(bad.code).toBe(1);
    expect(bad.out.error).toEqual(expect.stringContaining('burst must be at least the rate'));
    const zero = await tem(['keys', 'create', '--name', unique('cli-zero'), '--role', 'producer', '--rate', '0']);
    expect(zero.code).toBe(2);
    expect(zero.out.error).toEqual(expect.stringContaining('--rate must be an integer from 1'));

    // And back to the role's limits for that principal.
    const reset = await tem(['keys', 'limits', made.out.keyId as string]);
    expect(reset.out).toMatchObject({ plan: 'role-producer' });
  });
});

describe.runIf(isEmbedded())('MQTT: IoT Core per-connection publish limit (100 publishes/s)', () => {
  it('a device publishing faster is disconnected (THROTTLED); it reconnects and is served again', async () => {
    const device = await newDevice('rl');
    const before = (await controlStats()) as unknown as {
      mqtt: { connectionsThrottled: number; messagesRouted: number };
    };
    const client = await connectDevice(device);
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    const payload = JSON.stringify({ metrics: { temperature: 20 }, seq: 1 });
    // 250 publishes at once (QoS 0): more than one second's worth of one connection.
    for (let i = 0; i < 250; i++) client.publish(`devices/${device.deviceId}/telemetry`, payload, { qos: 0 });
    await Promise.race([
      closed,
      sleep(10_000).then(() => {
        throw new Error('the broker did not disconnect a connection publishing over its limit');
      }),
    ]);
    const after = (await eventually(async () => {
      const s = (await controlStats()) as unknown as { mqtt: { connectionsThrottled: number; messagesRouted: number } };
      return s.mqtt.connectionsThrottled > before.mqtt.connectionsThrottled ? s : undefined;
    })) as { mqtt: { messagesRouted: number } };
    // At most the bucket (100) got through, plus what refilled meanwhile; never all 250.
    expect(after.mqtt.messagesRouted - before.mqtt.messagesRouted).toBeLessThan(250);
    client.end(true);

    // A new connection starts with a full bucket.
    const again = await connectDevice(device);
    try {
      await again.publishAsync(`devices/${device.deviceId}/telemetry`, payload, { qos: 1 });
      expect(again.connected).toBe(true);
    } finally {
      await again.endAsync();
    }
  });
});
