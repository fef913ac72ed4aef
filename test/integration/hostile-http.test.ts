import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  envelopeJson,
  MAX_STORED_ITEM_BYTES,
  ownedEventId,
  storedItemBytesOf,
  toEnvelope,
} from '../../shared/domain/events';
import { MAX_RECORD_BYTES } from '../../shared/domain/ingest';
import { type Answer, devPrincipalId, expectRefusal, Ledger, send } from './hostile-support';
import { api } from './support';

/**
 * Hostile bodies for POST /events over real HTTP (gateway -> authorizer -> httpIngest), as the admin dev key: a
 * corpus of files (test/events/hostile/corpus.json says what each must get), each limit crossed by one byte, and
 * generated hostile values. Every refusal is a 4xx with a JSON message that says what is wrong; every hostile request
 * is followed by a legitimate one that must get its 202; at the end the sentinel source holds exactly the legitimate
 * events, and those the contract accepts come back as sent. Headers, ids and queries: hostile-http-requests.test.ts;
 * credentials: hostile-http-credentials.test.ts.
 */

const ledger = new Ledger();
const CORPUS = 'test/events/hostile';
const MiB = 1024 * 1024;

interface CorpusCase {
  file: string;
  why: string;
  status: number;
  contentType?: string;
  message?: string;
  errors?: { path: string; message: string }[];
  /** For a 202: "as-sent" (data round-trips exactly) or the data the contract says comes back. */
  stored?: 'as-sent' | Record<string, unknown>;
}
interface FieldError {
  index: number;
  path: string;
  message: string;
}

const corpus = JSON.parse(readFileSync(`${CORPUS}/corpus.json`, 'utf8')) as CorpusCase[];
/** Accepted hostile-looking events: what must come back from GET /events/{id}. */
const accepted: { id: string; data: Record<string, unknown> | string }[] = [];

const post = (body: string | Buffer, contentType = 'application/json') =>
  send('POST', '/events', { headers: { 'content-type': contentType }, body });

/** Placeholders of the corpus files, replaced byte for byte (latin1 keeps invalid UTF-8 intact). */
function fill(bytes: Buffer, values: Record<string, string>): Buffer {
  let text = bytes.toString('latin1');
  for (const [name, value] of Object.entries(values)) text = text.replaceAll(name, value);
  return Buffer.from(text, 'latin1');
}

/** An `errors` entry at `path` (or below it) whose message contains `message`. */
function expectFieldError(errors: unknown, index: number, path: string, message: string): void {
  const list = (errors ?? []) as FieldError[];
  const found = list.some(
    (e) =>
      e.index === index &&
      (e.path === path || (path !== '' && e.path.startsWith(`${path}.`))) &&
      e.message.includes(message),
  );
  expect(found, `no error {index: ${index}, path: ${path}…, message: ~${message}} in ${JSON.stringify(list)}`).toBe(
    true,
  );
}

function acceptedIds(r: Answer): string[] {
  expect(r.status, r.text.slice(0, 300)).toBe(202);
  return (r.json as { ids: string[] }).ids;
}

describe('hostile bodies: the corpus in test/events/hostile', () => {
  it.each(corpus)('$file: $why', async (c) => {
    const bytes = fill(readFileSync(`${CORPUS}/${c.file}`), { __KEY__: randomUUID(), __SOURCE__: ledger.source });
    const r = await post(bytes, c.contentType);
    if (c.status === 202) {
      const [id] = acceptedIds(r);
      ledger.accept(id as string);
      const sent = JSON.parse(bytes.toString('utf8')) as { data: Record<string, unknown> };
      accepted.push({ id: id as string, data: c.stored === 'as-sent' ? JSON.stringify(sent.data) : (c.stored ?? {}) });
    } else {
      const body = expectRefusal(r, c.status, new RegExp(c.message ?? '.'));
      for (const e of c.errors ?? []) expectFieldError(body.errors, 0, e.path, e.message);
    }
    await ledger.canary();
  });
});

