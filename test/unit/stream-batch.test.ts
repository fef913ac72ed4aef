import type { Context, KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { consumeStreamBatch, type StreamBatchConsumer } from '../../functions/consumers/stream-batch';
import type { PoisonParking } from '../../shared/aws/poison-parking';

const context = {} as Context;

/** A record holding an event envelope (or, for `raw`, exactly that text). */
function record(sequenceNumber: string, id: string, raw?: string): KinesisStreamRecord {
  const envelope = {
    id,
    type: 'order.created',
    source: 'unit',
    principalId: 'unit',
    occurredAt: '2026-12-03T00:00:00.000Z',
    receivedAt: '2026-12-03T00:00:00.000Z',
    traceId: 't',
    data: {},
  };
  return {
    kinesis: {
      kinesisSchemaVersion: '1.0',
      partitionKey: id,
      sequenceNumber,
      data: Buffer.from(raw ?? JSON.stringify(envelope)).toString('base64'),
      approximateArrivalTimestamp: 1,
    },
    eventSource: 'aws:kinesis',
    eventVersion: '1.0',
    eventID: `shardId-000000000000:${sequenceNumber}`,
    eventName: 'aws:kinesis:record',
    invokeIdentityArn: 'arn:aws:iam::000000000000:role/unit',
    awsRegion: 'us-east-1',
    eventSourceARN: 'arn:aws:kinesis:us-east-1:000000000000:stream/unit',
  };
}

const batch = (...records: KinesisStreamRecord[]): KinesisStreamEvent => ({ Records: records });

/** A consumer that takes each event's id and fails the ids it is told to; parking that fails the sequences given. */
function consumer(options: { failIds?: string[]; poisonIds?: string[]; unparked?: string[]; skipIds?: string[] }) {
  const parked: { sequenceNumber: string; reason: string }[][] = [];
  const seen: string[][] = [];
  const parking = {
    park: vi.fn(async (poison: { record: KinesisStreamRecord; reason: string }[]) => {
      parked.push(poison.map((p) => ({ sequenceNumber: p.record.kinesis.sequenceNumber, reason: p.reason })));
      return poison.map((p) => p.record.kinesis.sequenceNumber).filter((s) => options.unparked?.includes(s));
    }),
  } as unknown as PoisonParking;
  const spec: StreamBatchConsumer<string> = {
    parking,
    select: (decoded) => {
      if (decoded.kind !== 'event') return undefined;
      return options.skipIds?.includes(decoded.envelope.id) ? undefined : decoded.envelope.id;
    },
    process: async (selected) => {
      seen.push(selected.map((s) => s.item));
      return {
        failed: selected.filter((s) => options.failIds?.includes(s.item)).map((s) => s.record.kinesis.sequenceNumber),
        poison: selected
          .filter((s) => options.poisonIds?.includes(s.item))
          .map((s) => ({ record: s.record, reason: 'refused' })),
        reasons: options.failIds?.length ? ['table unreachable'] : [],
      };
    },
  };
  return { spec, parked, seen, parking };
}

describe('consumeStreamBatch', () => {
  afterEach(() => vi.restoreAllMocks());

  it('hands the consumer every decoded record it selects, in order, and reports nothing when all is done', async () => {
    const c = consumer({ skipIds: ['b'] });
    const response = await consumeStreamBatch(
      batch(record('1', 'a'), record('2', 'b'), record('3', 'c')),
      context,
      c.spec,
    );
    expect(response).toEqual({ batchItemFailures: [] });
    expect(c.seen).toEqual([['a', 'c']]);
    expect(c.parking.park).not.toHaveBeenCalled();
  });

  it('parks a record that is not an event with its reason, never hands it on, and does not fail it', async () => {
    const c = consumer({});
    const response = await consumeStreamBatch(batch(record('1', 'a'), record('2', 'x', 'not json')), context, c.spec);
    expect(response).toEqual({ batchItemFailures: [] });
    expect(c.seen).toEqual([['a']]);
    expect(c.parked).toEqual([[{ sequenceNumber: '2', reason: 'not an event: record data is not JSON' }]]);
  });

  it('reports the records the work left undone and the poison it could not park, in batch order', async () => {
    const c = consumer({ failIds: ['c'], unparked: ['1'] });
    const records = [record('1', 'x', '[]'), record('2', 'b'), record('3', 'c'), record('4', 'd')];
    const response = await consumeStreamBatch(batch(...records), context, c.spec);
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: '1' }, { itemIdentifier: '3' }] });
  });

  it('parks what the work found can never succeed, after the work', async () => {
    const c = consumer({ poisonIds: ['b'] });
    const response = await consumeStreamBatch(batch(record('1', 'a'), record('2', 'b')), context, c.spec);
    expect(response).toEqual({ batchItemFailures: [] });
    expect(c.parked).toEqual([[{ sequenceNumber: '2', reason: 'refused' }]]);
  });

  it('fails the invocation when every record failed, naming why, so the mapping bisects and retries', async () => {
    const c = consumer({ failIds: ['a', 'b'] });
    await expect(consumeStreamBatch(batch(record('1', 'a'), record('2', 'b')), context, c.spec)).rejects.toThrow(
      'all 2 records failed: table unreachable',
    );
    await expect(consumeStreamBatch(batch(), context, c.spec)).resolves.toEqual({ batchItemFailures: [] });
  });
});
