import { PutRecordCommand } from '@aws-sdk/client-kinesis';
import { describe, expect, it } from 'vitest';
import {
  api,
  awsClients,
  control,
  controlStats,
  devEventId,
  eventually,
  isEmbedded,
  receiveMatching,
  stack,
} from './support';

interface OnFailureRecord {
  requestContext: { condition: string; functionArn: string; approximateInvokeCount: number };
  KinesisBatchInfo: {
    shardId: string;
    startSequenceNumber: string;
    endSequenceNumber: string;
    batchSize: number;
    streamArn: string;
  };
}

function envelope(id: string, source: string) {
  const now = new Date().toISOString();
  return {
    id,
    type: 'order.cancelled',
    source,
    occurredAt: now,
    receivedAt: now,
    principalId: 'it',
    traceId: id,
    data: { order: id },
  };
}

describe('Kinesis event source mapping (real stream, real consumer, real DLQ)', () => {
  it('isolates a poison record into the on-failure queue and still stores the records around it', async () => {
    const { kinesis } = awsClients();
    const streamName = stack().resources.eventStream;
    const partitionKey = `poison-${crypto.randomUUID()}`; // one key: one shard, so the order is the stream's
    const before = crypto.randomUUID();
    const after = crypto.randomUUID();
    const put = (data: string) =>
      kinesis.send(
        new PutRecordCommand({ StreamName: streamName, PartitionKey: partitionKey, Data: Buffer.from(data) }),
      );
    await put(JSON.stringify(envelope(before, partitionKey)));
    const poison = await put('{"this is": not json');
    await put(JSON.stringify(envelope(after, partitionKey)));

    const dead = await receiveMatching<OnFailureRecord>(
      stack().resources.eventsDlq,
      (m) => m.KinesisBatchInfo?.startSequenceNumber === poison.SequenceNumber,
      30_000,
    );
    expect(dead.requestContext.condition).toBe('RetryAttemptsExhausted');
    expect(dead.KinesisBatchInfo).toMatchObject({
      shardId: poison.ShardId,
      endSequenceNumber: poison.SequenceNumber,
      batchSize: 1,
    });
    expect(dead.KinesisBatchInfo.streamArn).toContain(streamName);

    for (const id of [before, after]) {
      const r = await eventually(
        async () => {
          const got = await api('GET', `/events/${id}`);
          return got.status === 200 ? got : undefined;
        },
        15_000,
        `event ${id}`,
      );
      expect(r.body).toMatchObject({ id, source: partitionKey });
    }
    // Each consumer discards the poison on its own schedule; the DLQ message above may be another consumer's.
    if (isEmbedded())
      await eventually(
        async () =>
          ((await controlStats()).pollers.find((p) => p.function === 'storeEvents')?.recordsDiscarded ?? 0) >= 1
            ? true
            : undefined,
        30_000,
        'the store consumer to discard the poison record',
      );
  });
});

describe.runIf(isEmbedded())('fault injection: the Kinesis engine goes away', () => {
  it('answers 503 naming the events that are not in the stream, then recovers when the engine is back', async () => {
    const id = crypto.randomUUID();
    const eventIdWhenDown = await devEventId(id); // the dev principal is read back while the stream is up
    await control('/engines/kinesis/stop');
    try {
      const r = await api('POST', '/events', { body: { id, type: 'payment.failed', data: { amount: 1 } } });
      expect(r.status).toBe(503);
      expect(r.body).toMatchObject({ accepted: [], failed: [eventIdWhenDown], failedIndexes: [0] });
      // The gateway itself stays up while an engine is down.
      // ...and says what is wrong: an admin's health check reports the stream down.
      const health = await api('GET', '/healthz');
      expect(health.status).toBe(503);
      expect(health.body).toMatchObject({
        status: 'degraded',
        checks: expect.arrayContaining([{ name: 'eventStream', ok: false, ms: expect.any(Number) }]),
      });
    } finally {
      await control('/engines/kinesis/start');
    }
    const ok = await api('POST', '/events', { body: { type: 'payment.success', data: { amount: 2 } } });
    expect(ok.status).toBe(202);
    const [eventId] = (ok.body as { ids: string[] }).ids;
    await eventually(
      async () => ((await api('GET', `/events/${eventId}`)).status === 200 ? true : undefined),
      20_000,
      'recovery',
    );
  });
});