describe('hostile bodies: one byte over each limit', () => {
  /** A valid event padded with spaces (valid JSON) to `total` bytes. */
  const padded = (total: number) => {
    const event = JSON.stringify({ id: randomUUID(), type: 'hostile.size', source: ledger.source, data: {} });
    return event + ' '.repeat(total - event.length);
  };

  it('a body over 10 MB is refused by the gateway (413) before any function runs', async () => {
    expectRefusal(await post(padded(10 * MiB + 1)), 413, /^Request Entity Too Large$/);
    await ledger.canary();
  });

  it('a body whose Lambda event is over 6 MiB gets API Gateway’s 413 "Request Too Long"; a little under, 202', async () => {
    expectRefusal(await post(padded(6 * MiB + 1)), 413, /^Request Too Long$/);
    await ledger.canary();
    for (const id of acceptedIds(await post(padded(6 * MiB - 16 * 1024)))) ledger.accept(id);
  });

  /** An event with a `pad` string, sized as the ingest sizes it: the dev principal and a request id's length. */
  async function sized(measure: (pad: number, key: string) => number, target: number) {
    const key = randomUUID();
    const pad = target - measure(0, key);
    expect(measure(pad, key)).toBe(target);
    return { key, body: JSON.stringify(eventWith(key, pad)) };
  }
  const eventWith = (key: string, pad: number) => ({
    id: key,
    type: 'hostile.size',
    source: ledger.source,
    occurredAt: '2024-05-24T11:59:58.000Z',
    data: { pad: 'x'.repeat(pad) },
  });
  const envelopeOf = async (key: string, pad: number) =>
    toEnvelope(eventWith(key, pad), {
      principalId: await devPrincipalId(),
      principalName: '-',
      traceId: randomUUID(),
      receivedAt: new Date(),
    });

  it('an event of exactly 400 KB as a stored item is accepted; one byte more is 413 with the size', async () => {
    const principalId = await devPrincipalId();
    const item = (pad: number, key: string) =>
      storedItemBytesOf(
        toEnvelope(eventWith(key, pad), {
          principalId,
          principalName: '-',
          traceId: randomUUID(),
          receivedAt: new Date(),
        }),
      );
    const atLimit = await sized(item, MAX_STORED_ITEM_BYTES);
    for (const id of acceptedIds(await post(atLimit.body))) ledger.accept(id);
    const over = await sized(item, MAX_STORED_ITEM_BYTES + 1);
    const body = expectRefusal(
      await post(over.body),
      413,
      /^Event 0 is 409601 bytes as a stored item; the limit is 409600/,
    );
    expectFieldError(body.errors, 0, '', 'over 400 KB');
    await ledger.canary();
    expect((await api('GET', `/events/${ownedEventId(principalId, over.key)}`)).status).toBe(404);
  });

  it('an event one byte over 1 MiB as a stream record is 413 naming the 1 MiB limit', async () => {
    const envelope = await envelopeOf(randomUUID(), 0);
    const record = (pad: number) =>
      Buffer.byteLength(envelopeJson({ ...envelope, data: { pad: 'x'.repeat(pad) } })) +
      Buffer.byteLength(ledger.source);
    const over = await sized((pad) => record(pad), MAX_RECORD_BYTES + 1);
    expectRefusal(await post(over.body), 413, /^Event 0 is 1048577 bytes serialized; the limit is 1 MiB$/);
    await ledger.canary();
  });

  it('501 events, as a JSON batch and as NDJSON lines, are 413 naming the count', async () => {
    const events = Array.from({ length: 501 }, () => ({ type: 'hostile.count', source: ledger.source, data: {} }));
    expectRefusal(await post(JSON.stringify({ events })), 413, /^At most 500 events per request, got 501$/);
    await ledger.canary();
    const ndjson = events.map((e) => JSON.stringify(e)).join('\n');
    expectRefusal(await post(ndjson, 'application/x-ndjson'), 413, /^At most 500 events per request, got 501$/);
    await ledger.canary();
  });

  it('2 MB of nesting, keys, array elements or string is refused with what was exceeded', async () => {
    const event = (data: string) => `{"type":"hostile.big","source":"${ledger.source}","data":${data}}`;
    const deep = await post(event(`{"x":${'['.repeat(1_000_000)}${']'.repeat(1_000_000)}}`));
    expectFieldError(expectRefusal(deep, 400, /invalid/).errors, 0, 'data.x', 'nests deeper than 32 levels');
    await ledger.canary();
    const wide = `{${Array.from({ length: 200_000 }, (_, i) => `"k${i}":${i}`).join(',')}}`;
    expectRefusal(await post(event(wide)), 413, /bytes serialized; the limit is 1 MiB/);
    await ledger.canary();
    expectRefusal(await post(event(`{"a":[${'0,'.repeat(999_999)}0]}`)), 413, /the limit is 1 MiB/);
    await ledger.canary();
    expectRefusal(await post(event(`{"s":"${'x'.repeat(2 * MiB)}"}`)), 413, /the limit is 1 MiB/);
    await ledger.canary();
  });

  it('over-long fields are 400 naming the field', async () => {
    const base = { id: randomUUID(), type: 'hostile.long', source: ledger.source, data: {} };
    const cases: [Record<string, unknown>, string][] = [
      [{ type: `a.${'b'.repeat(127)}` }, 'type'],
      [{ source: `${ledger.source}${'s'.repeat(257)}` }, 'source'],
      [{ id: 'a'.repeat(10_000) }, 'id'],
    ];
    for (const [over, field] of cases) {
      const body = expectRefusal(await post(JSON.stringify({ ...base, ...over })), 400, /invalid/);
      expectFieldError(body.errors, 0, field, '');
      await ledger.canary();
    }
  });
});

