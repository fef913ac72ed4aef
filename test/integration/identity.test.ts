import { readFileSync } from 'node:fs';
import { generateKeyPair, importJWK, SignJWT } from 'jose';
import { describe, expect, inject, it } from 'vitest';
import { createApiKey, registerDevice, revokeApiKey, revokeDevice } from '../../shared/domain/admin';
import { ownedEventId } from '../../shared/domain/events';
import {
  api,
  connectDevice,
  eventually,
  isEmbedded,
  local,
  newDevice,
  principalStore,
  publishMqtt,
  stack,
  storedBySource,
} from './support';

const suffix = () => crypto.randomUUID().slice(0, 8);
const secrets: string[] = [];

async function keyFor(role: string, extra: Partial<Parameters<typeof createApiKey>[1]> = {}) {
  const issued = await createApiKey(principalStore(), { name: `${role}-${suffix()}`, role, ...extra });
  secrets.push(issued.apiKey);
  return issued;
}

const event = (type = 'order.created') => ({ type, data: { n: 1 } });

describe('API keys and the permission policy (over HTTP)', () => {
  it('a producer may ingest and check health but not read events', async () => {
    const { apiKey } = await keyFor('producer');
    expect((await api('POST', '/events', { key: apiKey, body: event() })).status).toBe(202);
    expect((await api('GET', '/healthz', { key: apiKey })).status).toBe(200);
    const read = await api('GET', `/events/${crypto.randomUUID()}`, { key: apiKey });
    expect(read.status).toBe(403);
    expect(read.body).toEqual({ message: 'Forbidden' });
  });

  it('an extra permission adds a route the role lacks', async () => {
    const { apiKey } = await keyFor('producer', { extra: ['events.get.event_detail'] });
    expect((await api('GET', `/events/${crypto.randomUUID()}`, { key: apiKey })).status).toBe(404);
  });

  it('a revoked permission overrides the role grant, also as a wildcard', async () => {
    const { apiKey } = await keyFor('reader', { revoked: ['events.get.*'] });
    expect((await api('GET', `/events/${crypto.randomUUID()}`, { key: apiKey })).status).toBe(403);
    expect((await api('GET', '/healthz', { key: apiKey })).status).toBe(200);
    const { apiKey: admin } = await keyFor('admin', { revoked: ['events.post.event_ingest'] });
    expect((await api('POST', '/events', { key: admin, body: event() })).status).toBe(403);
  });

  it('an expired key is refused with 401', async () => {
    const { apiKey } = await keyFor('admin', { expiresAt: new Date(Date.now() - 1000) });
    const r = await api('GET', '/healthz', { key: apiKey });
    expect(r.status).toBe(401);
    expect(r.body).toEqual({ message: 'Unauthorized' });
  });

  it('event types outside the principal’s patterns are refused with 403 naming the type; nothing is written', async () => {
    const { apiKey, principalId: refusedPrincipal } = await keyFor('producer', { eventTypes: ['payment.*'] });
    expect((await api('POST', '/events', { key: apiKey, body: event('payment.success') })).status).toBe(202);
    const id = crypto.randomUUID();
    const refused = await api('POST', '/events', { key: apiKey, body: { ...event('user.created'), id } });
    expect(refused.status).toBe(403);
    expect((refused.body as { message: string }).message).toContain('user.created');
    await new Promise((r) => setTimeout(r, 1500));
    expect((await api('GET', `/events/${ownedEventId(refusedPrincipal, id)}`)).status).toBe(404);
  });

  it('ids are owned: a producer that uses another producer’s id neither suppresses nor overwrites its event', async () => {
    const alice = await keyFor('producer');
    const mallory = await keyFor('producer');
    const key = crypto.randomUUID();
    // Mallory goes first with the id Alice will use, then again with Alice's event id itself.
    const squat = await api('POST', '/events', {
      key: mallory.apiKey,
      body: { ...event(), id: key, data: { by: 'm' } },
    });
    expect(squat.status).toBe(202);
    const posted = await api('POST', '/events', {
      key: alice.apiKey,
      body: { ...event(), id: key, data: { by: 'a' } },
    });
    const aliceId = (posted.body as { ids: string[] }).ids[0] as string;
    expect(aliceId).toBe(ownedEventId(alice.principalId, key));
    expect(aliceId).not.toBe((squat.body as { ids: string[] }).ids[0]);
    const squatAgain = await api('POST', '/events', {
      key: mallory.apiKey,
      body: { ...event(), id: aliceId, data: { by: 'm' } },
    });
    expect((squatAgain.body as { ids: string[] }).ids[0]).not.toBe(aliceId);
    const stored = await eventually(async () => {
      const r = await api('GET', `/events/${aliceId}`);
      return r.status === 200 ? (r.body as { principalId: string; data: unknown }) : undefined;
    });
    // Whatever Mallory posts later lands elsewhere: give the consumer time, then Alice's event still stands.
    await new Promise((r) => setTimeout(r, 500));
    expect(stored).toMatchObject({ principalId: alice.principalId, data: { by: 'a' } });
    expect((await api('GET', `/events/${aliceId}`)).body).toMatchObject({ data: { by: 'a' } });
  });

  it('no principal, not even an admin, may post device telemetry: devices publish it over MQTT', async () => {
    const r = await api('POST', '/events', {
      body: { type: 'device.telemetry', source: 'pump-7', data: { metrics: { t: 99 } } },
    });
    expect(r.status).toBe(403);
    expect((r.body as { message: string }).message).toContain('MQTT');
  });

  it('a producer may not claim another source; an admin may', async () => {
    const { apiKey } = await keyFor('producer');
    expect((await api('POST', '/events', { key: apiKey, body: { ...event(), source: 'billing' } })).status).toBe(403);
    expect((await api('POST', '/events', { body: { ...event(), source: 'billing' } })).status).toBe(202);
  });
});

