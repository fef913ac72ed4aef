import { readFileSync } from 'node:fs';
import type { Context, KinesisStreamEvent } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { EventEnvelope } from '../../shared/domain/events';
import { isArchived, isTabled } from '../../shared/domain/storage-policy';
import { TelemetryRuleEventSchema, telemetryToEnvelope } from '../../shared/domain/telemetry';

// The handler reads its settings at import; its table and error queue are replaced by recording fakes.
const fakes = vi.hoisted(() => {
  process.env.EVENTS_TABLE_NAME = 'unit-events';
  process.env.TELEMETRY_ERRORS_QUEUE_URL = 'http://unit.invalid/queue';
  process.env.POISON_RECORDS_QUEUE_URL = 'http://unit.invalid/dlq';
  process.env.ARCHIVE_DELIVERY_STREAM_NAME = 'unit-archive';
  return { putAll: vi.fn(), archive: vi.fn(), sendAll: vi.fn(), park: vi.fn() };
});
vi.mock('../../shared/aws/dynamo-event-store', () => ({
  DynamoEventStore: class {
    putAll = fakes.putAll;
  },
}));
vi.mock('../../shared/aws/firehose-event-archive', () => ({
  FirehoseEventArchive: class {
    putAll = fakes.archive;
  },
}));
vi.mock('../../shared/aws/poison-parking', () => ({
  PoisonParking: class {
    park = fakes.park;
  },
}));
vi.mock('../../shared/aws/sqs-sink', () => ({
  SqsSink: class {
    sendAll = fakes.sendAll;
  },
}));

const fixture = JSON.parse(
  readFileSync(new URL('../events/iot/telemetry-rule-event.json', import.meta.url), 'utf8'),
) as Record<string, unknown>;

const context = { getRemainingTimeInMillis: () => 30_000, functionName: 'storeEvents' } as unknown as Context;

/** A batch as the mapping hands it: the given payloads, as the topic rule put them on one shard. */
function batch(...payloads: unknown[]): KinesisStreamEvent {
  return {
    Records: payloads.map((p, i) => ({
      kinesis: {
        kinesisSchemaVersion: '1.0',
        partitionKey: 'sensor-1',
        sequenceNumber: String(100 + i),
        data: Buffer.from(JSON.stringify(p)).toString('base64'),
        approximateArrivalTimestamp: 1,
      },
      eventSource: 'aws:kinesis',
      eventVersion: '1.0',
      eventID: `shardId-000000000000:${100 + i}`,
      eventName: 'aws:kinesis:record',
      invokeIdentityArn: 'arn:aws:iam::000000000000:role/unit',
      awsRegion: 'us-east-1',
      eventSourceARN: 'arn:aws:kinesis:us-east-1:000000000000:stream/unit',
    })),
  };
}

/** The events each place was given, over every call. */
const tabled = (): EventEnvelope[] =>
  fakes.putAll.mock.calls.flatMap(([entries]) => (entries as { event: EventEnvelope }[]).map((e) => e.event));
const archived = (): EventEnvelope[] => fakes.archive.mock.calls.flatMap(([events]) => events as EventEnvelope[]);
/** Where policies/storage.json keeps readings: what the tests below expect them in. */
const readingPlace = isArchived('device.telemetry') && !isTabled('device.telemetry') ? 'archive' : 'table';
const storedReadings = () => (readingPlace === 'archive' ? archived() : tabled());

