import { describe, expect, it } from 'vitest';
import { ReadableProbe } from '../../bench/lib/readable-probe';

/** A GET that answers 404 `misses` times for each id, then 200. */
function readableAfter(misses: number) {
  const seen = new Map<string, number>();
  return async (id: string) => {
    const n = (seen.get(id) ?? 0) + 1;
    seen.set(id, n);
    return n > misses ? 200 : 404;
  };
}

describe('ReadableProbe (the latency and WebSocket steps’ poll-until-readable baseline)', () => {
  it('samples about 5 events a second whatever the rate', () => {
    expect(new ReadableProbe(100, readableAfter(0)).every).toBe(20);
    expect(new ReadableProbe(1000, readableAfter(0)).every).toBe(200);
    expect(new ReadableProbe(2, readableAfter(0)).every).toBe(1);
  });

  it('polls a sampled event until 200: one latency, every poll counted', async () => {
    const probe = new ReadableProbe(5, readableAfter(2));
    const from = performance.now();
    probe.offer(0, 'a', from, 1);
    await probe.settle();
    expect(probe.polls).toBe(3);
    expect(probe.pollRttMs).toHaveLength(3);
    expect(probe.latencyMs).toHaveLength(1);
    expect(probe.latencyMs[0]).toBeGreaterThanOrEqual(0);
    expect(probe.latencyMs[0]).toBeLessThan(1000);
    expect(probe.timeouts).toBe(0);
  });

  it('offers outside the sample are ignored; past the poller cap or the budget they are skipped', async () => {
    const probe = new ReadableProbe(10, readableAfter(0), { maxPollers: 1 });
    probe.offer(1, 'not-sampled', 0, 1);
    probe.offer(0, 'a', performance.now(), 1);
    probe.offer(2, 'b', performance.now(), 1); // the one poller is busy with a
    await probe.settle();
    expect(probe.latencyMs).toHaveLength(1);
    expect(probe.skipped).toBe(1);

    const budget = new ReadableProbe(5, readableAfter(0), { budget: 0.2 });
    budget.polls = 41; // 41 > 0.2 × 100 requests + 20
    budget.offer(0, 'c', performance.now(), 100);
    expect(budget.skipped).toBe(1);
    budget.offer(0, 'd', performance.now(), 106); // 41 ≤ 0.2 × 106 + 20
    await budget.settle();
    expect(budget.skipped).toBe(1);
    expect(budget.latencyMs).toHaveLength(1);
  });

  it('an event never readable counts as ∞ (a timeout), a failing GET as a timeout', async () => {
    const never = new ReadableProbe(5, async () => 404, { timeoutMs: 30, finePollUntilMs: 0, coarsePollShare: 0.5 });
    never.offer(0, 'lost', performance.now(), 1);
    await never.settle();
    expect(never.latencyMs).toEqual([Number.POSITIVE_INFINITY]);
    expect(never.timeouts).toBe(1);

    const failing = new ReadableProbe(5, async () => {
      throw new Error('socket hang up');
    });
    failing.offer(0, 'x', performance.now(), 1);
    await failing.settle();
    expect(failing.latencyMs).toEqual([]);
    expect(failing.timeouts).toBe(1);
  });
});
