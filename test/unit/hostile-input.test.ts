import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseApiKey } from '../../shared/domain/api-keys';
import { Rejection } from '../../shared/domain/errors';
import {
  dataProblems,
  EventIdSchema,
  EventSourceSchema,
  envelopeJson,
  MAX_STORED_ITEM_BYTES,
  storedItemBytesOf,
  toEnvelope,
} from '../../shared/domain/events';
import { MAX_RECORD_BYTES, type Producer, parseBody, validateEvents } from '../../shared/domain/ingest';
import { decodeCursor, onlyKnownParams, parseLimit, parseTime } from '../../shared/domain/listing';

/**
 * The pure half of the hostile-input suite (test/integration/hostile-http*.test.ts over HTTP): the validation
 * functions at the edge, fed what an attacker would send, exact limits included. No I/O.
 */

const producer: Producer = {
  principalId: 'p-hostile',
  principalName: 'svc-hostile',
  traceId: '00000000-0000-4000-8000-000000000000',
  receivedAt: new Date('2026-01-01T00:00:00Z'),
  eventTypes: ['*'],
  mayClaimAnySource: true,
};

function rejection(f: () => unknown): Rejection {
  try {
    f();
  } catch (error) {
    if (error instanceof Rejection) return error;
    throw error;
  }
  throw new Error('expected a Rejection');
}

describe('parseBody on hostile bodies', () => {
  it('refuses U+FFFD (what invalid UTF-8 bytes become) in JSON and NDJSON, and accepts it escaped', () => {
    for (const bytes of [[0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82]]) {
      const body = Buffer.concat([Buffer.from('{"type":"a.b","data":{"s":"'), Buffer.from(bytes), Buffer.from('"}}')]);
      for (const type of ['application/json', 'application/x-ndjson']) {
        const r = rejection(() => parseBody(body.toString('utf8'), type));
        expect(r.kind).toBe('invalid');
        expect(r.message).toMatch(/^Body is not valid UTF-8: character 27 is U\+FFFD/);
      }
    }
    expect(parseBody('{"type":"a.b","data":{"s":"\\ufffd"}}', 'application/json')).toEqual([
      { type: 'a.b', data: { s: '\uFFFD' } },
    ]);
  });

  it('answers the media type first, then size and encoding', () => {
    expect(rejection(() => parseBody('\uFFFD', 'text/plain')).kind).toBe('unsupported-media-type');
    expect(rejection(() => parseBody('{}', undefined)).kind).toBe('unsupported-media-type');
    expect(rejection(() => parseBody('{}', 'application/jsonx')).kind).toBe('unsupported-media-type');
    expect(parseBody('{"type":"a.b","data":{}}', 'APPLICATION/JSON; charset=latin1')).toHaveLength(1);
  });

  it('reads a batch only from an own "events" key, and counts before anything else', () => {
    expect(parseBody('{"__proto__":{"events":[1,2]}}', 'application/json')).toHaveLength(1);
    expect(rejection(() => parseBody('{"events":1e400}', 'application/json')).message).toBe(
      '"events" must be an array of events',
    );
    const many = JSON.stringify({ events: Array.from({ length: 501 }, () => 0) });
    expect(rejection(() => parseBody(many, 'application/json')).message).toBe(
      'At most 500 events per request, got 501',
    );
    expect(rejection(() => parseBody('\n\r\n \n', 'application/x-ndjson')).message).toBe('The request holds no event');
  });

  it('never throws anything but a Rejection, whatever the bytes (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 200 }),
        fc.constantFrom('application/json', 'application/x-ndjson'),
        (b, t) => {
          try {
            parseBody(Buffer.from(b).toString('utf8'), t);
          } catch (error) {
            expect(error).toBeInstanceOf(Rejection);
          }
        },
      ),
      { seed: 0x5eed31, numRuns: 300 },
    );
  });
});

