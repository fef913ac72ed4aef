import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  TemAuthError,
  TemClient,
  type TemClientOptions,
  TemDeliveryError,
  TemRequestError,
  TemValidationError,
} from '../../clients/node/src/index';
import { backoffMs, retryAfterMs, retryDelayMs } from '../../clients/node/src/retry';
import { accepted, event, fakeFetch, json, type Responder } from '../../clients/node/test/fake-fetch';

const endpoint = 'http://tem.test';
// No waiting between retries unless a test says so: the jitter draws 0.
const quick = (responder: Responder, options: Partial<TemClientOptions> = {}) => {
  const server = fakeFetch(responder);
  const client = new TemClient({
    endpoint,
    apiKey: 'k',
    fetch: server.fetch,
    random: () => 0,
    ...options,
  } as TemClientOptions);
  return { server, client };
};

afterEach(() => {
  vi.useRealTimers();
});

/** The 503 of the ingest function when the stream did not take the events at `failed` (positions). */
function partial(r: { events: { id: string }[] }, failed: number[]) {
  return json(
    503,
    {
      message: 'Some events were not accepted; retry those listed in "failed"',
      accepted: r.events.filter((_e, i) => !failed.includes(i)).map((e) => `ev-${e.id}`),
      failed: failed.map((i) => `ev-${r.events[i]?.id}`),
      failedIndexes: failed,
    },
    { 'Retry-After': '1' },
  );
}

