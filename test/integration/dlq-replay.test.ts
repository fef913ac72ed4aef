import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { PutRecordCommand } from '@aws-sdk/client-kinesis';
import { PurgeQueueCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { describe, expect, inject, it } from 'vitest';
import { api, awsClients, control, eventually, isEmbedded, quiesce, stack } from './support';

const run = promisify(execFile);

async function tem(...args: string[]): Promise<Record<string, unknown>> {
  const { stdout } = await run(process.execPath, ['scripts/tem.mjs', ...args], {
    env: { ...process.env, TEM_LOCAL_STATE: inject('stateFile') },
  });
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
}

describe.runIf(isEmbedded())('tem dlq replay', () => {
  it('re-drives records that failed while DynamoDB was down, once it is back', async () => {
    const id = crypto.randomUUID();
    const now = new Date().toISOString();
    const envelope = {
      id,
      type: 'replay.test',
      source: 'replay',
      occurredAt: now,
      receivedAt: now,
      principalId: 'it',
      traceId: id,
      data: {},
    };
    const { kinesis, sqs } = awsClients();
    // This test reads the whole DLQ: start it empty, with the consumers done with earlier tests' records (a batch in
    // flight when the table goes away would fail too and crowd the queue), so nothing hides this one.
    await quiesce();
    await sqs.send(new PurgeQueueCommand({ QueueUrl: stack().resources.eventsDlq }));
    await control('/engines/dynamodb/stop');
    let sequence: string | undefined;
    try {
      const put = await kinesis.send(
        new PutRecordCommand({
          StreamName: stack().resources.eventStream,
          PartitionKey: `replay-${id}`,
          Data: Buffer.from(JSON.stringify(envelope)),
        }),
      );
      sequence = put.SequenceNumber;
      // The consumers fail on it, retry, and give up: its on-failure record lands in the DLQ.
      await eventually(
        async () => {
          const { Messages } = await sqs.send(
            // Seen messages stay hidden for 2 s, so the next look pages past them (the queue may hold more than 10).
            new ReceiveMessageCommand({
              QueueUrl: stack().resources.eventsDlq,
              MaxNumberOfMessages: 10,
              VisibilityTimeout: 2,
            }),
          );
          return (Messages ?? []).some((m) => (m.Body ?? '').includes(sequence as string)) ? true : undefined;
        },
        // The store retries a failing write for 5 s per invocation, and the mapping makes 4 invocations (3 retries).
        75_000,
        'the on-failure record',
      );
    } finally {
      await control('/engines/dynamodb/start');
    }
    expect((await api('GET', `/events/${id}`)).status).toBe(404);

    await new Promise((r) => setTimeout(r, 2500)); // every message visible again for peek and replay
    const peeked = await tem('dlq', 'peek');
    expect(JSON.stringify(peeked)).toContain('KinesisBatchInfo');
    const replayed = await tem('dlq', 'replay', '--max', '1000');
    expect(replayed.replayedRecords).toBeGreaterThanOrEqual(1);
    const stored = await eventually(
      async () => {
        const r = await api('GET', `/events/${id}`);
        return r.status === 200 ? r.body : undefined;
      },
      60_000,
      'the replayed event',
    );
    expect(stored).toMatchObject({ id, type: 'replay.test', source: 'replay' });
  }, 150_000);

  it('refuses to replay a queue that does not hold stream on-failure records', async () => {
    await expect(tem('dlq', 'replay', '--queue', 'telemetryErrors')).rejects.toThrow();
  });
});