describe('validateEvents at its limits', () => {
  const occurredAt = '2025-12-31T23:59:59.000Z';
  const event = (pad: number, over: Record<string, unknown> = {}) => ({
    id: '0190f4d2-7a5b-7c3e-9f00-0123456789ab',
    type: 'hostile.size',
    source: 'svc-hostile',
    occurredAt,
    data: { pad: 'x'.repeat(pad) },
    ...over,
  });
  const item = (pad: number) => storedItemBytesOf(toEnvelope(event(pad), producer, producer.receivedAt.toISOString()));

  it('accepts an event of exactly 400 KB as a stored item and refuses one byte more, saying how big', () => {
    const pad = MAX_STORED_ITEM_BYTES - item(0);
    expect(item(pad)).toBe(MAX_STORED_ITEM_BYTES);
    expect(validateEvents([event(pad)], producer)).toHaveLength(1);
    const r = rejection(() => validateEvents([event(pad + 1)], producer));
    expect(r.kind).toBe('too-large');
    expect(r.message).toBe('Event 0 is 409601 bytes as a stored item; the limit is 409600 bytes (400 KB)');
  });

  it('refuses one byte over 1 MiB as a stream record with that reason', () => {
    const envelope = toEnvelope(event(0), producer, producer.receivedAt.toISOString());
    const record = (pad: number) =>
      Buffer.byteLength(envelopeJson({ ...envelope, data: { pad: 'x'.repeat(pad) } })) + 'svc-hostile'.length;
    const pad = MAX_RECORD_BYTES + 1 - record(0);
    const r = rejection(() => validateEvents([event(pad)], producer));
    expect(r.message).toBe('Event 0 is 1048577 bytes serialized; the limit is 1 MiB');
  });

  it('allows 32 levels of nesting and names the path of the 33rd; any depth is inspected without recursion', () => {
    const nest = (n: number) => JSON.parse(`${'{"a":'.repeat(n - 1)}{}${'}'.repeat(n - 1)}`);
    expect(validateEvents([event(0, { data: nest(32) })], producer)).toHaveLength(1);
    const r = rejection(() => validateEvents([event(0, { data: nest(33) })], producer));
    expect(r.details.errors).toEqual([
      { index: 0, path: `${'a.'.repeat(31)}a`.replace(/^/, 'data.'), message: expect.stringContaining('32 levels') },
    ]);
    const deep = JSON.parse(`{"x":${'['.repeat(1_000_000)}${']'.repeat(1_000_000)}}`);
    expect(dataProblems(deep)).toEqual([{ path: ['x', ...Array(31).fill(0)], message: expect.stringContaining('32') }]);
  });

  it('keeps nested __proto__, constructor and prototype keys exactly, and refuses only a top-level __proto__', () => {
    const data = JSON.parse('{"a":{"__proto__":{"polluted":true}},"constructor":{"prototype":{"x":1}},"prototype":1}');
    const [envelope] = validateEvents([event(0, { data })], producer);
    expect(JSON.stringify(envelope?.data)).toBe(JSON.stringify(data));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const top = rejection(() => validateEvents([event(0, { data: JSON.parse('{"__proto__":{"x":1}}') })], producer));
    expect(top.details.errors).toEqual([{ index: 0, path: 'data.__proto__', message: 'is a reserved key' }]);
  });

  it('names the event and the path of a non-finite number or over-deep value anywhere in a batch (fast-check)', () => {
    const key = fc.stringMatching(/^[a-z][a-z0-9]{0,5}$/);
    const hostile = fc.constantFrom<[unknown, string]>(
      [Number.POSITIVE_INFINITY, 'must be a finite number'],
      [Number.NEGATIVE_INFINITY, 'must be a finite number'],
      [Number.NaN, 'must be a finite number'],
      [JSON.parse(`${'['.repeat(40)}${']'.repeat(40)}`), 'nests deeper than 32 levels'],
    );
    fc.assert(
      fc.property(
        fc.array(key, { minLength: 1, maxLength: 4 }),
        hostile,
        fc.nat({ max: 4 }),
        (path, [value, message], at) => {
          let data: unknown = value;
          for (const k of [...path].reverse()) data = { [k]: data };
          const events = Array.from({ length: at + 1 }, (_, i) => event(0, i === at ? { data } : { id: randomUUID() }));
          const r = rejection(() => validateEvents(events, producer));
          const errors = r.details.errors as { index: number; path: string; message: string }[];
          expect(
            errors.some(
              (e) => e.index === at && e.path.startsWith(`data.${path.join('.')}`) && e.message.includes(message),
            ),
          ).toBe(true);
        },
      ),
      { seed: 0x5eed32, numRuns: 100 },
    );
  });
});

