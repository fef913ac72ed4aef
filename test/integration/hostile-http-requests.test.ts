import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../shared/domain/admin';
import { EventIdSchema, EventSourceSchema } from '../../shared/domain/events';
import { expectRefusal, Ledger, rawRequest, send, sendRaw } from './hostile-support';
import { devKey, principalStore } from './support';

/**
 * Hostile requests around the body: repeated, oversized and malformed headers, URLs over API Gateway's limits, ids
 * with path traversal in GET /events/{id}, and injection in the query parameters and cursors of the list endpoints.
 * Every refusal is a 4xx with a JSON message that says what is wrong; a legitimate POST follows each group and must
 * get its 202; the sentinel source ends up holding exactly those. Bodies: hostile-http.test.ts.
 */

const ledger = new Ledger();
const event = () => JSON.stringify({ id: randomUUID(), type: 'hostile.request', source: ledger.source, data: {} });
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const list = (query: string) => send('GET', `/events?source=${ledger.source}&${query}`);
let canaryId = '';

beforeAll(async () => {
  await ledger.canary();
  const [stored] = await ledger.settle();
  canaryId = stored?.id ?? '';
});

describe('hostile headers', () => {
  const post = (headers: [string, string][], body = event()) =>
    sendRaw(rawRequest('POST', '/events', [['x-api-key', devKey()], ...headers], body));

  it('a repeated Content-Type: the function sees the last one, as API Gateway REST passes it', async () => {
    expectRefusal(
      await post([
        ['content-type', 'application/json'],
        ['content-type', 'text/plain'],
      ]),
      415,
      /^Content-Type must be application\/json or application\/x-ndjson$/,
    );
    const last = await post([
      ['content-type', 'text/plain'],
      ['content-type', 'application/json'],
    ]);
    expect(last.status, last.text).toBe(202);
    for (const id of (last.json as { ids: string[] }).ids) ledger.accept(id);
  });

  it('conflicting framing (two Content-Lengths, Content-Length with chunked, a bad Transfer-Encoding) is 400', async () => {
    const body = event();
    const cases: [string, string][][] = [
      [['content-length', String(body.length + 7)]],
      [['transfer-encoding', 'chunked']],
      [['transfer-encoding', 'chunked, identity']],
    ];
    for (const extra of cases) {
      const r = await post([['content-type', 'application/json'], ...extra], body);
      expectRefusal(r, 400, /^Bad Request: (Content-Length|Transfer-Encoding) /);
    }
    await ledger.canary();
  });

  it('header values over 10,240 bytes in all (API Gateway REST’s quota) are 431; exactly 10,240 is served', async () => {
    const base: [string, string][] = [['content-type', 'application/json']];
    const host =
      rawRequest('POST', '/events', [])
        .toString('latin1')
        .match(/host: (.*)\r\n/)?.[1] ?? '';
    const fixed = ['close', devKey(), 'application/json', String(event().length), host].join('').length;
    const exact = await post([...base, ['x-pad', 'p'.repeat(10_240 - fixed)]]);
    expect(exact.status, exact.text.slice(0, 200)).toBe(202);
    for (const id of (exact.json as { ids: string[] }).ids) ledger.accept(id);
    const over = await post([...base, ['x-pad', 'p'.repeat(10_241 - fixed)]]);
    expectRefusal(over, 431, /all header values together may have at most 10240 bytes, got 10241$/);
    const many: [string, string][] = Array.from({ length: 1000 }, (_, i) => [`x-h${i}`, '0123456789a']);
    expectRefusal(await post([...base, ...many]), 431, /at most 10240 bytes/);
    await ledger.canary();
  });

  it('a 100 KB header is 431 in JSON (not Node’s bare status line); a credential after 3,000 headers still counts', async () => {
    const big = await send('POST', '/events', {
      headers: { 'content-type': 'application/json', 'x-pad': 'a'.repeat(100 * 1024) },
      body: event(),
    });
    expectRefusal(big, 431, /^Request Header Fields Too Large: the request head is over/);
    const headers: [string, string][] = Array.from({ length: 3000 }, (_, i) => [`x-${i}`, '1']);
    const late = await sendRaw(
      rawRequest(
        'POST',
        '/events',
        [...headers, ['content-type', 'application/json'], ['x-api-key', devKey()]],
        event(),
      ),
    );
    expect(late.status, late.text).toBe(202);
    for (const id of (late.json as { ids: string[] }).ids) ledger.accept(id);
    await ledger.canary();
  });

  it('malformed heads (NUL or CR in a value, a space in a name, a garbage request line, HTTP/2 preface) are 400 JSON', async () => {
    const key = devKey();
    const heads = [
      `GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\nx-api-key: ${key}\u0000\r\n\r\n`,
      `GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\nx-note: a\rb\r\nx-api-key: ${key}\r\n\r\n`,
      `GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\nx api key: ${key}\r\n\r\n`,
      'HELLO WORLD\r\nhost: x\r\n\r\n',
      'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
    ];
    for (const head of heads) expectRefusal(await sendRaw(head), 400, /^Bad Request: /);
    await ledger.canary();
  });

  it('a URL over 10,240 characters is 414; a method ARN over 1,600 bytes is 414; a head over 64 KiB is 431', async () => {
    expectRefusal(
      await list(`cursor=${'A'.repeat(10_300)}`),
      414,
      /^Request URI too long: the URL may have at most 10240/,
    );
    expectRefusal(await send('GET', `/events/${'a'.repeat(1600)}`), 414, /the method ARN may have at most 1600 bytes$/);
    expectRefusal(await list(`cursor=${'A'.repeat(70_000)}`), 431, /^Request Header Fields Too Large/);
    await ledger.canary();
  });
});

