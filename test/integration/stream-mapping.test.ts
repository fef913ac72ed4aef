import { PutRecordCommand } from '@aws-sdk/client-kinesis';
import { describe, expect, it } from 'vitest';
import { api, awsClients, control, devEventId, eventually, isEmbedded, receiveMatching, stack } from './support';

interface PoisonRecordMessage {
  kind: string;
  consumer: string;
  reason: string;
  shardId: string;
  sequenceNumber: string;
  partitionKey: string;
  data: string;
  eventSourceArn: string;
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
  it('parks a poison record, whole, in the dead-letter queue and still stores the records around it', async () => {
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

    // Parked by the consumer itself (it can never succeed, so it is not retried until it ages out): each consumer
    // parks its own copy; the store's is checked here.
    const parked = await receiveMatching<PoisonRecordMessage>(
      stack().resources.eventsDlq,
      (m) => m.kind === 'poisonRecord' && m.sequenceNumber === poison.SequenceNumber && m.consumer === 'storeEvents',
      30_000,
    );
    expect(parked).toMatchObject({
      shardId: poison.ShardId,
      partitionKey,
      reason: expect.stringContaining('not JSON'),
    });
    expect(Buffer.from(parked.data, 'base64').toString('utf8')).toBe('{"this is": not json');
    expect(parked.eventSourceArn).toContain(streamName);

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
      // When to come back, as for every 503 and 429 of the boundary.
      expect(r.headers.get('retry-after')).toBe('1');
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
