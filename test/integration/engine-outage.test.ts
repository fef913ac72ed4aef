import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { awsClients, control, isEmbedded, receiveMatching, stack } from './support';

describe.runIf(isEmbedded())('fault injection: an SQS outage', () => {
  it('refuses calls while it lasts and keeps the queued messages, as SQS itself does', async () => {
    const { sqs } = awsClients();
    const queueUrl = stack().resources.telemetryErrors;
    const marker = crypto.randomUUID();
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify({ marker }) }));
    await control('/engines/sqs/stop');
    try {
      await expect(
        sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify({ marker: 'during' }) })),
      ).rejects.toThrow();
    } finally {
      await control('/engines/sqs/start');
    }
    const message = await receiveMatching<{ marker: string }>(queueUrl, (m) => m.marker === marker, 15_000);
    expect(message.marker).toBe(marker);
  });
});