describe('ids, sources and API keys of hostile shapes', () => {
  it('an event id is a UUID or a ULID and nothing around it', () => {
    for (const id of [
      '../x',
      '%2e%2e%2f',
      `${randomUUID()}\n`,
      `${randomUUID()}/..`,
      '',
      'a'.repeat(26).replace(/a/g, 'U'),
    ])
      expect(EventIdSchema.safeParse(id).success, id).toBe(false);
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (s) => {
        const ok = EventIdSchema.safeParse(s).success;
        expect(ok).toBe(
          /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s) ||
            /^[0-9A-HJKMNP-TV-Z]{26}$/i.test(s),
        );
      }),
      { seed: 0x5eed33, numRuns: 300 },
    );
  });

  it('a source holds only its documented characters (no NUL, quote, brace or space)', () => {
    for (const s of ['a\u0000b', "' OR '1'='1", '{"$ne":null}', 'a b', '', 's'.repeat(257)])
      expect(EventSourceSchema.safeParse(s).success, s).toBe(false);
    expect(EventSourceSchema.safeParse('svc/orders@eu-1:v2').success).toBe(true);
  });

  it('an API key of any other shape does not parse (fast-check)', () => {
    const key = 'tem_0123456789abcdef_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq';
    expect(parseApiKey(key)).toEqual({ keyId: '0123456789abcdef', secret: key.slice(21) });
    for (const k of ['tem_abc', key.toUpperCase(), `${key}A`, key.slice(0, -1), `tex${key.slice(3)}`, `${key},${key}`])
      expect(parseApiKey(k), k).toBeUndefined();
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 80 }), (s) => {
        const parsed = parseApiKey(s);
        if (parsed) expect(s.trim()).toBe(`tem_${parsed.keyId}_${parsed.secret}`);
      }),
      { seed: 0x5eed34, numRuns: 300 },
    );
  });
});

describe('list parameters and cursors', () => {
  it('a limit is 1 to 100 in ASCII digits, or absent (fast-check)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 6 }), fc.integer({ min: -5, max: 200 }).map(String)), (raw) => {
        const valid = raw === '' || (/^\d+$/.test(raw) && Number(raw) >= 1 && Number(raw) <= 100);
        if (valid) expect(parseLimit(raw)).toBe(raw === '' ? 50 : Number(raw));
        else expect(rejection(() => parseLimit(raw)).message).toBe('limit must be an integer from 1 to 100');
      }),
      { seed: 0x5eed35, numRuns: 300 },
    );
  });

  it('a cursor is a non-empty record of strings and numbers, or refused (fast-check)', () => {
    const token = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.jsonValue({ maxDepth: 3 }).map((v) => Buffer.from(JSON.stringify(v)).toString('base64url')),
    );
    fc.assert(
      fc.property(token, (t) => {
        try {
          const key = decodeCursor(t);
          if (key !== undefined) {
            expect(Object.keys(key).length).toBeGreaterThan(0);
            for (const v of Object.values(key)) expect(['string', 'number']).toContain(typeof v);
          } else expect(t).toBe('');
        } catch (error) {
          expect((error as Rejection).message).toBe('cursor is not one this API returned');
        }
      }),
      { seed: 0x5eed36, numRuns: 300 },
    );
    expect(() => decodeCursor(Buffer.from('{"__proto__":{"x":1}}').toString('base64url'))).toThrow(Rejection);
  });

  it('times are ISO-8601 or refused; prototype names are unknown parameters', () => {
    for (const t of ["' OR 1=1", '1e400', '2024-13-45T00:00:00Z', '2024-05-24T24:00:00Z', 'yesterday'])
      expect(rejection(() => parseTime('since', t)).message).toMatch(/^since must be an ISO-8601 time/);
    for (const name of ['__proto__', 'constructor', 'toString', 'hasOwnProperty'])
      expect(rejection(() => onlyKnownParams(JSON.parse(`{"${name}":"x"}`), ['source'])).message).toContain(name);
  });
});
