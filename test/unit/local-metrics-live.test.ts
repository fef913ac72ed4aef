import { describe, expect, it, vi } from 'vitest';
import { EventTail } from '../../infra/local/observability/event-tail';
import { isLoopbackHost } from '../../infra/local/observability/http-routes';
import { chartPoint, quantile, ratesBetween, readTotals } from '../../infra/local/observability/live-snapshot';
import { PolledValue } from '../../infra/local/observability/polled';
import { MetricRegistry } from '../../infra/local/observability/registry';

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64');
const envelope = (id: string, type = 'payment.success', data: Record<string, unknown> = { amount: 1 }) => ({
  id,
  type,
  source: 'svc',
  occurredAt: '2026-01-01T00:00:00.000Z',
  receivedAt: '2026-01-01T00:00:00.000Z',
  principalId: 'p1',
  traceId: 't1',
  data,
});
const putRecords = (...records: unknown[]) =>
  Buffer.from(JSON.stringify({ StreamName: 's', Records: records.map((r) => ({ Data: b64(r), PartitionKey: 'k' })) }));

describe('the live tail', () => {
  it('keeps raw puts and decodes them when asked, newest first, without the records the stream refused', () => {
    const tail = new EventTail(10);
    tail.push(putRecords(envelope('a'), envelope('b')));
    tail.push(putRecords(envelope('c'), envelope('d'), envelope('e')), new Set([1]));
    expect(tail.entries().map((e) => e.id)).toEqual(['e', 'c', 'b', 'a']);
    // Decoded once: a second read with no new puts is the same list.
    expect(tail.entries().map((e) => e.id)).toEqual(['e', 'c', 'b', 'a']);
    tail.push(Buffer.from(JSON.stringify({ StreamName: 's', Data: b64(envelope('f')), PartitionKey: 'k' })));
    expect(tail.entries()[0]).toMatchObject({ id: 'f', type: 'payment.success', source: 'svc', data: '{"amount":1}' });
  });

  it('is bounded by records and by bytes', () => {
    const tail = new EventTail(5, 10_000);
    for (let i = 0; i < 50; i++) tail.push(putRecords(envelope(`id-${i}`)));
    expect(tail.entries().map((e) => e.id)).toEqual(['id-49', 'id-48', 'id-47', 'id-46', 'id-45']);
    tail.push(Buffer.alloc(20_000)); // larger than the byte budget: not kept
    expect(tail.entries()).toHaveLength(5);
  });

  it('hostile records are shown as data, never thrown: not JSON, not an event, an invalid reading, long data', () => {
    const tail = new EventTail();
    tail.push(Buffer.from('not json'));
    tail.push(
      putRecords(
        { hello: 1 },
        { deviceId: 'd-1', receivedAt: 5, metrics: 'no' },
        envelope('x', 'user.created', { html: '<img src=x onerror=alert(1)>', long: 'y'.repeat(1000) }),
      ),
    );
    const [hostile, rejected, notEvent] = tail.entries();
    expect(hostile?.data).toContain('<img src=x onerror=alert(1)>');
    expect(hostile?.data.length).toBeLessThanOrEqual(300);
    expect(rejected).toMatchObject({ type: 'device.telemetry (rejected)', source: 'd-1' });
    expect(notEvent?.type).toBe('(not an event)');
  });
});

describe('snapshots derive from the metric families', () => {
  it('rates are differences of two readings; quantiles come from the histogram buckets observed between them', () => {
    const registry = new MetricRegistry();
    const accepted = registry.counter('tem_events_accepted_total', '');
    const latency = registry.histogram('tem_accepted_to_stored_seconds', '');
    const before = readTotals(registry.collect(), 0);
    accepted.inc({ function: 'httpIngest' }, 30);
    for (let i = 0; i < 99; i++) latency.observe({}, 0.02);
    latency.observe({}, 4);
    const now = readTotals(registry.collect(), 2000);
    const rates = ratesBetween(now, before);
    expect(rates.accepted).toBe(15);
    expect(rates.stored).toBe(50);
    const point = chartPoint(rates, now, before);
    expect(point.storedP99Ms).toBeGreaterThan(10);
    expect(point.storedP99Ms).toBeLessThanOrEqual(25);
    expect(quantile(1, now.storedLatency, before.storedLatency)).toBeGreaterThan(2.5);
    expect(quantile(0.5, now.storedLatency, now.storedLatency)).toBeUndefined();
  });
});

describe('the page and its data are served to loopback host names only', () => {
  it('refuses a DNS-rebound name', () => {
    for (const host of ['127.0.0.1:9000', 'localhost:9000', '[::1]:9000', 'localhost'])
      expect(isLoopbackHost(host)).toBe(true);
    for (const host of [undefined, '', 'evil.example:9000', '127.0.0.1.evil.example', 'localhost.evil'])
      expect(isLoopbackHost(host)).toBe(false);
  });
});

describe('values polled from the engines while someone looks', () => {
  it('reads every interval while wanted, pauses when not, and reads at once when looked at again', async () => {
    vi.useFakeTimers();
    try {
      let reads = 0;
      const polled = new PolledValue(async () => ++reads, 2000);
      polled.want(5000);
      await vi.advanceTimersByTimeAsync(0);
      expect(polled.value).toBe(1);
      await vi.advanceTimersByTimeAsync(4000);
      expect(polled.value).toBe(3);
      await vi.advanceTimersByTimeAsync(20_000); // nobody looks: paused after the wanted time
      const paused = reads;
      await vi.advanceTimersByTimeAsync(20_000);
      expect(reads).toBe(paused);
      polled.want();
      await vi.advanceTimersByTimeAsync(0);
      expect(polled.value).toBe(paused + 1);
      polled.pause();
    } finally {
      vi.useRealTimers();
    }
  });

  it('a read that never answers becomes an error, and the next read still happens', async () => {
    vi.useFakeTimers();
    try {
      let calls = 0;
      const polled = new PolledValue(
        () => (++calls === 1 ? new Promise<number>(() => {}) : Promise.resolve(7)),
        2000,
        1000,
      );
      const first = polled.refresh();
      await vi.advanceTimersByTimeAsync(1000);
      await first;
      expect(polled.error).toBe('no answer within 1000 ms');
      expect(polled.value).toBeUndefined();
      await polled.refresh();
      expect(polled.value).toBe(7);
      expect(polled.error).toBeUndefined();
    } finally {
      vi.useRealTimers();
    }
  });
});
