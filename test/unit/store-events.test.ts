import { readFileSync } from 'node:fs';
import type { Context, KinesisStreamEvent } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TelemetryRuleEventSchema, telemetryToEnvelope } from '../../shared/domain/telemetry';

// The handler reads its settings at import; its table and error queue are replaced by recording fakes.
const fakes = vi.hoisted(() => {
  process.env.EVENTS_TABLE_NAME = 'unit-events';
  process.env.TELEMETRY_ERRORS_QUEUE_URL = 'http://unit.invalid/queue';
  return { putAll: vi.fn(), sendAll: vi.fn() };
});
vi.mock('../../shared/aws/dynamo-event-store', () => ({
  DynamoEventStore: class {
    putAll = fakes.putAll;
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

describe('storeEvents handler with device readings (table and queue faked)', () => {
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
    fakes.putAll.mockReset().mockResolvedValue({ unwritten: [] });
    fakes.sendAll.mockReset().mockResolvedValue([]);
  });
  afterEach(() => vi.restoreAllMocks());

  it('stores a valid reading as its device.telemetry event and counts TelemetryStored', async () => {
    await expect(invoke(batch(fixture))).resolves.toEqual({ batchItemFailures: [] });
    const [entries] = fakes.putAll.mock.calls[0] as [{ event: unknown }[]];
    expect(entries.map((e) => e.event)).toEqual([telemetryToEnvelope(TelemetryRuleEventSchema.parse(fixture))]);
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
    const [entries] = fakes.putAll.mock.calls[0] as [{ event: { data: { seq: number } } }[]];
    expect(entries.map((e) => e.event.data.seq)).toEqual([1043]);
    expect(emf()).toEqual([expect.objectContaining({ TelemetryRejected: 1, TelemetryStored: 1 })]);
  });

  it('reports a rejected reading whose report could not be sent (retried with its record), and does not count it', async () => {
    fakes.sendAll.mockResolvedValue([0]);
    const result = await invoke(batch({ ...fixture, metrics: {} }, { ...fixture, seq: 1 }));
    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: '100' }] });
    expect(emf().filter((line) => (line.TelemetryRejected ?? 0) !== 0)).toEqual([]);
  });

  it('reports a record that is neither an event nor a reading (poison), and stores the rest', async () => {
    const result = await invoke(batch({ hello: 'world' }, fixture));
    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: '100' }] });
    expect((fakes.putAll.mock.calls[0] as [unknown[]])[0]).toHaveLength(1);
  });
});
