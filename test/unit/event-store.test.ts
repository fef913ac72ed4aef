import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { BATCH_WRITE_LIMIT, DynamoEventStore } from '../../shared/aws/dynamo-event-store';
import type { EventEnvelope } from '../../shared/domain/events';
import { planStoreBatch } from '../../shared/domain/store-batch';
import { decodeStreamRecord } from '../../shared/domain/stream-records';
import type { StoreEntry } from '../../shared/ports';

const envelope = (id: string, data: Record<string, unknown> = {}): EventEnvelope => ({
  id,
  type: 'order.created',
  source: 'svc',
  occurredAt: '2026-01-01T00:00:00.000Z',
  receivedAt: '2026-01-01T00:00:00.000Z',
  principalId: 'svc',
  traceId: 't',
  data,
});
const entries = (n: number): StoreEntry[] => Array.from({ length: n }, (_, i) => ({ event: envelope(`e${i}`) }));

type Put = { PutRequest: { Item: Record<string, unknown> } };
interface Call {
  name: string;
  items: Put[];
}

/** A document client that records every call and answers with `answer(call, index)`. */
function fakeClient(answer: (call: Call, index: number) => unknown) {
  const calls: Call[] = [];
  const client = {
    send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
      const input = command.input as { RequestItems?: Record<string, Put[]>; Item?: Record<string, unknown> };
      const call = {
        name: command.constructor.name,
        items: input.RequestItems?.events ?? (input.Item ? [{ PutRequest: { Item: input.Item } }] : []),
      };
      calls.push(call);
      const result = answer(call, calls.length - 1);
      if (result instanceof Error) throw result;
      return result;
    },
  } as unknown as DynamoDBDocumentClient;
  return { client, calls };
}

const budget = (ms = 10_000) => ({ retryUntil: Date.now() + ms, sleep: async () => {}, random: () => 0.5 });
const named = (name: string, message = name) => Object.assign(new Error(message), { name });

describe('DynamoEventStore.putAll (BatchWriteItem, 25 per call)', () => {
  it('writes 1,000 entries in ceil(1000/25) = 40 calls, each id once', async () => {
    const { client, calls } = fakeClient(() => ({}));
    const result = await new DynamoEventStore(client, 'events').putAll(entries(1000), budget());
    expect(result.unwritten).toEqual([]);
    expect(calls).toHaveLength(1000 / BATCH_WRITE_LIMIT);
    expect(calls.every((c) => c.name === 'BatchWriteCommand' && c.items.length <= 25)).toBe(true);
    const ids = calls.flatMap((c) => c.items.map((p) => p.PutRequest.Item.id));
    expect(new Set(ids).size).toBe(1000);
  });

  it('retries only the unprocessed items until they are in', async () => {
    let round = 0;
    const { client, calls } = fakeClient((call) => {
      round++;
      // The first answer leaves three items unprocessed, the second one, the third none.
      const left = round === 1 ? call.items.slice(0, 3) : round === 2 ? call.items.slice(0, 1) : [];
      return { UnprocessedItems: left.length > 0 ? { events: left } : {} };
    });
    const result = await new DynamoEventStore(client, 'events').putAll(entries(10), budget());
    expect(result.unwritten).toEqual([]);
    expect(calls.map((c) => c.items.length)).toEqual([10, 3, 1]);
  });

  it('names exactly the ids still unprocessed when the retry window closes', async () => {
    let now = 0;
    const { client } = fakeClient((call) => {
      now += 400;
      return { UnprocessedItems: { events: call.items.slice(0, 2) } };
    });
    const result = await new DynamoEventStore(client, 'events').putAll(entries(5), {
      retryUntil: 1000,
      now: () => now,
      sleep: async (ms) => {
        now += ms;
      },
      random: () => 0.5,
    });
    expect(result.unwritten).toEqual(['e0', 'e1']);
  });

  it('retries the whole call after a throttle or a network error, and then succeeds', async () => {
    const { client, calls } = fakeClient((_call, i) =>
      i === 0 ? named('ProvisionedThroughputExceededException') : i === 1 ? named('ECONNREFUSED') : {},
    );
    const result = await new DynamoEventStore(client, 'events').putAll(entries(3), budget());
    expect(result.unwritten).toEqual([]);
    expect(calls.map((c) => c.items.length)).toEqual([3, 3, 3]);
  });

  it('keeps retrying a throttled table for the window, but an unreachable one only a few times', async () => {
    const throttled = fakeClient(() => named('ThrottlingException'));
    const store = new DynamoEventStore(throttled.client, 'events');
    let now = 0;
    const clock = {
      retryUntil: 2000,
      now: () => now,
      sleep: async (ms: number) => {
        now += ms;
      },
      random: () => 1,
    };
    expect((await store.putAll(entries(2), clock)).unwritten).toEqual(['e0', 'e1']);
    expect(throttled.calls.length).toBeGreaterThan(5);
    const down = fakeClient(() => named('Error', 'connect ECONNREFUSED 127.0.0.1:1'));
    now = 0;
    const result = await new DynamoEventStore(down.client, 'events').putAll(entries(2), { ...clock, retryUntil: 2000 });
    expect(result.unwritten).toEqual(['e0', 'e1']);
    expect(down.calls).toHaveLength(3);
  });

  it('a call refused as a whole (validation) is written item by item: only the bad item is refused', async () => {
    const { client, calls } = fakeClient((call) => {
      if (call.name === 'BatchWriteCommand') return named('ValidationException', 'Item size has exceeded the limit');
      if (call.items[0]?.PutRequest.Item.id === 'e1') return named('ValidationException', 'Item too big');
      return call.items[0]?.PutRequest.Item.id === 'e2' ? named('ServiceUnavailable') : {};
    });
    const result = await new DynamoEventStore(client, 'events').putAll(entries(3), budget());
    // e1 can never be written (refused); e2 hit a transient error (unwritten: the mapping retries it).
    expect(result.refused).toEqual([{ id: 'e1', reason: 'ValidationException: Item too big' }]);
    expect(result.unwritten).toEqual(['e2']);
    expect(calls.map((c) => c.name)).toEqual(['BatchWriteCommand', 'PutCommand', 'PutCommand', 'PutCommand']);
  });
});

