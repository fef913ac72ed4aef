import { SendMessageBatchCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { MessageSink } from '../ports';

/** SendMessageBatch takes at most 10 messages and 256 KiB in all. */
const MAX_BATCH_ENTRIES = 10;
const MAX_BATCH_BYTES = 256 * 1024;

export class SqsSink implements MessageSink {
  constructor(
    private readonly client: SQSClient,
    private readonly queueUrl: string,
  ) {}

  async send(body: unknown): Promise<void> {
    await this.client.send(new SendMessageCommand({ QueueUrl: this.queueUrl, MessageBody: JSON.stringify(body) }));
  }

  /** Sends every body, 10 to a call; returns the indexes of the bodies that were not sent. */
  async sendAll(bodies: readonly unknown[]): Promise<number[]> {
    const failed: number[] = [];
    let batch: { index: number; body: string }[] = [];
    let bytes = 0;
    const flush = async () => {
      const entries = batch;
      batch = [];
      bytes = 0;
      if (entries.length === 0) return;
      try {
        const out = await this.client.send(
          new SendMessageBatchCommand({
            QueueUrl: this.queueUrl,
            Entries: entries.map((e) => ({ Id: String(e.index), MessageBody: e.body })),
          }),
        );
        for (const f of out.Failed ?? []) failed.push(Number(f.Id));
      } catch {
        failed.push(...entries.map((e) => e.index));
      }
    };
    for (const [index, value] of bodies.entries()) {
      const body = JSON.stringify(value);
      const size = Buffer.byteLength(body, 'utf8');
      if (batch.length === MAX_BATCH_ENTRIES || (batch.length > 0 && bytes + size > MAX_BATCH_BYTES)) await flush();
      batch.push({ index, body });
      bytes += size;
    }
    await flush();
    return failed.sort((a, b) => a - b);
  }
}
