import {
  createHmac,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type JsonWebKey,
  type KeyObject,
  randomUUID,
  sign,
} from 'node:crypto';
import fc from 'fast-check';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { topology } from '../../infra/topology';
import { FileKeySigner } from '../../shared/crypto/file-signer';
import { createApiKey } from '../../shared/domain/admin';
import { devPrincipalId, expectRefusal, Ledger, rawRequest, send, sendRaw } from './hostile-support';
import { devKey, principalStore, stack } from './support';

/**
 * Hostile credentials: API keys of the wrong shape, forged, tampered and expired JWTs (signed with the stack's own
 * key where the point is that only one claim is wrong), and credential headers sent twice. Each is a POST /events of
 * a valid event under the sentinel source, so that an accepted forgery would also show up as stored data. Every one
 * must get API Gateway's 401 `{"message":"Unauthorized"}` (the reason is logged, never told); each group is
 * followed by a legitimate request. Replay after revocation: identity.test.ts.
 */

const ledger = new Ledger();
const unauthorized = /^Unauthorized$/;
const b64 = (data: string | Uint8Array) => Buffer.from(data).toString('base64url');
const event = () => JSON.stringify({ id: randomUUID(), type: 'hostile.credential', source: ledger.source, data: {} });
const post = (headers: Record<string, string | string[]>) =>
  send('POST', '/events', { key: null, headers: { 'content-type': 'application/json', ...headers }, body: event() });

describe('API keys of the wrong shape', () => {
  let other = '';
  beforeAll(async () => {
    other = (await createApiKey(principalStore(), { name: `hostile-${randomUUID().slice(0, 8)}`, role: 'producer' }))
      .apiKey;
  });
  const flip = (key: string, at: number) => `${key.slice(0, at)}${key[at] === 'A' ? 'B' : 'A'}${key.slice(at + 1)}`;

  it('too short, wrong prefix, wrong case, cut, extended, swapped secret, foreign formats, 8 KB: 401', async () => {
    const key = devKey();
    const keys = [
      'tem_abc',
      `tex_${key.slice(4)}`,
      key.toUpperCase(),
      key.slice(0, -1),
      `${key}A`,
      flip(key, key.length - 5),
      `${key.slice(0, 21)}${other.slice(21)}`,
      `${key},${key}`,
      'AKIAIOSFODNN7EXAMPLE',
      `Bearer ${key}`,
      `tem_${'a'.repeat(8188)}`,
      'tem_üñíçødé_ÿ',
    ];
    for (const k of keys) expectRefusal(await post({ 'x-api-key': k }), 401, unauthorized);
    expectRefusal(await post({ 'x-api-key': `tem_${'a'.repeat(10_236)}` }), 431, /at most 10240 bytes/);
    await ledger.canary();
  });

  it('a key in UTF-8 bytes beyond Latin-1 (snowman, emoji): 401', async () => {
    const head = rawRequest('POST', '/events', [['content-type', 'application/json']], event()).toString('latin1');
    for (const k of ['tem_☃☃☃', `${devKey().slice(0, 20)}😀`]) {
      const withKey = head.replace('\r\n', `\r\nx-api-key: ${Buffer.from(k, 'utf8').toString('latin1')}\r\n`);
      expectRefusal(await sendRaw(Buffer.from(withKey, 'latin1')), 401, unauthorized);
    }
    await ledger.canary();
  });

  it('generated keys and one-character mutations of a valid one: 401 (fast-check, seeded)', async () => {
    const key = devKey();
    const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-';
    const mutated = fc
      .tuple(fc.nat({ max: key.length - 1 }), fc.constantFrom(...alphabet))
      .map(([at, c]) => `${key.slice(0, at)}${c}${key.slice(at + 1)}`);
    const printable = fc.string({
      unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)),
      minLength: 1,
      maxLength: 120,
    });
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          mutated,
          printable,
          printable.map((s) => `tem_${s}`),
        ),
        async (candidate) => {
          fc.pre(candidate !== key);
          expectRefusal(await post({ 'x-api-key': candidate }), 401, unauthorized);
        },
      ),
      { seed: 0x5eed21, numRuns: 40 },
    );
    await ledger.canary();
  });
});

const signingKey = stack().resources.tokenSigningKey ?? '';
const settings = topology.functions[topology.authorizer.function].environment ?? {};
const ISSUER = settings.JWT_ISSUER ?? '';
const AUDIENCE = settings.JWT_AUDIENCE ?? '';

