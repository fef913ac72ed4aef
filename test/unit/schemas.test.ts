import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderSchemas, SCHEMA_DIR } from '../../scripts/export-schemas';
import { EventEnvelopeSchema, EventInputSchema } from '../../shared/domain/events';
import { IngestRequestSchema } from '../../shared/domain/ingest';
import { TelemetryPayloadSchema } from '../../shared/domain/telemetry';

type JsonSchema = {
  type?: string;
  required?: string[];
  properties?: Record<string, JsonSchema>;
  anyOf?: JsonSchema[];
  items?: JsonSchema;
  pattern?: string;
  minItems?: number;
  maxItems?: number;
  maximum?: number;
  minimum?: number;
  additionalProperties?: boolean | JsonSchema;
};

const rendered = renderSchemas();
const committed = (file: string) => JSON.parse(readFileSync(path.join(SCHEMA_DIR, file), 'utf8')) as JsonSchema;

describe('docs/schemas (JSON Schema export of the zod schemas)', () => {
  it.each(Object.keys(rendered))('%s is what scripts/export-schemas.ts renders today', (file) => {
    // Fails when a zod schema changed without `npx tsx scripts/export-schemas.ts`. Compared as canonical JSON text
    // (same keys, same order, same values): only the layout, which Biome owns, may differ.
    const canonical = (text: string) => JSON.stringify(JSON.parse(text));
    expect(canonical(readFileSync(path.join(SCHEMA_DIR, file), 'utf8'))).toBe(canonical(rendered[file] ?? ''));
  });

  it('exports the four contract schemas', () => {
    expect(Object.keys(rendered).sort()).toEqual([
      'event-envelope.schema.json',
      'event-input.schema.json',
      'ingest-request.schema.json',
      'telemetry.schema.json',
    ]);
  });

  it('event input: type and data required, nothing else allowed', () => {
    const schema = committed('event-input.schema.json');
    expect(schema.required).toEqual(['type', 'data']);
    expect(Object.keys(schema.properties ?? {}).sort()).toEqual(['data', 'id', 'occurredAt', 'source', 'type']);
    expect(schema.additionalProperties).toBe(false);
    expect(schema.properties?.data?.type).toBe('object');
  });

  it('ingest request: one event, or {"events": [...]} of 1 to 500 events', () => {
    const schema = committed('ingest-request.schema.json');
    const [single, batch] = schema.anyOf ?? [];
    expect(single?.required).toEqual(['type', 'data']);
    expect(batch?.required).toEqual(['events']);
    expect(batch?.properties?.events).toMatchObject({ type: 'array', minItems: 1, maxItems: 500 });
    expect(batch?.properties?.events?.items?.required).toEqual(['type', 'data']);
  });

  it('envelope: every field the boundary adds is required', () => {
    expect(committed('event-envelope.schema.json').required).toEqual([
      'id',
      'type',
      'source',
      'occurredAt',
      'receivedAt',
      'principalId',
      'traceId',
      'data',
    ]);
  });

  it('telemetry: metrics required, numbers bounded, seq an integer', () => {
    const schema = committed('telemetry.schema.json');
    expect(schema.required).toEqual(['metrics']);
    expect(schema.properties?.metrics?.additionalProperties).toMatchObject({
      type: 'number',
      maximum: Number.MAX_SAFE_INTEGER,
      minimum: -Number.MAX_SAFE_INTEGER,
    });
    expect(schema.properties?.seq?.type).toBe('integer');
  });

  // The exported patterns must judge values as zod does (a regex flag lost in the export would show here).
  it.each<[string, string, string[], string[]]>([
    [
      'id',
      'id',
      ['0190f4d2-7a5b-7c3e-9f00-0123456789ab', '0190F4D2-7A5B-7C3E-9F00-0123456789AB', '01hzx3k4zq8j9p6v5w4t3s2r1q'],
      ['not-an-id', '01HZX3K4ZQ8J9P6V5W4T3S2R1I', '0190f4d27a5b7c3e9f000123456789ab'],
    ],
    ['type', 'type', ['payment.success', 'a1.b_2.c'], ['Payment.Success', 'payment', 'pay-ment.x']],
    ['source', 'source', ['svc:users/eu@1.2-x_y'], ['has space', 'semi;colon']],
    ['occurredAt', 'occurredAt', ['2024-05-01T12:00:00Z', '2024-05-01T14:00:00.5+02:00'], ['2024-05-01T12:00:00']],
  ])('the exported %s pattern agrees with zod', (_name, field, good, bad) => {
    const pattern = committed('event-input.schema.json').properties?.[field]?.pattern;
    if (!pattern) throw new Error(`no pattern for ${field}`);
    const regex = new RegExp(pattern, 'u');
    const zodOk = (value: string) => EventInputSchema.safeParse({ type: 'a.b', data: {}, [field]: value }).success;
    for (const value of good) expect([value, regex.test(value), zodOk(value)]).toEqual([value, true, true]);
    for (const value of bad) expect([value, regex.test(value), zodOk(value)]).toEqual([value, false, false]);
  });

  it('sample payloads: the zod schemas behind the files accept and refuse them as documented', () => {
    const event = { type: 'payment.success', data: { amount: 42 } };
    expect(IngestRequestSchema.safeParse(event).success).toBe(true);
    expect(IngestRequestSchema.safeParse({ events: [event, event] }).success).toBe(true);
    expect(IngestRequestSchema.safeParse({ events: [] }).success).toBe(false);
    expect(IngestRequestSchema.safeParse({ events: Array(501).fill(event) }).success).toBe(false);
    expect(IngestRequestSchema.safeParse({ data: {} }).success).toBe(false); // no type
    expect(IngestRequestSchema.safeParse({ type: 'a.b' }).success).toBe(false); // no data
    expect(TelemetryPayloadSchema.safeParse({ metrics: { temperature: 81.5 } }).success).toBe(true);
    expect(TelemetryPayloadSchema.safeParse({ ts: 1716552000000, seq: 1 }).success).toBe(false); // no metrics
    const envelope = {
      id: 'x',
      type: 'a.b',
      source: 's',
      occurredAt: '2024-05-01T12:00:00.000Z',
      receivedAt: '2024-05-01T12:00:00.000Z',
      principalId: 'p',
      traceId: 't',
      data: {},
    };
    expect(EventEnvelopeSchema.safeParse(envelope).success).toBe(true);
    const { traceId: _traceId, ...withoutTrace } = envelope;
    expect(EventEnvelopeSchema.safeParse(withoutTrace).success).toBe(false);
  });
});
