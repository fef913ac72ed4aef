import type { FirehoseClient } from '@aws-sdk/client-firehose';
import { describe, expect, it } from 'vitest';
import { FirehoseEventArchive } from '../../shared/aws/firehose-event-archive';
import {
  ARCHIVE_CALL_RECORDS,
  ARCHIVE_RECORD_LIMIT_BYTES,
  archiveCalls,
  archiveLine,
  packArchiveRecords,
  parseArchiveLine,
} from '../../shared/domain/archive-records';
import type { EventEnvelope } from '../../shared/domain/events';
import { isArchived, isTabled, placesOf, StoragePolicySchema, storagePolicy } from '../../shared/domain/storage-policy';

const AT = '2026-01-01T00:00:00.020Z';
const reading = (id: string, data: Record<string, unknown> = { temperature: 21.5 }): EventEnvelope => ({
  id,
  type: 'device.telemetry',
  source: 'sensor-1',
  occurredAt: '2026-01-01T00:00:00.000Z',
  receivedAt: '2026-01-01T00:00:00.010Z',
  principalId: 'device:sensor-1',
  traceId: id,
  data,
});

describe('policies/storage.json', () => {
  it('parses, and says where each type goes', () => {
    expect(placesOf('device.telemetry')).toEqual(storagePolicy.eventTypes['device.telemetry']);
    expect(placesOf('payment.success')).toEqual(storagePolicy.default);
    const policy = StoragePolicySchema.parse({
      default: ['table'],
      eventTypes: { 'device.telemetry': ['archive'] },
      archive: { retentionDays: 30 },
    });
    expect(isArchived('device.telemetry', policy)).toBe(true);
    expect(isTabled('device.telemetry', policy)).toBe(false);
    expect(isTabled('order.created', policy)).toBe(true);
    expect(isArchived('order.created', policy)).toBe(false);
  });

  it.each([
    ['no place', { default: [], eventTypes: {}, archive: { retentionDays: null } }],
    ['a place twice', { default: ['table', 'table'], eventTypes: {}, archive: { retentionDays: null } }],
    ['an unknown place', { default: ['s3'], eventTypes: {}, archive: { retentionDays: null } }],
    [
      'a type that is not one',
      { default: ['table'], eventTypes: { Telemetry: ['table'] }, archive: { retentionDays: 1 } },
    ],
    ['an unknown field', { default: ['table'], eventTypes: {}, archive: { retentionDays: 1 }, tables: 2 }],
    ['zero retention days', { default: ['table'], eventTypes: {}, archive: { retentionDays: 0 } }],
  ])('refuses %s', (_, document) => {
    expect(StoragePolicySchema.safeParse(document).success).toBe(false);
  });
});

describe('archive lines and records', () => {
  it('keeps data as a JSON string and reads back the same event', () => {
    const event = reading('r1', { big: 2 ** 60, nested: { a: [1, 2] } });
    const line = archiveLine(event, AT);
    expect(line.endsWith('\n')).toBe(true);
    expect(typeof JSON.parse(line).data).toBe('string');
    expect(parseArchiveLine(line)).toEqual({ ...event, archivedAt: AT });
  });

  it('packs a batch of small events into one record, lines in order', () => {
    const events = Array.from({ length: 50 }, (_, i) => reading(`r${i}`));
    const { records, refused } = packArchiveRecords(events, AT);
    expect(refused).toEqual([]);
    expect(records).toHaveLength(1);
    expect(records[0]?.ids).toEqual(events.map((e) => e.id));
    expect(records[0]?.data.split('\n').filter(Boolean).map(parseArchiveLine)).toEqual(
      events.map((e) => ({ ...e, archivedAt: AT })),
    );
    expect(records[0]?.bytes).toBe(Buffer.byteLength(records[0]?.data ?? ''));
  });

  it('starts a new record before one would pass the limit, and refuses a line alone over it', () => {
    const line = Buffer.byteLength(archiveLine(reading('r0'), AT));
    const limit = line * 3;
    const { records, refused } = packArchiveRecords(
      [reading('r0'), reading('r1'), reading('r2'), reading('r3'), reading('huge', { blob: 'x'.repeat(limit) })],
      AT,
      limit,
    );
    expect(records.map((r) => r.ids)).toEqual([['r0', 'r1', 'r2'], ['r3']]);
    expect(records.every((r) => r.bytes <= limit)).toBe(true);
    expect(refused.map((r) => r.id)).toEqual(['huge']);
    expect(refused[0]?.reason).toMatch(/over Firehose/);
    expect(ARCHIVE_RECORD_LIMIT_BYTES).toBe(1_024_000);
  });

  it('groups records into calls of at most 500 records and 4 MiB', () => {
    const small = { data: 'x', bytes: 1, ids: ['a'] };
    expect(archiveCalls(Array.from({ length: 1001 }, () => small)).map((c) => c.length)).toEqual([500, 500, 1]);
    const big = { data: '', bytes: 1_500_000, ids: ['b'] };
    expect(archiveCalls([big, big, big, big]).map((c) => c.length)).toEqual([2, 2]);
    expect(ARCHIVE_CALL_RECORDS).toBe(500);
  });
});