describe.runIf(signingKey.startsWith('file://'))('forged, tampered and expired JWTs (own issuer)', () => {
  const signer = new FileKeySigner(new URL(signingKey).pathname);
  const attacker = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  let kid = '';
  let publicPem = '';
  let publicJwk: Record<string, unknown> = {};
  let sub = '';
  const now = () => Math.floor(Date.now() / 1000);
  const claims = (over: Record<string, unknown> = {}) => ({
    iss: ISSUER,
    aud: AUDIENCE,
    sub,
    roles: ['admin'],
    iat: now(),
    nbf: now(),
    exp: now() + 300,
    ...over,
  });
  const input = (header: object, payload: object) => `${b64(JSON.stringify(header))}.${b64(JSON.stringify(payload))}`;
  const own = async (payload: object, header: object = { alg: 'ES256', typ: 'JWT', kid }) => {
    const i = input(header, payload);
    return `${i}.${b64(await signer.sign(Buffer.from(i)))}`;
  };
  const withKey = (key: KeyObject, payload: object, header: object) => {
    const i = input(header, payload);
    return `${i}.${b64(sign('sha256', Buffer.from(i), { key, dsaEncoding: 'ieee-p1363' }))}`;
  };
  const hs256 = (secret: string | Buffer, payload: object) => {
    const i = input({ alg: 'HS256', typ: 'JWT', kid }, payload);
    return `${i}.${b64(createHmac('sha256', secret).update(i).digest())}`;
  };
  const bearer = (token: string) => post({ authorization: `Bearer ${token}` });

  beforeAll(async () => {
    const jwk = await signer.publicJwk();
    kid = jwk.kid;
    publicJwk = { ...jwk };
    publicPem = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' })
      .export({ type: 'spki', format: 'pem' })
      .toString();
    sub = await devPrincipalId();
  });

  it('a correctly signed token is accepted (the control: every case below differs from it in one thing)', async () => {
    const r = await bearer(await own(claims()));
    expect(r.status, r.text).toBe(202);
    for (const id of (r.json as { ids: string[] }).ids) ledger.accept(id);
  });

  it.each([
    ['alg none, unsigned', async () => `${input({ alg: 'none', typ: 'JWT' }, claims())}.`],
    [
      'alg NONE with the real signature',
      async () => `${input({ alg: 'NONE', kid }, claims())}.${(await own(claims())).split('.')[2]}`,
    ],
    ['HS256 signed with the public key (PEM): alg confusion', async () => hs256(publicPem, claims())],
    ['HS256 signed with the public JWK', async () => hs256(JSON.stringify(publicJwk), claims())],
    [
      'HS256 signed with the public key’s x coordinate',
      async () => hs256(Buffer.from(String(publicJwk.x), 'base64url'), claims()),
    ],
    ['expired ten minutes ago', async () => own(claims({ iat: now() - 1200, nbf: now() - 1200, exp: now() - 600 }))],
    ['not valid for ten more minutes (nbf)', async () => own(claims({ nbf: now() + 600 }))],
    ['with an unknown kid', async () => own(claims(), { alg: 'ES256', typ: 'JWT', kid: 'no-such-key' })],
    [
      'signed by another key under the real kid',
      async () => withKey(attacker.privateKey, claims(), { alg: 'ES256', kid }),
    ],
    [
      'signed by a key it embeds (jwk header)',
      async () =>
        withKey(attacker.privateKey, claims(), { alg: 'ES256', jwk: attacker.publicKey.export({ format: 'jwk' }) }),
    ],
    ['from another issuer', async () => own(claims({ iss: 'https://evil.example/' }))],
    ['for another audience', async () => own(claims({ aud: ['someone-else'] }))],
    ['without exp', async () => own((({ exp: _e, ...rest }) => rest)(claims()))],
    ['without sub', async () => own((({ sub: _s, ...rest }) => rest)(claims()))],
    ['with an unknown critical header', async () => own(claims(), { alg: 'ES256', kid, crit: ['x-tem'], 'x-tem': 1 })],
    [
      'with a payload changed after signing',
      async () => {
        const [h, , s] = (await own(claims({ roles: ['reader'] }))).split('.');
        return `${h}.${b64(JSON.stringify(claims()))}.${s}`;
      },
    ],
    ['cut short (signature)', async () => (await own(claims())).slice(0, -10)],
    ['cut short (no signature segment)', async () => (await own(claims())).split('.').slice(0, 2).join('.')],
    [
      'with a segment missing in the middle',
      async () =>
        (await own(claims()))
          .split('.')
          .filter((_p, i) => i !== 1)
          .join('.'),
    ],
    ['with exp as a string', async () => own(claims({ exp: String(now() + 300) }))],
    ['with sub as an object', async () => own(claims({ sub: { principalId: sub } }))],
  ])('a token %s: 401', async (_name, make) => {
    expectRefusal(await bearer(await make()), 401, unauthorized);
    await ledger.canary();
  });

  it('one-character mutations of a valid token and generated three-part tokens: 401 (fast-check, seeded)', async () => {
    const valid = await own(claims({ exp: now() + 900 }));
    const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const sameBytes = (a: string, b: string) =>
      a
        .split('.')
        .every((part, i) => Buffer.from(part, 'base64url').equals(Buffer.from(b.split('.')[i] ?? '', 'base64url')));
    const mutated = fc
      .tuple(fc.nat({ max: valid.length - 1 }), fc.constantFrom(...chars))
      .map(([at, c]) => (valid[at] === '.' ? valid : `${valid.slice(0, at)}${c}${valid.slice(at + 1)}`));
    const part = fc.jsonValue({ maxDepth: 2 }).map((v) => b64(JSON.stringify(v)));
    const generated = fc.tuple(part, part, fc.uint8Array({ maxLength: 64 })).map(([h, p, s]) => `${h}.${p}.${b64(s)}`);
    await fc.assert(
      fc.asyncProperty(fc.oneof(mutated, generated), async (token) => {
        fc.pre(!sameBytes(token, valid));
        expectRefusal(await bearer(token), 401, unauthorized);
      }),
      { seed: 0x5eed22, numRuns: 40 },
    );
    await ledger.canary();
  });
});

