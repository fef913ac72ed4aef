import { describe, expect, it } from 'vitest';
import type { ExpectedAlert } from '../../scripts/simulate/expected-alerts';
import {
  alertsReconciled,
  eventsReconciled,
  MAX_LISTED,
  reconcileAlerts,
  reconcileEvents,
  type SentEvent,
  type StoredEvent,
} from '../../scripts/simulate/reconcile';

const sent = (n: number, source = 'sim-00000', acked = true): SentEvent[] =>
  Array.from({ length: n }, (_, i) => ({ id: `${source}-e${i}`, source, acked, fingerprint: `t${i}|${i}` }));
const storedOf = (events: readonly SentEvent[]): StoredEvent[] =>
  events.map(({ id, source, fingerprint }) => ({ id, source, fingerprint }));

describe('reconciling events', () => {
  it('every acknowledged event stored once is a clean run', () => {
    const events = sent(5);
    const result = reconcileEvents(events, storedOf(events));
    expect(result).toMatchObject({ sent: 5, acked: 5, stored: 5, missing: 0, duplicates: 0, unexpected: 0 });
    expect(eventsReconciled(result)).toBe(true);
  });

  it('an expected id that was never stored (never even sent) is a loss, and is named', () => {
    const events = sent(3);
    const phantom: SentEvent = { id: 'never-sent', source: 'sim-00000', acked: true, fingerprint: 'x|9' };
    const result = reconcileEvents([...events, phantom], storedOf(events));
    expect(result.missing).toBe(1);
    expect(result.firstMissing).toEqual([{ id: 'never-sent', source: 'sim-00000' }]);
    expect(eventsReconciled(result)).toBe(false);
  });

  it('an unacknowledged event may or may not be stored: neither is a failure', () => {
    const acked = sent(2);
    const unacked = sent(2, 'sim-00001', false);
    const result = reconcileEvents([...acked, ...unacked], storedOf([...acked, unacked[0] as SentEvent]));
    expect(result).toMatchObject({ acked: 2, stored: 2, storedUnacked: 1, missing: 0 });
    expect(eventsReconciled(result)).toBe(true);
  });

  it('an id listed twice, or the same content under a second id, is a duplicate', () => {
    const events = sent(3);
    const twice = reconcileEvents(events, [...storedOf(events), storedOf(events)[1] as StoredEvent]);
    expect(twice.duplicates).toBe(1);
    expect(twice.firstDuplicates).toEqual([{ id: 'sim-00000-e1', source: 'sim-00000', copies: 2 }]);
    const twin = reconcileEvents(events, [
      ...storedOf(events),
      { id: 'other-id', source: 'sim-00000', fingerprint: 't2|2' },
    ]);
    expect(twin.duplicates).toBe(1);
    expect(twin.firstDuplicates[0]).toMatchObject({ id: 'sim-00000-e2', copies: 2 });
    expect(eventsReconciled(twin)).toBe(false);
  });

  it('a stored event the run never sent is unexpected', () => {
    const events = sent(2);
    const result = reconcileEvents(events, [
      ...storedOf(events),
      { id: 'stranger', source: 'sim-00000', fingerprint: 'z|0' },
    ]);
    expect(result).toMatchObject({ unexpected: 1, missing: 0, duplicates: 0 });
    expect(result.firstUnexpected).toEqual([{ id: 'stranger', source: 'sim-00000' }]);
    expect(eventsReconciled(result)).toBe(false);
  });

  it(`counts every loss and lists the first ${MAX_LISTED}`, () => {
    const result = reconcileEvents(sent(50), []);
    expect(result.missing).toBe(50);
    expect(result.firstMissing).toHaveLength(MAX_LISTED);
    expect(result.firstMissing[0]?.id).toBe('sim-00000-e0');
  });
});

describe('reconciling alerts', () => {
  const expected = (n: number): ExpectedAlert[] =>
    Array.from({ length: n }, (_, i) => ({
      key: `a${i}:alert.raised`,
      type: 'alert.raised',
      alertId: `a${i}`,
      deviceId: `d${i}`,
      ruleId: 'high-temperature',
      eventId: `e${i}`,
    }));
  const arrivals = (list: readonly ExpectedAlert[]) => list.map((e) => ({ key: e.key, deviceId: e.deviceId }));

  it('every expected alert exactly once is clean', () => {
    const list = expected(3);
    const result = reconcileAlerts(list, arrivals(list));
    expect(result).toMatchObject({ expected: 3, received: 3, missing: 0, duplicates: 0, unexpected: 0 });
    expect(alertsReconciled(result)).toBe(true);
  });

  it('names the missing, the duplicated and the unexpected', () => {
    const list = expected(3);
    const result = reconcileAlerts(list, [
      ...arrivals(list.slice(0, 2)),
      { key: 'a1:alert.raised', deviceId: 'd1' },
      { key: 'zz:alert.resolved', deviceId: 'd9' },
      { key: 'zz:alert.resolved', deviceId: 'd9' },
    ]);
    expect(result).toMatchObject({ received: 2, missing: 1, duplicates: 1, unexpected: 1 });
    expect(result.firstMissing.map((a) => a.key)).toEqual(['a2:alert.raised']);
    expect(result.firstDuplicates).toEqual([{ key: 'a1:alert.raised', deviceId: 'd1', copies: 2 }]);
    expect(result.firstUnexpected).toEqual([{ key: 'zz:alert.resolved', deviceId: 'd9' }]);
    expect(alertsReconciled(result)).toBe(false);
  });

  it('a raise is not a resolve: the type is part of what must arrive', () => {
    const [raise] = expected(1) as [ExpectedAlert];
    const result = reconcileAlerts([raise], [{ key: 'a0:alert.resolved', deviceId: 'd0' }]);
    expect(result).toMatchObject({ missing: 1, unexpected: 1 });
  });
});
