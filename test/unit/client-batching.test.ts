import { afterEach, describe, expect, it, vi } from 'vitest';
import { TemBufferFullError, TemClient, TemClosedError, TemValidationError } from '../../clients/node/src/index';
import { event, fakeFetch, json } from '../../clients/node/test/fake-fetch';

const endpoint = 'http://tem.test/v1';

afterEach(() => {
  vi.useRealTimers();
});

describe('TemClient batching', () => {
  it('cuts batches at 500 events and keeps send order', async () => {
    const server = fakeFetch();
    const client = new TemClient({ endpoint, apiKey: 'k', fetch: server.fetch });
    const sent = Array.from({ length: 1200 }, (_v, n) => client.send(event(n)));
    await client.flush();
    const ids = await Promise.all(sent);
    expect(server.requests.map((r) => r.events.length)).toEqual([500, 500, 200]);
    expect(server.requests.flatMap((r) => r.events.map((e) => (e.data as { n: number }).n))).toEqual(
      Array.from({ length: 1200 }, (_v, n) => n),
    );
    // Each promise resolves with the id the server answered for that event.
    expect(ids[0]).toBe(`ev-${server.requests[0]?.events[0]?.id}`);
    expect(server.requests[0]?.url).toBe('http://tem.test/v1/events');
    expect(server.requests[0]?.headers).toMatchObject({ 'x-api-key': 'k', 'content-type': 'application/json' });
  });

  it('never sends a request over the byte limit, measured as the body escaped into the Lambda payload', async () => {
    const server = fakeFetch();
    const maxBatchBytes = 20_000;
    const client = new TemClient({ endpoint, apiKey: 'k', fetch: server.fetch, maxBatchBytes });
    // Quotes double when escaped: 60 events of ~1 KB JSON each, ~2 KB escaped.
    for (let n = 0; n < 60; n++) void client.send(event(n, { text: '"'.repeat(1000) }));
    await client.flush();
    const wire = (s: string) => Buffer.byteLength(JSON.stringify(s)) - 2;
    expect(server.requests.length).toBeGreaterThan(5);
    expect(server.requests.reduce((sum, r) => sum + r.events.length, 0)).toBe(60);
    server.requests.forEach((r, i) => {
      expect(wire(r.body)).toBeLessThanOrEqual(maxBatchBytes);
      // Full batches, not one event per request: the next event would not have fitted.
      const next = server.requests[i + 1]?.events[0];
      if (next) expect(wire(r.body) + 1 + wire(JSON.stringify(next))).toBeGreaterThan(maxBatchBytes);
    });
  });

  it('waits lingerMs for a batch to fill, then sends what it has', async () => {
    vi.useFakeTimers();
    const server = fakeFetch();
    const client = new TemClient({ endpoint, apiKey: 'k', fetch: server.fetch, lingerMs: 50 });
    const first = client.send(event(1));
    await vi.advanceTimersByTimeAsync(30);
    void client.send(event(2));
    expect(server.requests).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(19);
    expect(server.requests).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(server.requests.map((r) => r.events.length)).toEqual([2]);
    await expect(first).resolves.toMatch(/^ev-/);
  });

  it('sends a full batch at once, without lingering', async () => {
    vi.useFakeTimers();
    const server = fakeFetch();
    const client = new TemClient({ endpoint, apiKey: 'k', fetch: server.fetch, lingerMs: 10_000, maxBatchEvents: 3 });
    for (let n = 0; n < 4; n++) void client.send(event(n));
    await vi.advanceTimersByTimeAsync(0);
    expect(server.requests.map((r) => r.events.length)).toEqual([3]);
    await client.flush();
    expect(server.requests.map((r) => r.events.length)).toEqual([3, 1]);
  });

  it('keeps at most maxInFlight requests open', async () => {
    let open = 0;
    let most = 0;
    const server = fakeFetch(async (r) => {
      open++;
      most = Math.max(most, open);
      await new Promise((resolve) => setTimeout(resolve, 5));
      open--;
      return json(202, { accepted: r.events.length, ids: r.events.map((e) => e.id) });
    });
    const client = new TemClient({ endpoint, apiKey: 'k', fetch: server.fetch, maxInFlight: 2, maxBatchEvents: 10 });
    for (let n = 0; n < 100; n++) void client.send(event(n));
    expect(await client.flush()).toEqual({ accepted: 100, failed: 0 });
    expect(server.requests).toHaveLength(10);
    expect(most).toBe(2);
  });

  it('assigns a ULID to an event without an id and keeps the id it was given', async () => {
    const server = fakeFetch();
    const client = new TemClient({ endpoint, apiKey: 'k', fetch: server.fetch });
    const own = '0190f4d2-7a5b-7c3e-9f00-0123456789ab';
    void client.send({ ...event(1), id: own });
    void client.send(event(2));
    await client.flush();
    const [given, assigned] = server.requests[0]?.events ?? [];
    expect(given?.id).toBe(own);
    expect(assigned?.id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
  });

  it('refuses at once, without a request, an event over the per-event limit or not serializable', async () => {
    const server = fakeFetch();
    const client = new TemClient({ endpoint, apiKey: 'k', fetch: server.fetch });
    expect(() => client.send(event(1, { blob: 'x'.repeat(400 * 1024) }))).toThrow(TemValidationError);
    expect(() => client.send(event(1, { big: 1n }))).toThrow(/cannot be serialized/);
    expect(() => client.send(event(1, { blob: 'x'.repeat(400 * 1024) }))).toThrow(/the limit is 409600 bytes/);
    await client.flush();
    expect(server.requests).toHaveLength(0);
  });

  it('throws TemBufferFullError when the buffer is full by count or bytes, and takes events again once drained', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const server = fakeFetch(async (r) => {
      await gate;
      return json(202, { accepted: r.events.length, ids: r.events.map((e) => e.id) });
    });
    const client = new TemClient({ endpoint, apiKey: 'k', fetch: server.fetch, maxBufferedEvents: 3 });
    for (let n = 0; n < 3; n++) void client.send(event(n));
    expect(() => client.send(event(3))).toThrow(TemBufferFullError);
    expect(() => client.send(event(3))).toThrow(/buffer is full \(3 events; the limit is 3 events\)/);
    // Each event is about 110 bytes as JSON (its ULID included).
    const byBytes = new TemClient({ endpoint, apiKey: 'k', fetch: server.fetch, maxBufferedBytes: 200 });
    void byBytes.send(event(0, { s: 'x'.repeat(40) }));
    expect(() => byBytes.send(event(1, { s: 'x'.repeat(40) }))).toThrow(/\(1\d\d bytes; the limit is 200 bytes\)/);
    release();
    await client.flush();
    await byBytes.flush();
    expect(client.buffered).toEqual({ events: 0, bytes: 0 });
    await expect(client.send(event(4))).resolves.toBeTypeOf('string');
  });

  it('close() flushes what is buffered and refuses new events', async () => {
    const server = fakeFetch();
    const client = new TemClient({ endpoint, apiKey: 'k', fetch: server.fetch, lingerMs: 60_000 });
    void client.send(event(1));
    expect(await client.close()).toEqual({ accepted: 1, failed: 0 });
    expect(() => client.send(event(2))).toThrow(TemClosedError);
  });
});