describe('hostile bodies: generated (fast-check, seeded)', () => {
  const key = fc.stringMatching(/^[a-z][a-z0-9_]{0,6}$/);
  const plain = fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.string({ maxLength: 6 }));
  const hostile = fc.constantFrom(
    { text: '1e400', message: 'must be a finite number', top: false },
    { text: '-1e999', message: 'must be a finite number', top: false },
    { text: `${'['.repeat(40)}${']'.repeat(40)}`, message: 'nests deeper than 32 levels', top: false },
    { text: '{"polluted":true}', message: 'is a reserved key', top: true },
  );

  it('a hostile value anywhere in the data of any event of a batch: 400 naming event and path, nothing stored', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(key, { minLength: 1, maxLength: 4 }),
        hostile,
        fc.dictionary(key, plain, { maxKeys: 3 }),
        fc.integer({ min: 1, max: 4 }),
        fc.nat(),
        fc.boolean(),
        async (nested, bad, siblings, count, at, ndjson) => {
          const path = bad.top ? ['__proto__'] : nested;
          // Built as text: a JavaScript object could not carry 1e400 or an own __proto__ through JSON.stringify.
          let value = bad.text;
          for (const k of [...path].reverse().slice(0, -1)) value = `{${JSON.stringify(k)}:${value}}`;
          const others = Object.entries(siblings).filter(([k]) => k !== path[0]);
          const data = `{${[...others.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`), `${JSON.stringify(path[0])}:${value}`].join(',')}}`;
          const index = at % count;
          const events = Array.from({ length: count }, (_, i) => {
            const head = `{"id":"${randomUUID()}","type":"hostile.generated","source":"${ledger.source}","data":`;
            return `${head}${i === index ? data : JSON.stringify(Object.fromEntries(others))}}`;
          });
          const body = ndjson ? events.join('\n') : `{"events":[${events.join(',')}]}`;
          const r = await post(body, ndjson ? 'application/x-ndjson' : 'application/json');
          const refusal = expectRefusal(r, 400, /^One or more events are invalid$/);
          expectFieldError(refusal.errors, index, `data.${path.join('.')}`, bad.message);
          await ledger.canary();
        },
      ),
      { seed: 0x5eed01, numRuns: 30 },
    );
  });

  const invalidUtf8 = fc.constantFrom(
    [0xff],
    [0xfe],
    [0x80],
    [0xbf],
    [0xc0, 0xaf],
    [0xc1, 0xbf],
    [0xe0, 0x80, 0xaf],
    [0xed, 0xa0, 0x80],
    [0xf4, 0x90, 0x80, 0x80],
    [0xf5, 0x80, 0x80, 0x80],
    [0xf8, 0x88, 0x80, 0x80, 0x80],
    [0xe2, 0x82],
    [0xf0, 0x9f, 0x98],
  );

  it('bytes that are not UTF-8, in a value, a key or between tokens: 400 "not valid UTF-8", nothing stored', async () => {
    await fc.assert(
      fc.asyncProperty(
        invalidUtf8,
        fc.constantFrom('value', 'key', 'between'),
        fc.string({ maxLength: 12 }),
        fc.string({ maxLength: 12 }),
        fc.boolean(),
        async (bytes, where, before, after, ndjson) => {
          const inner = (s: string) => JSON.stringify(s).slice(1, -1);
          const mark = '\u0001MARK\u0001';
          const data =
            where === 'value'
              ? `{"s":"${inner(before)}${mark}${inner(after)}"}`
              : where === 'key'
                ? `{"${inner(before)}${mark}${inner(after)}":1}`
                : `{"s":${JSON.stringify(before)}${mark}}`;
          const text = `{"id":"${randomUUID()}","type":"hostile.utf8","source":"${ledger.source}","data":${data}}`;
          const [head, tail] = text.split(mark) as [string, string];
          const body = Buffer.concat([Buffer.from(head), Buffer.from(bytes), Buffer.from(tail)]);
          const r = await post(body, ndjson ? 'application/x-ndjson' : 'application/json');
          expectRefusal(r, 400, /^Body is not valid UTF-8/);
          await ledger.canary();
        },
      ),
      { seed: 0x5eed02, numRuns: 25 },
    );
  });
});

describe('hostile bodies: effect on stored data', () => {
  it('the sentinel source holds exactly the legitimate events; accepted hostile-looking data comes back as sent', async () => {
    await ledger.settle();
    for (const { id, data } of accepted) {
      const r = await send('GET', `/events/${id}`);
      expect(r.status, r.text.slice(0, 200)).toBe(200);
      const stored = (r.json as { data: Record<string, unknown> }).data;
      if (typeof data === 'string') expect(JSON.stringify(stored)).toBe(data);
      else expect(stored).toEqual(data);
    }
  });
});