interface Call {
  stream: string;
  records: string[];
}

function fakeFirehose(answer: (call: Call, index: number) => unknown) {
  const calls: Call[] = [];
  const client = {
    send: async (command: { input: { DeliveryStreamName: string; Records: { Data: Uint8Array }[] } }) => {
      const call = {
        stream: command.input.DeliveryStreamName,
        records: command.input.Records.map((r) => Buffer.from(r.Data).toString()),
      };
      calls.push(call);
      const result = answer(call, calls.length - 1);
      if (result instanceof Error) throw result;
      return result;
    },
  } as unknown as FirehoseClient;
  return { client, calls };
}

const accepted = (call: Call) => ({
  FailedPutCount: 0,
  RequestResponses: call.records.map((_, i) => ({ RecordId: `id-${i}` })),
});
const budget = (ms = 10_000) => ({ retryUntil: Date.now() + ms, sleep: async () => {}, random: () => 0.5 });
const named = (name: string) => Object.assign(new Error(name), { name });

describe('FirehoseEventArchive.putAll (PutRecordBatch)', () => {
  it('sends a batch of 50 readings as one packed record in one call', async () => {
    const { client, calls } = fakeFirehose(accepted);
    const events = Array.from({ length: 50 }, (_, i) => reading(`r${i}`));
    const outcome = await new FirehoseEventArchive(client, 'tem-raw-archive').putAll(events, budget());
    expect(outcome).toEqual({ unarchived: [], refused: [] });
    expect(calls).toHaveLength(1);
    expect(calls[0]?.stream).toBe('tem-raw-archive');
    expect(calls[0]?.records).toHaveLength(1);
    expect(calls[0]?.records[0]?.split('\n').filter(Boolean)).toHaveLength(50);
  });

  it('sends nothing for no events', async () => {
    const { client, calls } = fakeFirehose(accepted);
    expect(await new FirehoseEventArchive(client, 's').putAll([], budget())).toEqual({ unarchived: [], refused: [] });
    expect(calls).toHaveLength(0);
  });

  it('sends again only the records Firehose failed, until they are accepted', async () => {
    const { client, calls } = fakeFirehose((call, index) =>
      index === 0
        ? {
            FailedPutCount: 1,
            RequestResponses: [{ RecordId: 'a' }, { ErrorCode: 'ServiceUnavailableException', ErrorMessage: 'busy' }],
          }
        : accepted(call),
    );
    // Two events of ~600 KB: one record each (two would pass the 1,000 KiB limit).
    const big = (id: string) => reading(id, { pad: 'p'.repeat(600_000) });
    const outcome = await new FirehoseEventArchive(client, 's').putAll([big('r0'), big('r1')], budget());
    expect(outcome.unarchived).toEqual([]);
    expect(calls.map((c) => c.records.length)).toEqual([2, 1]);
    expect(calls[1]?.records[0]).toContain('"id":"r1"');
  });

  it('reports the ids of a record still failing when the budget ends', async () => {
    const { client } = fakeFirehose(() => ({
      FailedPutCount: 1,
      RequestResponses: [{ ErrorCode: 'InternalFailure' }],
    }));
    const events = [reading('r0'), reading('r1')];
    const outcome = await new FirehoseEventArchive(client, 's').putAll(events, { ...budget(), retryUntil: 0 });
    expect(outcome.unarchived).toEqual(['r0', 'r1']);
  });

  it('gives an unreachable service three attempts, a throttled one the whole window', async () => {
    const down = fakeFirehose(() => named('TimeoutError'));
    expect((await new FirehoseEventArchive(down.client, 's').putAll([reading('r0')], budget())).unarchived).toEqual([
      'r0',
    ]);
    expect(down.calls).toHaveLength(3);
    const busy = fakeFirehose((call, index) => (index < 5 ? named('ServiceUnavailableException') : accepted(call)));
    expect((await new FirehoseEventArchive(busy.client, 's').putAll([reading('r0')], budget())).unarchived).toEqual([]);
    expect(busy.calls).toHaveLength(6);
  });

  it('treats an answer without a RecordId as not accepted', async () => {
    const { client, calls } = fakeFirehose((call, index) => (index === 0 ? { FailedPutCount: 0 } : accepted(call)));
    expect((await new FirehoseEventArchive(client, 's').putAll([reading('r0')], budget())).unarchived).toEqual([]);
    expect(calls).toHaveLength(2);
  });

  it('refuses an event too large for any record, and archives the rest', async () => {
    const { client, calls } = fakeFirehose(accepted);
    const outcome = await new FirehoseEventArchive(client, 's').putAll(
      [reading('ok'), reading('huge', { blob: 'x'.repeat(ARCHIVE_RECORD_LIMIT_BYTES) })],
      budget(),
    );
    expect(outcome.unarchived).toEqual([]);
    expect(outcome.refused.map((r) => r.id)).toEqual(['huge']);
    expect(calls[0]?.records[0]).toContain('"id":"ok"');
  });
});
