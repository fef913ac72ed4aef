import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { MessageSink } from '../ports';

export class SqsSink implements MessageSink {
  constructor(
    private readonly client: SQSClient,
    private readonly queueUrl: string,
  ) {}

  async send(body: unknown): Promise<void> {
    await this.client.send(new SendMessageCommand({ QueueUrl: this.queueUrl, MessageBody: JSON.stringify(body) }));
  }
}
