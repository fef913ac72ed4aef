import {
  type _Record,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
  PutRecordsCommand,
} from '@aws-sdk/client-kinesis';
import { z } from 'zod';

/** The part of a stream mapping's on-failure record that says where the discarded records are. */
export const KinesisOnFailureRecord = z.object({
  requestContext: z.object({ functionArn: z.string(), condition: z.string() }).loose(),
  KinesisBatchInfo: z.object({
    shardId: z.string(),
    startSequenceNumber: z.string(),
    endSequenceNumber: z.string(),
    batchSize: z.number().int().positive(),
    streamArn: z.string(),
  }),
});
export type KinesisOnFailureRecord = z.infer<typeof KinesisOnFailureRecord>;

/** `arn:aws:kinesis:<region>:<account>:stream/<name>` -> `<name>`. */
export function streamNameOf(streamArn: string): string {
  const name = streamArn.split(':stream/')[1];
  if (!name) throw new Error(`not a stream ARN: ${streamArn}`);
  return name;
}

/**
 * Reads the records an on-failure record points at (while the stream still retains them) and writes them to the
 * stream again. Safe because the consumers recognise event ids they applied before (see `tem dlq replay`): a
 * consumer that had processed a record ignores it the second time.
 */
export class StreamReplayer {
  constructor(private readonly kinesis: KinesisClient) {}

  async readRange(info: KinesisOnFailureRecord['KinesisBatchInfo']): Promise<_Record[]> {
    const streamName = streamNameOf(info.streamArn);
    const end = BigInt(info.endSequenceNumber);
    const { ShardIterator } = await this.kinesis.send(
      new GetShardIteratorCommand({
        StreamName: streamName,
        ShardId: info.shardId,
        ShardIteratorType: 'AT_SEQUENCE_NUMBER',
        StartingSequenceNumber: info.startSequenceNumber,
      }),
    );
    const records: _Record[] = [];
    let iterator = ShardIterator;
    for (let calls = 0; iterator && calls < 1000; calls++) {
      const page = await this.kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }));
      for (const record of page.Records ?? []) {
        if (BigInt(record.SequenceNumber ?? '0') > end) return records;
        records.push(record);
      }
      if (records.length >= info.batchSize) return records;
      if ((page.Records ?? []).length === 0 && (page.MillisBehindLatest ?? 0) === 0) return records;
      iterator = page.NextShardIterator;
    }
    return records;
  }

  /** Puts the records back (same data, same partition keys, so per-key order holds); returns how many went in. */
  async replay(streamName: string, records: readonly _Record[]): Promise<number> {
    let pending = records.map((r) => ({ Data: r.Data ?? new Uint8Array(), PartitionKey: r.PartitionKey ?? 'replay' }));
    let written = 0;
    for (let attempt = 0; pending.length > 0 && attempt < 5; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
      const failed: typeof pending = [];
      for (let i = 0; i < pending.length; i += 500) {
        const chunk = pending.slice(i, i + 500);
        const response = await this.kinesis.send(new PutRecordsCommand({ StreamName: streamName, Records: chunk }));
        (response.Records ?? []).forEach((result, j) => {
          const entry = chunk[j];
          if (!entry) return;
          if (result.ErrorCode) failed.push(entry);
          else written++;
        });
      }
      pending = failed;
    }
    return written;
  }
}
