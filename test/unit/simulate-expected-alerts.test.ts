import { describe, expect, it } from 'vitest';
import { expectedAlerts, type JudgedReading, priorStates } from '../../scripts/simulate/expected-alerts';
import { alertRules } from '../../shared/domain/alert-rules';
import { type Alert, alertIdFor } from '../../shared/domain/alerts';

const T0 = Date.parse('2026-12-01T10:00:00.000Z');
const MINUTE = 60_000;
const NORMAL = { temperature: 22, battery: 80 };

/** Readings of one device, one a second, from the given metrics. */
function series(device: string, metrics: Record<string, number>[], start = T0): JudgedReading[] {
  return metrics.map((m, i) => ({ eventId: `${device}-r${i}`, ts: start + i * 1000, metrics: m }));
}

const summary = (list: ReturnType<typeof expectedAlerts>) =>
  list.map((e) => `${e.deviceId} ${e.ruleId} ${e.type} ${e.eventId}`);

describe('expected alerts', () => {
  it('a reading over the threshold raises, the next normal one resolves, with the alert id the stack derives', () => {
    const readings = series('d1', [NORMAL, { ...NORMAL, temperature: 85 }, NORMAL, NORMAL]);
    const expected = expectedAlerts(alertRules, new Map([['d1', readings]]));
    expect(summary(expected)).toEqual([
      'd1 high-temperature alert.raised d1-r1',
      'd1 high-temperature alert.resolved d1-r2',
    ]);
    const alertId = alertIdFor('d1', 'high-temperature', 'd1-r1');
    expect(expected.map((e) => e.key)).toEqual([`${alertId}:alert.raised`, `${alertId}:alert.resolved`]);
  });

  it('a sustained breach raises once; a new breach within the cooldown raises nothing', () => {
    const hot = { ...NORMAL, temperature: 90 };
    const readings = series('d1', [NORMAL, hot, hot, hot, NORMAL, hot, NORMAL]);
    expect(summary(expectedAlerts(alertRules, new Map([['d1', readings]])))).toEqual([
      'd1 high-temperature alert.raised d1-r1',
      'd1 high-temperature alert.resolved d1-r4',
    ]);
  });

  it('a windowed rule raises only after its count of breaches in a row', () => {
    const low = { ...NORMAL, battery: 5 };
    const two = series('d1', [NORMAL, low, low, NORMAL, low, NORMAL]);
    expect(expectedAlerts(alertRules, new Map([['d1', two]]))).toEqual([]);
    const three = series('d2', [NORMAL, low, low, low, NORMAL]);
    expect(summary(expectedAlerts(alertRules, new Map([['d2', three]])))).toEqual([
      'd2 low-battery alert.raised d2-r3',
      'd2 low-battery alert.resolved d2-r4',
    ]);
  });

  it('judges every device on its own, in its own order', () => {
    const hot = { ...NORMAL, temperature: 81 };
    const expected = expectedAlerts(
      alertRules,
      new Map([
        ['a', series('a', [NORMAL, hot, NORMAL])],
        ['b', series('b', [NORMAL, NORMAL, hot])],
      ]),
    );
    expect(summary(expected)).toEqual([
      'a high-temperature alert.raised a-r1',
      'a high-temperature alert.resolved a-r2',
      'b high-temperature alert.raised b-r2',
    ]);
  });

  describe('from the state the stack already holds (a reused fleet)', () => {
    const alert = (over: Partial<Alert>): Alert => ({
      alertId: 'prior-1',
      deviceId: 'd1',
      ruleId: 'high-temperature',
      metric: 'temperature',
      value: 85,
      threshold: 80,
      comparison: '>',
      severity: 'critical',
      state: 'resolved',
      raisedAt: new Date(T0 - 5 * MINUTE).toISOString(),
      eventId: 'old-reading',
      ...over,
    });
    const hotAgain = series('d1', [NORMAL, { ...NORMAL, temperature: 85 }, NORMAL]);

    it('a raise within the cooldown prevents a new one', () => {
      const prior = priorStates([alert({})], new Set(['d1']));
      expect(expectedAlerts(alertRules, new Map([['d1', hotAgain]]), prior)).toEqual([]);
    });

    it('a raise older than the cooldown does not', () => {
      const prior = priorStates([alert({ raisedAt: new Date(T0 - 16 * MINUTE).toISOString() })], new Set(['d1']));
      expect(summary(expectedAlerts(alertRules, new Map([['d1', hotAgain]]), prior))).toEqual([
        'd1 high-temperature alert.raised d1-r1',
        'd1 high-temperature alert.resolved d1-r2',
      ]);
    });

    it('an open alert is resolved by the first normal reading, under its own id', () => {
      const prior = priorStates(
        [alert({ state: 'open', raisedAt: new Date(T0 - 20 * MINUTE).toISOString() })],
        new Set(['d1']),
      );
      const expected = expectedAlerts(alertRules, new Map([['d1', hotAgain]]), prior);
      expect(expected.map((e) => `${e.key} ${e.eventId}`)).toEqual([
        'prior-1:alert.resolved d1-r0',
        `${alertIdFor('d1', 'high-temperature', 'd1-r1')}:alert.raised d1-r1`,
        `${alertIdFor('d1', 'high-temperature', 'd1-r1')}:alert.resolved d1-r2`,
      ]);
    });

    it('the latest alert of a device and rule is the one that counts; other devices are ignored', () => {
      const prior = priorStates(
        [
          alert({ alertId: 'older', state: 'open', raisedAt: new Date(T0 - 50 * MINUTE).toISOString() }),
          alert({ alertId: 'newer', raisedAt: new Date(T0 - MINUTE).toISOString() }),
          alert({ alertId: 'elsewhere', deviceId: 'other', state: 'open' }),
        ],
        new Set(['d1']),
      );
      expect([...prior.keys()]).toEqual(['d1#high-temperature']);
      expect(prior.get('d1#high-temperature')).toMatchObject({
        open: false,
        lastRaisedAt: new Date(T0 - MINUTE).toISOString(),
      });
    });
  });
});
