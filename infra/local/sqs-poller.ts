import { DeleteMessageBatchCommand, type Message, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { QueueConsumerSpec } from '../topology';

export interface SqsPollerDeps {
  sqs: SQSClient;
  queueUrl: string;
  queueArn: string;
  region: string;
  invoke: (event: SQSEvent) => Promise<unknown>;
  log: (message: string, fields?: Record<string, unknown>) => void;
}

export interface SqsPollerStats {
  invocations: number;
  messagesDeleted: number;
  /** Messages the function reported (or failed) on: visible again after the queue's visibility timeout. */
  messagesFailed: number;
  errors: number;
}

/** Lambda long-polls the queue; 1 s keeps a stop quick and costs the local engine one call a second when idle. */
const WAIT_SECONDS = 1;
const ERROR_BACKOFF_MS = 1000;

/**
 * A Lambda SQS event source mapping with `ReportBatchItemFailures`: receives up to `batchSize` messages, invokes the
 * function with them, deletes the ones it did not report. A reported message, or every message of a failed
 * invocation, stays in the queue and is received again once its visibility timeout passes; the queue's redrive
 * policy (`maxReceiveCount`) moves it to the dead-letter queue in the end, as SQS itself does. `maxConcurrency`
 * pollers run at once.
 */
export class SqsPoller {
  private stopped = false;
  private readonly loops: Promise<void>[] = [];
  private readonly timers = new Set<{ timer: NodeJS.Timeout; done: () => void }>();
  readonly stats: SqsPollerStats = { invocations: 0, messagesDeleted: 0, messagesFailed: 0, errors: 0 };

  constructor(
    private readonly spec: QueueConsumerSpec,
    private readonly deps: SqsPollerDeps,
  ) {}

  start(): void {
    for (let i = 0; i < this.spec.maxConcurrency; i++) this.loops.push(this.run());
  }

  /** Stops receiving; a batch in flight finishes or is abandoned with the function host (its messages reappear). */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of [...this.timers]) t.done();
    await Promise.race([Promise.allSettled(this.loops), this.pause(2000, false)]);
  }

  private pause(ms: number, cancellable = true): Promise<void> {
    return new Promise((resolve) => {
      const entry = {
        timer: setTimeout(() => entry.done(), ms),
        done: () => {
          clearTimeout(entry.timer);
          this.timers.delete(entry);
          resolve();
        },
      };
      if (cancellable) this.timers.add(entry);
    });
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        const { Messages } = await this.deps.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: this.deps.queueUrl,
            MaxNumberOfMessages: this.spec.batchSize,
            WaitTimeSeconds: WAIT_SECONDS,
            MessageSystemAttributeNames: ['All'],
            MessageAttributeNames: ['All'],
          }),
        );
        if (!Messages || Messages.length === 0 || this.stopped) continue;
        await this.deliver(Messages);
      } catch (error) {
        this.stats.errors++;
        if (!this.stopped) {
          this.deps.log('queue consumer could not poll', { queue: this.spec.queue, error: (error as Error).message });
          await this.pause(ERROR_BACKOFF_MS);
        }
      }
    }
  }

  private async deliver(messages: Message[]): Promise<void> {
    const records = messages.map((m) => this.toRecord(m));
    this.stats.invocations++;
    let failed: Set<string>;
    try {
      const response = (await this.deps.invoke({ Records: records })) as SQSBatchResponse | undefined;
      failed = new Set((response?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
      // Lambda treats an unknown or empty identifier as a failure of the whole batch.
      if ([...failed].some((id) => !records.some((r) => r.messageId === id)))
        failed = new Set(records.map((r) => r.messageId));
    } catch (error) {
      this.deps.log('queue consumer invocation failed', { queue: this.spec.queue, error: (error as Error).message });
      failed = new Set(records.map((r) => r.messageId));
    }
    this.stats.messagesFailed += failed.size;
    const done = messages.filter((m) => m.MessageId && !failed.has(m.MessageId));
    if (done.length === 0) return;
    const out = await this.deps.sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: this.deps.queueUrl,
        Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
      }),
    );
    this.stats.messagesDeleted += out.Successful?.length ?? 0;
  }

  private toRecord(m: Message): SQSRecord {
    const a = m.Attributes ?? {};
    return {
      messageId: m.MessageId ?? '',
      receiptHandle: m.ReceiptHandle ?? '',
      body: m.Body ?? '',
      attributes: {
        ApproximateReceiveCount: a.ApproximateReceiveCount ?? '1',
        SentTimestamp: a.SentTimestamp ?? String(Date.now()),
        SenderId: a.SenderId ?? '000000000000',
        ApproximateFirstReceiveTimestamp: a.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
      },
      messageAttributes: {},
      md5OfBody: m.MD5OfBody ?? '',
      eventSource: 'aws:sqs',
      eventSourceARN: this.deps.queueArn,
      awsRegion: this.deps.region,
    };
  }
}
