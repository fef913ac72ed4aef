import { ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { TELEMETRY_RULE } from '../../shared/domain/iot-policy';
import { ruleErrorMessage } from '../../shared/domain/topic-rule';
import {
  awsClients,
  connectDevice,
  control,
  eventually,
  isEmbedded,
  local,
  newDevice,
  storedBySource,
} from './support';
import { tem } from './tem-cli';

interface QueuePollerStats {
  function: string;
  queue: string;
  invocations: number;
  messagesDeleted: number;
  messagesFailed: number;
}

async function stats(): Promise<{ mqtt: { ruleFailures: number }; queuePollers: QueuePollerStats[] }> {
  const response = await fetch(`${local().control}/stats`);
  return (await response.json()) as Awaited<ReturnType<typeof stats>>;
}

const redrive = async () => (await stats()).queuePollers.find((p) => p.function === 'ruleErrorsRedrive');

describe.runIf(isEmbedded())('accepted means stored over MQTT: the rule error redrive', () => {
  it('stores, once each, readings a device had acknowledged while the stream was down', async () => {
    const device = await newDevice('outage');
    const topic = `devices/${device.deviceId}/telemetry`;
    const client = await connectDevice(device);
    const before = await stats();
    const readings = [1, 2, 3].map((seq) => ({ metrics: { temperature: 20 + seq }, ts: Date.now() - seq, seq }));
    await control('/engines/kinesis/stop');
    try {
      // The broker acknowledges (PUBACK) before the rule acts, as IoT Core does.
      for (const r of readings) await client.publishAsync(topic, JSON.stringify(r), { qos: 1 });
      // The rule's Kinesis action fails for each: its error action puts them in ruleErrors.
      await eventually(
        async () =>
          (await stats()).mqtt.ruleFailures >= before.mqtt.ruleFailures + readings.length ? true : undefined,
        20_000,
        'the rule failing on the readings',
      );
      // The redrive tries while the stream is still down, and leaves them in the queue.
      await eventually(
        async () => (((await redrive())?.messagesFailed ?? 0) > 0 ? true : undefined),
        20_000,
        'a failed redrive attempt',
      );
      expect(await storedBySource(device.deviceId)).toEqual([]);
    } finally {
      await control('/engines/kinesis/start');
      await client.endAsync();
    }
    // Nobody replays anything: the queue's next delivery (visibility timeout 10 s) puts them on the stream.
    const stored = await eventually(
      async () => {
        const items = await storedBySource(device.deviceId);
        return items.length >= readings.length ? items : undefined;
      },
      45_000,
      'the redriven readings stored',
    );
    expect(stored.map((i) => (i.data as { seq: number }).seq).sort()).toEqual([1, 2, 3]);
    expect(stored.every((i) => i.type === 'device.telemetry' && i.source === device.deviceId)).toBe(true);
    // Stored once each, also after the consumers had time to see any second copy.
    await new Promise((r) => setTimeout(r, 2000));
    expect(await storedBySource(device.deviceId)).toHaveLength(readings.length);
    // Nothing of theirs was given up on.
    const deadLetter = local().deadLetterQueues?.ruleErrors;
    expect(deadLetter).toBeDefined();
    const { Messages } = await awsClients().sqs.send(
      new ReceiveMessageCommand({ QueueUrl: deadLetter, MaxNumberOfMessages: 10, VisibilityTimeout: 0 }),
    );
    expect((Messages ?? []).filter((m) => m.Body?.includes(topic))).toEqual([]);
  });

  it('`tem dlq redrive` moves what the redrive gave up on back, and the redrive stores it', async () => {
    const device = await newDevice('parked');
    const topic = `devices/${device.deviceId}/telemetry`;
    const reading = { metrics: { temperature: 30 }, ts: Date.now(), seq: 1 };
    // What SQS moves to the dead-letter queue after the 60th failed receive: the rule's error message, unchanged.
    const body = ruleErrorMessage(
      TELEMETRY_RULE,
      { topic, clientId: device.deviceId, payload: Buffer.from(JSON.stringify(reading)) },
      { failedAction: 'KinesisAction', failedResource: 'stream', errorMessage: 'ServiceUnavailable' },
    );
    const deadLetter = local().deadLetterQueues?.ruleErrors ?? '';
    await awsClients().sqs.send(new SendMessageCommand({ QueueUrl: deadLetter, MessageBody: JSON.stringify(body) }));
    const run = await tem(['dlq', 'redrive', '--queue', 'ruleErrors']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.out).toMatchObject({ queue: 'ruleErrors', moved: 1 });
    const stored = await eventually(
      async () => {
        const items = await storedBySource(device.deviceId);
        return items.length > 0 ? items : undefined;
      },
      20_000,
      'the moved reading stored',
    );
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ type: 'device.telemetry', data: { seq: 1, metrics: { temperature: 30 } } });
  });

  it('`tem dlq redrive` refuses a queue without a dead-letter queue', async () => {
    const run = await tem(['dlq', 'redrive', '--queue', 'telemetryErrors']);
    expect(run.code).toBe(2);
    expect(String(run.out.error)).toMatch(/errorSink queue: it has no dead-letter queue/);
  });
});
