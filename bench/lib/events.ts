import { randomUUID } from 'node:crypto';
import type { KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import type { EventEnvelope } from '../../shared/domain/events';
import { toStreamRecord } from '../../shared/domain/ingest';
import { telemetryToEnvelope } from '../../shared/domain/telemetry';

/** Target size of one business event as posted (JSON bytes): a typical order or payment event. */
export const EVENT_BYTES = 300;

/** One business event of ~300 bytes JSON, as a producer posts it. */
export function businessEvent(i: number, options: { source?: string; id?: string; type?: string } = {}) {
  const event = {
    ...(options.id ? { id: options.id } : {}),
    type: options.type ?? 'order.created',
    ...(options.source ? { source: options.source } : {}),
    data: {
      orderId: `o-${String(i).padStart(8, '0')}`,
      customerId: `c-${String(i % 9973).padStart(6, '0')}`,
      total: 42.5 + (i % 100),
      currency: 'EUR',
      lines: [
        { sku: `sku-${i % 1000}`, qty: 1 + (i % 3), price: 10.25 },
        { sku: `sku-${(i * 7) % 1000}`, qty: 1, price: 22 },
      ],
      seq: i,
      note: '',
    },
  };
  const pad = EVENT_BYTES - Buffer.byteLength(JSON.stringify(event));
  event.data.note = 'x'.repeat(Math.max(0, pad));
  return event;
}

export function batchBody(events: readonly unknown[]): string {
  return JSON.stringify({ events });
}

/** The envelope the ingest would write for a posted event (for baselines that put straight into an engine). */
export function envelopeOf(event: ReturnType<typeof businessEvent>, principal = 'local-admin'): EventEnvelope {
  const now = new Date().toISOString();
  return {
    id: event.id ?? randomUUID(),
    type: event.type,
    source: event.source ?? principal,
    occurredAt: now,
    receivedAt: now,
    principalId: principal,
    traceId: randomUUID(),
    data: event.data,
  };
}

/** Kinesis sequence numbers: 56 decimal digits, increasing per shard (as the alerts consumer expects). */
const SEQUENCE_BASE = 49_650_000_000_000_000_000_000_000_000_000_000_000_000_000_000n;

/**
 * Synthetic stream records, base64 envelopes exactly as the ingest functions write them (`toStreamRecord`), on
 * `shards` shards by partition key, each shard's sequence numbers increasing from `firstSequence`.
 */
export function streamRecords(
  envelopes: readonly EventEnvelope[],
  shards = 2,
  firstSequence = 0,
): KinesisStreamRecord[] {
  const next = Array.from({ length: shards }, () => BigInt(firstSequence));
  return envelopes.map((envelope) => {
    const record = toStreamRecord(envelope);
    const shard = hash(record.partitionKey) % shards;
    const sequence = (SEQUENCE_BASE + (next[shard] as bigint)).toString();
    next[shard] = (next[shard] as bigint) + 1n;
    const shardId = `shardId-${String(shard).padStart(12, '0')}`;
    return {
      kinesis: {
        kinesisSchemaVersion: '1.0',
        partitionKey: record.partitionKey,
        sequenceNumber: sequence,
        data: Buffer.from(record.data).toString('base64'),
        approximateArrivalTimestamp: Date.now() / 1000,
      },
      eventSource: 'aws:kinesis',
      eventVersion: '1.0',
      eventID: `${shardId}:${sequence}`,
      eventName: 'aws:kinesis:record',
      invokeIdentityArn: 'arn:aws:iam::000000000000:role/bench',
      awsRegion: 'us-east-1',
      eventSourceARN: 'arn:aws:kinesis:us-east-1:000000000000:stream/tem-event-stream',
    };
  });
}

function hash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) | 0;
  return Math.abs(h);
}

/**
 * The batches a mapping would hand a consumer: per shard, in order, at most `batchSize` records each (a real
 * mapping reads shards independently, so a batch never mixes shards).
 */
export function mappingBatches(records: readonly KinesisStreamRecord[], batchSize: number): KinesisStreamEvent[] {
  const byShard = new Map<string, KinesisStreamRecord[]>();
  for (const r of records) {
    const shard = r.eventID.slice(0, r.eventID.indexOf(':'));
    byShard.set(shard, [...(byShard.get(shard) ?? []), r]);
  }
  const batches: KinesisStreamEvent[] = [];
  for (const list of byShard.values())
    for (let i = 0; i < list.length; i += batchSize) batches.push({ Records: list.slice(i, i + batchSize) });
  return batches;
}

/** A device reading as the topic rule hands it on, turned into its envelope (`telemetryToEnvelope`). */
export function telemetryEnvelope(deviceId: string, seq: number, metrics: Record<string, number>, receivedAt: number) {
  return telemetryToEnvelope({ deviceId, seq, metrics, receivedAt });
}
