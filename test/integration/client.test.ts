import { describe, expect, it } from 'vitest';
import { type RetryInfo, TemClient } from '../../clients/node/src/index';
import { api, control, devKey, eventually, isEmbedded, stack, storedBySource } from './support';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

interface Stored {
  id: string;
  idempotencyKey?: string;
  principalId: string;
  data: { n: number };
}

/** Every event of a source through the public API: `GET /events?source=...`, all pages. */
async function listBySource(source: string): Promise<Stored[]> {
  const items: Stored[] = [];
  let cursor: string | null = null;
  do {
    const query: string = `source=${encodeURIComponent(source)}&limit=100${cursor ? `&cursor=${cursor}` : ''}`;
    const page = await api('GET', `/events?${query}`);
    expect(page.status).toBe(200);
    const body = page.body as { items: Stored[]; nextCursor: string | null };
    items.push(...body.items);
    cursor = body.nextCursor;
  } while (cursor);
  return items;
}

/** `fetch` that records what the client sent and, when `loseAnswer` says so, drops a delivered answer. */
function observedFetch(loseAnswer: (request: number) => boolean = () => false) {
  const seen: { url: string; status?: number; lost?: boolean; auth: string }[] = [];
  let posts = 0;
  const wrapped: typeof fetch = async (input, init) => {
    const headers = new Headers(init?.headers);
    const entry: (typeof seen)[number] = {
      url: String(input),
      auth: headers.has('authorization') ? 'jwt' : headers.has('x-api-key') ? 'key' : 'none',
    };
    seen.push(entry);
    const response = await fetch(input, init);
    entry.status = response.status;
    if (String(input).endsWith('/events') && loseAnswer(posts++)) {
      // The service took the request and answered, but the answer never reaches the producer (a dropped
      // connection): the client must resend the same events, and the store must still hold each once.
      await response.arrayBuffer();
      entry.lost = true;
      throw new TypeError('fetch failed: socket hang up');
    }
    return response;
  };
  return { fetch: wrapped, seen };
}

describe.runIf(isEmbedded())('producer client (clients/node) against the embedded stack', () => {
  it('delivers 2,000 events through a Kinesis outage mid-stream and lost answers: each stored exactly once', async () => {
    const N = 2000;
    const source = `client-it-${crypto.randomUUID().slice(0, 8)}`;
    const retries: RetryInfo[] = [];
    // Every 7th answer of the service is lost on the way back.
    const observed = observedFetch((n) => n % 7 === 3);
    const client = new TemClient({
      endpoint: stack().http,
      apiKey: devKey(),
      fetch: observed.fetch,
      onRetry: (info) => retries.push(info),
    });
    const sent: Promise<string>[] = [];
    const produce = async (from: number, to: number, pauseEvery = 100) => {
      for (let n = from; n < to; n++) {
        sent.push(client.send({ type: 'client.tested', source, data: { n } }));
        if (n % pauseEvery === pauseEvery - 1) await sleep(50);
      }
    };

    await produce(0, 600);
    await control('/engines/kinesis/stop');
    try {
      await produce(600, 1400);
      // Down until the service has answered a 503 and the client is retrying: the outage is felt, not skipped.
      await eventually(async () => (retries.some((r) => r.status === 503) ? true : undefined), 40_000, 'a 503');
    } finally {
      await control('/engines/kinesis/start');
    }
    await produce(1400, N);
    expect(await client.close()).toMatchObject({ failed: 0 });

    const outcomes = await Promise.allSettled(sent);
    const rejected = outcomes.filter((o) => o.status === 'rejected');
    expect(rejected.map((o) => String((o as PromiseRejectedResult).reason))).toEqual([]);
    const ids = outcomes.map((o) => (o as PromiseFulfilledResult<string>).value);
    expect(new Set(ids).size).toBe(N);
    expect(observed.seen.some((s) => s.lost)).toBe(true);
    expect(retries.some((r) => r.status === undefined)).toBe(true); // the lost answers, resent whole

    // Distinct ids: the index is read while the consumer may still be writing (a count alone once passed early).
    await eventually(
      async () => (new Set((await storedBySource(source)).map((e) => e.id)).size >= N ? true : undefined),
      90_000,
      `${N} events stored`,
    );
    // The listing reads the same index, eventually consistent as a GSI is in AWS: the store may still be rewriting
    // items the outage made it receive twice, so list until a whole pass sees them all (it failed twice by reading
    // once: 1,946 and 1,603 of 2,000 listed right after the index held 2,000).
    let stored: Stored[] = [];
    await eventually(
      async () => {
        stored = await listBySource(source);
        return new Set(stored.map((e) => e.id)).size >= N ? true : undefined;
      },
      60_000,
      `${N} events listed by GET /events`,
    );
    // Nothing lost, nothing twice: each n once, under the id its 202 answered, keyed by the client's ULID.
    expect(stored).toHaveLength(N);
    expect(stored.map((e) => e.data.n).sort((a, b) => a - b)).toEqual(Array.from({ length: N }, (_v, n) => n));
    expect(new Set(stored.map((e) => e.id))).toEqual(new Set(ids));
    const keys = stored.map((e) => e.idempotencyKey ?? '');
    expect(keys.every((k) => ULID.test(k))).toBe(true);
    expect(new Set(keys).size).toBe(N);
  }, 240_000);

  it('works end to end with JWTs from POST /auth/token', async () => {
    const source = `client-jwt-${crypto.randomUUID().slice(0, 8)}`;
    const observed = observedFetch();
    const client = new TemClient({ endpoint: stack().http, apiKey: devKey(), useJwt: true, fetch: observed.fetch });
    const sent = Array.from({ length: 20 }, (_v, n) => client.send({ type: 'client.tested', source, data: { n } }));
    expect(await client.flush()).toEqual({ accepted: 20, failed: 0 });
    const ids = await Promise.all(sent);

    const exchanges = observed.seen.filter((s) => s.url.endsWith('/auth/token'));
    expect(exchanges).toEqual([expect.objectContaining({ status: 200, auth: 'key' })]);
    const posts = observed.seen.filter((s) => s.url.endsWith('/events'));
    expect(posts.length).toBeGreaterThan(0);
    expect(posts.every((p) => p.auth === 'jwt' && p.status === 202)).toBe(true);

    const first = await eventually(async () => {
      const r = await api('GET', `/events/${ids[0]}`);
      return r.status === 200 ? (r.body as Stored & { source: string }) : undefined;
    });
    expect(first).toMatchObject({ id: ids[0], source, data: { n: 0 } });
    expect(first.idempotencyKey).toMatch(ULID);
    await client.close();
  });

  it('rejects an invalid event with the server message and path, and delivers the valid ones of its batch', async () => {
    const client = new TemClient({ endpoint: stack().http, apiKey: devKey() });
    const good = client.send({ type: 'client.tested', data: { ok: true } });
    const bad = client.send({ type: 'Not A Type', data: {} }).catch((error: unknown) => error);
    await client.flush();
    expect(await bad).toMatchObject({ name: 'TemValidationError', status: 400 });
    expect(((await bad) as { issues: unknown }).issues).toEqual([
      { path: 'type', message: 'must be a dotted lower-case name such as payment.success' },
    ]);
    await expect(good).resolves.toMatch(/^[0-9a-f-]{36}$/);
  });
});