describe('JWTs: this system as issuer', () => {
  it('exchanges an API key for a token that works as a bearer credential, verifiable with the public JWKS', async () => {
    const { apiKey } = await keyFor('producer');
    const issued = await api('POST', '/auth/token', { key: apiKey });
    expect(issued.status).toBe(200);
    const { token, expiresIn } = issued.body as { token: string; expiresIn: number };
    secrets.push(token);
    expect(expiresIn).toBe(900);
    const bearer = (method: string, path: string, body?: unknown) =>
      fetch(`${stack().http}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
    expect((await bearer('POST', '/events', event())).status).toBe(202);
    expect((await bearer('GET', `/events/${crypto.randomUUID()}`)).status).toBe(403);
    // A token must not mint tokens.
    expect((await bearer('POST', '/auth/token')).status).toBe(403);

    const jwks = await fetch(`${stack().http}/.well-known/jwks.json`);
    expect(jwks.status).toBe(200);
    const { keys } = (await jwks.json()) as { keys: { kid: string; kty: string; crv: string; d?: string }[] };
    const header = JSON.parse(Buffer.from(token.split('.')[0] as string, 'base64url').toString()) as {
      kid: string;
      alg: string;
    };
    expect(header.alg).toBe('ES256');
    expect(keys.map((k) => k.kid)).toContain(header.kid);
    expect(keys.every((k) => k.kty === 'EC' && k.crv === 'P-256' && k.d === undefined)).toBe(true);
  });
});

describe('revocation reaches derived credentials', () => {
  it('a token stops working when the API key it was exchanged for is revoked', async () => {
    const { apiKey, keyId } = await keyFor('producer');
    const { token } = (await api('POST', '/auth/token', { key: apiKey })).body as { token: string };
    secrets.push(token);
    const health = () => fetch(`${stack().http}/healthz`, { headers: { authorization: `Bearer ${token}` } });
    expect((await health()).status).toBe(200);
    await revokeApiKey(principalStore(), keyId);
    // Authorizers drop cached decisions when the revocation epoch moves (checked every few seconds).
    const status = await eventually(
      async () => {
        const s = (await health()).status;
        return s === 401 ? s : undefined;
      },
      15_000,
      'the token to be refused',
    );
    expect(status).toBe(401);
  });

  it.runIf(Boolean(stack().mqtt))('a revoked device is refused at CONNECT within the revocation window', async () => {
    const device = await newDevice('revoked');
    (await connectDevice(device)).end(true);
    await revokeDevice(principalStore(), device.deviceId);
    // The authorizer may serve its cached decision until its next epoch check (at most 5 s, as for API keys).
    const code = await eventually(
      async () => {
        const error = await connectDevice(device, { reconnectPeriod: 0 }).then(
          (client) => {
            client.end(true);
            return undefined;
          },
          (e: Error & { code?: number }) => e,
        );
        return error?.code;
      },
      10_000,
      'the revoked device refused',
    );
    expect(code).toBe(4);
  });
});

describe.runIf(inject('externalIssuer') !== null)('JWTs: a trusted external issuer', () => {
  const issuer = () => inject('externalIssuer') as NonNullable<ReturnType<typeof inject<'externalIssuer'>>>;
  async function sign(
    claims: Record<string, unknown>,
    options: {
      issuer?: string;
      audience?: string;
      expiresIn?: string | number;
      key?: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
    } = {},
  ) {
    const key =
      options.key ??
      ((await importJWK(issuer().privateJwk, 'RS256')) as Awaited<ReturnType<typeof generateKeyPair>>['privateKey']);
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: issuer().kid })
      .setIssuer(options.issuer ?? issuer().issuer)
      .setAudience(options.audience ?? issuer().audience)
      .setSubject('svc-analytics')
      .setIssuedAt()
      .setExpirationTime(options.expiresIn ?? '5m')
      .sign(key);
    secrets.push(token);
    return token;
  }
  const call = (token: string, method = 'GET', path = '/healthz') =>
    fetch(`${stack().http}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      ...(method === 'POST' ? { body: JSON.stringify(event()) } : {}),
    });

  it('a valid token with the reader role may read but not ingest', async () => {
    const token = await sign({ roles: ['reader'] });
    expect((await call(token)).status).toBe(200);
    expect((await call(token, 'POST', '/events')).status).toBe(403);
  });

  it.each([
    ['expired', () => sign({ roles: ['admin'] }, { expiresIn: Math.floor(Date.now() / 1000) - 600 })],
    ['from an unknown issuer', () => sign({ roles: ['admin'] }, { issuer: 'https://evil.test.invalid/' })],
    ['for another audience', () => sign({ roles: ['admin'] }, { audience: 'someone-else' })],
    [
      'signed by another key (same kid)',
      async () => sign({ roles: ['admin'] }, { key: (await generateKeyPair('RS256')).privateKey }),
    ],
    [
      'with alg none',
      async () => {
        const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
        const now = Math.floor(Date.now() / 1000);
        return `${part({ alg: 'none', typ: 'JWT' })}.${part({ iss: issuer().issuer, aud: issuer().audience, sub: 'x', roles: ['admin'], exp: now + 300 })}.`;
      },
    ],
    ['that is not a JWT at all', async () => 'definitely.not.a-jwt'],
  ])('a token %s is refused with 401', async (_name, make) => {
    const r = await call(await make());
    expect(r.status).toBe(401);
    expect(await r.json()).toEqual({ message: 'Unauthorized' });
  });

  it('a malformed Authorization header is refused with 401', async () => {
    const r = await fetch(`${stack().http}/healthz`, { headers: { authorization: 'Basic dXNlcjpwYXNz' } });
    expect(r.status).toBe(401);
  });
});

describe.runIf(Boolean(stack().mqtt))('devices over MQTT (custom authorizer)', () => {
  const refused = async (connect: () => Promise<unknown>) => {
    const error = await connect().then(
      (client) => {
        (client as { end: () => void }).end();
        return undefined;
      },
      (e: Error & { code?: number }) => e,
    );
    return error;
  };

  it('a registered device connects with its token; a wrong token or another client id is refused at CONNECT', async () => {
    const device = await newDevice();
    secrets.push(device.token);
    const client = await connectDevice(device);
    expect(client.connected).toBe(true);
    await client.endAsync();

    const badToken = await refused(() => connectDevice({ ...device, token: `temd_${'A'.repeat(43)}` }));
    expect(badToken?.code).toBe(4); // CONNACK: bad user name or password
    const otherClient = await refused(() => connectDevice(device, { clientId: `${device.deviceId}-other` }));
    expect(otherClient).toBeDefined();
    const anonymous = await refused(() => connectDevice(device, { username: undefined, password: undefined }));
    expect(anonymous).toBeDefined();
  });

  it('may publish only its own telemetry and subscribe only to its own alerts', async () => {
    const device = await newDevice();
    const other = await newDevice();
    const client = await connectDevice(device);
    const own = await client.subscribeAsync(`devices/${device.deviceId}/alerts`, { qos: 1 });
    expect(own.map((g) => g.qos)).toEqual([1]);
    const foreign = await client.subscribeAsync(`devices/${other.deviceId}/alerts`, { qos: 1 }).then(
      () => undefined,
      (error: { packet?: { granted?: number[] } }) => error,
    );
    expect(foreign?.packet?.granted).toEqual([128]); // SUBACK failure: the connection stays
    expect(client.connected).toBe(true);
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.publish(`devices/${other.deviceId}/telemetry`, JSON.stringify({ metrics: { t: 1 } }), { qos: 1 });
    await closed; // IoT Core disconnects a client that publishes where its policy does not allow
    client.end(true);
    if (isEmbedded()) {
      const stats = (await (await fetch(`${local().control}/stats`)).json()) as { mqtt: { publishesRefused: number } };
      expect(stats.mqtt.publishesRefused).toBeGreaterThanOrEqual(1);
    }
  });

  it.each([
    ['Basic Ingest on its topic', (other: string) => `$aws/rules/deviceTelemetry/devices/${other}/telemetry`],
    ['Basic Ingest to another rule', (other: string) => `$aws/rules/someOtherRule/devices/${other}/telemetry`],
  ])('cannot publish as another device through %s: disconnected, nothing stored', async (_name, topicOf) => {
    const device = await newDevice('bi');
    const other = await newDevice('bi-other');
    const client = await connectDevice(device);
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.publish(topicOf(other.deviceId), JSON.stringify({ metrics: { t: 1 }, seq: 1 }), { qos: 1 });
    await closed;
    client.end(true);
    // Its own reading afterwards, on a new connection, is stored: the other device never gets one.
    await publishMqtt(device, `$aws/rules/deviceTelemetry/devices/${device.deviceId}/telemetry`, {
      metrics: { t: 2 },
      seq: 2,
    });
    await eventually(
      async () => ((await storedBySource(device.deviceId)).length > 0 ? true : undefined),
      10_000,
      'its own reading',
    );
    expect(await storedBySource(other.deviceId)).toEqual([]);
  });

  it('cannot claim another device id through its payload: the rule takes the id from the topic', async () => {
    const device = await newDevice('claim');
    const client = await connectDevice(device);
    await client.publishAsync(
      `devices/${device.deviceId}/telemetry`,
      JSON.stringify({ deviceId: 'someone-else', metrics: { t: 1 }, seq: 77 }),
      { qos: 1 },
    );
    await client.endAsync();
    const items = await eventually(
      async () => {
        const stored = await storedBySource(device.deviceId);
        return stored.length > 0 ? stored : undefined;
      },
      10_000,
      'the reading under its own device id',
    );
    expect(items.map((i) => i.principalId)).toEqual([`device:${device.deviceId}`]);
  });

  it.runIf(isEmbedded())(
    'a device revoked while connected is disconnected at its next policy refresh, and cannot reconnect',
    async () => {
      const device = await newDevice('live-rev');
      const client = await connectDevice(device, { reconnectPeriod: 0 });
      const closed = new Promise<number>((resolve) => client.once('close', () => resolve(Date.now())));
      await client.publishAsync(`devices/${device.deviceId}/telemetry`, JSON.stringify({ metrics: { t: 1 }, seq: 1 }), {
        qos: 1,
      });
      const revokedAt = Date.now();
      await revokeDevice(principalStore(), device.deviceId);
      // Refresh every 2 s (the test stack's setting), plus the authorizer's epoch check (5 s) to drop its cache.
      const closedAt = await Promise.race([
        closed,
        new Promise<number>((_, reject) => setTimeout(() => reject(new Error('still connected after 15 s')), 15_000)),
      ]);
      expect(closedAt - revokedAt).toBeLessThan(15_000);
      client.end(true);
      const again = await connectDevice(device, { reconnectPeriod: 0 }).then(
        (c) => c.endAsync().then(() => 'connected'),
        () => 'refused',
      );
      expect(again).toBe('refused');
      const stats = (await (await fetch(`${local().control}/stats`)).json()) as {
        mqtt: { connectionsRevoked: number };
      };
      expect(stats.mqtt.connectionsRevoked).toBeGreaterThanOrEqual(1);
    },
    30_000,
  );

  it('a device whose publish permission is revoked connects but cannot publish telemetry', async () => {
    const store = principalStore();
    const deviceId = `rev-${suffix()}`;
    const { token, principalId } = await registerDevice(store, deviceId);
    const principal = await store.getPrincipal(principalId);
    if (!principal) throw new Error('device principal missing');
    await store.putPrincipal({ ...principal, revoked: ['devices.mqtt.telemetry_publish'] });
    const client = await connectDevice({ deviceId, token });
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.publish(`devices/${deviceId}/telemetry`, JSON.stringify({ metrics: { t: 1 } }), { qos: 1 });
    await closed;
    client.end(true);
  });
});

describe.runIf(isEmbedded())('secrets in logs', () => {
  it('no API key, token, device token or signing key appears in any function log line', async () => {
    const info = local();
    secrets.push(info.devApiKey);
    const keyFile = info.resources.tokenSigningKey.replace('file://', '');
    const pem = readFileSync(keyFile, 'utf8')
      .split('\n')
      .filter((l) => l.length > 20 && !l.startsWith('-----'));
    // Logs are written asynchronously by the function workers: wait until this test's own traffic shows up.
    await api('GET', '/healthz');
    const logs = await eventually(async () => {
      const text = readFileSync(info.functionLogs, 'utf8');
      return text.includes('credential accepted') ? text : undefined;
    });
    expect(secrets.length).toBeGreaterThan(10);
    // A secret and, for API keys, its secret part alone (`tem_<id>_<secret>`); fragments shorter than 16
    // characters would match by chance.
    const needles = [...secrets, ...secrets.filter((s) => s.startsWith('tem_')).map((s) => s.slice(21)), ...pem];
    const leaked = needles.filter((s) => s.length >= 16 && logs.includes(s));
    expect(leaked).toEqual([]);
    // The log does say who was refused and why, by key id, which is what an operator needs.
    expect(logs).toMatch(/credential refused/);
  });
});
