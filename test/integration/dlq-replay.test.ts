import { type ChildProcess, execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { KinesisClient, PutRecordCommand } from '@aws-sdk/client-kinesis';
import { PurgeQueueCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStackInfo } from '../../infra/local/stack';
import { startStackProcess, stopStackProcess } from './global-setup';
import { eventually, isEmbedded } from './support';

const run = promisify(execFile);

/**
 * Stopping an engine and replaying a DLQ reach every consumer of a stack: this test runs on a stack of its own, so
 * earlier tests' traffic (and its failures during the outage) cannot crowd the queue it reads or the shard it waits on.
 */
let child: ChildProcess | undefined;
let info: LocalStackInfo;
let stateFile: string;

beforeAll(async () => {
  if (!isEmbedded()) return;
  const started = await startStackProcess();
  child = started.child;
  info = started.info;
  stateFile = path.join(started.stateDir, 'local.json');
}, 120_000);

afterAll(async () => {
  if (child) await stopStackProcess(child);
}, 30_000);

const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
const clients = () => ({
  kinesis: new KinesisClient({
    region: info.region,
    endpoint: info.endpoints.kinesis,
    credentials,
    requestHandler: new NodeHttpHandler(),
  }),
  sqs: new SQSClient({ region: info.region, endpoint: info.endpoints.sqs, credentials }),
});
const control = async (route: string) => {
  const response = await fetch(`${info.control}${route}`, { method: 'POST' });
  if (!response.ok) throw new Error(`control ${route}: ${response.status}`);
};
const getEvent = async (id: string) => {
  const response = await fetch(`${info.http}/events/${id}`, { headers: { 'X-API-Key': info.devApiKey } });
  return { status: response.status, body: (await response.json()) as unknown };
};

async function tem(...args: string[]): Promise<Record<string, unknown>> {
  const { stdout } = await run(process.execPath, ['scripts/tem.mjs', ...args], {
    env: { ...process.env, TEM_LOCAL_STATE: stateFile },
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
    const { kinesis, sqs } = clients();
    await sqs.send(new PurgeQueueCommand({ QueueUrl: info.resources.eventsDlq }));
    await control('/engines/dynamodb/stop');
    let sequence: string | undefined;
    try {
      const put = await kinesis.send(
        new PutRecordCommand({
          StreamName: info.resources.eventStream,
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
              QueueUrl: info.resources.eventsDlq,
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
    expect((await getEvent(id)).status).toBe(404);

    await new Promise((r) => setTimeout(r, 2500)); // every message visible again for peek and replay
    const peeked = await tem('dlq', 'peek');
    expect(JSON.stringify(peeked)).toContain('KinesisBatchInfo');
    const replayed = await tem('dlq', 'replay', '--max', '1000');
    expect(replayed.replayedRecords).toBeGreaterThanOrEqual(1);
    const stored = await eventually(
      async () => {
        const r = await getEvent(id);
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
