import { DeleteMessageBatchCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { sleep } from '../../bench/lib/util';

/**
 * An error queue emptied as the run goes: the local SQS engine keeps messages in memory, so an SQS outage would
 * lose what waited in it. Every message is kept (parsed) and deleted; receive errors (the engine down) are counted
 * and retried.
 */
export class QueueCollector {
  readonly messages: unknown[] = [];
  errors = 0;
  /** A message received again (its delete did not reach the engine) is kept once. */
  private readonly seen = new Set<string>();
  private stopped = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly sqs: SQSClient,
    readonly name: string,
    private readonly queueUrl: string,
  ) {}

  start(): void {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        const { Messages } = await this.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: this.queueUrl,
            MaxNumberOfMessages: 10,
            WaitTimeSeconds: 1,
            VisibilityTimeout: 30,
          }),
        );
        const received = Messages ?? [];
        for (const m of received) {
          if (m.MessageId && this.seen.has(m.MessageId)) continue;
          if (m.MessageId) this.seen.add(m.MessageId);
          try {
            this.messages.push(JSON.parse(m.Body ?? 'null'));
          } catch {
            this.messages.push({ unparsable: m.Body });
          }
        }
        if (received.length > 0)
          await this.sqs.send(
            new DeleteMessageBatchCommand({
              QueueUrl: this.queueUrl,
              Entries: received.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? '' })),
            }),
          );
      } catch {
        this.errors++;
        await sleep(250);
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}