describe('TemClient retries', () => {
  it('on a 503 resends only the events it names, with the same ids, and resolves the others at once', async () => {
    vi.useFakeTimers();
    const { server, client } = quick((r, i) => (i === 0 ? partial(r, [1, 3]) : accepted(r)));
    const sent = [0, 1, 2, 3, 4].map((n) => client.send(event(n)));
    const settled = client.flush();
    await vi.advanceTimersByTimeAsync(0);
    expect(server.requests).toHaveLength(1);
    const [first] = server.requests;
    // The accepted ones are settled before the retry: the ids of the 503's `accepted`, in order.
    await expect(sent[0]).resolves.toBe(`ev-${first?.events[0]?.id}`);
    await expect(sent[4]).resolves.toBe(`ev-${first?.events[4]?.id}`);
    await vi.advanceTimersByTimeAsync(1000);
    await settled;
    expect(server.requests).toHaveLength(2);
    expect(server.requests[1]?.events).toEqual([first?.events[1], first?.events[3]]);
    await expect(sent[3]).resolves.toBe(`ev-${first?.events[3]?.id}`);
  });

  it('waits at least Retry-After after a 503 or a 429, even when the backoff would be shorter', async () => {
    vi.useFakeTimers();
    const { server, client } = quick((r, i) =>
      i === 0
        ? json(429, { message: 'Too Many Requests' }, { 'Retry-After': '3' })
        : i === 1
          ? partial(r, [0])
          : accepted(r),
    );
    const sent = client.send(event(1));
    void client.flush();
    await vi.advanceTimersByTimeAsync(2999);
    expect(server.requests).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(server.requests).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(999);
    expect(server.requests).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(server.requests).toHaveLength(3);
    await expect(sent).resolves.toMatch(/^ev-/);
    expect(server.requests[2]?.events[0]?.id).toBe(server.requests[0]?.events[0]?.id);
  });

  it('resends the whole request, same ids, after a network error or another 5xx', async () => {
    const { server, client } = quick((r, i) => {
      if (i === 0) throw new TypeError('fetch failed');
      if (i === 1) return new Response('<html>bad gateway</html>', { status: 502 });
      return accepted(r);
    });
    const sent = [1, 2].map((n) => client.send(event(n)));
    await client.flush();
    expect(server.requests).toHaveLength(3);
    expect(server.requests[2]?.body).toBe(server.requests[0]?.body);
    await expect(Promise.all(sent)).resolves.toHaveLength(2);
  });

  it('gives up after maxAttempts with a TemDeliveryError carrying the last failure', async () => {
    const retries: number[] = [];
    const { server, client } = quick(() => json(500, { message: 'Internal server error' }), {
      maxAttempts: 3,
      onRetry: (info) => retries.push(info.attempt),
    });
    const sent = client.send(event(1));
    await client.flush();
    const error = await sent.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TemDeliveryError);
    expect(error).toMatchObject({ attempts: 3, cause: { status: 500, message: '500 Internal server error' } });
    expect(server.requests).toHaveLength(3);
    expect(retries).toEqual([1, 2]);
  });

  it('keeps retrying when the onRetry hook throws', async () => {
    const { client } = quick((r, i) => (i === 0 ? json(500, { message: 'Internal server error' }) : accepted(r)), {
      onRetry: () => {
        throw new Error('logger down');
      },
    });
    await expect(client.send(event(1))).resolves.toMatch(/^ev-/);
  });

  it('gives up at once when Retry-After is beyond maxElapsedMs (a daily quota used up)', async () => {
    const { server, client } = quick(() => json(429, { message: 'Limit Exceeded' }, { 'Retry-After': '3600' }), {
      maxElapsedMs: 60_000,
    });
    await expect(client.send(event(1))).rejects.toThrow(/after 1 attempt.*429 Limit Exceeded/);
    expect(server.requests).toHaveLength(1);
  });

  it('never retries a 400: rejects the invalid event with the server message and path, sends the valid ones again', async () => {
    const { server, client } = quick((r, i) =>
      i === 0
        ? json(400, {
            message: 'One or more events are invalid',
            errors: [{ index: 1, path: 'type', message: 'must be a dotted lower-case name such as payment.success' }],
          })
        : accepted(r),
    );
    const good = client.send(event(1));
    const bad = client.send({ type: 'Bad', data: {} });
    await client.flush();
    const error = await bad.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TemValidationError);
    expect(error).toMatchObject({
      status: 400,
      message: 'One or more events are invalid: type must be a dotted lower-case name such as payment.success',
    });
    expect((error as TemValidationError).issues).toEqual([
      { path: 'type', message: 'must be a dotted lower-case name such as payment.success' },
    ]);
    await expect(good).resolves.toMatch(/^ev-/);
    expect(server.requests.map((r) => r.events.length)).toEqual([2, 1]);
    expect(server.requests[1]?.events[0]).toEqual(server.requests[0]?.events[0]);
  });

  it('rejects a whole 400 without positions, and a 413 of one event, without retrying', async () => {
    const { server, client } = quick((_r, i) =>
      i === 0 ? json(400, { message: 'Body is not valid JSON' }) : json(413, { message: 'Request Too Long' }),
    );
    await expect(client.send(event(1))).rejects.toThrow(TemValidationError);
    await expect(client.send(event(2))).rejects.toMatchObject({ status: 413, message: 'Request Too Long' });
    expect(server.requests).toHaveLength(2);
  });

  it('halves a batch the server finds too large as a whole', async () => {
    const { server, client } = quick((r) =>
      r.events.length > 2 ? json(413, { message: 'Request Too Long' }) : accepted(r),
    );
    const sent = [1, 2, 3, 4, 5].map((n) => client.send(event(n)));
    await client.flush();
    await expect(Promise.all(sent)).resolves.toHaveLength(5);
    expect(server.requests.map((r) => r.events.length)).toEqual([5, 3, 2, 1, 2]);
  });

  it('rejects only the event a 403 names; a 403 or another 4xx without one rejects the batch', async () => {
    const { server, client } = quick((r, i) =>
      i === 0
        ? json(403, { message: 'Not allowed to emit events of type payment.success', index: 0 })
        : i === 1
          ? accepted(r)
          : i === 2
            ? json(403, { message: 'Forbidden' })
            : json(415, { message: 'Content-Type must be application/json or application/x-ndjson' }),
    );
    const denied = client.send({ type: 'payment.success', data: {} });
    const allowed = client.send(event(1));
    await client.flush();
    await expect(denied).rejects.toMatchObject({ name: 'TemAuthError', status: 403 });
    await expect(allowed).resolves.toMatch(/^ev-/);
    await expect(client.send(event(2))).rejects.toThrow(TemAuthError);
    await expect(client.send(event(3))).rejects.toThrow(TemRequestError);
    expect(server.requests).toHaveLength(4);
  });
});

describe('retry policy', () => {
  const policy = { maxAttempts: 10, maxElapsedMs: 60_000, baseDelayMs: 200, maxDelayMs: 10_000 };

  it('draws full-jitter backoff in [0, min(max, base * 2^(n-1)))', () => {
    const top = () => 0.999_999;
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((n) => backoffMs(n, policy, top))).toEqual([
      199, 399, 799, 1599, 3199, 6399, 9999, 9999,
    ]);
    for (let n = 1; n < 20; n++) {
      const delay = backoffMs(n, policy, Math.random);
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThan(Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (n - 1)));
    }
    expect(backoffMs(50, policy, () => 0)).toBe(0);
  });

  it('takes the larger of the backoff and Retry-After', () => {
    expect(retryDelayMs(1, 1000, policy, () => 0.5)).toBe(1000);
    expect(retryDelayMs(8, 1000, policy, () => 0.5)).toBe(5000);
    expect(retryDelayMs(1, undefined, policy, () => 0.5)).toBe(100);
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(retryAfterMs('1', now)).toBe(1000);
    expect(retryAfterMs(' 120 ', now)).toBe(120_000);
    expect(retryAfterMs('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000);
    expect(retryAfterMs('Wed, 31 Dec 2025 00:00:00 GMT', now)).toBe(0);
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs(null, now)).toBeUndefined();
  });
});
