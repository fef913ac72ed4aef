import { describe, expect, it } from 'vitest';
import { ConfigError, intEnv, requireEnv } from '../../shared/config';

function configErrorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

describe('requireEnv', () => {
  it('returns the value as set', () => {
    expect(requireEnv('EVENT_STREAM_NAME', { EVENT_STREAM_NAME: 'tem-events' })).toBe('tem-events');
    expect(requireEnv('X', { X: ' padded ' })).toBe(' padded ');
  });

  it.each<[string, string | undefined]>([
    ['missing', undefined],
    ['empty', ''],
    ['blank', '   '],
    ['tabs and newlines', '\t\n'],
  ])('throws a ConfigError naming the variable when %s', (_name, value) => {
    const env = value === undefined ? { OTHER: 'x' } : { EVENTS_TABLE_NAME: value };
    const error = configErrorOf(() => requireEnv('EVENTS_TABLE_NAME', env));
    expect(error.name).toBe('ConfigError');
    expect(error.message).toContain('EVENTS_TABLE_NAME');
  });

  it('reads process.env by default', () => {
    const name = `TEM_UNIT_TEST_${process.pid}`;
    expect(() => requireEnv(name)).toThrow(name);
  });
});

describe('intEnv', () => {
  it.each<[string, number]>([
    ['42', 42],
    ['0', 0],
    ['-3', -3],
    ['007', 7],
  ])('parses %j as %i', (raw, expected) => {
    expect(intEnv('N', 99, { N: raw })).toBe(expected);
  });

  it.each<[string, string | undefined]>([
    ['unset', undefined],
    ['empty', ''],
  ])('falls back when %s', (_name, raw) => {
    const env = raw === undefined ? {} : { N: raw };
    expect(intEnv('N', 99, env)).toBe(99);
  });

  it.each([['1.5'], ['abc'], ['12abc'], ['NaN'], ['Infinity']])(
    'rejects the non-integer %j naming the variable',
    (raw) => {
      const error = configErrorOf(() => intEnv('BATCH_SIZE', 1, { BATCH_SIZE: raw }));
      expect(error.message).toContain('BATCH_SIZE');
      expect(error.message).toContain(`"${raw}"`);
    },
  );

  it('a whitespace-only value is not silently read as 0', () => {
    let result: number | undefined;
    try {
      result = intEnv('N', 99, { N: '   ' });
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return;
    }
    expect(result).toBe(99);
  });
});
