import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { functions } from '../../infra/topology';
import { dynamoConfig } from '../../scripts/lib/stores';

/**
 * The operator CLI as an operator runs it: a child process reading the stack's state file, its JSON answer on the
 * last stdout line, and the effect checked over real HTTP against the stack.
 */
const stack = inject('stack');
const stateFile = inject('stateFile');
const run = `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
const unique = (name: string) => `${name}-${run}`;
const CLI = path.resolve('scripts/tem.mjs');
/** The authorizer re-reads the revocation epoch every AUTH_EPOCH_CHECK_SECONDS (5): 10 s is twice that. */
const PROPAGATION_MS = 10_000;

interface CliRun {
  code: number;
  out: Record<string, unknown>;
  stdout: string;
  stderr: string;
}

function tem(...args: string[]): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env: { ...process.env, TEM_LOCAL_STATE: stateFile }, timeout: 30_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        const last = stdout.trim().split('\n').at(-1) ?? '';
        try {
          resolve({ code, out: JSON.parse(last) as Record<string, unknown>, stdout, stderr });
        } catch {
          reject(
            new Error(`tem ${args.join(' ')}: last stdout line is not JSON (exit ${code}):\n${stdout}\n${stderr}`),
          );
        }
      },
    );
  });
}

/** Runs a command that must succeed and returns its JSON answer. */
async function ok(...args: string[]): Promise<Record<string, unknown>> {
  const result = await tem(...args);
  if (result.code !== 0) throw new Error(`tem ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  return result.out;
}

async function createKey(name: string, role: string): Promise<{ keyId: string; apiKey: string }> {
  const out = await ok('keys', 'create', '--name', unique(name), '--role', role);
  return { keyId: out.keyId as string, apiKey: out.apiKey as string };
}

async function status(method: string, route: string, credential: { key?: string; bearer?: string }): Promise<number> {
  const headers: Record<string, string> = {};
  if (credential.key) headers['X-API-Key'] = credential.key;
  if (credential.bearer) headers.Authorization = `Bearer ${credential.bearer}`;
  let body: string | undefined;
  if (method === 'POST' && route === '/events') {
    body = JSON.stringify({ type: 'order.created', data: { n: 1 } });
    headers['content-type'] = 'application/json';
  }
  const response = await fetch(`${stack.http}${route}`, { method, headers, body });
  await response.arrayBuffer();
  return response.status;
}

/** Polls until the status is `expected` or the deadline passes; returns the last status seen. */
async function statusWithin(
  expected: number,
  probe: () => Promise<number>,
  timeoutMs = PROPAGATION_MS,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = await probe();
  while (last !== expected && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    last = await probe();
  }
  return last;
}

const eventPath = () => `/events/${randomUUID()}`;

