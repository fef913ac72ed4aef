import { describe, expect, it } from 'vitest';
import {
  breachingValue,
  DeviceGenerator,
  prng,
  readingEventId,
  type SimReading,
  safeRange,
} from '../../scripts/simulate/readings';
import { type AlertRule, alertRules, conditionHolds, parseAlertRules } from '../../shared/domain/alert-rules';
import { decodeStreamRecord } from '../../shared/domain/stream-records';
import { TelemetryPayloadSchema } from '../../shared/domain/telemetry';

const T0 = Date.parse('2026-12-01T10:00:00.000Z');

function readings(options: { deviceId?: string; seed?: number; anomalies?: number; n?: number; rules?: AlertRule[] }) {
  const n = options.n ?? 200;
  const generator = new DeviceGenerator({
    deviceId: options.deviceId ?? 'sim-00001',
    seed: options.seed ?? 7,
    rules: options.rules ?? alertRules,
    anomalyPercent: options.anomalies ?? 0,
    planned: n,
  });
  const out: SimReading[] = [];
  for (let i = 0; i < n; i++) out.push(generator.next(T0 + i * 1000));
  return { out, generator };
}

const breaches = (reading: SimReading, rules: readonly AlertRule[] = alertRules) =>
  rules.filter(
    (r) => reading.metrics[r.metric] !== undefined && conditionHolds(r, reading.metrics[r.metric] as number),
  );

describe('simulated readings', () => {
  it('are reproducible per seed and device, and differ between devices and seeds', () => {
    expect(readings({ seed: 1 }).out).toEqual(readings({ seed: 1 }).out);
    expect(readings({ seed: 1 }).out).not.toEqual(readings({ seed: 2 }).out);
    expect(readings({ deviceId: 'a' }).out[0]?.metrics).not.toEqual(readings({ deviceId: 'b' }).out[0]?.metrics);
  });

  it('are valid telemetry payloads with every metric a rule needs, seq counting from 0, ts strictly increasing', () => {
    const { out } = readings({ anomalies: 20 });
    out.forEach((r, i) => {
      expect(TelemetryPayloadSchema.safeParse(r).success).toBe(true);
      expect(r.seq).toBe(i);
      for (const rule of alertRules) expect(typeof r.metrics[rule.metric]).toBe('number');
    });
    // Two readings asked for in the same millisecond still get distinct, increasing times.
    const generator = new DeviceGenerator({ deviceId: 'd', seed: 1, rules: alertRules, anomalyPercent: 0, planned: 3 });
    const [a, b] = [generator.next(T0), generator.next(T0)];
    expect((b as SimReading).ts).toBeGreaterThan((a as SimReading).ts);
  });

  it('drift and have noise, but never breach a rule without an anomaly', () => {
    const { out } = readings({ anomalies: 0, n: 2000 });
    expect(out.filter((r) => breaches(r).length > 0)).toEqual([]);
    const temperatures = new Set(out.map((r) => r.metrics.temperature));
    expect(temperatures.size).toBeGreaterThan(100);
  });

  it('start anomalies at about the given percent, each breaching its rule for its window, then normal again', () => {
    const { out, generator } = readings({ anomalies: 5, n: 4000, seed: 3 });
    const anomalous = out.filter((r) => breaches(r).length > 0);
    // ~5 % of readings start an episode; a low-battery episode is 3 readings long.
    expect(anomalous.length).toBeGreaterThan(100);
    expect(anomalous.length).toBeLessThan(600);
    expect([...generator.anomalies.values()].reduce((a, b) => a + b, 0)).toBe(anomalous.length);
    expect(generator.anomalies.get('high-temperature')).toBeGreaterThan(0);
    // Low battery comes in runs of exactly its window (3), so it raises; each run ends with a normal reading.
    let run = 0;
    for (const r of out) {
      if (breaches(r).some((b) => b.id === 'low-battery')) run++;
      else {
        expect([0, 3]).toContain(run);
        run = 0;
      }
    }
  });

  it('begin with a normal reading and leave room for a normal one after the last anomaly', () => {
    for (let seed = 0; seed < 50; seed++) {
      const { out } = readings({ anomalies: 60, n: 6, seed });
      expect(breaches(out[0] as SimReading)).toEqual([]);
      expect(breaches(out.at(-1) as SimReading)).toEqual([]);
    }
  });

  it('keep normal values on the safe side of every rule, including rules on metrics of their own', () => {
    const rules = parseAlertRules({
      rules: [
        { id: 'co2-high', description: 'x', metric: 'co2', comparison: '>=', threshold: 1000, severity: 'info' },
        { id: 'cold', description: 'x', metric: 'temperature', comparison: '<=', threshold: 19, severity: 'info' },
      ],
    });
    expect(safeRange(rules, 'temperature')).toEqual({ min: 20, max: Number.POSITIVE_INFINITY });
    const { out } = readings({ rules, n: 500 });
    for (const r of out) {
      expect(r.metrics.co2).toBeLessThanOrEqual(999);
      expect(r.metrics.temperature).toBeGreaterThanOrEqual(20);
    }
  });

  it('breach a rule by 1 to 5, staying positive for a positive threshold', () => {
    const random = prng(9);
    for (const rule of alertRules)
      for (let i = 0; i < 200; i++) {
        const value = breachingValue(rule, random);
        expect(conditionHolds(rule, value)).toBe(true);
        expect(Math.abs(value - rule.threshold)).toBeLessThanOrEqual(5);
        expect(value).toBeGreaterThan(0);
      }
  });

  it('have the event id the stack derives from the rule record, whatever IoT stamps as receivedAt', () => {
    const [reading] = readings({}).out as [SimReading];
    const record = { ...reading, deviceId: 'sim-00001', receivedAt: reading.ts + 1234 };
    const decoded = decodeStreamRecord(Buffer.from(JSON.stringify(record)).toString('base64'));
    expect(decoded.kind).toBe('event');
    expect(decoded.kind === 'event' && decoded.envelope.id).toBe(readingEventId('sim-00001', reading));
    expect(readingEventId('sim-00002', reading)).not.toBe(readingEventId('sim-00001', reading));
  });
});
