import { describe, expect, it } from 'vitest';
import { generateApiKey, hashSecret, parseApiKey, secretMatches } from '../../shared/domain/api-keys';

describe('generateApiKey', () => {
  it('has the documented shape', () => {
    const key = generateApiKey();
    expect(key.keyId).toMatch(/^[a-z0-9]{16}$/);
    expect(key.secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(key.apiKey).toBe(`tem_${key.keyId}_${key.secret}`);
  });

  it('round-trips through parseApiKey and secretMatches', () => {
    const key = generateApiKey();
    const parsed = parseApiKey(key.apiKey);
    expect(parsed).toEqual({ keyId: key.keyId, secret: key.secret });
    expect(secretMatches(parsed?.secret ?? '', key.secretHash)).toBe(true);
  });

  it('stores a hash, not the secret', () => {
    const key = generateApiKey();
    expect(key.secretHash).toMatch(/^[0-9a-f]{64}$/);
    expect(key.secretHash).not.toBe(key.secret);
    expect(key.secretHash).not.toContain(key.secret);
    expect(key.secretHash).toBe(hashSecret(key.secret));
  });

  it('two generated keys differ', () => {
    const a = generateApiKey();
    const b = generateApiKey();
    expect(a.keyId).not.toBe(b.keyId);
    expect(a.secret).not.toBe(b.secret);
    expect(a.secretHash).not.toBe(b.secretHash);
  });
});

describe('secretMatches', () => {
  const key = generateApiKey();

  it('refuses a wrong secret', () => {
    const other = generateApiKey();
    expect(secretMatches(other.secret, key.secretHash)).toBe(false);
  });

  it('refuses a secret that differs in one character', () => {
    const last = key.secret.slice(-1);
    const tampered = key.secret.slice(0, -1) + (last === 'A' ? 'B' : 'A');
    expect(secretMatches(tampered, key.secretHash)).toBe(false);
  });

  it.each([[''], ['not-hex'], ['abcd']])('refuses a malformed stored hash %j without throwing', (stored) => {
    expect(secretMatches(key.secret, stored)).toBe(false);
  });
});

describe('parseApiKey', () => {
  const keyId = 'abcdef0123456789';
  const secret = `${'A'.repeat(40)}-_9`;
  const good = `tem_${keyId}_${secret}`;

  it('parses a well-formed key', () => {
    expect(parseApiKey(good)).toEqual({ keyId, secret });
  });

  it('tolerates surrounding whitespace (a pasted header value)', () => {
    expect(parseApiKey(`  ${good}\n`)).toEqual({ keyId, secret });
  });

  it.each<[string, string | undefined]>([
    ['undefined', undefined],
    ['empty', ''],
    ['blank', '   '],
    ['wrong prefix', `tek_${keyId}_${secret}`],
    ['upper-case prefix', `TEM_${keyId}_${secret}`],
    ['no prefix', `${keyId}_${secret}`],
    ['short secret', `tem_${keyId}_${secret.slice(1)}`],
    ['long secret', `tem_${keyId}_${secret}A`],
    ['short key id', `tem_${keyId.slice(1)}_${secret}`],
    ['upper-case key id', `tem_${keyId.toUpperCase()}_${secret}`],
    ['trailing extra chars', `${good}!`],
    ['leading extra chars', `x${good}`],
    ['bad secret character', `tem_${keyId}_${secret.slice(1)}+`],
    ['missing separator', `tem${keyId}_${secret}`],
  ])('%s -> undefined', (_name, raw) => {
    expect(parseApiKey(raw)).toBeUndefined();
  });
});
