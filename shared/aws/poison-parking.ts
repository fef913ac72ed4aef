import type { SQSClient } from '@aws-sdk/client-sqs';
import { type PoisonSource, poisonRecordMessage } from '../domain/poison-records';
import { logger } from '../observability';
import { SqsSink } from './sqs-sink';

/**
 * Where a consumer parks the records it can never process (ADR 0005): the consumers' dead-letter queue. Returns the
 * sequence numbers it could not park; the consumer reports those as failed, so they are retried (a transient
 * failure of the queue) rather than lost.
 */
export class PoisonParking {
  private readonly sink: SqsSink;

  constructor(
    client: SQSClient,
    queueUrl: string,
    private readonly consumer: string,
  ) {
    this.sink = new SqsSink(client, queueUrl);
  }

  async park(poison: readonly { record: PoisonSource; reason: string }[]): Promise<string[]> {
    if (poison.length === 0) return [];
    for (const p of poison)
      logger.error('poison record parked', { sequenceNumber: p.record.kinesis.sequenceNumber, reason: p.reason });
    // Visible through the queue's backlog alarm, like every dead-letter queue.
    const failed = await this.sink.sendAll(poison.map((p) => poisonRecordMessage(this.consumer, p.record, p.reason)));
    return failed.map((i) => poison[i]?.record.kinesis.sequenceNumber ?? '');
  }
}
