import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EventEnvelopeSchema } from '../../shared/domain/events';
import { decodeStreamRecord } from '../../shared/domain/stream-records';
import {
  MAX_METRICS_PER_READING,
  TELEMETRY_EVENT_TYPE,
  TelemetryPayloadSchema,
  type TelemetryRuleEvent,
  TelemetryRuleEventSchema,
  telemetryToEnvelope,
} from '../../shared/domain/telemetry';

const fixture = JSON.parse(
  readFileSync(new URL('../events/iot/telemetry-rule-event.json', import.meta.url), 'utf8'),
) as Record<string, unknown>;

const RECEIVED = Date.parse('2024-05-01T12:00:05.000Z');
const reading: TelemetryRuleEvent = {
  deviceId: 'sensor-1',
  receivedAt: RECEIVED,
  ts: '2024-05-01T12:00:00Z',
  seq: 7,
  metrics: { temp: 21.5, humidity: 40 },
};

function issuePaths(input: unknown): string[] {
  const result = TelemetryRuleEventSchema.safeParse(input);
  if (result.success) return [];
  return result.error.issues.map((i) => i.path.join('.'));
}

describe('telemetryToEnvelope', () => {
  it('maps a reading to a device.telemetry event', () => {
    const envelope = telemetryToEnvelope(reading);
    expect(envelope).toEqual({
      id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/),
      type: 'device.telemetry',
      source: 'sensor-1',
      occurredAt: '2024-05-01T12:00:00.000Z',
      receivedAt: '2024-05-01T12:00:05.000Z',
      principalId: 'device:sensor-1',
      traceId: envelope.id,
      data: { metrics: { temp: 21.5, humidity: 40 }, seq: 7 },
    });
    expect(TELEMETRY_EVENT_TYPE).toBe('device.telemetry');
    expect(EventEnvelopeSchema.safeParse(envelope).success).toBe(true);
  });

  it('gives the same reading the same id (idempotent redelivery)', () => {
    const again = structuredClone(reading);
    expect(telemetryToEnvelope(again).id).toBe(telemetryToEnvelope(reading).id);
  });

  it('the same reading received at a different time keeps its id', () => {
    expect(telemetryToEnvelope({ ...reading, receivedAt: RECEIVED + 60_000 }).id).toBe(telemetryToEnvelope(reading).id);
  });

  it.each<[string, Partial<TelemetryRuleEvent>]>([
    ['seq', { seq: 8 }],
    ['deviceId', { deviceId: 'sensor-2' }],
    ['ts', { ts: '2024-05-01T12:00:01Z' }],
    ['metrics', { metrics: { temp: 21.6, humidity: 40 } }],
  ])('a different %s gives a different id', (_name, change) => {
    expect(telemetryToEnvelope({ ...reading, ...change }).id).not.toBe(telemetryToEnvelope(reading).id);
  });

  it('ts as ISO and as epoch ms both map to occurredAt (and to the same id)', () => {
    const iso = telemetryToEnvelope({ ...reading, ts: '2024-05-01T14:00:00+02:00' });
    const epoch = telemetryToEnvelope({ ...reading, ts: Date.parse('2024-05-01T12:00:00Z') });
    expect(iso.occurredAt).toBe('2024-05-01T12:00:00.000Z');
    expect(epoch.occurredAt).toBe('2024-05-01T12:00:00.000Z');
    expect(iso.id).toBe(epoch.id);
  });

  it('ts = 0 is a time, not a missing value', () => {
    expect(telemetryToEnvelope({ ...reading, ts: 0 }).occurredAt).toBe('1970-01-01T00:00:00.000Z');
  });

  it('without ts, occurredAt is receivedAt; without seq, data holds no seq', () => {
    const { ts: _ts, seq: _seq, ...bare } = reading;
    const envelope = telemetryToEnvelope(bare);
    expect(envelope.occurredAt).toBe('2024-05-01T12:00:05.000Z');
    expect(envelope.data).toEqual({ metrics: { temp: 21.5, humidity: 40 } });
    expect('seq' in envelope.data).toBe(false);
  });

  // Date only represents +-8.64e15 ms: a ts beyond it must be refused as invalid (telemetry error queue), not crash
  // the conversion (which would retry and land in the ingest DLQ).
  it('refuses a ts beyond the Date range, and converts the largest one the payload schema accepts', () => {
    expect(TelemetryRuleEventSchema.safeParse({ ...reading, ts: 9e15 }).success).toBe(false);
    const payload = TelemetryPayloadSchema.parse({ metrics: reading.metrics, ts: 8.64e15 });
    expect(() => telemetryToEnvelope({ ...payload, deviceId: 'd', receivedAt: 8.64e15 })).not.toThrow();
  });

  it('gives the same id whatever the order of the metrics keys', () => {
    const a = TelemetryRuleEventSchema.parse({ ...reading, metrics: { temperature: 1, humidity: 2 } });
    const b = TelemetryRuleEventSchema.parse({ ...reading, metrics: { humidity: 2, temperature: 1 } });
    expect(telemetryToEnvelope(a).id).toBe(telemetryToEnvelope(b).id);
  });
});

