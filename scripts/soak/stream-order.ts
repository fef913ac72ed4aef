import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
  ListShardsCommand,
} from '@aws-sdk/client-kinesis';
import { decodeStreamRecord } from '../../shared/domain/stream-records';

/**
 * The order in which the stream holds each event, read back from the start of every shard: the order the alerts
 * consumer judged readings in (ADR 0007: stream order). It differs from send order where the topic rule could not put
 * a reading at once and the ruleErrors redrive put it later, after newer readings of the device. The soak's stack is
 * its own, so the stream holds only the run's records. Returns event id → position (shard-major).
 */
export async function streamPositions(kinesis: KinesisClient, streamName: string): Promise<Map<string, number>> {
  const positions = new Map<string, number>();
  const { Shards } = await kinesis.send(new ListShardsCommand({ StreamName: streamName }));
  let position = 0;
  for (const shard of Shards ?? []) {
    let { ShardIterator: iterator } = await kinesis.send(
      new GetShardIteratorCommand({
        StreamName: streamName,
        ShardId: shard.ShardId,
        ShardIteratorType: 'TRIM_HORIZON',
      }),
    );
    while (iterator) {
      const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
      for (const record of page.Records ?? []) {
        position++;
        try {
          const decoded = decodeStreamRecord(Buffer.from(record.Data ?? new Uint8Array()).toString('base64'));
          if (decoded.kind === 'event' && !positions.has(decoded.envelope.id))
            positions.set(decoded.envelope.id, position);
        } catch {
          // Not an event (the run sends none such): it has no place in the alerts' order.
        }
      }
      if ((page.Records ?? []).length === 0 && (page.MillisBehindLatest ?? 0) === 0) break;
      iterator = page.NextShardIterator;
    }
  }
  return positions;
}

/** `items` in stream order; those the stream does not hold keep their relative order, after the others. */
export function inStreamOrder<T>(items: readonly T[], idOf: (item: T) => string, positions: Map<string, number>): T[] {
  return items
    .map((item, index) => ({ item, index, at: positions.get(idOf(item)) ?? Number.MAX_SAFE_INTEGER }))
    .sort((a, b) => a.at - b.at || a.index - b.index)
    .map((x) => x.item);
}
