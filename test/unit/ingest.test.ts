import { readFileSync } from 'node:fs';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type FieldError, Rejection } from '../../shared/domain/errors';
import { MAX_STORED_ITEM_BYTES, ownedEventId, storedItem, storedItemBytes } from '../../shared/domain/events';
import {
  CALL_BUDGET_MS,
  chunkForPutRecords,
  MAX_EVENTS_PER_REQUEST,
  MAX_RECORD_BYTES,
  type Producer,
  parseBody,
  publishAll,
  toStreamRecord,
  validateEvents,
} from '../../shared/domain/ingest';
import type { EventPublisher, PublishOutcome, StreamRecord } from '../../shared/ports';

// The handler reads its settings at import and publishes through this adapter: replaced by a recording fake.
const stream = vi.hoisted(() => {
  process.env.EVENT_STREAM_NAME = 'unit-stream';
  return { publish: vi.fn() };
});
vi.mock('../../shared/aws/kinesis-publisher', () => ({
  KinesisPublisher: class {
    publish = stream.publish;
  },
}));

const RECEIVED_AT = new Date('2024-05-01T12:00:00.000Z');
const producer: Producer = {
  principalId: 'prn-1',
  principalName: 'svc-orders',
  traceId: 'trace-1',
  receivedAt: RECEIVED_AT,
  eventTypes: ['payment.*', 'user.created'],
  mayClaimAnySource: false,
};
const event = (over: Record<string, unknown> = {}) => ({ type: 'payment.success', data: { amount: 1 }, ...over });

function rejectionOf(fn: () => unknown): Rejection {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(Rejection);
    return error as Rejection;
  }
  throw new Error('expected a Rejection, nothing was thrown');
}

const fieldErrors = (r: Rejection) => (r.details as { errors?: FieldError[] }).errors ?? [];

describe('parseBody', () => {
  it('reads a single JSON event', () => {
    expect(parseBody(JSON.stringify(event()), 'application/json')).toEqual([event()]);
  });

  it('reads a {"events": [...]} batch', () => {
    const events = [event(), event({ type: 'user.created' })];
    expect(parseBody(JSON.stringify({ events }), 'application/json')).toEqual(events);
  });

  it('reads NDJSON, ignoring blank lines and CRLF endings', () => {
    const body = `${JSON.stringify(event())}\n\n   \n${JSON.stringify(event({ type: 'user.created' }))}\r\n`;
    expect(parseBody(body, 'application/x-ndjson')).toEqual([event(), event({ type: 'user.created' })]);
  });

  it.each([['application/json; charset=utf-8'], ['Application/JSON'], [' application/json ;charset=UTF-8']])(
    'accepts the content type %j',
    (contentType) => {
      expect(parseBody(JSON.stringify(event()), contentType)).toEqual([event()]);
    },
  );

  it('rejects invalid JSON as invalid', () => {
    const r = rejectionOf(() => parseBody('{"type": ', 'application/json'));
    expect(r.kind).toBe('invalid');
  });

  it('rejects an invalid NDJSON line, naming its line index', () => {
    const body = `${JSON.stringify(event())}\n{nope}\n`;
    const r = rejectionOf(() => parseBody(body, 'application/x-ndjson'));
    expect(r.kind).toBe('invalid');
    expect(fieldErrors(r)).toEqual([{ index: 1, path: '', message: 'line is not valid JSON' }]);
  });

  it.each([['text/plain'], ['application/xml'], ['application/jsonx'], [''], [undefined]])(
    'rejects the content type %j as unsupported-media-type',
    (contentType) => {
      const r = rejectionOf(() => parseBody(JSON.stringify(event()), contentType));
      expect(r.kind).toBe('unsupported-media-type');
    },
  );

  it(`accepts ${MAX_EVENTS_PER_REQUEST} events and rejects ${MAX_EVENTS_PER_REQUEST + 1} as too-large`, () => {
    const max = Array.from({ length: MAX_EVENTS_PER_REQUEST }, () => event());
    expect(parseBody(JSON.stringify({ events: max }), 'application/json')).toHaveLength(500);
    const r = rejectionOf(() => parseBody(JSON.stringify({ events: [...max, event()] }), 'application/json'));
    expect(r.kind).toBe('too-large');
    const ndjson = [...max, event()].map((e) => JSON.stringify(e)).join('\n');
    expect(rejectionOf(() => parseBody(ndjson, 'application/x-ndjson')).kind).toBe('too-large');
  });

  it.each<[string, string, string]>([
    ['an empty batch', '{"events": []}', 'application/json'],
    ['an empty NDJSON body', '', 'application/x-ndjson'],
    ['an NDJSON body of blank lines', '\n  \n\n', 'application/x-ndjson'],
    ['"events" that is not an array', '{"events": "x"}', 'application/json'],
    ['"events" that is null', '{"events": null}', 'application/json'],
    ['"events" that is an object', '{"events": {"type": "a.b"}}', 'application/json'],
  ])('rejects %s as invalid', (_name, body, contentType) => {
    expect(rejectionOf(() => parseBody(body, contentType)).kind).toBe('invalid');
  });

  it('rejects a body over 10 MB as too-large', () => {
    const body = JSON.stringify({ type: 'a.b', data: { x: 'y'.repeat(10 * 1024 * 1024) } });
    expect(rejectionOf(() => parseBody(body, 'application/json')).kind).toBe('too-large');
  });
});

