import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isArchivedOnly } from '../../shared/domain/storage-policy';
import { TELEMETRY_EVENT_TYPE } from '../../shared/domain/telemetry';
import {
  api,
  connectDevice,
  devEventId,
  devKey,
  eventually,
  isEmbedded,
  local,
  newDevice,
  publishMqtt,
  receiveMatching,
  stack,
  storedBySource,
} from './support';

/**
 * The ingestion contract (docs/ingestion.md) over real HTTP and MQTT against the stack of the global setup: every
 * answer of POST /events, what ends up in the events table, telemetry ordering and rejection, and the metrics.
 */

interface Accepted {
  accepted: number;
  ids: string[];
}
interface Refused {
  message: string;
  errors?: { index: number; path: string; message: string }[];
}
interface StoredEvent {
  id: string;
  source: string;
  receivedAt: string;
  occurredAt: string;
  timeKey: string;
  principalId: string;
  data: Record<string, unknown>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const unique = (prefix: string) => `${prefix}-${crypto.randomUUID()}`;
const event = (over: Record<string, unknown> = {}) => ({ type: 'order.created', data: { n: 1 }, ...over });

/** Every stored event of one source, in index order (timeKey = occurredAt#id, ascending). */
async function bySource(source: string): Promise<StoredEvent[]> {
  return (await storedBySource(source)) as unknown as StoredEvent[];
}

/** Waits until the source holds `count` events (and no more turn up). */
async function storedCount(source: string, count: number, timeoutMs = 20_000): Promise<StoredEvent[]> {
  return eventually(
    async () => {
      const items = await bySource(source);
      return items.length >= count ? items : undefined;
    },
    timeoutMs,
    `${count} events of ${source} in the table`,
  );
}

async function readable(id: string, timeoutMs = 15_000): Promise<StoredEvent> {
  return eventually(
    async () => {
      const r = await api('GET', `/events/${id}`);
      return r.status === 200 ? (r.body as StoredEvent) : undefined;
    },
    timeoutMs,
    `event ${id} to be readable`,
  );
}

/**
 * Proves a refused request wrote nothing: an event posted after it on the same source (same partition key, so the
 * same shard, behind it) is stored, and the refused events (named by the ids, i.e. idempotency keys, they were sent
 * with) are still absent.
 */
async function expectNothingWritten(source: string, refusedIds: string[]): Promise<void> {
  const marker = await api('POST', '/events', { body: event({ source, data: { marker: true } }) });
  expect(marker.status).toBe(202);
  await readable((marker.body as Accepted).ids[0] as string);
  for (const key of refusedIds) expect((await api('GET', `/events/${await devEventId(key)}`)).status).toBe(404);
  expect((await bySource(source)).map((e) => e.data)).toEqual([{ marker: true }]);
}

/** POST /events with fetch, keeping the request id the gateway answers with. */
async function postRaw(
  body: string,
  contentType?: string,
): Promise<{ status: number; body: unknown; requestId: string }> {
  const headers: Record<string, string> = { 'X-API-Key': devKey() };
  if (contentType !== undefined) headers['content-type'] = contentType;
  // fetch labels a string body text/plain by itself; bytes go without a Content-Type.
  const payload = contentType === undefined ? Buffer.from(body) : body;
  const response = await fetch(`${stack().http}/events`, { method: 'POST', headers, body: payload });
  const text = await response.text();
  return { status: response.status, body: JSON.parse(text), requestId: response.headers.get('x-amzn-requestid') ?? '' };
}

/** The CloudWatch EMF lines a function wrote to the local stack's function log. */
function emfLines(fn: string): Record<string, unknown>[] {
  return readFileSync(local().functionLogs, 'utf8')
    .split('\n')
    .filter((line) => line.startsWith(`${fn} `) && line.includes('"_aws"'))
    .map((line) => JSON.parse(line.slice(fn.length + 1)) as Record<string, unknown>);
}

describe('POST /events: accepted', () => {
  it('a batch of exactly 500 events: 202 with 500 ids, all stored once and readable by id', async () => {
    const source = unique('it-batch');
    const events = Array.from({ length: 500 }, (_, i) => event({ source, data: { i } }));
    const r = await api('POST', '/events', { body: { events } });
    expect(r.status).toBe(202);
    const { accepted, ids } = r.body as Accepted;
    expect(accepted).toBe(500);
    expect(ids).toHaveLength(500);
    expect(new Set(ids).size).toBe(500);

    const stored = await storedCount(source, 500, 30_000);
    expect(stored).toHaveLength(500);
    expect(new Set(stored.map((e) => e.id))).toEqual(new Set(ids));
    // ids come back in request order: ids[i] is the event whose data.i is i
    for (const i of [0, 1, 2, 3, 99, 100, 101, 137, 199, 200, 250, 298, 299, 300, 333, 399, 400, 401, 498, 499]) {
      const one = await api('GET', `/events/${ids[i]}`);
      expect(one.status).toBe(200);
      expect(one.body).toMatchObject({ id: ids[i], source, type: 'order.created', data: { i } });
    }
  });

  it('NDJSON with 3 lines: 202 with 3 ids in line order, all stored', async () => {
    const source = unique('it-ndjson');
    const lines = [1, 2, 3].map((n) => JSON.stringify(event({ source, data: { line: n } })));
    const r = await api('POST', '/events', { rawBody: `${lines.join('\n')}\n`, contentType: 'application/x-ndjson' });
    expect(r.status).toBe(202);
    const { accepted, ids } = r.body as Accepted;
    expect(accepted).toBe(3);
    for (const [i, id] of ids.entries()) expect((await readable(id)).data).toEqual({ line: i + 1 });
  });

  it('fills the defaults: source = principal name, occurredAt = receivedAt, traceId = the request id', async () => {
    const before = new Date().toISOString();
    const r = await postRaw(JSON.stringify(event()), 'application/json; charset=utf-8');
    expect(r.status).toBe(202);
    const stored = await readable((r.body as Accepted).ids[0] as string);
    expect(stored).toMatchObject({ source: 'local-admin', principalId: 'local-admin', traceId: r.requestId });
    expect(stored.occurredAt).toBe(stored.receivedAt);
    expect(stored.receivedAt >= before).toBe(true);
  });

  it('an event just under 400 KB as a stored item is stored', async () => {
    const id = crypto.randomUUID();
    const r = await api('POST', '/events', { body: event({ id, data: { blob: 'x'.repeat(400 * 1024 - 1000) } }) });
    expect(r.status).toBe(202);
    expect((await readable(await devEventId(id))).data.blob).toHaveLength(400 * 1024 - 1000);
  });
});

describe('POST /events: refused, and nothing of the request written', () => {
  it('501 events: 413', async () => {
    const source = unique('it-501');
    const ids = Array.from({ length: 501 }, () => crypto.randomUUID());
    const r = await api('POST', '/events', { body: { events: ids.map((id) => event({ id, source })) } });
    expect(r.status).toBe(413);
    expect((r.body as Refused).message).toBe('At most 500 events per request, got 501');
    await expectNothingWritten(source, [ids[0] as string, ids[500] as string]);
  });

  it('one event over 1 MiB serialized: 413 naming its index', async () => {
    const source = unique('it-1mib');
    const ok = crypto.randomUUID();
    // 200,000 control characters: 1.2 MB of JSON ("\u0001" each). The stream's 1 MiB limit is checked first.
    const big = event({ source, data: { blob: '\u0001'.repeat(200_000) } });
    const r = await api('POST', '/events', { body: { events: [event({ id: ok, source }), big] } });
    expect(r.status).toBe(413);
    expect(r.body).toMatchObject({ errors: [{ index: 1, path: '', message: 'event is over 1 MiB serialized' }] });
    await expectNothingWritten(source, [ok]);
  });

  it('one event over 400 KB as a stored item (the table’s limit): 413', async () => {
    const r = await api('POST', '/events', { body: event({ data: { blob: 'x'.repeat(400 * 1024) } }) });
    expect(r.status).toBe(413);
    expect(r.body).toMatchObject({ errors: [{ index: 0, message: 'event is over 400 KB as a stored item' }] });
  });

  it('a body over 10 MB: 413 from the gateway, before any function runs', async () => {
    const invocations = async () =>
      isEmbedded()
        ? (
            (await (await fetch(`${local().control}/stats`)).json()) as {
              functions: Record<string, { invocations: number }>;
            }
          ).functions.httpIngest?.invocations
        : undefined;
    const before = await invocations();
    const body = JSON.stringify(event({ data: { blob: 'x'.repeat(10 * 1024 * 1024) } }));
    const r = await api('POST', '/events', { rawBody: body });
    expect(r.status).toBe(413);
    expect((r.body as Refused).message).toEqual(expect.any(String));
    expect(await invocations()).toBe(before);
  });

  it.each([['text/plain'], ['application/xml'], ['multipart/form-data'], ['application/jsonl'], [undefined]])(
    'Content-Type %s: 415',
    async (contentType) => {
      const r = await postRaw(JSON.stringify(event()), contentType);
      expect(r.status).toBe(415);
      expect(r.body).toEqual({ message: 'Content-Type must be application/json or application/x-ndjson' });
    },
  );

  it('a body that is not JSON: 400; a bad NDJSON line: 400 naming the line', async () => {
    const r = await api('POST', '/events', { rawBody: '{"type":"order.created","data":' });
    expect(r.status).toBe(400);
    expect(r.body).toEqual({ message: 'Body is not valid JSON' });
    const source = unique('it-ndjson-bad');
    const id = crypto.randomUUID();
    const nd = await api('POST', '/events', {
      rawBody: `${JSON.stringify(event({ id, source }))}\n{nope\n`,
      contentType: 'application/x-ndjson',
    });
    expect(nd.status).toBe(400);
    expect((nd.body as Refused).errors).toEqual([{ index: 1, path: '', message: 'line is not valid JSON' }]);
    await expectNothingWritten(source, [id]);
  });

  it('an invalid event in a batch: 400 with errors[].index and path; the valid ones are not written', async () => {
    const source = unique('it-invalid');
    const valid = [crypto.randomUUID(), crypto.randomUUID()];
    const events = [
      JSON.stringify(event({ id: valid[0], source })),
      `{"type":"order.created","source":"${source}","data":{"amount":1e400}}`, // JSON, but Infinity to JavaScript
      JSON.stringify(event({ id: valid[1], source })),
      JSON.stringify({ source, type: 'Order Created', data: 'x', extra: true }),
    ];
    const r = await api('POST', '/events', { rawBody: `{"events":[${events.join(',')}]}` });
    expect(r.status).toBe(400);
    const body = r.body as Refused;
    expect(body.message).toBe('One or more events are invalid');
    expect(body.errors?.map((e) => `${e.index}:${e.path}`).sort()).toEqual(['1:data.amount', '3:', '3:data', '3:type']);
    for (const e of body.errors ?? []) expect(e.message).toEqual(expect.any(String));
    await sleep(2000);
    await expectNothingWritten(source, valid);
  });

  it('occurredAt 1 hour in the future: 400', async () => {
    const occurredAt = new Date(Date.now() + 3600_000).toISOString();
    const r = await api('POST', '/events', { body: event({ occurredAt }) });
    expect(r.status).toBe(400);
    expect((r.body as Refused).errors).toEqual([
      { index: 0, path: 'occurredAt', message: 'is more than 5 minutes in the future' },
    ]);
  });
});

describe('idempotency: the producer’s id is its key, end to end (ids are owned, ADR 0011)', () => {
  /** Posts an event of `source` and waits until it is stored: every record before it on that shard is processed. */
  const drain = async (source: string) => {
    const marker = await api('POST', '/events', { body: event({ source, data: { marker: true } }) });
    await readable((marker.body as Accepted).ids[0] as string);
  };

  it('a producer retrying with the same id: the same event id, stored once, the latest copy kept', async () => {
    const source = unique('it-dup');
    const key = crypto.randomUUID();
    const first = await api('POST', '/events', { body: event({ id: key, source, data: { attempt: 1 } }) });
    expect(first.status).toBe(202);
    const [id] = (first.body as Accepted).ids as [string];
    await readable(id);
    const t1 = new Date().toISOString();
    const second = await api('POST', '/events', { body: event({ id: key, source, data: { attempt: 2 } }) });
    expect(second.status).toBe(202);
    expect((second.body as Accepted).ids).toEqual([id]);
    await drain(source);

    const stored = await bySource(source);
    expect(stored.filter((e) => e.id === id)).toHaveLength(1);
    expect(stored).toHaveLength(2); // the event and the marker
    const kept = await readable(id);
    expect(kept.data).toEqual({ attempt: 2 });
    expect(kept.receivedAt >= t1).toBe(true);
  });

  it('two requests with the same id in flight together: stored once', async () => {
    const source = unique('it-dup-race');
    const key = crypto.randomUUID();
    const answers = await Promise.all(
      [1, 2].map((attempt) => api('POST', '/events', { body: event({ id: key, source, data: { attempt } }) })),
    );
    expect(answers.map((a) => a.status)).toEqual([202, 202]);
    const [first, second] = answers.map((a) => (a.body as Accepted).ids);
    expect(first).toEqual(second);
    await drain(source);
    const stored = await bySource(source);
    expect(stored.filter((e) => e.id === first?.[0])).toHaveLength(1);
    expect(stored).toHaveLength(2);
  });
});

describe.runIf(Boolean(stack().mqtt))('MQTT telemetry', () => {
  // In the order a reader of where readings are kept sees them: the table's bySource index (timeKey = occurredAt#id),
  // or, for readings kept in the archive only (ADR 0018), the query's ORDER BY occurredAt, id.
  const readingsOf = async (deviceId: string, count: number) => {
    const items = await storedCount(deviceId, count, 20_000);
    const timeKey = (e: StoredEvent) => `${e.occurredAt}#${e.id}`;
    const ordered = isArchivedOnly(TELEMETRY_EVENT_TYPE)
      ? [...items].sort((a, b) => (timeKey(a) < timeKey(b) ? -1 : timeKey(a) > timeKey(b) ? 1 : 0))
      : items;
    return ordered.map((e) => (e.data as { seq: number }).seq);
  };

  it('20 readings over one connection are all stored, and the bySource index returns them in seq order', async () => {
    const device = await newDevice('order');
    const base = Date.now() - 60_000;
    const client = await connectDevice(device);
    try {
      for (let seq = 1; seq <= 20; seq++)
        await client.publishAsync(
          `devices/${device.deviceId}/telemetry`,
          JSON.stringify({ ts: base + seq * 1000, seq, metrics: { temperature: 20 + seq / 10 } }),
          { qos: 1 },
        );
    } finally {
      await client.endAsync();
    }
    expect(await readingsOf(device.deviceId, 20)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  });

  it('the order is the device’s timestamp, not the arrival order: readings published shuffled read back by ts', async () => {
    const device = await newDevice('shuffled');
    const base = Date.now() - 60_000;
    const order = [5, 1, 4, 2, 3];
    const client = await connectDevice(device);
    try {
      for (const seq of order)
        await client.publishAsync(
          `devices/${device.deviceId}/telemetry`,
          JSON.stringify({ ts: new Date(base + seq * 1000).toISOString(), seq, metrics: { v: seq } }),
          { qos: 1 },
        );
    } finally {
      await client.endAsync();
    }
    expect(await readingsOf(device.deviceId, 5)).toEqual([1, 2, 3, 4, 5]);
  });

  it('a reading over Basic Ingest and one over the plain topic are each stored once', async () => {
    const device = await newDevice('basic');
    const client = await connectDevice(device);
    const base = Date.now() - 10_000;
    try {
      await client.publishAsync(
        `$aws/rules/deviceTelemetry/devices/${device.deviceId}/telemetry`,
        JSON.stringify({ ts: base, seq: 1, metrics: { temperature: 21 } }),
        { qos: 1 },
      );
      await client.publishAsync(
        `devices/${device.deviceId}/telemetry`,
        JSON.stringify({ ts: base + 1000, seq: 2, metrics: { temperature: 22 } }),
        { qos: 1 },
      );
    } finally {
      await client.endAsync();
    }
    expect(await readingsOf(device.deviceId, 2)).toEqual([1, 2]);
    // Nothing else arrives for the device later (no second copy of either).
    await new Promise((resolve) => setTimeout(resolve, 500));
    const stored = await bySource(device.deviceId);
    expect(stored.map((e) => (e.data as { seq: number }).seq).sort()).toEqual([1, 2]);
    expect(new Set(stored.map((e) => e.principalId))).toEqual(new Set([`device:${device.deviceId}`]));
  });

  it('an invalid reading goes to telemetryErrors while the next valid one on the same shard is stored', async () => {
    const device = await newDevice('next');
    const client = await connectDevice(device);
    try {
      await client.publishAsync(
        `devices/${device.deviceId}/telemetry`,
        JSON.stringify({ seq: 1, metrics: { temperature: 'hot' } }),
        { qos: 1 },
      );
      await client.publishAsync(
        `devices/${device.deviceId}/telemetry`,
        JSON.stringify({ seq: 2, metrics: Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`m${i}`, i])) }),
        { qos: 1 },
      );
      await client.publishAsync(`devices/${device.deviceId}/telemetry`, JSON.stringify({ seq: 3, metrics: { t: 1 } }), {
        qos: 1,
      });
    } finally {
      await client.endAsync();
    }
    expect(await readingsOf(device.deviceId, 1)).toEqual([3]);
    const reasons: string[] = [];
    for (let i = 0; i < 2; i++) {
      const message = await receiveMatching<{ deviceId: string; issues: { path: string; message: string }[] }>(
        stack().resources.telemetryErrors,
        (m) => m.deviceId === device.deviceId,
      );
      reasons.push(...message.issues.map((issue) => `${issue.path}: ${issue.message}`));
    }
    expect(reasons.sort()).toEqual([
      'metrics.temperature: Invalid input: expected number, received string',
      'metrics: holds more than 100 metrics',
    ]);
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['a non-numeric metric', { metrics: { temperature: '81.5', humidity: 40 } }, 'metrics.temperature'],
    ['a ts in the year 2999', { ts: '2999-01-01T00:00:00Z', metrics: { temperature: 1 } }, 'ts'],
    ['a ts beyond what a date can hold', { ts: 9e15, metrics: { temperature: 1 } }, 'ts'],
    ['a metric beyond 2^53', { metrics: { temperature: 1e300 } }, 'metrics.temperature'],
  ])('%s goes to the telemetryErrors queue with the reason, and is counted', async (_name, payload, path) => {
    const device = await newDevice('bad');
    await publishMqtt(device, `devices/${device.deviceId}/telemetry`, payload);
    const message = await receiveMatching<{ reason: string; deviceId: string; issues: { path: string }[] }>(
      stack().resources.telemetryErrors,
      (m) => m.deviceId === device.deviceId,
    );
    expect(message.reason).toBe('invalid telemetry');
    expect(message.issues.map((i) => i.path)).toEqual([path]);
    expect(await bySource(device.deviceId)).toEqual([]);
    if (isEmbedded()) {
      // Validated by the store consumer, in its batch: its invocation's metrics count the rejection.
      const line = await eventually(async () =>
        emfLines('storeEvents').find((l) =>
          String(l.rejectedDeviceIds ?? '')
            .split(',')
            .includes(device.deviceId),
        ),
      );
      expect(line).toMatchObject({ TelemetryRejected: expect.any(Number), service: 'tem' });
      expect(line._aws).toMatchObject({
        CloudWatchMetrics: [
          { Namespace: 'TelemetryEventMesh', Metrics: [{ Name: 'TelemetryRejected', Unit: 'Count' }] },
        ],
      });
    }
  });
});

describe.runIf(isEmbedded())('metrics: one EMF line per invocation in the function log', () => {
  it('EventsAccepted for a 202 and EventsRejected (with the status) for a 4xx, tied to the request id', async () => {
    const accepted = await postRaw(JSON.stringify({ events: [event(), event(), event()] }), 'application/json');
    const rejected = await postRaw(JSON.stringify({ events: [event(), { type: 'x' }] }), 'application/json');
    expect([accepted.status, rejected.status]).toEqual([202, 400]);
    const lines = await eventually(async () => {
      const all = emfLines('httpIngest');
      const a = all.find((l) => l.traceId === accepted.requestId);
      const r = all.find((l) => l.traceId === rejected.requestId);
      return a && r ? { a, r } : undefined;
    });
    expect(lines.a).toMatchObject({ EventsAccepted: 3, service: 'tem' });
    expect(lines.r).toMatchObject({ EventsRejected: 2, status: '400' });
    expect(lines.r._aws).toMatchObject({
      CloudWatchMetrics: [{ Namespace: 'TelemetryEventMesh', Metrics: [{ Name: 'EventsRejected', Unit: 'Count' }] }],
    });
  });
});
