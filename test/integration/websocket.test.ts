import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createApiKey, LOCAL_USAGE_KEYS, revokeApiKey } from '../../shared/domain/admin';
import {
  api,
  connectDevice,
  controlStats,
  devKey,
  eventually,
  isEmbedded,
  newDevice,
  principalStore,
  stack,
} from './support';
import { tem } from './tem-cli';

/**
 * Live subscriptions over the WebSocket API (ADR 0014), with a real WebSocket client against the stack's WebSocket
 * endpoint: the same credentials and permission model as the HTTP API, filters, alerts by device, revocation, and a
 * client that stops reading dropped without holding up the others.
 */
const unique = (name: string) => `${name}-${crypto.randomUUID().slice(0, 8)}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const open: WebSocket[] = [];
afterAll(() => {
  for (const socket of open) socket.terminate();
});

async function keyFor(role: string): Promise<{ apiKey: string; keyId: string }> {
  return createApiKey(principalStore(), { name: unique(`ws-${role}`), role }, new Date(), LOCAL_USAGE_KEYS);
}

interface Client {
  socket: WebSocket;
  messages: Record<string, unknown>[];
  closed: Promise<{ code: number; reason: string }>;
  send(message: unknown): void;
  /** The next message of this type (waits for it). */
  next(type: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  events(): Record<string, unknown>[];
}

/** Connects; resolves with the client, or rejects with the HTTP status the handshake was refused with. */
function connect(
  options: { key?: string; query?: string; protocols?: string[]; headers?: Record<string, string> } = {},
): Promise<Client> {
  const url = `${stack().webSocket}${options.query ?? ''}`;
  const headers = { ...(options.key ? { 'x-api-key': options.key } : {}), ...(options.headers ?? {}) };
  const socket = new WebSocket(url, options.protocols ?? [], { headers });
  open.push(socket);
  const messages: Record<string, unknown>[] = [];
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  socket.on('message', (data) => messages.push(JSON.parse(data.toString()) as Record<string, unknown>));
  const client: Client = {
    socket,
    messages,
    closed,
    send: (message) => socket.send(JSON.stringify(message)),
    next: (type, timeoutMs = 5000) =>
      eventually(async () => messages.find((m) => m.type === type), timeoutMs, `a "${type}" message`),
    events: () =>
      messages
        .filter((m) => m.type === 'events')
        .flatMap((m) => (m.events as { event: Record<string, unknown> }[]).map((e) => e.event)),
  };
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve(client));
    socket.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    socket.once('error', reject);
  });
}

async function subscribe(client: Client, filter: Record<string, unknown>, id = 'sub'): Promise<void> {
  client.send({ action: 'subscribe', id, filter });
  const reply = await eventually(
    async () =>
      client.messages.find((m) => m.type === 'subscribed' && m.id === id) ??
      client.messages.find((m) => m.type === 'error'),
    5000,
    'the subscription answer',
  );
  expect(reply).toMatchObject({ type: 'subscribed', id });
}

const post = async (key: string, events: Record<string, unknown>[]) => {
  const answer = await api('POST', '/events', { key, body: { events } });
  expect(answer.status, answer.text).toBe(202);
  return (answer.body as { ids: string[] }).ids;
};

describe.runIf(stack().webSocket !== undefined)('WebSocket subscriptions', () => {
  it('a reader subscribed to payment.* receives a posted payment.success within 1 s, and never a user.created', async () => {
    const reader = await keyFor('reader');
    const producer = await keyFor('producer');
    const client = await connect({ key: reader.apiKey });
    await subscribe(client, { type: 'payment.*' });
    // Once warm (the first post of a run starts the ingest and fan-out containers: cold starts, as in AWS).
    const [warm] = await post(producer.apiKey, [{ type: 'payment.warmup', data: {} }]);
    await eventually(async () => client.events().find((e) => e.id === warm), 10_000, 'the warm-up event');
    const sentAt = Date.now();
    const [paymentId, userId] = await post(producer.apiKey, [
      { type: 'payment.success', data: { amount: 42 } },
      { type: 'user.created', data: { user: 'u1' } },
    ]);
    const delivered = await eventually(
      async () => client.events().find((e) => e.id === paymentId),
      1000,
      'the payment',
    );
    expect(Date.now() - sentAt).toBeLessThan(1000);
    expect(delivered).toMatchObject({ type: 'payment.success', data: { amount: 42 } });
    // Posted in the same request, so it was judged in the same batch: it would be here by now.
    await sleep(500);
    expect(client.events().map((e) => e.id)).not.toContain(userId);
    expect(client.events().every((e) => String(e.type).startsWith('payment.'))).toBe(true);
    const frames = client.messages.filter((m) => m.type === 'events') as { seq: number; stream: string }[];
    // Numbered without gaps per stream: the warm-up was 1, the payment 2 (when one container sent both).
    expect(frames[0]).toMatchObject({ seq: 1, stream: expect.any(String) });
    if (frames[1]?.stream === frames[0]?.stream) expect(frames[1]?.seq).toBe(2);
  });

  it('a producer (no events.ws.event_stream) is refused at connect with 403; no credential or a bad one with 401', async () => {
    const producer = await keyFor('producer');
    await expect(connect({ key: producer.apiKey })).rejects.toThrow('HTTP 403');
    await expect(connect()).rejects.toThrow('HTTP 401');
    await expect(connect({ key: 'tem_not-a-key' })).rejects.toThrow('HTTP 401');
    // A credential in two places is no one's.
    const reader = await keyFor('reader');
    await expect(connect({ key: reader.apiKey, query: `?api_key=${reader.apiKey}` })).rejects.toThrow('HTTP 401');
  });

  it('tem watch prints matching events live, one JSON line each, and ends with its summary', async () => {
    const type = `watch.t${crypto.randomUUID().slice(0, 8).replace(/-/g, '')}`;
    const watching = tem(['watch', '--type', `${type.split('.')[0]}.*`, '--max', '2', '--for', '30']);
    let done = false;
    void watching.then(() => {
      done = true;
    });
    const posted: string[] = [];
    // Until it has subscribed and seen two: it starts in a second or two.
    while (!done) {
      posted.push(
        ...(await post(devKey(), [
          { type, data: { n: posted.length } },
          { type: 'other.kind', data: {} },
        ])),
      );
      await sleep(300);
    }
    const run = await watching;
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.at(-1)).toEqual({ watched: 2, ended: 'max', gaps: [] });
    const printed = lines.slice(0, -1);
    expect(printed).toHaveLength(2);
    for (const event of printed) {
      expect(event.type).toBe(type);
      expect(posted).toContain(event.id);
    }
    expect(run.stderr).toContain('[watch] subscribed');
  }, 40_000);

  it('at most 20 connections per principal: the 21st is refused with 429, and a closed one frees its place', async () => {
    const reader = await keyFor('reader');
    const clients = [];
    for (let i = 0; i < 20; i++) clients.push(await connect({ key: reader.apiKey }));
    await expect(connect({ key: reader.apiKey })).rejects.toThrow('HTTP 429');
    // Another principal is not affected.
    await connect({ key: (await keyFor('reader')).apiKey });
    clients[0]?.socket.close();
    await clients[0]?.closed;
    await eventually(async () => connect({ key: reader.apiKey }).catch(() => undefined), 5000, 'a free place again');
  });

  it('a browser may send its credential as a query parameter or a subprotocol; the server selects tem.v1', async () => {
    const reader = await keyFor('reader');
    const byQuery = await connect({ query: `?api_key=${encodeURIComponent(reader.apiKey)}` });
    await subscribe(byQuery, { type: 'order.*' });
    const byProtocol = await connect({ protocols: ['tem.v1', `tem-key.${reader.apiKey}`] });
    expect(byProtocol.socket.protocol).toBe('tem.v1');
    await subscribe(byProtocol, { type: 'order.*' });
  });

  it('bad client messages get an error answer and change nothing; the connection stays usable', async () => {
    const client = await connect({ key: (await keyFor('reader')).apiKey });
    client.socket.send('not json');
    client.send({ action: 'subscribe', filter: { type: 'Not A Pattern!' } });
    client.send({ action: 'subscribe', filter: { alertState: ['raised'], type: 'x.*' } });
    client.send({ action: 'unsubscribe', id: 'nothing' });
    client.send({ action: 'explode' });
    await eventually(
      async () => (client.messages.filter((m) => m.type === 'error').length >= 5 ? true : undefined),
      5000,
    );
    const errors = client.messages.filter((m) => m.type === 'error').map((m) => String(m.message));
    expect(errors[0]).toContain('JSON object');
    expect(errors[1]).toContain('filter.type');
    expect(errors[2]).toContain('alertState');
    expect(errors[3]).toBe('no subscription nothing');
    expect(errors[4]).toContain('action');
    client.send({ action: 'ping' });
    await client.next('pong');
    for (let i = 0; i < 10; i++) client.send({ action: 'subscribe', id: `s${i}`, filter: { type: `t${i}.*` } });
    client.send({ action: 'subscribe', id: 'eleventh', filter: { type: 'x.*' } });
    await eventually(
      async () => (client.messages.filter((m) => m.type === 'error').length >= 6 ? true : undefined),
      5000,
    );
    expect(String(client.messages.filter((m) => m.type === 'error')[5]?.message)).toContain('at most 10 subscriptions');
  });

  it('a key revoked in the table: its connection gets nothing posted after the 5 s re-check, and is told and closed', async () => {
    const reader = await keyFor('reader');
    const client = await connect({ key: reader.apiKey });
    await subscribe(client, { type: 'audit.*' });
    const [before] = await post(devKey(), [{ type: 'audit.before', data: {} }]);
    await eventually(async () => client.events().find((e) => e.id === before), 3000, 'the event before revocation');
    // Revoked in the table directly (as a script or another tool would): only the fan-out's own check can notice.
    await revokeApiKey(principalStore(), reader.keyId);
    const revokedAt = Date.now();
    // Events keep flowing; the fan-out re-checks its connections' keys at least every 5 s, the sweep every 2 s here.
    const after: { id: string; postedAt: number }[] = [];
    let closedAt: number | undefined;
    void client.closed.then(() => {
      closedAt = Date.now();
    });
    while (closedAt === undefined && Date.now() - revokedAt < 15_000) {
      const postedAt = Date.now();
      for (const id of await post(devKey(), [{ type: 'audit.after', data: {} }])) after.push({ id, postedAt });
      await sleep(300);
    }
    expect(closedAt, 'closed within the revocation window').toBeDefined();
    expect((closedAt as number) - revokedAt).toBeLessThan(10_000);
    expect(client.messages.find((m) => m.type === 'dropped')).toMatchObject({ reason: 'credential revoked' });
    // Nothing posted more than the 5 s re-check (and a second of slack) after the revocation reached it.
    const delivered = new Set(client.events().map((e) => e.id));
    const late = after.filter((a) => delivered.has(a.id) && a.postedAt - revokedAt > 6_000);
    expect(late).toEqual([]);
    // A new $connect is refused once every authorizer container has seen the revocation epoch move: its decision
    // cache re-reads the epoch at most every 5 s (AUTH_EPOCH_CHECK_SECONDS), so the bound is 5 s plus a second of
    // slack. Closing may come sooner (the sweep runs every 2 s here), so connecting at once could meet a fresh cache.
    await sleep(Math.max(0, revokedAt + 6_000 - Date.now()));
    await expect(connect({ key: reader.apiKey })).rejects.toThrow('HTTP 401');
  }, 40_000);

  it('`tem keys revoke` closes the key’s idle connections at once, and only those', async () => {
    const reader = await keyFor('reader');
    const byKey = await connect({ key: reader.apiKey });
    const other = await connect({ key: (await keyFor('reader')).apiKey });
    const revokedAt = Date.now();
    const revoked = await tem(['keys', 'revoke', reader.keyId]);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.out.webSocketConnectionsClosed).toBe(1);
    await Promise.race([byKey.closed, sleep(5000)]);
    expect(byKey.socket.readyState).toBe(WebSocket.CLOSED);
    expect(Date.now() - revokedAt).toBeLessThan(10_000);
    expect(byKey.messages.find((m) => m.type === 'dropped')).toMatchObject({ reason: 'credential revoked' });
    expect(other.socket.readyState).toBe(WebSocket.OPEN);
  });

  it('an idle connection of a key revoked in the table is closed by the scheduled sweep, with no traffic at all', async () => {
    const reader = await keyFor('reader');
    const client = await connect({ key: reader.apiKey });
    await subscribe(client, { type: 'never.posted' });
    await revokeApiKey(principalStore(), reader.keyId);
    const revokedAt = Date.now();
    // The sweep runs every 2 s on the test stack (TEM_LOCAL_SCHEDULE_SECONDS; every minute in AWS).
    await Promise.race([client.closed, sleep(15_000)]);
    expect(client.socket.readyState).toBe(WebSocket.CLOSED);
    expect(Date.now() - revokedAt).toBeLessThan(10_000);
    expect(client.messages.find((m) => m.type === 'dropped')).toMatchObject({ reason: 'credential revoked' });
  });

  it("a device's alerts reach a subscriber filtered by that device, and another device's do not", async () => {
    const reader = await keyFor('reader');
    const [device, other] = [await newDevice('wsalert'), await newDevice('wsquiet')];
    const client = await connect({ key: reader.apiKey });
    await subscribe(client, { alertState: ['raised'], deviceId: device.deviceId });
    for (const d of [other, device]) {
      const mqtt = await connectDevice(d);
      await mqtt.publishAsync(`devices/${d.deviceId}/telemetry`, JSON.stringify({ metrics: { temperature: 95 } }), {
        qos: 1,
      });
      await mqtt.endAsync();
    }
    const frame = (await client.next('alerts', 10_000)) as {
      alerts: { subscriptions: string[]; alert: { type: string; alert: { deviceId: string; ruleId: string } } }[];
    };
    expect(frame.alerts[0]).toMatchObject({
      subscriptions: ['sub'],
      alert: { type: 'alert.raised', alert: { deviceId: device.deviceId, ruleId: 'high-temperature' } },
    });
    await sleep(1000);
    const deviceIds = client.messages
      .filter((m) => m.type === 'alerts')
      .flatMap((m) => (m.alerts as { alert: { alert: { deviceId: string } } }[]).map((a) => a.alert.alert.deviceId));
    expect(new Set(deviceIds)).toEqual(new Set([device.deviceId]));
  }, 30_000);

  it('a subscriber that stops reading is dropped; another subscriber keeps receiving, in time', async () => {
    const reader = await keyFor('reader');
    const type = `bulk.t${crypto.randomUUID().slice(0, 8).replace(/-/g, '')}`;
    const stalled = await connect({ key: reader.apiKey });
    const reading = await connect({ key: reader.apiKey });
    await subscribe(stalled, { type });
    await subscribe(reading, { type });
    // The stalled client stops reading its socket: what is sent to it piles up in the gateway.
    stalled.socket.pause();
    (stalled.socket as unknown as { _socket: { pause(): void } })._socket.pause();
    const blob = randomBytes(22_500).toString('base64'); // 30 KB that no compression shrinks
    const ids: string[] = [];
    // 9 MB: more than the kernel's socket buffers take for a client that does not read (~4-6 MB here).
    for (let i = 0; i < 30; i++)
      ids.push(
        ...(await post(
          devKey(),
          Array.from({ length: 10 }, () => ({ type, data: { blob } })),
        )),
      );
    // The reading client gets all 300 while the stalled one is cut off.
    await eventually(async () => (reading.events().length >= ids.length ? true : undefined), 45_000, 'every event');
    expect(new Set(reading.events().map((e) => e.id))).toEqual(new Set(ids));
    const sentAt = Date.now();
    const [last] = await post(devKey(), [{ type, data: { last: true } }]);
    await eventually(async () => reading.events().find((e) => e.id === last), 2000, 'the next event, promptly');
    expect(Date.now() - sentAt).toBeLessThan(2000);
    // Closed by the gateway (1008, or 1006 when its close frame sat behind the unread data); seen once it reads again.
    stalled.socket.resume();
    (stalled.socket as unknown as { _socket: { resume(): void } })._socket.resume();
    const { code } = await Promise.race([stalled.closed, sleep(15_000).then(() => ({ code: 0 }))]);
    expect([1006, 1008]).toContain(code);
    if (isEmbedded())
      expect(
        ((await controlStats()) as unknown as { webSocket: { closedSlow: number } }).webSocket.closedSlow,
      ).toBeGreaterThan(0);
  }, 120_000);
});
