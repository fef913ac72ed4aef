import type { APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { hashSecret } from '../../shared/domain/api-keys';
import { credentialFrom, headerValues, type RequestHeaders } from '../../shared/domain/credentials';
import { issueToken } from '../../shared/domain/tokens';
import type { ApiKeyRecord, PrincipalRecord } from '../../shared/ports';

/**
 * Credential headers sent twice. API Gateway REST hands a REQUEST authorizer the last value of a repeated header in
 * `headers` and every value in `multiValueHeaders`: a request carrying `x-api-key` or `authorization` more than once
 * is refused, whichever value is valid (integration: hostile-http-credentials.test.ts).
 */

// The authorizer reads its settings and builds its store and signer at import: replaced by in-memory ones.
const fakes = await vi.hoisted(async () => {
  const { generateKeyPairSync, sign } = await import('node:crypto');
  const { calculateJwkThumbprint, exportJWK } = await import('jose');
  Object.assign(process.env, {
    PRINCIPALS_TABLE_NAME: 'unit-principals',
    TOKEN_SIGNING_KEY: 'file:///unit/unused.pem',
    JWT_ISSUER: 'urn:tem:unit',
    JWT_AUDIENCE: 'tem-unit',
    JWT_TRUSTED_ISSUERS: '[]',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
  });
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const signer = {
    sign: async (input: Uint8Array) => sign('sha256', input, { key: privateKey, dsaEncoding: 'ieee-p1363' }),
    publicJwk: async () => {
      const jwk = await exportJWK(publicKey);
      return { ...jwk, kid: await calculateJwkThumbprint(jwk), alg: 'ES256', use: 'sig' };
    },
  };
  return { signer, keys: new Map<string, unknown>(), principals: new Map<string, unknown>() };
});
vi.mock('../../shared/aws/clients', () => ({ createDocumentClient: () => ({}) }));
vi.mock('../../shared/aws/signer', () => ({ signerFromSetting: () => fakes.signer }));
vi.mock('../../shared/aws/dynamo-principal-store', () => ({
  DynamoPrincipalStore: class {
    getApiKey = async (id: string) => fakes.keys.get(id);
    getPrincipal = async (id: string) => fakes.principals.get(id);
    getAuthEpoch = async () => 0;
  },
}));
const { lambdaHandler } = await import('../../functions/authorizers/api-authorizer');

const SECRET = 'S'.repeat(43);
const principal = (id: string): PrincipalRecord => ({
  principalId: id,
  name: id,
  role: 'admin',
  extra: [],
  revoked: [],
  createdAt: '',
});
const key = (keyId: string, principalId: string): ApiKeyRecord => ({
  keyId,
  principalId,
  secretHash: hashSecret(SECRET),
  status: 'active',
  createdAt: '',
});
const KEY_A = 'aaaaaaaaaaaaaaaa';
const KEY_B = 'bbbbbbbbbbbbbbbb';
const apiKeyA = `tem_${KEY_A}_${SECRET}`;
const apiKeyB = `tem_${KEY_B}_${SECRET}`;

describe('headerValues', () => {
  it('every value from multiValueHeaders, names compared case-insensitively', () => {
    const request: RequestHeaders = {
      headers: { 'X-Api-Key': 'two' },
      multiValueHeaders: { 'x-api-key': ['one'], 'X-Api-Key': ['two'], accept: ['*/*'] },
    };
    expect(headerValues(request, 'x-api-key')).toEqual(['one', 'two']);
    expect(headerValues(request, 'Accept')).toEqual(['*/*']);
    expect(headerValues(request, 'authorization')).toEqual([]);
  });

  it('falls back to headers when multiValueHeaders is absent or lacks the header', () => {
    expect(headerValues({ headers: { Authorization: 'Bearer x' }, multiValueHeaders: null }, 'authorization')).toEqual([
      'Bearer x',
    ]);
    expect(headerValues({ headers: { 'x-api-key': 'k' }, multiValueHeaders: {} }, 'x-api-key')).toEqual(['k']);
    expect(headerValues({ headers: null }, 'x-api-key')).toEqual([]);
  });
});

describe('credentialFrom', () => {
  const from = (values: Record<string, string[]>) => credentialFrom((name) => values[name] ?? []);

  it('one value of a header is a credential (an API key wins over a bearer)', () => {
    expect(from({ 'x-api-key': [apiKeyA] })).toEqual({ type: 'api-key', value: apiKeyA });
    expect(from({ authorization: ['Bearer abc.def.ghi'] })).toEqual({ type: 'bearer', value: 'abc.def.ghi' });
    expect(from({ 'x-api-key': [apiKeyA], authorization: ['Bearer abc'] })).toEqual({
      type: 'api-key',
      value: apiKeyA,
    });
    expect(from({})).toBe('missing');
    expect(from({ authorization: ['Basic Zm9vOmJhcg=='] })).toBe('malformed');
  });

  it.each<[string, Record<string, string[]>]>([
    ['garbage, then a valid key', { 'x-api-key': ['garbage', apiKeyA] }],
    ['a valid key, then garbage', { 'x-api-key': [apiKeyA, 'garbage'] }],
    ['the keys of two principals', { 'x-api-key': [apiKeyA, apiKeyB] }],
    ['the same key twice', { 'x-api-key': [apiKeyA, apiKeyA] }],
    ['an empty key, then a valid one', { 'x-api-key': ['', apiKeyA] }],
    ['a garbage bearer, then a valid one', { authorization: ['Bearer garbage', 'Bearer abc.def.ghi'] }],
    ['a valid key and two bearers', { 'x-api-key': [apiKeyA], authorization: ['Bearer a', 'Bearer b'] }],
  ])('%s: repeated', (_name, values) => {
    expect(from(values)).toBe('repeated');
  });
});

describe('the API authorizer refuses a credential header sent twice', () => {
  const METHOD_ARN = 'arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/GET/healthz';
  let token = '';
  beforeAll(async () => {
    fakes.principals.set('alice', principal('alice'));
    fakes.principals.set('bob', principal('bob'));
    fakes.keys.set(KEY_A, key(KEY_A, 'alice'));
    fakes.keys.set(KEY_B, key(KEY_B, 'bob'));
    token = (
      await issueToken(
        { issuer: 'urn:tem:unit', audience: 'tem-unit', signer: fakes.signer },
        { subject: 'alice', roles: ['admin'], ttlSeconds: 300, keyId: KEY_A },
      )
    ).token;
  });
  // As API Gateway REST builds it: `headers` has each header's last value, `multiValueHeaders` all of them.
  const request = (pairs: [string, string][]) => {
    const multiValueHeaders: Record<string, string[]> = {};
    for (const [name, value] of pairs) multiValueHeaders[name] = [...(multiValueHeaders[name] ?? []), value];
    const headers = Object.fromEntries(Object.entries(multiValueHeaders).map(([name, v]) => [name, v.at(-1)]));
    return { type: 'REQUEST', methodArn: METHOD_ARN, headers, multiValueHeaders } as APIGatewayRequestAuthorizerEvent;
  };
  const principalOf = async (pairs: [string, string][]) => (await lambdaHandler(request(pairs))).principalId;

  it('the control: each credential alone is taken for its principal', async () => {
    expect(await principalOf([['x-api-key', apiKeyA]])).toBe('alice');
    expect(await principalOf([['X-Api-Key', apiKeyB]])).toBe('bob');
    expect(await principalOf([['authorization', `Bearer ${token}`]])).toBe('alice');
  });

  it.each<[string, () => [string, string][]]>([
    [
      'garbage, then a valid key',
      () => [
        ['x-api-key', 'garbage'],
        ['x-api-key', apiKeyA],
      ],
    ],
    [
      'the keys of two principals',
      () => [
        ['x-api-key', apiKeyA],
        ['x-api-key', apiKeyB],
      ],
    ],
    [
      'the same header in two spellings',
      () => [
        ['X-API-KEY', 'garbage'],
        ['x-api-key', apiKeyA],
      ],
    ],
    [
      'a garbage bearer, then a valid one',
      () => [
        ['authorization', 'Bearer garbage'],
        ['authorization', `Bearer ${token}`],
      ],
    ],
  ])('%s: Unauthorized (401)', async (_name, pairs) => {
    await expect(lambdaHandler(request(pairs()))).rejects.toThrow(/^Unauthorized$/);
  });
});
