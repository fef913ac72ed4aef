import { type IoTDataPlaneClient, PublishCommand } from '@aws-sdk/client-iot-data-plane';
import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import {
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

/** Both channels; a message is delivered when both took it. */
export class AlertFanOut implements AlertNotifier {
  constructor(
    private readonly queue: Pick<SqsAlertQueue, 'send'>,
    private readonly devices: Pick<IotAlertPublisher, 'publish'>,
  ) {}

  async deliver(messages: readonly AlertMessage[]): Promise<{ failed: AlertMessage[] }> {
    const [queued, published] = await Promise.all([this.queue.send(messages), this.devices.publish(messages)]);
    const failed = new Map([...queued, ...published].map((m) => [messageKey(m), m]));
    return { failed: [...failed.values()] };
  }
}
