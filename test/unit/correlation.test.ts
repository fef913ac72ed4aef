import { describe, expect, it } from 'vitest';
import {
  batchTraces,
  CorrelationIdSchema,
  correlationIdFor,
  correlationIdOf,
  recordTrace,
} from '../../shared/domain/correlation';
import { EventEnvelopeSchema, toEnvelope } from '../../shared/domain/events';
import { decodeStreamRecord } from '../../shared/domain/stream-records';

const receipt = {
  principalId: 'svc-a',
  principalName: 'svc-a',
  traceId: 'apigw-1',
  receivedAt: new Date('2024-05-01T12:00:00Z'),
};

describe('correlation ids', () => {
  it('the caller’s header when valid, else the request id', () => {
    expect(correlationIdFor('0190f4d2-7a5b-7c3e-9f00-0123456789ab', 'apigw-1')).toBe(
      '0190f4d2-7a5b-7c3e-9f00-0123456789ab',
    );
    expect(correlationIdFor('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', 'r')).toMatch(/^00-/);
    expect(correlationIdFor('Root=1-5759e988-bd862e3fe1be46a994272793', 'r')).toMatch(/^Root=/);
    for (const bad of [undefined, '', 'a b', 'a"b', 'a\nb', 'ü', 'x'.repeat(129), '<script>'])
      expect(correlationIdFor(bad, 'apigw-1'), String(bad)).toBe('apigw-1');
    expect(CorrelationIdSchema.safeParse('x'.repeat(128)).success).toBe(true);
  });

  it('an HTTP event carries the request’s correlation id; without one, its request id', () => {
    const input = { type: 'order.created', data: {} };
    expect(toEnvelope(input, { ...receipt, correlationId: 'order-42' })).toMatchObject({
      traceId: 'apigw-1',
      correlationId: 'order-42',
    });
    expect(toEnvelope(input, receipt).correlationId).toBe('apigw-1');
  });

  it('an event stored before it was carried still decodes, and falls back to its traceId', () => {
    const old = {
      id: 'e-1',
      type: 'a.b',
      source: 's',
      occurredAt: '2024-05-01T12:00:00.000Z',
      receivedAt: '2024-05-01T12:00:00.000Z',
      principalId: 'p',
      traceId: 'apigw-0',
      data: {},
    };
    const parsed = EventEnvelopeSchema.parse(old);
    expect(correlationIdOf(parsed)).toBe('apigw-0');
    expect(recordTrace(parsed)).toEqual({ id: 'e-1', correlationId: 'apigw-0' });
  });

  it('a device reading’s correlation id is its event id, in every consumer', () => {
    const reading = {
      metrics: { temperature: 21 },
      ts: 1714564800000,
      seq: 3,
      deviceId: 'd-1',
      receivedAt: 1714564800100,
    };
    const decoded = decodeStreamRecord(Buffer.from(JSON.stringify(reading)).toString('base64'));
    if (decoded.kind !== 'event') throw new Error('expected an event');
    expect(decoded.envelope.correlationId).toBe(decoded.envelope.id);
    expect(EventEnvelopeSchema.parse(decoded.envelope).correlationId).toBe(decoded.envelope.id);
  });
});

describe('batch log lines', () => {
  const httpEvent = (id: string, correlationId: string) => ({ id, traceId: 'r', correlationId });

  it('list every event id once, and each distinct correlation id that is not an event’s own id', () => {
    const events = [httpEvent('e1', 'order-1'), httpEvent('e2', 'order-1'), { id: 'reading-1' }, httpEvent('e3', 'c')];
    expect(batchTraces(events)).toEqual([
      { eventIds: ['e1', 'e2', 'reading-1', 'e3'], correlationIds: ['order-1', 'c'] },
    ]);
  });

  it('are bounded: a batch of 10,000 is ten lines of 1,000 ids; an empty batch no line', () => {
    const events = Array.from({ length: 10_000 }, (_, i) => ({ id: `r-${i}` }));
    const lines = batchTraces(events);
    expect(lines.map((l) => l.eventIds.length)).toEqual(Array(10).fill(1000));
    expect(lines.flatMap((l) => l.eventIds)).toEqual(events.map((e) => e.id));
    expect(Math.max(...lines.map((l) => JSON.stringify(l).length))).toBeLessThan(64 * 1024);
    expect(batchTraces([])).toEqual([]);
  });
});