describe('validateEvents', () => {
  it('builds envelopes for valid events', () => {
    const envelopes = validateEvents([event(), event({ type: 'user.created', data: {} })], producer);
    expect(envelopes.map((e) => [e.type, e.source, e.principalId, e.traceId, e.receivedAt])).toEqual([
      ['payment.success', 'svc-orders', 'prn-1', 'trace-1', '2024-05-01T12:00:00.000Z'],
      ['user.created', 'svc-orders', 'prn-1', 'trace-1', '2024-05-01T12:00:00.000Z'],
    ]);
  });

  it('is all-or-nothing, reporting every invalid event with index and path', () => {
    const items = [event(), event({ type: 'Payment.Success' }), event({ data: 'x' }), event(), 42];
    const r = rejectionOf(() => validateEvents(items, producer));
    expect(r.kind).toBe('invalid');
    const errors = fieldErrors(r);
    expect(errors.map((e) => [e.index, e.path])).toEqual([
      [1, 'type'],
      [2, 'data'],
      [4, ''],
    ]);
    for (const e of errors) expect(e.message.length).toBeGreaterThan(0);
  });

  it('reports a nested path and an unknown field', () => {
    const r = rejectionOf(() => validateEvents([event({ extra: true }), event({ id: 'nope' })], producer));
    expect(fieldErrors(r).map((e) => [e.index, e.path])).toEqual([
      [0, ''],
      [1, 'id'],
    ]);
  });

  it('accepts occurredAt exactly 5 minutes ahead and rejects it 1 ms later', () => {
    const limit = new Date(RECEIVED_AT.getTime() + 5 * 60 * 1000);
    expect(validateEvents([event({ occurredAt: limit.toISOString() })], producer)[0]?.occurredAt).toBe(
      limit.toISOString(),
    );
    const tooFar = new Date(limit.getTime() + 1).toISOString();
    const r = rejectionOf(() => validateEvents([event(), event({ occurredAt: tooFar })], producer));
    expect(r.kind).toBe('invalid');
    expect(fieldErrors(r)).toEqual([{ index: 1, path: 'occurredAt', message: 'is more than 5 minutes in the future' }]);
  });

  it('accepts an occurredAt in the past', () => {
    const [e] = validateEvents([event({ occurredAt: '2020-01-01T00:00:00Z' })], producer);
    expect(e?.occurredAt).toBe('2020-01-01T00:00:00.000Z');
  });

  it('refuses an event type outside producer.eventTypes as forbidden', () => {
    const r = rejectionOf(() => validateEvents([event(), event({ type: 'order.created' })], producer));
    expect(r.kind).toBe('forbidden');
    expect(r.details).toEqual({ index: 1 });
    expect(r.message).toContain('order.created');
  });

  it('validation errors take precedence over permission errors', () => {
    const r = rejectionOf(() => validateEvents([event({ type: 'order.created' }), event({ data: 1 })], producer));
    expect(r.kind).toBe('invalid');
  });

  it('refuses a foreign source without mayClaimAnySource, allows it with', () => {
    const items = [event({ source: 'svc-other' })];
    const r = rejectionOf(() => validateEvents(items, producer));
    expect(r.kind).toBe('forbidden');
    expect(r.details).toEqual({ index: 0 });
    expect(validateEvents(items, { ...producer, mayClaimAnySource: true })[0]?.source).toBe('svc-other');
  });

  it('allows a producer to name itself as source explicitly', () => {
    expect(validateEvents([event({ source: 'svc-orders' })], producer)[0]?.source).toBe('svc-orders');
  });

  it('refuses an event of exactly 1 MiB serialized as over 400 KB stored, and one byte more as over 1 MiB', () => {
    const id = '0190f4d2-7a5b-7c3e-9f00-0123456789ab';
    const [envelope] = validateEvents([event({ id, data: { blob: '' } })], producer);
    if (!envelope) throw new Error('no envelope');
    const overhead = Buffer.byteLength(JSON.stringify(envelope)) + Buffer.byteLength(envelope.source);
    const blob = (bytes: number) => 'x'.repeat(bytes);
    // The stream's 1 MiB is checked first; the table's 400 KB always binds below it.
    const atLimit = rejectionOf(() =>
      validateEvents([event({ id, data: { blob: blob(MAX_RECORD_BYTES - overhead) } })], producer),
    );
    expect(fieldErrors(atLimit)).toEqual([{ index: 0, path: '', message: 'event is over 400 KB as a stored item' }]);
    const over = event({ id, data: { blob: blob(MAX_RECORD_BYTES - overhead + 1) } });
    const r = rejectionOf(() => validateEvents([event(), over], producer));
    expect(r.kind).toBe('too-large');
    expect(fieldErrors(r)).toEqual([{ index: 1, path: '', message: 'event is over 1 MiB serialized' }]);
  });

  it('accepts an event of exactly 400 KB as a stored item and refuses one byte more as too-large', () => {
    const id = '0190f4d2-7a5b-7c3e-9f00-0123456789ab';
    const [envelope] = validateEvents([event({ id, data: { blob: '' } })], producer);
    if (!envelope) throw new Error('no envelope');
    const overhead = storedItemBytes(storedItem(envelope));
    const fits = event({ id, data: { blob: 'x'.repeat(MAX_STORED_ITEM_BYTES - overhead) } });
    expect(validateEvents([fits], producer)).toHaveLength(1);
    const over = event({ id, data: { blob: 'x'.repeat(MAX_STORED_ITEM_BYTES - overhead + 1) } });
    const r = rejectionOf(() => validateEvents([event(), over], producer));
    expect(r.kind).toBe('too-large');
    expect(r.message).toContain('400 KB');
    expect(fieldErrors(r)).toEqual([{ index: 1, path: '', message: 'event is over 400 KB as a stored item' }]);
  });

  it('refuses data nothing downstream could handle as invalid, with the path of each problem', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 40; i++) deep = [deep];
    const r = rejectionOf(() =>
      validateEvents(
        [
          JSON.parse('{"type":"payment.success","data":{"ok":1,"nested":{"inf":-1e400}}}'),
          JSON.parse('{"type":"payment.success","data":{"__proto__":{"x":1}}}'),
          event({ data: { deep } }),
          event({ data: { big: 2 ** 60, tiny: 5e-324, '': 'empty keys are fine' } }),
        ],
        producer,
      ),
    );
    expect(r.kind).toBe('invalid');
    expect(fieldErrors(r).map((e) => [e.index, e.path])).toEqual([
      [0, 'data.nested.inf'],
      [1, 'data.__proto__'],
      [2, `data.deep${'.0'.repeat(31)}`],
    ]);
  });

  it('a very deep body is an invalid event, not a crash', () => {
    const body = `{"type":"a.b","data":{"x":${'['.repeat(200_000)}${']'.repeat(200_000)}}}`;
    const r = rejectionOf(() => validateEvents(parseBody(body, 'application/json'), producer));
    expect(r.kind).toBe('invalid');
  });
});