describe('hostile ids in GET /events/{id}', () => {
  const idRefusal = /^Path parameter id must be an event id \(a UUID or a ULID/;

  it('traversal, encoded slashes, NUL, injection and over-long ids are 400; an unknown UUID is 404', async () => {
    const ids = [
      '..%2f..%2fhealthz',
      '%2e%2e%2f%2e%2e%2fhealthz',
      '..%5c..%5cwindows',
      '%252e%252e%252fhealthz',
      'a%2fb',
      '%2f',
      '%00',
      '%c0%af',
      `${randomUUID()}%2f..`,
      `${randomUUID()}%00`,
      `${randomUUID()}%0a`,
      `${randomUUID()}..`,
      encodeURIComponent("1' OR '1'='1"),
      encodeURIComponent('{"$ne":null}'),
      '*',
      'a'.repeat(129),
    ];
    for (const id of ids) expectRefusal(await send('GET', `/events/${id}`), 400, idRefusal);
    const unknown = randomUUID();
    expectRefusal(await send('GET', `/events/${unknown}`), 404, new RegExp(`^No event with id ${unknown}$`));
    await ledger.canary();
  });

  it('dot segments never reach an event past the permission of the route they resolve to', async () => {
    const { apiKey } = await createApiKey(principalStore(), {
      name: `producer-${randomUUID().slice(0, 8)}`,
      role: 'producer',
    });
    const paths = [
      `/events/../events/${canaryId}`,
      `/healthz/../events/${canaryId}`,
      `/healthz/%2e%2e/events/${canaryId}`,
      `/events/./${canaryId}`,
      `/events/${canaryId}/..`,
    ];
    for (const path of paths) {
      const r = await send('GET', path, { key: apiKey });
      expect([403, 404], `${path}: ${r.status} ${r.text}`).toContain(r.status);
      expectRefusal(r, r.status, /^(Forbidden|Not Found)$/);
    }
    await ledger.canary();
  });

  it('any other id (generated, encoded, behind a traversal prefix) is 400, never a 5xx', async () => {
    const prefix = fc.constantFrom('', '..%2f', '%2e%2e%2f', '..%5c', '%252e%252e%252f', '%00', '%2f', '.');
    await fc.assert(
      fc.asyncProperty(prefix, fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }), async (pre, raw) => {
        const segment = `${pre}${encodeURIComponent(raw)}`;
        const decoded = segment.replace(/%2e/gi, '.');
        fc.pre(decoded !== '.' && decoded !== '..' && !EventIdSchema.safeParse(raw).success);
        expectRefusal(await send('GET', `/events/${segment}`), 400, idRefusal);
      }),
      { seed: 0x5eed11, numRuns: 60 },
    );
    await ledger.canary();
  });
});