const external = inject('externalIssuer');

describe.runIf(external !== null)('alg confusion against a trusted RS256 issuer', () => {
  it('HS256 signed with the issuer’s RSA public key, and RS512 (an algorithm not configured): 401', async () => {
    const issuer = external as NonNullable<typeof external>;
    const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...publicPart } = issuer.privateJwk;
    const pem = createPublicKey({ key: publicPart as JsonWebKey, format: 'jwk' })
      .export({ type: 'spki', format: 'pem' })
      .toString();
    const now = Math.floor(Date.now() / 1000);
    const payload = {
      iss: issuer.issuer,
      aud: issuer.audience,
      sub: 'svc-x',
      roles: ['admin'],
      iat: now,
      exp: now + 300,
    };
    const i = (alg: string) => `${b64(JSON.stringify({ alg, kid: issuer.kid }))}.${b64(JSON.stringify(payload))}`;
    const hs = `${i('HS256')}.${b64(createHmac('sha256', pem).update(i('HS256')).digest())}`;
    const rsaKey = createPrivateKey({ key: issuer.privateJwk as JsonWebKey, format: 'jwk' });
    const rs512 = `${i('RS512')}.${b64(sign('sha512', Buffer.from(i('RS512')), rsaKey))}`;
    for (const token of [hs, rs512]) expectRefusal(await post({ authorization: `Bearer ${token}` }), 401, unauthorized);
    await ledger.canary();
  });
});

describe('credential headers sent twice', () => {
  // GET /healthz: what is under test is which principal, if any, the request is taken for; no data is involved.
  const health = (headers: [string, string][]) => sendRaw(rawRequest('GET', '/healthz', headers));
  let other = '';
  let token = '';
  beforeAll(async () => {
    other = (await createApiKey(principalStore(), { name: `hostile-${randomUUID().slice(0, 8)}`, role: 'admin' }))
      .apiKey;
    token = ((await send('POST', '/auth/token', { key: other })).json as { token: string }).token;
    // The control: each credential alone is served.
    expect((await health([['x-api-key', other]])).status).toBe(200);
    expect((await health([['authorization', `Bearer ${token}`]])).status).toBe(200);
  });

  it.each([
    [
      'garbage, then a valid key',
      () => [
        ['x-api-key', 'garbage'],
        ['x-api-key', devKey()],
      ],
    ],
    [
      'a valid key, then garbage',
      () => [
        ['x-api-key', devKey()],
        ['x-api-key', 'garbage'],
      ],
    ],
    [
      'the keys of two principals',
      () => [
        ['x-api-key', devKey()],
        ['x-api-key', other],
      ],
    ],
    [
      'a garbage bearer, then a valid one',
      () => [
        ['authorization', 'Bearer garbage'],
        ['authorization', `Bearer ${token}`],
      ],
    ],
    [
      'a garbage key with a valid bearer (the key wins)',
      () => [
        ['x-api-key', 'garbage'],
        ['authorization', `Bearer ${token}`],
      ],
    ],
  ] as [string, () => [string, string][]][])('%s: 401, the request is no one’s', async (_name, headers) => {
    expectRefusal(await health(headers()), 401, unauthorized);
  });
});

describe('hostile credentials: effect on stored data', () => {
  it('the sentinel source holds exactly the legitimate events', async () => {
    await ledger.canary();
    await ledger.settle();
  });
});
