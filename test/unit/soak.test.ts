import { describe, expect, it } from 'vitest';
import { readingEventId } from '../../scripts/simulate/readings';
import { planOutages } from '../../scripts/soak/faults';
import { INVALID_SEQ_BASE, type InvalidReading } from '../../scripts/soak/invalid-readings';
import { parseSoakArgs, UsageError } from '../../scripts/soak/options';
import { classifyQueues, reconcileInvalid } from '../../scripts/soak/queue-findings';
import { inStreamOrder } from '../../scripts/soak/stream-order';

const ruleError = (deviceId: string, payload: unknown) => ({
  ruleName: 'deviceTelemetry',
  topic: `devices/${deviceId}/telemetry`,
  clientId: deviceId,
  base64OriginalPayload: Buffer.from(JSON.stringify(payload)).toString('base64'),
  failures: [{ failedAction: 'KinesisAction', failedResource: 's', errorMessage: 'Kinesis PutRecords failed' }],
});
const rejection = (deviceId: string, seq: number) => ({
  reason: 'invalid telemetry',
  deviceId,
  issues: [{ path: 'metrics.temperature', message: 'Invalid input' }],
  reading: { deviceId, seq, receivedAt: 1, metrics: { temperature: 'hot' } },
});
const invalid = (deviceId: string, n: number, acked = true): InvalidReading => ({
  deviceId,
  seq: INVALID_SEQ_BASE + n,
  kind: 'metric not a number',
  acked,
});

describe('npm run soak: the plan and the arguments', () => {
  it('stops each engine once, one after the other, all within the run, each for 2 to 5 s', () => {
    for (const duration of [20, 60, 600]) {
      const plan = planOutages(duration);
      expect(plan.map((o) => o.service)).toEqual(['kinesis', 'dynamodb', 'sqs', 'firehose']);
      for (const [i, o] of plan.entries()) {
        expect(o.down).toBeGreaterThanOrEqual(2);
        expect(o.down).toBeLessThanOrEqual(5);
        expect(o.at + o.down).toBeLessThan(duration);
        if (i > 0) expect(o.at).toBeGreaterThan((plan[i - 1]?.at ?? 0) + (plan[i - 1]?.down ?? 0));
      }
    }
  });

  it('runs 60 s by default and refuses a duration out of bounds', () => {
    expect(parseSoakArgs([]).duration).toBe(60);
    expect(parseSoakArgs(['--duration', '20']).duration).toBe(20);
    for (const bad of ['5', '601', '1.5', 'x']) expect(() => parseSoakArgs(['--duration', bad])).toThrow(UsageError);
    expect(() => parseSoakArgs(['--devices', '10'])).toThrow(UsageError);
  });
});

describe('npm run soak: what the error queues say', () => {
  it('a valid reading in ruleErrors is parked under the id the stack would have given it', () => {
    const reading = { ts: 1_700_000_000_000, seq: 3, metrics: { temperature: 21.5, humidity: 40 } };
    const findings = classifyQueues([], [ruleError('soak-00001', reading)], []);
    expect([...findings.parkedReadings.keys()]).toEqual([readingEventId('soak-00001', reading)]);
    expect(findings.unexpectedCount).toBe(0);
  });

  it('an acknowledged invalid reading must be reported in telemetryErrors or parked in ruleErrors', () => {
    const sent = [invalid('d1', 0), invalid('d1', 1), invalid('d2', 2), invalid('d2', 3, false)];
    const findings = classifyQueues(
      [rejection('d1', INVALID_SEQ_BASE), rejection('d1', INVALID_SEQ_BASE)],
      [ruleError('d1', { ts: 1, seq: INVALID_SEQ_BASE + 1, metrics: {} })],
      [],
    );
    const result = reconcileInvalid(sent, findings);
    expect(result).toMatchObject({ sent: 4, acked: 3, reported: 1, parked: 1, missing: 1, extraReports: 1 });
    expect(result.firstMissing).toEqual([{ deviceId: 'd2', seq: INVALID_SEQ_BASE + 2, kind: 'metric not a number' }]);
  });

  it('a rejection of a valid reading, or a message of another shape, is unexpected', () => {
    const findings = classifyQueues([rejection('d1', 5)], [{ topic: 'elsewhere' }], []);
    expect(findings.unexpectedCount).toBe(2);
    expect(findings.unexpected.map((u) => u.queue)).toEqual(['telemetryErrors', 'ruleErrors']);
  });
});

describe('inStreamOrder (alerts are expected in the order the consumer judged the readings)', () => {
  it('orders by stream position; what the stream does not hold keeps its order, after the rest', () => {
    const positions = new Map([
      ['c', 1],
      ['a', 2],
      ['b', 3],
    ]);
    expect(inStreamOrder(['a', 'x', 'b', 'c', 'y'], (s) => s, positions)).toEqual(['c', 'a', 'b', 'x', 'y']);
  });
});