const record = (id: string, bytes = 2, partitionKey = 'p'): StreamRecord => ({
  id,
  partitionKey,
  data: new Uint8Array(bytes),
});

describe('chunkForPutRecords', () => {
  it('splits 1200 small records into 500/500/200, in order', () => {
    const records = Array.from({ length: 1200 }, (_, i) => record(`r${i}`));
    const chunks = chunkForPutRecords(records);
    expect(chunks.map((c) => c.length)).toEqual([500, 500, 200]);
    expect(chunks.flat().map((r) => r.id)).toEqual(records.map((r) => r.id));
  });

  it('splits by bytes: data plus partition key may reach but not pass 5 MiB per call', () => {
    const mib = 1024 * 1024;
    // each record is exactly 1 MiB (data + 1-byte partition key): five fill a call exactly
    const records = Array.from({ length: 11 }, (_, i) => record(`r${i}`, mib - 1));
    const chunks = chunkForPutRecords(records);
    expect(chunks.map((c) => c.length)).toEqual([5, 5, 1]);
    expect(chunks.flat().map((r) => r.id)).toEqual(records.map((r) => r.id));
    // one more byte in the partition key of the 5th record pushes it into the next call (which then holds
    // 4 MiB + 1 byte, so the 9th record no longer fits either)
    const heavier = records.map((r, i) => (i === 4 ? { ...r, partitionKey: 'pp' } : r));
    expect(chunkForPutRecords(heavier).map((c) => c.map((r) => r.id))).toEqual([
      ['r0', 'r1', 'r2', 'r3'],
      ['r4', 'r5', 'r6', 'r7'],
      ['r8', 'r9', 'r10'],
    ]);
  });

  it('puts a record bigger than a call on its own', () => {
    const chunks = chunkForPutRecords([record('a'), record('big', 6 * 1024 * 1024), record('b')]);
    expect(chunks.map((c) => c.map((r) => r.id))).toEqual([['a'], ['big'], ['b']]);
  });

  it('returns no chunk for no records', () => {
    expect(chunkForPutRecords([])).toEqual([]);
  });
});

