import { readFileSync } from 'node:fs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { KinesisStreamEvent } from 'aws-lambda';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DynamoEventStore } from '../../shared/aws/dynamo-event-store';
import {
  dataProblems,
  deterministicId,
  EventEnvelopeSchema,
  EventInputSchema,
  envelopeJson,
  MAX_DATA_DEPTH,
  ownedEventId,
  type Receipt,
  storedItem,
  storedItemBytes,
  storedItemBytesOf,
  timeKey,
  toEnvelope,
} from '../../shared/domain/events';
import { decodeEnvelope } from '../../shared/domain/stream-records';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const receipt: Receipt = {
  principalId: 'prn-1',
  principalName: 'svc-orders',
  traceId: 'trace-1',
  receivedAt: new Date('2024-05-01T12:00:00.000Z'),
};

function issuePaths(input: unknown): string[] {
  const result = EventInputSchema.safeParse(input);
  if (result.success) return [];
  return [...new Set(result.error.issues.map((i) => i.path.join('.')))];
}

describe('EventInputSchema', () => {
  it('accepts a minimal event', () => {
    expect(EventInputSchema.parse({ type: 'payment.success', data: {} })).toEqual({
      type: 'payment.success',
      data: {},
    });
  });

  it('accepts a full event', () => {
    const full = {
      id: '0190f4d2-7a5b-7c3e-9f00-0123456789ab',
      type: 'user.created',
      source: 'svc:users/eu@1.2-x_y',
      occurredAt: '2024-05-01T11:59:00+02:00',
      data: { nested: { a: [1, 2] } },
    };
    expect(EventInputSchema.parse(full)).toEqual(full);
  });

  it('rejects unknown top-level fields', () => {
    const result = EventInputSchema.safeParse({ type: 'payment.success', data: {}, priority: 'high' });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.code).toBe('unrecognized_keys');
  });

  it.each([
    ['Payment.Success'],
    ['payment'],
    ['payment..x'],
    ['payment.'],
    ['.payment'],
    ['payment.1x'],
    ['pay-ment.x'],
  ])('rejects the type %j', (type) => {
    expect(issuePaths({ type, data: {} })).toEqual(['type']);
  });

  it('rejects a type over 128 characters and accepts one of 128', () => {
    const ok = `a.${'b'.repeat(126)}`;
    expect(ok).toHaveLength(128);
    expect(issuePaths({ type: ok, data: {} })).toEqual([]);
    expect(issuePaths({ type: `${ok}c`, data: {} })).toEqual(['type']);
  });

  it.each([['payment.success'], ['user.profile.updated'], ['a1.b_2']])('accepts the type %j', (type) => {
    expect(issuePaths({ type, data: {} })).toEqual([]);
  });

  it.each([
    ['not-an-id'],
    ['0190f4d27a5b7c3e9f000123456789ab'], // UUID without hyphens
    ['0190f4d2-7a5b-7c3e-9f00-0123456789a'], // one digit short
    ['01HZX3K4ZQ8J9P6V5W4T3S2R1I'], // ULID with a forbidden letter I
    ['01HZX3K4ZQ8J9P6V5W4T3S2R1'], // 25 characters
    [''],
  ])('rejects the id %j', (id) => {
    expect(issuePaths({ id, type: 'payment.success', data: {} })).toEqual(['id']);
  });

  it.each([['0190F4D2-7A5B-7C3E-9F00-0123456789AB'], ['01HZX3K4ZQ8J9P6V5W4T3S2R1Q']])('accepts the id %j', (id) => {
    expect(issuePaths({ id, type: 'payment.success', data: {} })).toEqual([]);
  });

  it.each([
    ['"x"', 'x'],
    ['array', [1, 2]],
    ['null', null],
    ['number', 3],
    ['missing', undefined],
  ])('rejects non-object data (%s)', (_name, data) => {
    expect(issuePaths({ type: 'payment.success', data })).toEqual(['data']);
  });

  it.each([['2024-05-01T12:00:00'], ['2024-05-01'], ['yesterday'], ['2023-02-29T00:00:00Z']])(
    'rejects the occurredAt %j',
    (occurredAt) => {
      expect(issuePaths({ type: 'payment.success', data: {}, occurredAt })).toEqual(['occurredAt']);
    },
  );

  it.each([[''], ['has space'], ['x'.repeat(257)], ['semi;colon']])('rejects the source %j', (source) => {
    expect(issuePaths({ type: 'payment.success', data: {}, source })).toEqual(['source']);
  });
});