describe.concurrent('tem operator CLI against the running stack', () => {
  it('keys create: a producer key may post events but not read them', async () => {
    const out = await ok('keys', 'create', '--name', unique('producer'), '--role', 'producer');
    expect(out).toEqual({
      keyId: expect.stringMatching(/^[a-z0-9]{16}$/),
      apiKey: expect.stringMatching(/^tem_[a-z0-9]{16}_/),
      principalId: unique('producer'),
    });
    const key = out.apiKey as string;
    expect(String(key)).toContain(`tem_${out.keyId}_`);
    expect(await status('POST', '/events', { key })).toBe(202);
    expect(await status('GET', eventPath(), { key })).toBe(403);
  });

  it('keys grant / revoke-perm change what the key may call, through the authorizer cache', async () => {
    const { keyId, apiKey: key } = await createKey('granted', 'producer');
    // Warm the authorizer's cache with the producer decision first: the change must displace it.
    expect(await status('GET', eventPath(), { key })).toBe(403);
    expect(await status('POST', '/events', { key })).toBe(202);

    const granted = await ok('keys', 'grant', keyId, 'events.get.event_detail');
    expect(granted).toEqual({ principalId: unique('granted'), extra: ['events.get.event_detail'], revoked: [] });
    // Allowed now: the event does not exist, so 404 rather than 403.
    expect(await statusWithin(404, () => status('GET', eventPath(), { key }))).toBe(404);

    const revoked = await ok('keys', 'revoke-perm', keyId, 'events.*.*');
    expect(revoked).toEqual({
      principalId: unique('granted'),
      extra: ['events.get.event_detail'],
      revoked: ['events.*.*'],
    });
    // Revoked wins over both the extra grant and the role's grant.
    expect(await statusWithin(403, () => status('GET', eventPath(), { key }))).toBe(403);
    expect(await statusWithin(403, () => status('POST', '/events', { key }))).toBe(403);
    // Other routes stay allowed: the revocation is that pattern, not the key.
    expect(await status('GET', '/healthz', { key })).toBe(200);
  });

  it('keys revoke: the key is refused (401) within the propagation time', async () => {
    const { keyId, apiKey: key } = await createKey('revoked', 'producer');
    expect(await status('GET', '/healthz', { key })).toBe(200);
    const out = await ok('keys', 'revoke', keyId);
    expect(out).toEqual({ keyId, status: 'revoked', epoch: expect.any(Number), webSocketConnectionsClosed: 0 });
    expect(out.epoch as number).toBeGreaterThan(0);
    expect(await statusWithin(401, () => status('GET', '/healthz', { key }))).toBe(401);
  });

  it('keys rotate: old key works during the grace, not after a zero grace; the new key works', async () => {
    const first = await createKey('rotated', 'producer');
    expect(await status('GET', '/healthz', { key: first.apiKey })).toBe(200);

    const rotated = await ok('keys', 'rotate', first.keyId);
    expect(rotated).toMatchObject({ principalId: unique('rotated'), oldKeyId: first.keyId });
    expect(rotated.keyId).not.toBe(first.keyId);
    // Default grace: one day.
    const graceEnd = Date.parse(rotated.oldKeyExpiresAt as string);
    expect(Math.abs(graceEnd - (Date.now() + 86_400_000))).toBeLessThan(60_000);
    const second = rotated.apiKey as string;
    expect(await status('GET', '/healthz', { key: second })).toBe(200);
    expect(await status('GET', '/healthz', { key: first.apiKey })).toBe(200);

    const again = await ok('keys', 'rotate', rotated.keyId as string, '--grace', '0');
    expect(again).toMatchObject({ oldKeyId: rotated.keyId, principalId: unique('rotated') });
    expect(await statusWithin(401, () => status('GET', '/healthz', { key: second }))).toBe(401);
    expect(await status('GET', '/healthz', { key: again.apiKey as string })).toBe(200);
    // The first key's own grace period is untouched by rotating its successor.
    expect(await status('GET', '/healthz', { key: first.apiKey })).toBe(200);
  });

  it('keys list: every created key, with id, principal and status, never a secret or its hash', async () => {
    const plain = await createKey('listed', 'reader');
    const expiring = await ok(
      'keys',
      'create',
      '--name',
      unique('listed-exp'),
      '--role',
      'reader',
      '--expires-in',
      '3600',
    );
    const out = await ok('keys', 'list');
    const keys = out.keys as Record<string, unknown>[];
    expect(Array.isArray(keys)).toBe(true);
    const byId = new Map(keys.map((k) => [k.keyId, k]));
    expect(byId.get(plain.keyId)).toEqual({
      keyId: plain.keyId,
      principalId: unique('listed'),
      status: 'active',
      createdAt: expect.any(String),
    });
    const withExpiry = byId.get(expiring.keyId);
    expect(withExpiry).toMatchObject({ principalId: unique('listed-exp'), status: 'active' });
    expect(Math.abs(Date.parse(withExpiry?.expiresAt as string) - (Date.now() + 3_600_000))).toBeLessThan(60_000);
    for (const key of keys) {
      expect(
        Object.keys(key).filter((f) => !['keyId', 'principalId', 'status', 'createdAt', 'expiresAt'].includes(f)),
      ).toEqual([]);
      expect(key).not.toHaveProperty('secretHash');
      expect(key).not.toHaveProperty('apiKey');
    }
    // Nor anywhere in the output, in any field.
    // The secret is base64url and may itself hold '_': take everything after `tem_<keyId>_`.
    const secret = plain.apiKey.slice(`tem_${plain.keyId}_`.length);
    expect(secret).toHaveLength(43);
    expect(JSON.stringify(out)).not.toContain(secret);
  });

  it('explain: the decision and the rule that made it', async () => {
    const { keyId } = await createKey('explained', 'producer');
    const explain = (route: string) => ok('explain', '--key', keyId, '--route', route);

    expect(await explain('POST /events')).toMatchObject({
      keyId,
      principalId: unique('explained'),
      route: 'POST /events',
      permission: 'events.post.event_ingest',
      allowed: true,
      rule: 'role',
    });
    expect(await explain('GET /events/{id}')).toMatchObject({
      permission: 'events.get.event_detail',
      allowed: false,
      rule: 'no-grant',
    });

    await ok('keys', 'revoke-perm', keyId, 'events.get.*');
    expect(await explain('GET /events/{id}')).toMatchObject({ allowed: false, rule: 'revoked', grant: 'events.get.*' });

    await ok('keys', 'revoke', keyId);
    expect(await explain('POST /events')).toMatchObject({ allowed: false, rule: 'key-revoked', keyStatus: 'revoked' });

    const unknown = await tem('explain', '--key', keyId, '--route', 'DELETE /everything');
    expect(unknown.code).not.toBe(0);
    expect(unknown.out.error).toEqual(expect.stringContaining('unknown route'));
    // The error lists the routes that exist, as declared.
    expect(unknown.out.error).toEqual(expect.stringContaining('"GET /events/{id}"'));
  });

  it.skipIf(!stack.resources.tokenSigningKey?.startsWith('file://'))(
    'token: a development JWT of the stack own issuer, with the role it names',
    async () => {
      const before = Date.now();
      const out = await ok('token', '--sub', unique('alice'), '--role', 'reader');
      const after = Date.now();
      const token = out.token as string;
      expect(token.split('.')).toHaveLength(3);
      // Default TTL 900 s from when the CLI signed it, which lies between before and after (to the second).
      const expiresAt = Date.parse(out.expiresAt as string);
      expect(expiresAt).toBeGreaterThanOrEqual(before + 900_000 - 1_000);
      expect(expiresAt).toBeLessThanOrEqual(after + 900_000 + 1_000);
      const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as Record<
        string,
        unknown
      >;
      expect(payload).toMatchObject({
        iss: functions.apiAuthorizer.environment.JWT_ISSUER,
        aud: functions.apiAuthorizer.environment.JWT_AUDIENCE,
        sub: unique('alice'),
        roles: ['reader'],
      });
      expect(await status('GET', '/healthz', { bearer: token })).toBe(200);
      expect(await status('POST', '/events', { bearer: token })).toBe(403);
      // A tampered signature is refused: the 200 above is the signature's doing.
      expect(await status('GET', '/healthz', { bearer: `${token.slice(0, -4)}AAAA` })).toBe(401);

      const beforeShort = Date.now();
      const short = await ok('token', '--sub', unique('alice'), '--role', 'reader', '--ttl', '60');
      const shortExpiry = Date.parse(short.expiresAt as string);
      expect(shortExpiry).toBeGreaterThanOrEqual(beforeShort + 60_000 - 1_000);
      expect(shortExpiry).toBeLessThanOrEqual(Date.now() + 60_000 + 1_000);

      for (const ttl of ['0', '86401', 'soon']) {
        const bad = await tem('token', '--sub', unique('alice'), '--role', 'reader', '--ttl', ttl);
        expect(bad.code).toBe(2);
        expect(bad.out.error).toEqual(expect.stringContaining('--ttl'));
      }
    },
  );

  it('devices register: a device principal and its token', async () => {
    const deviceId = unique('dev-cli-1');
    const out = await ok('devices', 'register', deviceId);
    expect(out).toEqual({
      deviceId,
      token: expect.stringMatching(/^temd_[A-Za-z0-9_-]{43}$/),
      principalId: `device:${deviceId}`,
    });
  });

  it('usage errors exit 2, refusals of the domain exit 1, each with an error on the last line', async () => {
    const noRole = await tem('keys', 'create', '--name', unique('norole'));
    expect(noRole.code).toBe(2);
    expect(noRole.out.error).toEqual(expect.stringContaining('--role'));

    for (const args of [['keys', 'frobnicate'], ['devices', 'unregister', 'x'], ['frobnicate']]) {
      const result = await tem(...args);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.out).toEqual({ error: expect.stringContaining('unknown') });
    }
    const unknownFlag = await tem('keys', 'list', '--all', 'yes');
    expect(unknownFlag.code).toBe(2);
    expect(unknownFlag.out.error).toEqual(expect.stringContaining('--all'));

    // No such key: the domain's Rejection, one line, exit 1.
    const missing = await tem('keys', 'revoke', '0000000000000000');
    expect(missing.code).toBe(1);
    expect(missing.out).toEqual({ error: expect.stringContaining('0000000000000000'), kind: 'not-found' });
    const badRole = await tem('keys', 'create', '--name', unique('badrole'), '--role', 'overlord');
    expect(badRole.code).toBe(1);
    expect(badRole.out).toMatchObject({ kind: 'invalid', error: expect.stringContaining('overlord') });
    expect(badRole.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('tem target selection (scripts/lib/stores.ts)', () => {
  const base = { http: 'https://api.example', region: 'eu-west-1', resources: stack.resources };

  it('embedded: the emulator endpoint with the dummy credentials', () => {
    const config = dynamoConfig({ ...base, target: 'embedded', endpoints: { dynamodb: 'http://127.0.0.1:1' } }, {});
    expect(config).toEqual({
      region: 'eu-west-1',
      endpoint: 'http://127.0.0.1:1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
  });

  it('localstack: its endpoint, credentials from the environment or test/test', () => {
    const info = { ...base, target: 'localstack' as const, endpoints: { dynamodb: 'http://localhost:4566' } };
    expect(dynamoConfig(info, {})).toMatchObject({
      endpoint: 'http://localhost:4566',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    expect(dynamoConfig(info, { AWS_ACCESS_KEY_ID: 'AK', AWS_SECRET_ACCESS_KEY: 'SK' })).toMatchObject({
      credentials: { accessKeyId: 'AK', secretAccessKey: 'SK' },
    });
  });

  it('aws: the default credential chain and no endpoint override', () => {
    const info = {
      ...base,
      target: 'aws' as const,
      endpoints: { dynamodb: 'https://dynamodb.eu-west-1.amazonaws.com' },
    };
    expect(dynamoConfig(info, { AWS_ACCESS_KEY_ID: 'AK', AWS_SECRET_ACCESS_KEY: 'SK' })).toEqual({
      region: 'eu-west-1',
    });
  });
});