describe('toStreamRecord', () => {
  it('partitions by source and carries the envelope as JSON', () => {
    const [envelope] = validateEvents([event()], producer);
    if (!envelope) throw new Error('no envelope');
    const r = toStreamRecord(envelope);
    expect(r.id).toBe(envelope.id);
    expect(r.partitionKey).toBe('svc-orders');
    expect(JSON.parse(Buffer.from(r.data).toString('utf8'))).toEqual(envelope);
  });
});

class FakePublisher implements EventPublisher {
  readonly calls: string[][] = [];
  constructor(private readonly behaviour: (records: readonly StreamRecord[], call: number) => PublishOutcome) {}
  async publish(records: readonly StreamRecord[]): Promise<PublishOutcome> {
    this.calls.push(records.map((r) => r.id));
    return this.behaviour(records, this.calls.length);
  }
}

class ThrottledError extends Error {
  override readonly name = 'ProvisionedThroughputExceededException';
}

function fakeClock(startMs: number, msPerSleep: number) {
  let remaining = startMs;
  const sleeps: { delay: number; remainingBefore: number }[] = [];
  return {
    sleeps,
    budget: {
      remainingMs: () => remaining,
      sleep: async (delay: number) => {
        sleeps.push({ delay, remainingBefore: remaining });
        remaining -= msPerSleep;
      },
      random: () => 0.5,
    },
  };
}