describe('TelemetryRuleEventSchema', () => {
  it('accepts a minimal reading and strips unknown fields', () => {
    const parsed = TelemetryRuleEventSchema.parse({ deviceId: 'd:1_a-b', receivedAt: 0, metrics: { t: 1 }, fw: 'x' });
    expect(parsed).toEqual({ deviceId: 'd:1_a-b', receivedAt: 0, metrics: { t: 1 } });
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['empty metrics', { metrics: {} }, 'metrics'],
    ['string metric', { metrics: { temp: '21.5' } }, 'metrics.temp'],
    ['null metric', { metrics: { temp: null } }, 'metrics.temp'],
    ['NaN metric', { metrics: { temp: Number.NaN } }, 'metrics.temp'],
    ['Infinity metric', { metrics: { temp: Number.POSITIVE_INFINITY } }, 'metrics.temp'],
    ['bad metric name', { metrics: { '1temp': 1 } }, 'metrics.1temp'],
    ['metrics missing', { metrics: undefined }, 'metrics'],
    ['deviceId with slash', { deviceId: 'a/b' }, 'deviceId'],
    ['empty deviceId', { deviceId: '' }, 'deviceId'],
    ['deviceId too long', { deviceId: 'd'.repeat(129) }, 'deviceId'],
    ['NaN receivedAt', { receivedAt: Number.NaN }, 'receivedAt'],
    ['fractional receivedAt', { receivedAt: 1.5 }, 'receivedAt'],
    ['negative receivedAt', { receivedAt: -1 }, 'receivedAt'],
    ['NaN ts', { ts: Number.NaN }, 'ts'],
    ['ts not ISO', { ts: '2024-05-01 12:00' }, 'ts'],
    ['negative seq', { seq: -1 }, 'seq'],
    ['metric over 2^53', { metrics: { temp: 2 ** 53 } }, 'metrics.temp'],
    ['metric under 1e-130', { metrics: { temp: 1e-131 } }, 'metrics.temp'],
    ['ts 5 minutes and 1 ms ahead of receipt', { ts: RECEIVED + 5 * 60_000 + 1 }, 'ts'],
    ['ISO ts a year ahead', { ts: '2025-05-01T12:00:00Z' }, 'ts'],
  ])('rejects %s', (_name, change, path) => {
    const paths = issuePaths({ ...reading, ...change });
    expect(paths.length).toBeGreaterThan(0);
    expect(paths.every((p) => p === path)).toBe(true);
  });

  it('accepts a ts exactly 5 minutes ahead of receipt, a metric of 0 and the extreme storable ones', () => {
    expect(issuePaths({ ...reading, ts: RECEIVED + 5 * 60_000 })).toEqual([]);
    expect(issuePaths({ ...reading, metrics: { a: 0, b: -(2 ** 53 - 1), c: 1e-130, d: -1e-130 } })).toEqual([]);
  });

  it('parses the IoT rule fixture (what the topic rule hands the function)', () => {
    const parsed = TelemetryRuleEventSchema.parse(fixture);
    expect(telemetryToEnvelope(parsed)).toMatchObject({
      type: 'device.telemetry',
      source: 'sensor-1',
      occurredAt: '2024-05-24T11:59:58.250Z',
      principalId: 'device:sensor-1',
      data: { metrics: { temperature: 81.5, humidity: 40 }, seq: 1042 },
    });
  });

  it('accepts a 128-character deviceId', () => {
    expect(issuePaths({ ...reading, deviceId: 'd'.repeat(128) })).toEqual([]);
  });
});

