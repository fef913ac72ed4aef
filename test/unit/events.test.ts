import { describe, expect, it } from 'vitest';
import {
  deterministicId,
  EventEnvelopeSchema,
  EventInputSchema,
  type Receipt,
  timeKey,
  toEnvelope,
} from '../../shared/domain/events';

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
    expect(envelope.id).toBe('01HZX3K4ZQ8J9P6V5W4T3S2R1Q');
    expect(envelope.source).toBe('billing');
    expect(envelope.occurredAt).toBe('2024-05-01T11:30:00.000Z');
    expect(envelope.receivedAt).toBe('2024-05-01T12:00:00.000Z');
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