describe('publishAll', () => {
  const ids = (n: number) => Array.from({ length: n }, (_, i) => `id-${i}`);

  it('reports every record accepted when the publisher accepts all', async () => {
    const publisher = new FakePublisher(() => ({ failed: [] }));
    const { budget, sleeps } = fakeClock(10_000, 100);
    const report = await publishAll(
      publisher,
      ids(3).map((id) => record(id)),
      budget,
    );
    expect(report).toEqual({ accepted: ['id-0', 'id-1', 'id-2'], failed: [] });
    expect(publisher.calls).toEqual([['id-0', 'id-1', 'id-2']]);
    expect(sleeps).toEqual([]);
  });

  it('publishes 1200 records in three calls', async () => {
    const publisher = new FakePublisher(() => ({ failed: [] }));
    const report = await publishAll(
      publisher,
      ids(1200).map((id) => record(id)),
      fakeClock(10_000, 100).budget,
    );
    expect(publisher.calls.map((c) => c.length)).toEqual([500, 500, 200]);
    expect(report.accepted).toEqual(ids(1200));
  });

  it('retries only the records the publisher refused', async () => {
    const refuseOnce = new Set(['id-1', 'id-3']);
    const publisher = new FakePublisher((records, call) => ({
      failed:
        call === 1
          ? records.filter((r) => refuseOnce.has(r.id)).map((r) => ({ id: r.id, errorCode: 'InternalFailure' }))
          : [],
    }));
    const { budget, sleeps } = fakeClock(10_000, 100);
    const report = await publishAll(
      publisher,
      ids(5).map((id) => record(id)),
      budget,
    );
    expect(publisher.calls).toEqual([ids(5), ['id-1', 'id-3']]);
    expect(report).toEqual({ accepted: ids(5), failed: [] });
    expect(sleeps).toHaveLength(1);
  });

  it('reports the last error code of records that never got in', async () => {
    const publisher = new FakePublisher((records, call) => ({
      failed: records
        .filter((r) => r.id === 'id-2')
        .map((r) => ({
          id: r.id,
          errorCode: call === 1 ? 'InternalFailure' : 'ProvisionedThroughputExceededException',
        })),
    }));
    const report = await publishAll(
      publisher,
      ids(4).map((id) => record(id)),
      fakeClock(4_000, 1_000).budget,
    );
    expect(report.accepted).toEqual(['id-0', 'id-1', 'id-3']);
    expect(report.failed).toEqual([{ id: 'id-2', errorCode: 'ProvisionedThroughputExceededException' }]);
  });

  it('a publisher that always throws: retries within the time budget, then reports all failed', async () => {
    let calls = 0;
    const publisher: EventPublisher = {
      publish: async () => {
        calls++;
        throw new ThrottledError('slow down');
      },
    };
    const { budget, sleeps } = fakeClock(5_000, 1_000);
    const report = await publishAll(
      publisher,
      ids(3).map((id) => record(id)),
      budget,
    );

    expect(calls).toBeGreaterThan(1);
    expect(calls).toBe(sleeps.length + 1);
    // never slept into the last 1.5 s of the budget, and stopped because the budget ran low (not by giving up early)
    for (const s of sleeps) expect(s.remainingBefore).toBeGreaterThanOrEqual(s.delay + CALL_BUDGET_MS);
    expect(budget.remainingMs()).toBeLessThan(CALL_BUDGET_MS + 1000);
    expect(report.accepted).toEqual([]);
    expect(report.failed).toEqual(ids(3).map((id) => ({ id, errorCode: 'ProvisionedThroughputExceededException' })));
    const accepted = new Set(report.accepted);
    expect(report.failed.filter((f) => accepted.has(f.id))).toEqual([]);
  });

  it('uses full-jitter exponential backoff capped at 1 s', async () => {
    const publisher: EventPublisher = {
      publish: async () => {
        throw new Error('down');
      },
    };
    const { budget, sleeps } = fakeClock(100_000, 1_000);
    const report = await publishAll(publisher, [record('a')], { ...budget, random: () => 0.999 });
    // attempt n sleeps floor(0.999 * min(1000, 50 * 2^n))
    expect(sleeps.slice(0, 6).map((s) => s.delay)).toEqual([99, 199, 399, 799, 999, 999]);
    expect(report.failed).toEqual([{ id: 'a', errorCode: 'Error' }]);
  });

  it('starts no further call once the time left could not cover it, and reports those records failed', async () => {
    let remaining = 4_000;
    const publisher = new FakePublisher(() => {
      remaining -= 1_500; // each call takes 1.5 s
      return { failed: [] };
    });
    const report = await publishAll(
      publisher,
      ids(1200).map((id) => record(id)),
      { remainingMs: () => remaining, sleep: async () => {}, random: () => 0.5 },
    );
    expect(publisher.calls.map((c) => c.length)).toEqual([500]);
    expect(report.accepted).toEqual(ids(500));
    expect(report.failed).toEqual(
      ids(1200)
        .slice(500)
        .map((id) => ({ id, errorCode: 'TimeBudgetExhausted' })),
    );
    expect(remaining).toBeLessThan(CALL_BUDGET_MS);
  });

  it('a mix of throwing chunks and accepted chunks never double-reports an id', async () => {
    // the second chunk of every attempt throws; the others go in
    const publisher = new FakePublisher((records) => {
      if (records[0]?.id === 'id-500') throw new ThrottledError('x');
      return { failed: [] };
    });
    const report = await publishAll(
      publisher,
      ids(1000).map((id) => record(id)),
      fakeClock(6_000, 1_000).budget,
    );
    expect(report.accepted).toEqual(ids(500));
    expect(report.failed.map((f) => f.id)).toEqual(ids(1000).slice(500));
    expect(publisher.calls.length).toBeGreaterThan(2);
    for (const call of publisher.calls.slice(1)) expect(call[0]).toBe('id-500');
  });
});

