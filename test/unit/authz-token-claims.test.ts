import { generateKeyPairSync, sign } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { DecisionCache } from '../../shared/domain/decision-cache';
import { type AuthenticatedPrincipal, Authenticator } from '../../shared/domain/principals';
import { type TokenSigner, TokenVerifier } from '../../shared/domain/tokens';
import type { PrincipalStore } from '../../shared/ports';

/**
 * A correctly signed token whose claims have the wrong type (`sub` an object, a non-finite `exp`, a `kid` that is
 * no string, ...) is the caller's error: `claim-invalid` or `malformed`, a 401, never a throw further down (the
 * principals table refuses such keys, and the authorizer turns every throw into a 503).
 */
const ISSUER = 'urn:tem:test';
const AUDIENCE = 'tem-api';
const NOW = new Date('2026-03-01T12:00:00Z');
const now = Math.floor(NOW.getTime() / 1000);

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const signer: TokenSigner = {
  sign: async (input) => sign('sha256', input, { key: privateKey, dsaEncoding: 'ieee-p1363' }),
  publicJwk: async () => {
    const jwk = await exportJWK(publicKey);
    return { ...jwk, kid: await calculateJwkThumbprint(jwk), alg: 'ES256', use: 'sig' };
  },
};
const jwk = await signer.publicJwk();
const verifier = new TokenVerifier({ issuer: ISSUER, audience: AUDIENCE, jwk }, []);

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64url');
/** Signs the payload's JSON text as given: lets a test write what JSON.stringify cannot (1e999, a lone surrogate). */
async function signed(
  payloadJson: string,
  header: Record<string, unknown> = { alg: 'ES256', typ: 'JWT', kid: jwk.kid },
) {
  const input = `${b64(JSON.stringify(header))}.${b64(payloadJson)}`;
  return `${input}.${Buffer.from(await signer.sign(Buffer.from(input))).toString('base64url')}`;
}
const claims = (over: Record<string, unknown> = {}) => ({
  iss: ISSUER,
  aud: AUDIENCE,
  sub: 'billing',
  roles: ['producer'],
  key: 'billingkey000001',
  iat: now,
  nbf: now,
  exp: now + 300,
  ...over,
});
const json = (over: Record<string, unknown> = {}) => JSON.stringify(claims(over));
const outcome = async (token: string) => {
  const result = await verifier.verify(token, NOW);
  return result.ok ? 'ok' : result.reason;
};

describe('TokenVerifier: claims of the wrong type', () => {
  it('the control: the same token with every claim well typed is accepted', async () => {
    const result = await verifier.verify(await signed(json()), NOW);
    expect(result).toEqual({
      ok: true,
      token: {
        issuer: ISSUER,
        subject: 'billing',
        roles: ['producer'],
        expiresAt: (now + 300) * 1000,
        own: true,
        keyId: 'billingkey000001',
      },
    });
    // Roles as a space-separated string (some issuers), an audience list, and no `key` (tem token) are fine too.
    expect(
      await outcome(await signed(json({ roles: 'producer reader', aud: [AUDIENCE, 'other'], key: undefined }))),
    ).toBe('ok');
  });

  it.each<[string, Record<string, unknown>]>([
    ['sub an object', { sub: { principalId: 'billing' } }],
    ['sub a number', { sub: 42 }],
    ['sub an array', { sub: ['billing'] }],
    ['sub null', { sub: null }],
    ['sub empty', { sub: '' }],
    ['sub longer than 255 bytes', { sub: 'é'.repeat(128) }],
    ['sub with a control character', { sub: 'bill\u0000ing' }],
    ['exp a string', { exp: String(now + 300) }],
    ['nbf a string', { nbf: String(now) }],
    ['iat an object', { iat: {} }],
    ['aud a number', { aud: 7 }],
    ['aud a list holding a non-string', { aud: [AUDIENCE, 7] }],
    ['roles a number', { roles: 1 }],
    ['roles an object', { roles: { admin: true } }],
    ['roles a list holding a non-string', { roles: ['producer', { admin: true }] }],
    ['key a number', { key: 1234567890123456 }],
    ['key an object', { key: { keyId: 'billingkey000001' } }],
    ['key not a key id', { key: '' }],
  ])('%s: claim-invalid', async (_name, over) => {
    expect(await outcome(await signed(json(over)))).toBe('claim-invalid');
  });

  it.each<[string, string]>([
    ['exp infinite (1e999)', json().replace(/"exp":\d+/, '"exp":1e999')],
    ['nbf minus infinity', json().replace(/"nbf":\d+/, '"nbf":-1e999')],
    ['a lone surrogate in sub', json().replace('"sub":"billing"', '"sub":"bill\\ud800ing"')],
  ])('%s: claim-invalid', async (_name, payload) => {
    expect(payload).not.toBe(json());
    expect(await outcome(await signed(payload))).toBe('claim-invalid');
  });

  it('iss that is not a string: refused before any key is looked at', async () => {
    expect(await outcome(await signed(json({ iss: { issuer: ISSUER } })))).toBe('claim-invalid');
    expect(await outcome(await signed(json({ iss: [ISSUER] })))).toBe('claim-invalid');
    expect(await outcome(await signed(json({ iss: undefined })))).toBe('unknown-issuer');
  });

  it.each<[string, unknown]>([
    ['a number', 1],
    ['an object', { kid: jwk.kid }],
    ['a list', [jwk.kid]],
  ])('a kid that is %s: malformed', async (_name, kid) => {
    expect(await outcome(await signed(json(), { alg: 'ES256', typ: 'JWT', kid }))).toBe('malformed');
  });
});

describe('the authenticator never takes a wrongly typed claim for an outage', () => {
  // Like DynamoDB: a key that is not a non-empty string is a ValidationException, which the authorizer maps to 503.
  const strict = (id: unknown) => {
    if (typeof id !== 'string' || id === '') throw new Error('ValidationException: invalid key');
    return Promise.resolve(undefined);
  };
  const store: PrincipalStore = {
    getApiKey: strict,
    getPrincipal: strict,
    getAuthEpoch: async () => 0,
    putPrincipal: async () => {},
    putApiKey: async () => {},
    listApiKeys: async () => [],
    getDevice: async () => undefined,
    putDevice: async () => {},
    bumpAuthEpoch: async () => 1,
  };
  const authenticator = new Authenticator({
    store,
    verifier: async () => verifier,
    cache: new DecisionCache<AuthenticatedPrincipal>({ ttlMs: 0, epochCheckMs: 5_000, readEpoch: async () => 0 }),
    now: () => NOW,
  });

  it.each<[string, Record<string, unknown>]>([
    ['sub an object', { sub: { principalId: 'billing' }, key: undefined }],
    ['sub empty', { sub: '', key: undefined }],
    ['key an object', { key: { keyId: 'billingkey000001' } }],
  ])('%s: refused as claim-invalid, not AuthUnavailable', async (_name, over) => {
    const result = await authenticator.authenticate({ type: 'bearer', value: await signed(json(over)) });
    expect(result).toEqual({ ok: false, reason: 'claim-invalid' });
  });
});