describe('hostile query parameters and cursors', () => {
  const other = (fields: Record<string, unknown>) =>
    b64({ source: ledger.source, timeKey: '9999', id: 'x', ...fields });
  const cases: [string, string, RegExp][] = [
    [
      'a quote in the source',
      `source=${encodeURIComponent("' OR '1'='1")}`,
      /^source must be 1-256 letters, digits or/,
    ],
    ['an operator object as the source', `source=${encodeURIComponent('{"$ne":null}')}`, /^source must be 1-256/],
    ['an over-long source', `source=${'s'.repeat(257)}`, /^source must be 1-256/],
    ['NUL in the source', 'source=a%00b', /^source must be 1-256/],
    ['a bracketed operator', 'source[$ne]=x', /^unknown query parameter\(s\): source\[\$ne\]/],
    ['__proto__ as a parameter', '__proto__=x&source=y', /^unknown query parameter\(s\): __proto__/],
    ['constructor as a parameter', 'constructor=x&source=y', /^unknown query parameter\(s\): constructor/],
    ['SQL in the type', `type=${encodeURIComponent("order.created' OR 1=1--")}`, /^type must be a dotted lower-case/],
    ['both type and source', 'type=a.b&source=x', /^give exactly one of type or source$/],
  ];
  const listCases: [string, string, RegExp][] = [
    ...['-1', '0', '101', '1e9', '1.5', '0x10', '%EF%BC%95', '%205', `${'9'.repeat(400)}`].map(
      (limit): [string, string, RegExp] => [
        `limit=${limit}`,
        `limit=${limit}`,
        /^limit must be an integer from 1 to 100$/,
      ],
    ),
    ['SQL in since', `since=${encodeURIComponent("' OR 1=1")}`, /^since must be an ISO-8601 time/],
    ['1e400 as since', 'since=1e400', /^since must be an ISO-8601 time/],
    ['month 13 as until', 'until=2024-13-45T00:00:00Z', /^until must be an ISO-8601 time/],
    ['a garbage cursor', 'cursor=garbage!!', /^cursor is not one this API returned$/],
    ['an operator as cursor', `cursor=${b64({ $ne: null })}`, /^cursor is not one this API returned$/],
    ['an array as cursor', `cursor=${b64([1, 2])}`, /^cursor is not one this API returned$/],
    ['a typed key as cursor', `cursor=${other({ timeKey: { S: 'x' } })}`, /^cursor is not one this API returned$/],
    ['__proto__ in a cursor', `cursor=${b64(JSON.parse('{"__proto__":{"x":1}}'))}`, /^cursor is not one this API/],
    ['another source’s cursor', `cursor=${other({ source: 'someone-else' })}`, /^cursor belongs to another query$/],
    ['a cursor with an extra key', `cursor=${other({ principalId: 'p' })}`, /^cursor belongs to another query$/],
    [
      'a cursor outside the time range',
      `since=2030-01-01T00:00:00Z&cursor=${other({ timeKey: '2000-01-01T00:00:00.000Z#x' })}`,
      /^cursor belongs to another query$/,
    ],
    ['an 8 KB cursor', `cursor=${'A'.repeat(8000)}`, /^cursor is not one this API returned$/],
  ];

  it.each(cases)('GET /events with %s: 400', async (_name, query, message) => {
    expectRefusal(await send('GET', `/events?${query}`), 400, message);
  });

  it.each(listCases)('GET /events?source=… with %s: 400', async (_name, query, message) => {
    expectRefusal(await list(query), 400, message);
  });

  it('a cursor crafted in the right shape only resumes the caller’s own query', async () => {
    const r = await list(`limit=5&cursor=${other({ timeKey: '9000-01-01T00:00:00.000Z#x' })}`);
    expect(r.status, r.text).toBe(200);
    const page = r.json as { items: { source: string }[] };
    expect(page.items.length).toBeGreaterThan(0);
    expect(page.items.every((i) => i.source === ledger.source)).toBe(true);
    await ledger.canary();
  });

  it('generated limits, cursors and sources: 400 unless valid, and then only what the query names', async () => {
    const value = fc.oneof(fc.string({ maxLength: 30 }), fc.string({ unit: 'binary', maxLength: 30 }));
    const cursor = fc.oneof(value, fc.jsonValue({ maxDepth: 3 }).map(b64));
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('limit', 'cursor', 'source'), value, cursor, async (param, text, token) => {
        const raw = param === 'cursor' ? token : text;
        const r = await send(
          'GET',
          `/events?${param === 'source' ? '' : `source=${ledger.source}&`}${param}=${encodeURIComponent(raw)}`,
        );
        // An empty limit or cursor means the default; a cursor this API did not return is never valid.
        const valid =
          param === 'limit'
            ? raw === '' || (/^\d+$/.test(raw) && Number(raw) >= 1 && Number(raw) <= 100)
            : param === 'source'
              ? EventSourceSchema.safeParse(raw).success
              : raw === '';
        if (!valid) expectRefusal(r, 400, /^(limit|cursor|source) /);
        else {
          expect(r.status, r.text).toBe(200);
          const wanted = param === 'source' ? raw : ledger.source;
          expect((r.json as { items: { source: string }[] }).items.every((i) => i.source === wanted)).toBe(true);
        }
      }),
      { seed: 0x5eed12, numRuns: 60 },
    );
    await ledger.canary();
  });

  it('the other list endpoints refuse the same injections', async () => {
    const refusals: [string, RegExp][] = [
      [`/alerts?deviceId=${encodeURIComponent("' OR 1=1 --")}`, /^deviceId must be/],
      ['/alerts?limit=1e9', /^limit must be an integer/],
      ['/alerts?state[$ne]=x', /^unknown query parameter/],
      [`/alerts?cursor=${b64({ $ne: null })}`, /^cursor is not one this API returned$/],
      [`/devices?cursor=${b64({ deviceId: { S: 'x' } })}`, /^cursor is not one this API returned$/],
      ['/devices?__proto__=1', /^unknown query parameter/],
      ['/devices/..%2f..%2fx/metrics', /^device id must be/],
      [`/devices/${encodeURIComponent('{"$ne":null}')}/metrics`, /^device id must be/],
      ['/devices/pump-1/metrics?since=1e400', /^since must be an ISO-8601 time/],
    ];
    for (const [path, message] of refusals) expectRefusal(await send('GET', path), 400, message);
    await ledger.canary();
  });
});

describe('hostile requests: effect on stored data', () => {
  it('the sentinel source holds exactly the legitimate events', async () => {
    await ledger.settle();
  });
});
