import { describe, expect, it } from 'vitest';
import type { Answer, HttpClient } from '../../scripts/simulate/api';
import { HttpProducers } from '../../scripts/simulate/http-producers';

/** A client that answers from a script, and remembers the events of every request. */
function scripted(answers: ((ids: string[]) => Answer)[]) {
  const bodies: { id: string }[][] = [];
  const client = {
    once: async (_method: string, _path: string, _headers: Record<string, string>, body?: string) => {
      const events = (JSON.parse(body ?? '{}') as { events: { id: string }[] }).events;
      bodies.push(events);
      const next = answers.shift();
      if (!next) throw new Error('no more answers');
      return next(events.map((e) => e.id));
    },
  };
  return { client: client as unknown as HttpClient, bodies };
}

describe('simulated HTTP producers', () => {
  it('resend a whole batch after a 503 that took nothing (the authorizer’s), waiting its Retry-After', async () => {
    const { client, bodies } = scripted([
      () => ({ status: 503, body: '{"message":"Service Unavailable"}', retryAfterSeconds: 0 }),
      () => ({ status: 202, body: JSON.stringify({ accepted: 2, ids: [] }) }),
    ]);
    const producers = new HttpProducers(client, 'key', 'p1', { producers: 1, rate: 2, batch: 2 });
    await producers.run(1000, () => false, performance.now() - 1000);
    expect(bodies).toHaveLength(2);
    expect(bodies[1]?.map((e) => e.id)).toEqual(bodies[0]?.map((e) => e.id));
    expect(producers.retriesByStatus).toEqual({ 503: 1 });
    expect(producers.retryAfterAnswers).toBe(1);
    expect(producers.failed).toBe(0);
  });

  it('resend only what the ingest function’s 503 names, with the same keys', async () => {
    const { client, bodies } = scripted([
      () => ({ status: 503, body: JSON.stringify({ accepted: [], failed: ['x'], failedIndexes: [1] }) }),
      () => ({ status: 202, body: JSON.stringify({ accepted: 1, ids: [] }) }),
    ]);
    const producers = new HttpProducers(client, 'key', 'p1', { producers: 1, rate: 2, batch: 2 });
    await producers.run(1000, () => false, performance.now() - 1000);
    expect(bodies.map((b) => b.length)).toEqual([2, 1]);
    expect(bodies[1]?.[0]?.id).toBe(bodies[0]?.[1]?.id);
  });
});
