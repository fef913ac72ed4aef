import { describe, expect, it } from 'vitest';
import { Rejection } from '../../shared/domain/errors';
import { decodeCursor, encodeCursor, onlyKnownParams, parseLimit, parseTime } from '../../shared/domain/listing';
import { expiresAtFor, RetentionSchema, retention } from '../../shared/domain/retention';

describe('retention policy', () => {
  it('the shipped policy parses and keeps telemetry 30 days, other events forever', () => {
    expect(retention.eventTypes['device.telemetry']).toBe(30);
    const receivedAt = '2026-01-01T00:00:00.000Z';
    expect(expiresAtFor({ type: 'device.telemetry', receivedAt })).toBe(Date.parse(receivedAt) / 1000 + 30 * 86_400);
    expect(expiresAtFor({ type: 'payment.success', receivedAt })).toBeUndefined();
  });

  it('a default applies to types not listed, and an explicit null keeps a type forever', () => {
    const policy = RetentionSchema.parse({ defaultDays: 7, eventTypes: { 'audit.entry': null } });
    const receivedAt = '2026-01-01T00:00:00.000Z';
    expect(expiresAtFor({ type: 'order.created', receivedAt }, policy)).toBe(
      Date.parse(receivedAt) / 1000 + 7 * 86_400,
    );
    expect(expiresAtFor({ type: 'audit.entry', receivedAt }, policy)).toBeUndefined();
  });

  it.each([
    [{ defaultDays: 0, eventTypes: {} }],
    [{ defaultDays: null, eventTypes: { 'Not.A.Type': 3 } }],
    [{ defaultDays: null, eventTypes: { 'a.b': 1.5 } }],
    [{ eventTypes: {} }],
  ])('rejects a malformed policy %j', (doc) => {
    expect(RetentionSchema.safeParse(doc).success).toBe(false);
  });
});

describe('listing helpers', () => {
  const rejects = (fn: () => unknown) => {
    try {
      fn();
    } catch (error) {
      expect(error).toBeInstanceOf(Rejection);
      expect((error as Rejection).kind).toBe('invalid');
      return;
    }
    throw new Error('expected a Rejection');
  };

  it('round-trips a resume key through an opaque cursor', () => {
    const key = { id: 'abc', source: 's', timeKey: '2026-01-01T00:00:00.000Z#abc' };
    const cursor = encodeCursor(key);
    expect(cursor).not.toContain('{');
    expect(decodeCursor(cursor ?? undefined)).toEqual(key);
    expect(encodeCursor(undefined)).toBeNull();
    expect(decodeCursor(undefined)).toBeUndefined();
  });

  it.each(['not-base64-json', Buffer.from('[1,2]').toString('base64url'), Buffer.from('{}').toString('base64url')])(
    'refuses the cursor %j',
    (cursor) => rejects(() => decodeCursor(cursor)),
  );

  it('limit: default 50, 1..100, integers only', () => {
    expect(parseLimit(undefined)).toBe(50);
    expect(parseLimit('1')).toBe(1);
    expect(parseLimit('100')).toBe(100);
    for (const bad of ['0', '101', '-1', '2.5', 'ten', ' 5']) rejects(() => parseLimit(bad));
  });

  it('time: ISO with offset or a date, normalised to UTC', () => {
    expect(parseTime('since', '2026-01-31T12:00:00+02:00')).toBe('2026-01-31T10:00:00.000Z');
    expect(parseTime('since', '2026-01-31')).toBe('2026-01-31T00:00:00.000Z');
    expect(parseTime('since', undefined)).toBeUndefined();
    for (const bad of ['yesterday', '2026-13-01', '1700000000']) rejects(() => parseTime('since', bad));
  });

  it('unknown query parameters are refused, naming them', () => {
    expect(onlyKnownParams({ a: '1' }, ['a', 'b'])).toEqual({ a: '1' });
    expect(onlyKnownParams(null, ['a'])).toEqual({});
    try {
      onlyKnownParams({ a: '1', zz: '2' }, ['a']);
      throw new Error('expected a Rejection');
    } catch (error) {
      expect((error as Rejection).message).toContain('zz');
    }
  });
});
