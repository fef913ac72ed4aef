import { type IoTDataPlaneClient, PublishCommand } from '@aws-sdk/client-iot-data-plane';
import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import {
  type AlertChannel,
  type AlertMessage,
  type AlertNotifier,
  entryIndex,
  messageKey,
  type QueueEntry,
  toQueueBatches,
} from '../domain/alerts';
import { alertsTopic } from '../domain/iot-policy';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface RetryOptions {
  /** Calls per batch, the first included. */
  attempts: number;
  baseDelayMs: number;
  sleep: (ms: number) => Promise<void>;
}

const defaultRetry: RetryOptions = { attempts: 3, baseDelayMs: 100, sleep };

/**
 * The `alerts` queue: `SendMessageBatch` calls of at most 10 entries; an entry SQS refuses is retried alone (with
 * full-jitter backoff), unless SQS says the fault is the sender's (it would be refused again).
 */
export class SqsAlertQueue {
  constructor(
    private readonly client: Pick<SQSClient, 'send'>,
    private readonly queueUrl: string,
    private readonly retry: RetryOptions = defaultRetry,
  ) {}

  /** Returns the messages not accepted. */
  async send(messages: readonly AlertMessage[]): Promise<AlertMessage[]> {
    const results = await Promise.all(toQueueBatches(messages).map((entries) => this.sendBatch(entries)));
    return results.flat().map((id) => messages[entryIndex(id)] as AlertMessage);
  }

  /** One call of up to 10 entries, then the refused ones again; returns the Ids still refused. */
  private async sendBatch(entries: QueueEntry[]): Promise<string[]> {
    let pending = entries;
    const permanent: string[] = [];
    for (let attempt = 0; attempt < this.retry.attempts && pending.length > 0; attempt++) {
      if (attempt > 0) await this.retry.sleep(Math.random() * this.retry.baseDelayMs * 2 ** attempt);
      try {
        const { Failed } = await this.client.send(
          new SendMessageBatchCommand({ QueueUrl: this.queueUrl, Entries: pending }),
        );
        const failed = Failed ?? [];
        for (const f of failed) if (f.SenderFault && f.Id) permanent.push(f.Id);
        const retryable = new Set(failed.filter((f) => !f.SenderFault).map((f) => f.Id));
        pending = pending.filter((e) => retryable.has(e.Id));
      } catch {
        // The whole call failed (after the SDK's own retries): every entry is still pending.
      }
    }
    return [...permanent, ...pending.map((e) => e.Id)];
  }
}

/** `devices/<deviceId>/alerts`, QoS 1, through the IoT data plane's Publish API. */
export class IotAlertPublisher {
  constructor(private readonly client: Pick<IoTDataPlaneClient, 'send'>) {}

  /** Returns the messages not published. */
  async publish(messages: readonly AlertMessage[]): Promise<AlertMessage[]> {
    const results = await Promise.allSettled(
      messages.map((message) =>
        this.client.send(
          new PublishCommand({
            topic: alertsTopic(message.alert.deviceId),
            qos: 1,
            payload: Buffer.from(JSON.stringify(message), 'utf8'),
          }),
        ),
      ),
    );
    return messages.filter((_, i) => results[i]?.status === 'rejected');
  }
}

/**
 * Both channels; a message is delivered when both took it. One that a channel took before (`skip`) goes to the
 * other only, and for a message only one channel took this time, `tookFailed` says which: its retry then goes only
 * where it is missing, so neither the queue nor the device receives it twice.
 */
export class AlertFanOut implements AlertNotifier {
  constructor(
    private readonly queue: Pick<SqsAlertQueue, 'send'>,
    private readonly devices: Pick<IotAlertPublisher, 'publish'>,
  ) {}

  async deliver(
    messages: readonly AlertMessage[],
    skip: ReadonlyMap<string, readonly AlertChannel[]> = new Map(),
  ): Promise<{ failed: AlertMessage[]; tookFailed: Map<string, AlertChannel[]> }> {
    const to = (channel: AlertChannel) => messages.filter((m) => !skip.get(messageKey(m))?.includes(channel));
    const forQueue = to('queue');
    const forDevices = to('device');
    const [queued, published] = await Promise.all([
      forQueue.length > 0 ? this.queue.send(forQueue) : [],
      forDevices.length > 0 ? this.devices.publish(forDevices) : [],
    ]);
    const failedOn = new Map<string, Set<AlertChannel>>();
    for (const [channel, failed] of [
      ['queue', queued],
      ['device', published],
    ] as const)
      for (const m of failed) failedOn.set(messageKey(m), (failedOn.get(messageKey(m)) ?? new Set()).add(channel));
    const failed = messages.filter((m) => failedOn.has(messageKey(m)));
    const tookFailed = new Map<string, AlertChannel[]>();
    for (const m of failed) {
      const key = messageKey(m);
      const took = [
        ...(forQueue.includes(m) ? ['queue' as const] : []),
        ...(forDevices.includes(m) ? ['device' as const] : []),
      ];
      const ok = took.filter((c) => !failedOn.get(key)?.has(c));
      if (ok.length > 0) tookFailed.set(key, ok);
    }
    return { failed, tookFailed };
  }
}
