import { afterEach, describe, expect, it, vi } from 'vitest';
import { TemAuthError, TemClient } from '../../clients/node/src/index';
import { accepted, event, fakeFetch, json, type Recorded } from '../../clients/node/test/fake-fetch';

const endpoint = 'http://tem.test/v1/';

afterEach(() => {
  vi.useRealTimers();
});

/** A gateway that issues numbered tokens at /auth/token and accepts only the tokens listed as valid. */
function jwtServer(valid: (token: string) => boolean, expiresIn = 900) {
  let issued = 0;
  return fakeFetch((r: Recorded) => {
    if (r.url.endsWith('/auth/token')) {
      if (r.headers['x-api-key'] !== 'the-key') return json(401, { message: 'Unauthorized' });
      issued++;
      return json(200, { token: `jwt-${issued}`, tokenType: 'Bearer', expiresIn, expiresAt: 'ignored' });
    }
    const token = (r.headers.authorization ?? '').replace(/^Bearer /, '');
    return valid(token) ? accepted(r) : json(401, { message: 'Unauthorized' });
  });
}

describe('TemClient credentials', () => {
  it('sends the API key as X-API-Key', async () => {
    const server = fakeFetch();
    const client = new TemClient({ endpoint, apiKey: 'the-key', fetch: server.fetch });
    await client.send(event(1));
    expect(server.requests[0]?.headers['x-api-key']).toBe('the-key');
    expect(server.requests[0]?.headers.authorization).toBeUndefined();
  });

  it('with useJwt, exchanges the key once at POST /auth/token and reuses the token', async () => {
    const server = jwtServer(() => true);
    const client = new TemClient({ endpoint, apiKey: 'the-key', useJwt: true, fetch: server.fetch, maxBatchEvents: 2 });
    const sent = Array.from({ length: 10 }, (_v, n) => client.send(event(n)));
    await client.flush();
    await Promise.all(sent);
    const exchanges = server.requests.filter((r) => r.url === 'http://tem.test/v1/auth/token');
    expect(exchanges).toHaveLength(1);
    expect(exchanges[0]).toMatchObject({ method: 'POST', headers: { 'x-api-key': 'the-key' } });
    const posts = server.eventRequests();
    expect(posts).toHaveLength(5);
    for (const p of posts) {
      expect(p.headers.authorization).toBe('Bearer jwt-1');
      expect(p.headers['x-api-key']).toBeUndefined();
    }
  });

  it('refreshes the token before it expires', async () => {
    vi.useFakeTimers();
    const server = jwtServer(() => true, 300);
    const client = new TemClient({ endpoint, apiKey: 'the-key', useJwt: true, fetch: server.fetch, lingerMs: 0 });
    const first = client.send(event(1));
    await vi.advanceTimersByTimeAsync(0);
    await first;
    // 300 s token: refreshed a minute before its end, not after it.
    await vi.advanceTimersByTimeAsync(239_000);
    const second = client.send(event(2));
    await vi.advanceTimersByTimeAsync(0);
    await second;
    await vi.advanceTimersByTimeAsync(1000);
    const third = client.send(event(3));
    await vi.advanceTimersByTimeAsync(0);
    await third;
    expect(server.eventRequests().map((r) => r.headers.authorization)).toEqual([
      'Bearer jwt-1',
      'Bearer jwt-1',
      'Bearer jwt-2',
    ]);
  });

  it('on a 401 gets a fresh token once and retries once', async () => {
    // The first token is revoked server-side: the 401 leads to one exchange and one resend.
    const server = jwtServer((token) => token !== 'jwt-1');
    const client = new TemClient({ endpoint, apiKey: 'the-key', useJwt: true, fetch: server.fetch });
    await expect(client.send(event(1))).resolves.toMatch(/^ev-/);
    expect(server.requests.map((r) => r.url.replace('http://tem.test/v1/', ''))).toEqual([
      'auth/token',
      'events',
      'auth/token',
      'events',
    ]);
    expect(server.requests[3]?.body).toBe(server.requests[1]?.body);
  });

  it('a second 401 after the refresh is the answer: TemAuthError, no more requests', async () => {
    const server = jwtServer(() => false);
    const client = new TemClient({ endpoint, apiKey: 'the-key', useJwt: true, fetch: server.fetch });
    await expect(client.send(event(1))).rejects.toMatchObject({ name: 'TemAuthError', status: 401 });
    expect(server.eventRequests()).toHaveLength(2);
    expect(server.requests).toHaveLength(4);
  });

  it('a 401 with a plain API key is not retried; a key refused at /auth/token is a TemAuthError', async () => {
    const plain = fakeFetch(() => json(401, { message: 'Unauthorized' }));
    const client = new TemClient({ endpoint, apiKey: 'revoked', fetch: plain.fetch });
    await expect(client.send(event(1))).rejects.toThrow(TemAuthError);
    expect(plain.requests).toHaveLength(1);

    const server = jwtServer(() => true);
    const wrongKey = new TemClient({ endpoint, apiKey: 'wrong', useJwt: true, fetch: server.fetch });
    await expect(wrongKey.send(event(1))).rejects.toMatchObject({ status: 401, message: /auth\/token: Unauthorized/ });
    expect(server.eventRequests()).toHaveLength(0);
  });

  it('asks a token function for every request, and again after a 401', async () => {
    let calls = 0;
    const server = fakeFetch((r, i) => (i === 0 ? json(401, { message: 'Unauthorized' }) : accepted(r)));
    const client = new TemClient({
      endpoint,
      token: async () => `t-${++calls}`,
      fetch: server.fetch,
    });
    await client.send(event(1));
    expect(server.requests.map((r) => r.headers.authorization)).toEqual(['Bearer t-1', 'Bearer t-2']);
  });

  it('needs a credential', () => {
    expect(() => new TemClient({ endpoint, apiKey: '' })).toThrow(/needs an apiKey or a token/);
  });
});
