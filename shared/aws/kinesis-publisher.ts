import { type KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import type { EventPublisher, PublishOutcome, StreamRecord } from '../ports';

export class KinesisPublisher implements EventPublisher {
  constructor(
    private readonly client: KinesisClient,
    private readonly streamName: string,
  ) {}

  async publish(records: readonly StreamRecord[]): Promise<PublishOutcome> {
    const response = await this.client.send(
      new PutRecordsCommand({
        StreamName: this.streamName,
        Records: records.map((r) => ({ Data: r.data, PartitionKey: r.partitionKey })),
      }),
    );
    // Results come back in request order; a result with an ErrorCode is a record Kinesis did not take.
    const failed: PublishOutcome['failed'] = [];
    (response.Records ?? []).forEach((result, i) => {
      const record = records[i];
      if (record && result.ErrorCode) failed.push({ id: record.id, errorCode: result.ErrorCode });
    });
    return { failed };
  }
}
