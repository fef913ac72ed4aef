import { describe, expect, it } from 'vitest';
import { duration, hopsOf, mentions, parseLogLine, renderHops } from '../../scripts/lib/trace-hops';
import type { EventEnvelope } from '../../shared/domain/events';

const ID = '5a0d8a5e-3c21-8f4e-b1a7-2d9c44e0f6b3';
const line = (fn: string, fields: Record<string, unknown>) => `${fn} ${JSON.stringify({ level: 'INFO', ...fields })}`;
const parsed = (text: string) => {
  const l = parseLogLine(text);
  if (!l) throw new Error(`not a log line: ${text}`);
  return l;
};

const stored: EventEnvelope = {
  id: ID,
  type: 'order.created',
  source: 'svc-orders',
  occurredAt: '2024-05-24T11:59:58.000Z',
  receivedAt: '2024-05-24T12:00:00.000Z',
  principalId: 'svc-orders',
  traceId: 'apigw-1',
  correlationId: 'order-42',
  data: {},
};

describe('tem trace: hops from the function log', () => {
  const log = [
    line('storeEvents', {
      message: 'batch stored',
      timestamp: '2024-05-24T12:00:00.300Z',
      records: 3,
      eventIds: ['other', ID],
    }),
    line('httpIngest', {
      message: 'events accepted',
      timestamp: '2024-05-24T12:00:00.040Z',
      count: 1,
      principalId: 'svc-orders',
      eventIds: [ID],
      correlation_id: 'order-42',
    }),
    line('alerts', {
      level: 'WARN',
      message: 'telemetry event skipped',
      timestamp: '2024-05-24T12:00:00.310Z',
      id: ID,
      reason: 'not telemetry',
    }),
  ].map(parsed);

  it('orders the stored event’s own times and the log lines, each with the time since the previous one', () => {
    const hops = hopsOf({ eventId: ID, stored, lines: log });
    expect(hops.map((h) => [h.hop, h.function, h.sincePreviousMs, h.sinceFirstMs])).toEqual([
      ['occurred', 'event', 0, 0],
      ['received', 'event', 2000, 2000],
      ['accepted', 'httpIngest', 40, 2040],
      ['stored', 'storeEvents', 260, 2300],
      ['telemetry event skipped', 'alerts', 10, 2310],
    ]);
    expect(hops[4]).toMatchObject({ level: 'WARN', detail: 'not telemetry' });
    expect(hops[3]?.detail).toContain('batch of 3');
  });

  it('takes a line logged under the correlation id only shortly before the event’s own lines', () => {
    const authorizer = (timestamp: string) =>
      parsed(line('apiAuthorizer', { message: 'credential accepted', timestamp, principalId: 'svc-orders' }));
    const hops = hopsOf({
      eventId: ID,
      stored: undefined,
      lines: log,
      correlated: [authorizer('2024-05-24T12:00:00.020Z'), authorizer('2024-05-24T11:00:00.000Z')],
    });
    expect(hops.map((h) => h.hop)).toEqual(['authorized', 'accepted', 'stored', 'telemetry event skipped']);
  });

  it('reads only JSON log lines (no EMF metric lines), and matches an id only as a whole value', () => {
    expect(parseLogLine('storeEvents {"_aws":{"Timestamp":1},"TelemetryStored":1}')).toBeUndefined();
    expect(parseLogLine('storeEvents Error: something on stderr')).toBeUndefined();
    expect(parseLogLine('not-json')).toBeUndefined();
    const l = parsed(line('storeEvents', { message: 'batch stored', eventIds: [`${ID}x`] }));
    expect(mentions(l, ID)).toBe(false);
    expect(mentions(parsed(line('storeEvents', { eventIds: [ID] })), ID)).toBe(true);
  });

  it('renders one aligned line per hop', () => {
    const lines = renderHops(hopsOf({ eventId: ID, stored, lines: log }));
    expect(lines).toHaveLength(5);
    expect(lines[2]).toMatch(/^ {2}2024-05-24T12:00:00\.040Z\s+\+40 ms\s+accepted\s+httpIngest\s+in the stream/);
    expect(lines[4]).toMatch(/\[WARN\]$/);
    expect([duration(850), duration(2400), duration(192_000)]).toEqual(['850 ms', '2.4 s', '3 min 12 s']);
  });
});