describe('metrics per reading', () => {
  const metricsOf = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`m${i}`, i]));

  it(`accepts ${MAX_METRICS_PER_READING} metrics and refuses one more, naming the limit`, () => {
    expect(issuePaths({ ...reading, metrics: metricsOf(MAX_METRICS_PER_READING) })).toEqual([]);
    const result = TelemetryRuleEventSchema.safeParse({ ...reading, metrics: metricsOf(MAX_METRICS_PER_READING + 1) });
    expect(result.error?.issues).toEqual([
      expect.objectContaining({ path: ['metrics'], message: `holds more than ${MAX_METRICS_PER_READING} metrics` }),
    ]);
  });

  it('refuses 8,000 metrics with one issue, counted before any metric is checked', () => {
    const bad = Object.fromEntries(Array.from({ length: 8000 }, (_, i) => [`${i}bad`, 'x']));
    const record = Buffer.from(JSON.stringify({ ...reading, metrics: bad })).toString('base64');
    expect(decodeStreamRecord(record)).toMatchObject({
      kind: 'rejectedReading',
      rejection: { issues: [{ path: 'metrics', message: `holds more than ${MAX_METRICS_PER_READING} metrics` }] },
    });
  });

  it('refuses a metric name over 64 characters', () => {
    expect(issuePaths({ ...reading, metrics: { [`a${'b'.repeat(64)}`]: 1 } })).toEqual([`metrics.a${'b'.repeat(64)}`]);
  });
});

describe('decodeStreamRecord', () => {
  const b64 = (value: unknown) =>
    Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64');

  it('turns a reading as the topic rule wrote it into the device.telemetry event every consumer derives', () => {
    const decoded = decodeStreamRecord(b64(fixture));
    const envelope = telemetryToEnvelope(TelemetryRuleEventSchema.parse(fixture));
    // A reading's correlation id is its event id (ADR 0016).
    expect(decoded).toEqual({ kind: 'event', envelope: { ...envelope, correlationId: envelope.id } });
  });

  it('passes an ingest envelope through', () => {
    const envelope = telemetryToEnvelope(reading);
    expect(decodeStreamRecord(b64(envelope))).toEqual({ kind: 'event', envelope });
  });

  it('reports an invalid reading with its reasons (not poison: a retry cannot fix it)', () => {
    expect(decodeStreamRecord(b64({ ...fixture, metrics: { temperature: 'hot' } }))).toEqual({
      kind: 'rejectedReading',
      rejection: {
        reason: 'invalid telemetry',
        deviceId: 'sensor-1',
        issues: [expect.objectContaining({ path: 'metrics.temperature' })],
        reading: { ...fixture, metrics: { temperature: 'hot' } },
      },
    });
  });

  it('throws for a record that is neither (poison), and for an envelope that is not valid', () => {
    expect(() => decodeStreamRecord(b64('not json'))).toThrow('not JSON');
    expect(() => decodeStreamRecord(b64([1]))).toThrow('not a JSON object');
    expect(() => decodeStreamRecord(b64({ hello: 1 }))).toThrow('neither an event nor a device reading');
    expect(() => decodeStreamRecord(b64({ principalId: 'p' }))).toThrow();
  });
});