describe('storeEvents handler with device readings (table, archive and queues faked)', () => {
  let stdout: string[];
  const invoke = async (event: KinesisStreamEvent) => {
    const { handler } = await import('../../functions/consumers/store-events');
    return handler(event, context);
  };
  const emf = () =>
    stdout
      .flatMap((chunk) => chunk.split('\n'))
      .filter((line) => line.includes('"_aws"'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);

  beforeEach(() => {
    stdout = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stdout.push(String(chunk));
      return true;
    });
    fakes.putAll.mockReset().mockResolvedValue({ unwritten: [], refused: [] });
    fakes.archive.mockReset().mockResolvedValue({ unarchived: [], refused: [] });
    fakes.sendAll.mockReset().mockResolvedValue([]);
    fakes.park.mockReset().mockResolvedValue([]);
  });
  afterEach(() => vi.restoreAllMocks());

  it('stores a valid reading as its device.telemetry event and counts TelemetryStored', async () => {
    await expect(invoke(batch(fixture))).resolves.toEqual({ batchItemFailures: [] });
    const reading = telemetryToEnvelope(TelemetryRuleEventSchema.parse(fixture));
    // A reading's correlation id is its event id (ADR 0016).
    expect(storedReadings()).toEqual([{ ...reading, correlationId: reading.id }]);
    expect(tabled().length > 0).toBe(isTabled('device.telemetry'));
    expect(archived().length > 0).toBe(isArchived('device.telemetry'));
    expect(fakes.sendAll).not.toHaveBeenCalled();
    expect(emf()).toEqual([expect.objectContaining({ TelemetryStored: 1, service: 'tem' })]);
  });

  it('sends an invalid reading to telemetryErrors with its reason, stores the valid one after it, and counts both', async () => {
    const bad = { ...fixture, metrics: { temperature: 'hot' } };
    const good = { ...fixture, seq: 1043 };
    await expect(invoke(batch(bad, good))).resolves.toEqual({ batchItemFailures: [] });
    expect(fakes.sendAll).toHaveBeenCalledWith([
      expect.objectContaining({
        reason: 'invalid telemetry',
        deviceId: 'sensor-1',
        issues: [expect.objectContaining({ path: 'metrics.temperature' })],
        reading: bad,
        rejectedAt: expect.any(String),
      }),
    ]);
    expect(storedReadings().map((e) => e.data.seq)).toEqual([1043]);
    expect(emf()).toEqual([expect.objectContaining({ TelemetryRejected: 1, TelemetryStored: 1 })]);
  });

  it('reports a rejected reading whose report could not be sent (retried with its record), and does not count it', async () => {
    fakes.sendAll.mockResolvedValue([0]);
    const result = await invoke(batch({ ...fixture, metrics: {} }, { ...fixture, seq: 1 }));
    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: '100' }] });
    expect(emf().filter((line) => (line.TelemetryRejected ?? 0) !== 0)).toEqual([]);
  });

  it('parks a record that is neither an event nor a reading (poison) instead of failing it, and stores the rest', async () => {
    const result = await invoke(batch({ hello: 'world' }, fixture));
    expect(result).toEqual({ batchItemFailures: [] });
    expect(storedReadings()).toHaveLength(1);
    expect(fakes.park).toHaveBeenCalledWith([
      {
        record: expect.objectContaining({ kinesis: expect.objectContaining({ sequenceNumber: '100' }) }),
        reason: expect.stringContaining('neither an event nor a device reading'),
      },
    ]);
  });

  it('parks every copy of an event its place refuses as invalid; only a transient failure is reported (retried)', async () => {
    const first = telemetryToEnvelope(TelemetryRuleEventSchema.parse(fixture));
    const second = telemetryToEnvelope(TelemetryRuleEventSchema.parse({ ...fixture, seq: 9 }));
    const refused = [{ id: first.id, reason: 'ValidationException: too big' }];
    if (readingPlace === 'table') fakes.putAll.mockResolvedValue({ unwritten: [second.id], refused });
    else fakes.archive.mockResolvedValue({ unarchived: [second.id], refused });
    const result = await invoke(batch(fixture, { ...fixture, seq: 9 }, fixture));
    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: '101' }] });
    const [parked] = fakes.park.mock.calls[0] as [
      { record: { kinesis: { sequenceNumber: string } }; reason: string }[],
    ];
    expect(parked.map((p) => [p.record.kinesis.sequenceNumber, p.reason])).toEqual([
      ['100', `refused by the ${readingPlace}: ValidationException: too big`],
      ['102', `refused by the ${readingPlace}: ValidationException: too big`],
    ]);
  });

  it('an event of a type kept in both places is stored once both have it; either failing retries it', async () => {
    const second = telemetryToEnvelope(TelemetryRuleEventSchema.parse({ ...fixture, seq: 2 }));
    const both = isTabled('device.telemetry') && isArchived('device.telemetry');
    fakes.archive.mockResolvedValue({ unarchived: both ? [second.id] : [], refused: [] });
    fakes.putAll.mockResolvedValue({ unwritten: [], refused: [] });
    const result = await invoke(batch(fixture, { ...fixture, seq: 2 }));
    // Kept in one place only, the other place's answer does not concern it.
    expect(result).toEqual({ batchItemFailures: both ? [{ itemIdentifier: '101' }] : [] });
  });

  it('sends a business event to the table only and a reading where the policy says, from one batch', async () => {
    expect(isTabled('order.created')).toBe(true);
    expect(isArchived('order.created')).toBe(false);
    const order = {
      id: 'order-1',
      type: 'order.created',
      source: 'svc',
      occurredAt: '2026-01-01T00:00:00.000Z',
      receivedAt: '2026-01-01T00:00:00.000Z',
      principalId: 'svc',
      traceId: 't',
      data: { n: 1 },
    };
    await expect(invoke(batch(order, fixture))).resolves.toEqual({ batchItemFailures: [] });
    expect(tabled().filter((e) => e.type === 'order.created')).toHaveLength(1);
    expect(archived().filter((e) => e.type === 'order.created')).toEqual([]);
    expect(storedReadings().filter((e) => e.type === 'device.telemetry')).toHaveLength(1);
  });

  it('reports a poison record it could not park (the queue down): retried, never dropped', async () => {
    fakes.park.mockResolvedValue(['100']);
    const result = await invoke(batch({ hello: 'world' }, fixture));
    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: '100' }] });
  });
});

describe('poisonRecordMessage', () => {
  it('keeps the record whole with its position and reason, or only its size when it would not fit SQS', async () => {
    const { poisonRecordMessage, MAX_PARKED_DATA_CHARS } = await import('../../shared/domain/poison-records');
    const [small] = batch({ hello: 'world' }).Records;
    if (!small) throw new Error('no record');
    expect(poisonRecordMessage('storeEvents', small, 'not an event', new Date(0))).toEqual({
      kind: 'poisonRecord',
      consumer: 'storeEvents',
      reason: 'not an event',
      eventSourceArn: small.eventSourceARN,
      shardId: 'shardId-000000000000',
      sequenceNumber: '100',
      partitionKey: 'sensor-1',
      approximateArrivalTimestamp: 1,
      data: small.kinesis.data,
      dataBytes: 17,
      parkedAt: '1970-01-01T00:00:00.000Z',
    });
    const big = { ...small, kinesis: { ...small.kinesis, data: 'A'.repeat(MAX_PARKED_DATA_CHARS + 4) } };
    const message = poisonRecordMessage('storeEvents', big, 'x');
    expect(message.data).toBeUndefined();
    expect(message.dataBytes).toBe(((MAX_PARKED_DATA_CHARS + 4) / 4) * 3);
  });
});