describe('httpIngest handler (API Gateway fixture, stream faked)', () => {
  const fixture = JSON.parse(
    readFileSync(new URL('../events/apigw/post-events.json', import.meta.url), 'utf8'),
  ) as APIGatewayProxyEvent;
  const context = { getRemainingTimeInMillis: () => 3000, functionName: 'httpIngest' } as unknown as Context;
  let stdout: string[];

  beforeEach(() => {
    stdout = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stdout.push(String(chunk));
      return true;
    });
    stream.publish.mockReset();
  });
  afterEach(() => vi.restoreAllMocks());

  /** The CloudWatch EMF lines the invocation wrote (one per flush). */
  const emf = () =>
    stdout
      .flatMap((chunk) => chunk.split('\n'))
      .filter((line) => line.includes('"_aws"'))
      .map((line) => JSON.parse(line) as Record<string, unknown> & { _aws: { CloudWatchMetrics: unknown[] } });

  const invoke = async (change: Partial<APIGatewayProxyEvent> = {}) => {
    const { handler } = await import('../../functions/ingest/http-ingest');
    return handler({ ...fixture, ...change }, context);
  };

  it('publishes the fixture batch partitioned by source, answers 202 and counts EventsAccepted', async () => {
    stream.publish.mockResolvedValue({ failed: [] });
    const response = await invoke();
    expect(response.statusCode).toBe(202);
    const body = JSON.parse(response.body) as { accepted: number; ids: string[] };
    expect(body.accepted).toBe(2);
    // The producer's id is its idempotency key; the event's id is owned by the producer's principal (ADR 0011).
    expect(body.ids[0]).toBe(ownedEventId('svc-orders-7f3a', '0190f4d2-7a5b-7c3e-9f00-0123456789ab'));
    const [records] = stream.publish.mock.calls[0] as [StreamRecord[]];
    expect(records.map((r) => r.partitionKey)).toEqual(['svc-orders', 'svc-orders']);
    const envelope = JSON.parse(Buffer.from(records[0]?.data ?? []).toString('utf8'));
    expect(envelope).toMatchObject({
      id: body.ids[0],
      idempotencyKey: '0190f4d2-7a5b-7c3e-9f00-0123456789ab',
      principalId: 'svc-orders-7f3a',
      traceId: fixture.requestContext.requestId,
      source: 'svc-orders',
      occurredAt: '2024-05-24T11:59:58.000Z',
    });
    expect(emf()).toEqual([
      expect.objectContaining({
        EventsAccepted: 2,
        service: 'tem',
        traceId: fixture.requestContext.requestId,
        _aws: expect.objectContaining({
          CloudWatchMetrics: [
            {
              Namespace: 'TelemetryEventMesh',
              Dimensions: [['service']],
              Metrics: [{ Name: 'EventsAccepted', Unit: 'Count' }],
            },
          ],
        }),
      }),
    ]);
  });

  it('counts every event of a refused request as EventsRejected, with the status', async () => {
    const body = JSON.stringify({
      events: [
        { type: 'order.created', data: {} },
        { type: 'Bad', data: {} },
      ],
    });
    const response = await invoke({ body });
    expect(response.statusCode).toBe(400);
    expect(stream.publish).not.toHaveBeenCalled();
    expect(emf()).toEqual([expect.objectContaining({ EventsRejected: 2, status: '400' })]);
  });

  it('counts a body it cannot read as one rejected event', async () => {
    const response = await invoke({ headers: { ...fixture.headers, 'content-type': 'text/plain' } });
    expect(response.statusCode).toBe(415);
    expect(emf()).toEqual([expect.objectContaining({ EventsRejected: 1, status: '415' })]);
  });

  it('an event type outside the caller’s patterns is a 403 and counted as rejected', async () => {
    const response = await invoke({ body: JSON.stringify({ type: 'user.created', data: {} }) });
    expect(response.statusCode).toBe(403);
    expect(emf()).toEqual([expect.objectContaining({ EventsRejected: 1, status: '403' })]);
  });

  it('a partial stream failure is a 503 naming the ids; accepted and failed are both counted', async () => {
    stream.publish.mockImplementation(async (records: StreamRecord[]) => ({
      failed: records.slice(1).map((r) => ({ id: r.id, errorCode: 'ProvisionedThroughputExceededException' })),
    }));
    const shortBudget = { ...context, getRemainingTimeInMillis: () => 1000 } as Context;
    const { handler } = await import('../../functions/ingest/http-ingest');
    const response = await handler(fixture, shortBudget);
    expect(response.statusCode).toBe(503);
    // Every 503 of the boundary says when to come back.
    expect(response.headers).toMatchObject({ 'Retry-After': '1' });
    const body = JSON.parse(response.body) as {
      accepted: string[];
      failed: string[];
      failedIndexes: number[];
      message: string;
    };
    expect(body.accepted).toEqual([ownedEventId('svc-orders-7f3a', '0190f4d2-7a5b-7c3e-9f00-0123456789ab')]);
    expect(body.failed).toHaveLength(1);
    expect(body.failedIndexes).toEqual([1]);
    expect(emf()).toEqual([expect.objectContaining({ EventsAccepted: 1, EventsFailed: 1 })]);
  });
});