describe('DynamoEventStore: the type index is sparse (ADR 0004)', () => {
  it('a business event carries typeKey (in byType); a device reading does not (not in it)', async () => {
    const { client, calls } = fakeClient(() => ({}));
    const store = new DynamoEventStore(client, 'events');
    const reading = { ...envelope('r1'), type: 'device.telemetry', source: 'dev-1' };
    await store.putAll([{ event: envelope('b1') }, { event: reading }], budget());
    const items = calls.flatMap((c) => c.items.map((i) => i.PutRequest.Item));
    expect(items.find((i) => i.id === 'b1')).toMatchObject({ typeKey: 'order.created', timeKey: expect.any(String) });
    const stored = items.find((i) => i.id === 'r1');
    expect(stored).toMatchObject({ type: 'device.telemetry', timeKey: expect.any(String) });
    expect(stored).not.toHaveProperty('typeKey');
  });

  it('lists by type on byType through typeKey, and hands back envelopes without storage attributes', async () => {
    const queries: Record<string, unknown>[] = [];
    const client = {
      send: async (command: { input: Record<string, unknown> }) => {
        queries.push(command.input);
        return { Items: [{ ...envelope('b1'), data: '{}', timeKey: 'k', typeKey: 'order.created' }] };
      },
    } as unknown as DynamoDBDocumentClient;
    const page = await new DynamoEventStore(client, 'events').list({ by: { type: 'order.created' }, limit: 10 });
    expect(queries[0]).toMatchObject({
      IndexName: 'byType',
      ExpressionAttributeNames: { '#k': 'typeKey' },
      ExpressionAttributeValues: { ':k': 'order.created' },
    });
    expect(page.items).toEqual([envelope('b1')]);
  });
});

describe('planStoreBatch', () => {
  const record = (sequenceNumber: string, data: unknown) => ({
    sequenceNumber,
    decoded: decodeStreamRecord(Buffer.from(JSON.stringify(data)).toString('base64')),
  });

  it('writes each id once, the latest copy in stream order, and fails every copy of an unwritten id', () => {
    const plan = planStoreBatch([
      record('1', envelope('a', { v: 1 })),
      record('2', envelope('b')),
      record('3', envelope('a', { v: 2 })),
    ]);
    expect(plan.entries.map((e) => [e.event.id, e.event.data])).toEqual([
      ['a', { v: 2 }],
      ['b', {}],
    ]);
    expect(plan.failedSequenceNumbers([])).toEqual([]);
    expect(plan.failedSequenceNumbers(['a'])).toEqual(['1', '3']);
    expect(plan.failedSequenceNumbers([], ['2'])).toEqual(['2']);
    expect(plan.sequenceNumbersOf(['a'])).toEqual(['1', '3']);
  });
});
