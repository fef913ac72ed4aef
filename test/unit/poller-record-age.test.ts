import type { _Record, KinesisClient } from '@aws-sdk/client-kinesis';
import type { KinesisStreamEvent } from 'aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import { KinesisPoller } from '../../infra/local/kinesis-poller';
import { type StreamConsumerSpec, streamConsumers } from '../../infra/topology';

/**
 * The local mapping's maximum record age, as Lambda applies it to a stream mapping: a record older than
 * `MaximumRecordAgeInSeconds` is not handed to the function; it goes to the on-failure destination with the condition
 * `RecordAgeExceeded`, also between the retries of a batch that keeps failing (retries -1: until the record ages out).
 * The Kinesis client is an in-memory shard: what is tested is the poller's own bookkeeping.
 */

const SHARD = 'shardId-000000000000';

/** One shard answering ListShards, GetShardIterator and GetRecords from `records`. */
function fakeKinesis(records: _Record[]): KinesisClient {
  const after = (sequence: string | undefined) =>
    sequence === undefined ? 0 : records.findIndex((r) => r.SequenceNumber === sequence) + 1;
  return {
    send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
      const input = command.input;
      switch (command.constructor.name) {
        case 'ListShardsCommand':
          return { Shards: [{ ShardId: SHARD }] };
        case 'GetShardIteratorCommand':
          return {
            ShardIterator: String(
              input.ShardIteratorType === 'AFTER_SEQUENCE_NUMBER' ? after(input.StartingSequenceNumber as string) : 0,
            ),
          };
        case 'GetRecordsCommand': {
          const from = Number(input.ShardIterator);
          const page = records.slice(from, from + Number(input.Limit));
          return { Records: page, NextShardIterator: String(from + page.length), MillisBehindLatest: 0 };
        }
        default:
          throw new Error(`unexpected ${command.constructor.name}`);
      }
    },
  } as unknown as KinesisClient;
}

const record = (n: number, ageMs: number): _Record => ({
  SequenceNumber: String(1000 + n),
  PartitionKey: `device-${n}`,
  Data: new TextEncoder().encode(JSON.stringify({ n })),
  ApproximateArrivalTimestamp: new Date(Date.now() - ageMs),
});

const spec: StreamConsumerSpec = {
  ...(streamConsumers[0] as StreamConsumerSpec),
  readMode: 'polling',
  batchSize: 10,
  maxBatchingWindowSeconds: 0,
  maxRetryAttempts: -1,
  maxRecordAgeSeconds: 60,
};

interface OnFailure {
  requestContext: { condition: string; approximateInvokeCount: number };
  KinesisBatchInfo: { shardId: string; startSequenceNumber: string; endSequenceNumber: string; batchSize: number };
}

function harness(records: _Record[], invoke: (event: KinesisStreamEvent) => Promise<unknown>) {
  const onFailure: OnFailure[] = [];
  const poller = new KinesisPoller(spec, {
    kinesis: fakeKinesis(records),
    streamName: 'events',
    streamArn: 'arn:aws:kinesis:us-east-1:000000000000:stream/events',
    region: 'us-east-1',
    functionArn: 'arn:aws:lambda:us-east-1:000000000000:function:store',
    invoke,
    sendOnFailure: async (r) => {
      onFailure.push(r as OnFailure);
    },
    log: () => {},
  });
  return { poller, onFailure };
}

const sequences = (event: KinesisStreamEvent) => event.Records.map((r) => r.kinesis.sequenceNumber);

async function until(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

let running: KinesisPoller | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

describe('local mapping: records past the maximum record age go to the on-failure destination', () => {
  it('never hands a record older than the limit to the function, and goes on with the younger ones', async () => {
    const invoked: string[][] = [];
    const { poller, onFailure } = harness([record(1, 61_000), record(2, 65_000), record(3, 1_000)], async (e) => {
      invoked.push(sequences(e));
      return { batchItemFailures: [] };
    });
    running = poller;
    await poller.start();
    await until(() => invoked.length > 0, 5_000);

    expect(invoked).toEqual([['1003']]);
    expect(onFailure).toHaveLength(1);
    expect(onFailure[0]?.requestContext.condition).toBe('RecordAgeExceeded');
    expect(onFailure[0]?.KinesisBatchInfo).toMatchObject({
      shardId: SHARD,
      startSequenceNumber: '1001',
      endSequenceNumber: '1002',
      batchSize: 2,
    });
    expect(poller.stats).toMatchObject({ recordsDiscarded: 2, recordsProcessed: 1 });
  });

  it('retries a batch that always fails only until its records age out, then moves the shard on', async () => {
    const invoked: string[][] = [];
    // 59.2 s old at a 60 s limit: a few retries (backoff 100, 200, 400 ms...) fit before it ages out.
    const { poller, onFailure } = harness([record(1, 59_200), record(2, 0)], async (e) => {
      invoked.push(sequences(e));
      if (sequences(e).includes('1001')) throw new Error('table unreachable');
      return { batchItemFailures: [] };
    });
    running = poller;
    await poller.start();
    await until(() => invoked.some((batch) => batch.includes('1002') && !batch.includes('1001')), 10_000);

    const attemptsOfFirst = invoked.filter((batch) => batch.includes('1001')).length;
    expect(attemptsOfFirst).toBeGreaterThan(1);
    expect(onFailure.map((f) => f.requestContext.condition)).toEqual(['RecordAgeExceeded']);
    expect(onFailure[0]?.KinesisBatchInfo).toMatchObject({ startSequenceNumber: '1001', endSequenceNumber: '1001' });
    // The younger record was bisected apart from the failing one and stored once, after the old one was given up on.
    expect(invoked.filter((batch) => batch.includes('1002') && !batch.includes('1001'))).toHaveLength(1);
    expect(poller.stats.recordsDiscarded).toBe(1);
  });
});