describe('toEnvelope', () => {
  it('fills the defaults from the receipt', () => {
    const envelope = toEnvelope({ type: 'payment.success', data: { amount: 5 } }, receipt);
    expect(envelope).toEqual({
      id: expect.stringMatching(UUID),
      type: 'payment.success',
      source: 'svc-orders',
      occurredAt: '2024-05-01T12:00:00.000Z',
      receivedAt: '2024-05-01T12:00:00.000Z',
      principalId: 'prn-1',
      traceId: 'trace-1',
      // No correlation id in the receipt: the request id (traceId) is the event's.
      correlationId: 'trace-1',
      data: { amount: 5 },
    });
    expect(EventEnvelopeSchema.safeParse(envelope).success).toBe(true);
  });

  it('generates a fresh id per event', () => {
    const a = toEnvelope({ type: 'payment.success', data: {} }, receipt);
    const b = toEnvelope({ type: 'payment.success', data: {} }, receipt);
    expect(a.id).not.toBe(b.id);
  });

  it('keeps a client id, source and occurredAt (normalised to UTC)', () => {
    const envelope = toEnvelope(
      {
        id: '01HZX3K4ZQ8J9P6V5W4T3S2R1Q',
        type: 'payment.success',
        source: 'billing',
        occurredAt: '2024-05-01T13:30:00+02:00',
        data: {},
      },
      receipt,
    );
    expect(envelope.idempotencyKey).toBe('01HZX3K4ZQ8J9P6V5W4T3S2R1Q');
    expect(envelope.id).toBe(ownedEventId(receipt.principalId, '01HZX3K4ZQ8J9P6V5W4T3S2R1Q'));
    expect(envelope.source).toBe('billing');
    expect(envelope.occurredAt).toBe('2024-05-01T11:30:00.000Z');
    expect(envelope.receivedAt).toBe('2024-05-01T12:00:00.000Z');
  });

  it('owns ids: the same key is the same event for its principal only (ADR 0011)', () => {
    const key = '01HZX3K4ZQ8J9P6V5W4T3S2R1Q';
    const mine = toEnvelope({ id: key, type: 'payment.success', data: {} }, receipt);
    const again = toEnvelope({ id: key, type: 'payment.success', data: {} }, receipt);
    const theirs = toEnvelope({ id: key, type: 'payment.success', data: {} }, { ...receipt, principalId: 'other' });
    expect(again.id).toBe(mine.id);
    expect(theirs.id).not.toBe(mine.id);
    // A key that is itself someone's event id does not reach that event either.
    expect(
      toEnvelope({ id: mine.id, type: 'payment.success', data: {} }, { ...receipt, principalId: 'other' }).id,
    ).not.toBe(mine.id);
  });

  it('timeKey orders by time then id', () => {
    expect(timeKey({ occurredAt: '2024-05-01T11:30:00.000Z', id: 'x' })).toBe('2024-05-01T11:30:00.000Z#x');
  });
});

