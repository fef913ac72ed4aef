import { describe, expect, it } from 'vitest';
import { monotonicUlid, ULID_PATTERN } from '../../clients/node/src/ulid';
import { EventIdSchema } from '../../shared/domain/events';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const decodeTime = (ulid: string) => [...ulid.slice(0, 10)].reduce((t, c) => t * 32 + ALPHABET.indexOf(c), 0);

describe('ULIDs made by the client', () => {
  it('are 26 Crockford base32 characters that the server takes as an id', () => {
    const next = monotonicUlid();
    for (let i = 0; i < 100; i++) {
      const id = next();
      expect(id).toMatch(/^[0-7][0-9A-HJKMNP-TV-Z]{25}$/);
      expect(id).toMatch(ULID_PATTERN);
      expect(EventIdSchema.safeParse(id).success).toBe(true);
    }
  });

  it('encode the time as the spec does (48-bit milliseconds first)', () => {
    const zero = () => new Uint8Array(10);
    expect(monotonicUlid(() => 1469918176385, zero)()).toBe(`01ARYZ6S41${'0'.repeat(16)}`);
    const full = () => new Uint8Array(10).fill(255);
    expect(monotonicUlid(() => 2 ** 48 - 1, full)()).toBe('7ZZZZZZZZZZZZZZZZZZZZZZZZZ');
    expect(decodeTime(monotonicUlid(() => 1_796_000_000_123)())).toBe(1_796_000_000_123);
    expect(() => monotonicUlid(() => 2 ** 48)()).toThrow(RangeError);
  });

  it('increase strictly within one millisecond, and when the clock steps back', () => {
    let now = 1_796_000_000_000;
    const next = monotonicUlid(() => now);
    const ids: string[] = [];
    for (let i = 0; i < 1000; i++) ids.push(next());
    now -= 5_000; // an NTP step back
    for (let i = 0; i < 10; i++) ids.push(next());
    now += 10_000;
    ids.push(next());
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
    // Within the millisecond the random part counts up by one.
    expect(ids[1]?.slice(0, 10)).toBe(ids[0]?.slice(0, 10));
    expect(decodeTime(ids[1000] as string)).toBe(1_796_000_000_000);
    expect(decodeTime(ids.at(-1) as string)).toBe(1_796_000_005_000);
  });

  it('carry into the next millisecond when the random part overflows', () => {
    const next = monotonicUlid(
      () => 1000,
      () => new Uint8Array(10).fill(255),
    );
    const a = next();
    const b = next();
    expect(a.slice(10)).toBe('Z'.repeat(16));
    expect(b > a).toBe(true);
    expect(decodeTime(b)).toBe(1001);
  });
});
