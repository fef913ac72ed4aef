/**
 * A stream record a consumer can never process (not an event, or an item the table refuses as invalid). With the
 * mappings retrying failures until they succeed or age out (ADR 0005), such a record must not be reported as
 * failed, or it would hold its shard for the whole maximum record age: the consumer parks it in the consumers'
 * dead-letter queue itself, whole, with the reason, and goes on.
 */
export interface PoisonRecordMessage {
  kind: 'poisonRecord';
  consumer: string;
  reason: string;
  eventSourceArn: string;
  shardId: string;
  sequenceNumber: string;
  partitionKey: string;
  approximateArrivalTimestamp: number;
  /**
   * The record's data, base64, as it is on the stream; left out when it would not fit an SQS message (a record may be
   * 1 MiB): it is then read from the stream by its sequence number, within the stream's retention.
   */
  data?: string;
  dataBytes: number;
  parkedAt: string;
}

/** Base64 data kept in a poison message at most: SQS takes 256 KiB per message, with room for the rest. */
export const MAX_PARKED_DATA_CHARS = 200 * 1024;

/** The part of a Lambda Kinesis record a poison message keeps. */
export interface PoisonSource {
  eventID: string;
  eventSourceARN: string;
  kinesis: { sequenceNumber: string; partitionKey: string; approximateArrivalTimestamp: number; data: string };
}

export function poisonRecordMessage(
  consumer: string,
  record: PoisonSource,
  reason: string,
  now = new Date(),
): PoisonRecordMessage {
  return {
    kind: 'poisonRecord',
    consumer,
    reason: reason.slice(0, 500),
    eventSourceArn: record.eventSourceARN,
    // eventID is `<shardId>:<sequenceNumber>`.
    shardId: record.eventID.slice(0, record.eventID.indexOf(':')),
    sequenceNumber: record.kinesis.sequenceNumber,
    partitionKey: record.kinesis.partitionKey,
    approximateArrivalTimestamp: record.kinesis.approximateArrivalTimestamp,
    ...(record.kinesis.data.length <= MAX_PARKED_DATA_CHARS ? { data: record.kinesis.data } : {}),
    dataBytes: Buffer.byteLength(record.kinesis.data, 'base64'),
    parkedAt: now.toISOString(),
  };
}

export function isPoisonRecordMessage(value: unknown): value is PoisonRecordMessage {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'poisonRecord';
}