describe('deterministicId', () => {
  it('is stable for equal input', () => {
    expect(deterministicId('dev-1', '2024-05-01T12:00:00.000Z', 3)).toBe(
      deterministicId('dev-1', '2024-05-01T12:00:00.000Z', 3),
    );
  });

  it.each<[string, (string | number | undefined)[], (string | number | undefined)[]]>([
    ['different value', ['dev-1', 1], ['dev-1', 2]],
    ['different order', ['a', 'b'], ['b', 'a']],
    ['no concatenation collision', ['ab', 'c'], ['a', 'bc']],
    ['string vs number', ['1'], [1]],
    ['trailing undefined', ['a'], ['a', undefined]],
  ])('differs for different input (%s)', (_name, a, b) => {
    expect(deterministicId(...a)).not.toBe(deterministicId(...b));
  });

  it('looks like a version-8 RFC 4122 UUID', () => {
    for (const seed of ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']) {
      const id = deterministicId(seed);
      expect(id).toMatch(UUID);
      expect(id[14]).toBe('8');
      expect(['8', '9', 'a', 'b']).toContain(id[19]);
      expect(EventInputSchema.safeParse({ id, type: 'a.b', data: {} }).success).toBe(true);
    }
  });
});

describe('dataProblems (what every part downstream can handle)', () => {
  const nested = (depth: number): unknown => (depth === 0 ? 1 : { a: nested(depth - 1) });
  const messages = (data: unknown) => dataProblems(data).map((p) => `${p.path.join('.')}: ${p.message}`);

  it(`accepts data nesting ${MAX_DATA_DEPTH} levels and refuses ${MAX_DATA_DEPTH + 1}`, () => {
    // data itself is the first level
    expect(dataProblems(nested(MAX_DATA_DEPTH))).toEqual([]);
    expect(messages(nested(MAX_DATA_DEPTH + 1))).toEqual([
      `${Array(MAX_DATA_DEPTH).fill('a').join('.')}: nests deeper than 32 levels of objects and arrays`,
    ]);
  });

  it.each([
    [2 ** 60, true],
    [1e300, true],
    [5e-324, true],
    [-0, true],
    [Number.POSITIVE_INFINITY, false],
    [Number.NEGATIVE_INFINITY, false],
    [Number.NaN, false],
  ])('number %d accepted: %s', (n, ok) => {
    expect(dataProblems({ n }).length === 0).toBe(ok);
  });

  it('refuses a top-level __proto__ key only; empty keys and nested __proto__ keys are data like any other', () => {
    expect(messages(JSON.parse('{"__proto__":1}'))).toEqual(['__proto__: is a reserved key']);
    expect(dataProblems(JSON.parse('{"x":{"__proto__":1},"":2}'))).toEqual([]);
  });

  it('reports at most 10 problems', () => {
    expect(dataProblems(Array.from({ length: 50 }, () => Number.NaN))).toHaveLength(10);
  });

  it('survives a nesting far deeper than the call stack', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 500_000; i++) deep = [deep];
    expect(dataProblems({ deep })).toHaveLength(1);
  });

  it('surfaces through EventInputSchema with the full path', () => {
    const result = EventInputSchema.safeParse(JSON.parse('{"type":"a.b","data":{"list":[1,1e400]}}'));
    expect(result.error?.issues.map((i) => i.path.join('.'))).toEqual(['data.list.1']);
  });

  it('catches a top-level __proto__ key in data (which a copy of the record would silently drop)', () => {
    const result = EventInputSchema.safeParse(JSON.parse('{"type":"a.b","data":{"__proto__":{"x":1},"y":2}}'));
    expect(result.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`)).toEqual([
      'data.__proto__: is a reserved key',
    ]);
  });
});

describe('storedItem: what the size check measures is what the store writes', () => {
  it('matches the item DynamoEventStore puts (data as a JSON string), allowing for the widest expiresAt', async () => {
    let written: Record<string, unknown> | undefined;
    const client = {
      send: async (command: {
        input: { RequestItems?: Record<string, { PutRequest?: { Item?: Record<string, unknown> } }[]> };
      }) => {
        written = command.input.RequestItems?.events?.[0]?.PutRequest?.Item;
        return {};
      },
    } as unknown as DynamoDBDocumentClient;
    const envelope = toEnvelope(
      { type: 'payment.success', data: { amount: 2 ** 60, note: 'é\u0001', nested: { list: [1, true, null] } } },
      receipt,
    );
    await new DynamoEventStore(client, 'events').putAll([{ event: envelope, expiresAt: 1_900_000_000 }], {
      retryUntil: Date.now() + 30_000,
      sleep: async () => {},
    });
    if (!written) throw new Error('nothing written');
    expect(Object.keys(written).sort()).toEqual(Object.keys(storedItem(envelope)).sort());
    expect(written.data).toEqual(storedItem(envelope).data);
    expect(storedItemBytes(storedItem(envelope))).toBeGreaterThanOrEqual(storedItemBytes(written));
    expect(storedItemBytes(storedItem(envelope)) - storedItemBytes(written)).toBeLessThanOrEqual(8);
  });
});

describe('storedItemBytes (DynamoDB item size, as documented; calibrated against DynamoDB Local)', () => {
  it.each<[string, Record<string, unknown>, number]>([
    ['string', { id: 'abc' }, 2 + 3],
    ['multi-byte string', { s: 'é€' }, 1 + 5],
    ['number: 1 byte per 2 significant digits + 1', { n: 123456.789 }, 1 + 6],
    ['small number', { n: 1 }, 1 + 2],
    ['boolean and null', { b: true, z: null }, 1 + 1 + 1 + 1],
    ['empty map and list', { m: {}, l: [] }, 1 + 3 + 1 + 3],
    ['list: 3 bytes + 1 per element', { l: [true, 'ab'] }, 1 + 3 + 2 + 1 + 2],
    ['map: 3 bytes + 1 per entry + names', { m: { k: 'v', kk: 1 } }, 1 + 3 + 2 + 1 + 1 + 2 + 2],
  ])('%s', (_name, item, bytes) => {
    expect(storedItemBytes(item)).toBe(bytes);
  });
});

describe('Kinesis stream event fixture', () => {
  it('decodes to a valid envelope with decodeEnvelope, partitioned by its source', () => {
    const fixture = JSON.parse(
      readFileSync(new URL('../events/kinesis/stream-event.json', import.meta.url), 'utf8'),
    ) as KinesisStreamEvent;
    const [record] = fixture.Records;
    if (!record) throw new Error('fixture has no record');
    const envelope = decodeEnvelope(record.kinesis.data);
    expect(envelope).toMatchObject({ id: '0190f4d2-7a5b-7c3e-9f00-0123456789ab', type: 'order.created' });
    expect(record.kinesis.partitionKey).toBe(envelope.source);
    expect(EventInputSchema.safeParse({ type: envelope.type, data: envelope.data }).success).toBe(true);
  });
});

describe('serialized once: envelopeJson and storedItemBytesOf agree with the slow, obvious computations', () => {
  const json = fc.jsonValue({ maxDepth: 4 });
  const text = fc.string({ unit: 'grapheme', maxLength: 40 });
  it('for any envelope: envelopeJson parses back to it, and storedItemBytesOf = storedItemBytes(storedItem(e))', () => {
    fc.assert(
      fc.property(
        fc.record({ a: json, b: json, [`k${'é'}`]: text }),
        text,
        fc.option(text, { nil: undefined }),
        (data, source, key) => {
          const envelope = toEnvelope(
            { type: 'a.b', data: data as Record<string, unknown> },
            { ...receipt, principalName: source || 'p' },
          );
          const withKey = key === undefined ? envelope : { ...envelope, idempotencyKey: key };
          expect(JSON.parse(envelopeJson(withKey))).toEqual(JSON.parse(JSON.stringify(withKey)));
          expect(storedItemBytesOf(withKey)).toBe(storedItemBytes(storedItem(withKey)));
        },
      ),
      { numRuns: 300 },
    );
  });
});
