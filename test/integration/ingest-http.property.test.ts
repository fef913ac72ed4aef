import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { api, devKey, eventually, stack } from './support';

/**
 * Property over real HTTP (gateway -> authorizer -> httpIngest): whatever body and Content-Type a caller sends with a
 * valid key, POST /events answers 202 or a 4xx whose JSON body carries a non-empty `message`; never a 5xx.
 */

const asJson = (value: unknown): string => JSON.stringify(value) ?? 'undefined';

/** Values the event table cannot hold, or that once broke the handler: they must be refused, not crash or poison. */
const hostileValue = fc.oneof(
  fc.constantFrom(1e300, -1e300, 2 ** 53, 5e-324, -1e-200, 0, -0, 1e-130, Number.MAX_SAFE_INTEGER),
  fc.integer({ min: 25, max: 40 }).map((depth) => JSON.parse(`${'['.repeat(depth)}1${']'.repeat(depth)}`)),
  fc.constant(JSON.parse('{"__proto__":{"x":1}}')),
  fc.constant({ '': 1 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
);

/** Anything shaped roughly like an event: most bodies built from it fail validation somewhere. */
const chaoticEvent = fc.record(
  {
    id: fc.oneof(fc.uuid(), fc.constant('01HZX3K4ZQ8J9P6V5W4T3S2R1Q'), fc.string({ maxLength: 30 })),
    type: fc.oneof(fc.constantFrom('order.created', 'payment.success', 'Payment.Success', 'payment'), fc.string()),
    source: fc.oneof(fc.constantFrom('it-property', 'billing', '', 'a b'), fc.string()),
    occurredAt: fc.oneof(
      fc
        .date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true })
        .map((d) => d.toISOString()),
      fc.string(),
    ),
    data: fc.oneof(fc.object({ maxDepth: 3 }), fc.jsonValue({ maxDepth: 3 })),
    extra: fc.anything({ maxDepth: 2 }),
  },
  { requiredKeys: [] },
);

/** A valid event, except perhaps for one value in its data the table cannot hold. */
const nearlyValidEvent = fc.record(
  {
    id: fc.uuid(),
    type: fc.constantFrom('order.created', 'payment.success'),
    source: fc.constantFrom('it-property', 'billing'),
    occurredAt: fc
      .date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2020-01-01T00:00:00Z'), noInvalidDate: true })
      .map((d) => d.toISOString()),
    data: fc.oneof(
      {
        weight: 5,
        arbitrary: fc.dictionary(
          fc.string({ minLength: 1, maxLength: 8 }),
          fc.oneof(
            fc.integer(),
            fc.string(),
            fc.boolean(),
            fc.constant(null),
            fc.array(fc.integer(), { maxLength: 3 }),
          ),
          { maxKeys: 4 },
        ),
      },
      { weight: 1, arbitrary: fc.dictionary(fc.string({ minLength: 1 }), hostileValue, { maxKeys: 2 }) },
    ),
  },
  { requiredKeys: ['type', 'data'] },
);

const eventLike = fc.oneof({ weight: 1, arbitrary: chaoticEvent }, { weight: 3, arbitrary: nearlyValidEvent });

/** A valid event: keeps the 202 branch reachable on every seed. */
const validEvent = fc.record({ type: fc.constant('order.created'), data: fc.dictionary(fc.string(), fc.integer()) });

/**
 * A valid event whose data nests far deeper than the table allows (and than JSON.stringify's stack can take). Kept
 * as its depth until the request is sent, so a counterexample prints short.
 */
const deepBody = fc.integer({ min: 32, max: 200_000 }).map((depth) => ({ depth }));
const render = (payload: string | Uint8Array | { depth: number }): string | Uint8Array =>
  typeof payload === 'object' && 'depth' in payload
    ? `{"type":"order.created","data":{"x":${'['.repeat(payload.depth)}${']'.repeat(payload.depth)}}}`
    : payload;

const body: fc.Arbitrary<string | Uint8Array | { depth: number }> = fc.oneof(
  fc.string(),
  deepBody,
  fc.string({ unit: 'binary' }),
  fc.json(),
  fc.anything().map(asJson),
  fc.uint8Array({ maxLength: 64 }),
  eventLike.map(asJson),
  eventLike.map(asJson),
  fc.array(eventLike, { maxLength: 4 }).map(asJson),
  fc.array(eventLike, { maxLength: 4 }).map((events) => asJson({ events })),
  fc.array(eventLike, { maxLength: 4 }).map((items) => items.map(asJson).join('\n')),
  fc.record({ events: fc.anything({ maxDepth: 2 }) }).map(asJson),
  fc.array(validEvent, { minLength: 1, maxLength: 3 }).map((events) => asJson({ events })),
  fc.array(validEvent, { minLength: 1, maxLength: 3 }).map((items) => items.map(asJson).join('\n')),
);

const contentType = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('application/json', 'application/json; charset=utf-8') },
  { weight: 2, arbitrary: fc.constant('application/x-ndjson') },
  { weight: 1, arbitrary: fc.constantFrom('text/plain', 'application/octet-stream', undefined) },
);

describe('POST /events over HTTP (property)', () => {
  it('answers 202 or a 4xx with a JSON message, never a 5xx', async () => {
    const statuses = new Map<number, number>();
    const acceptedIds: string[] = [];
    await fc.assert(
      fc.asyncProperty(body, contentType, async (payload, type) => {
        const headers: Record<string, string> = { 'X-API-Key': devKey() };
        if (type !== undefined) headers['content-type'] = type;
        // Without a Content-Type the body goes as bytes: fetch would label a string text/plain by itself.
        const rendered = render(payload);
        const sent = type === undefined && typeof rendered === 'string' ? Buffer.from(rendered) : rendered;
        const response = await fetch(`${stack().http}/events`, { method: 'POST', headers, body: sent });
        const text = await response.text();
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        const status = response.status;
        expect(status === 202 || (status >= 400 && status < 500), `status ${status}: ${text.slice(0, 300)}`).toBe(true);
        const parsed = JSON.parse(text) as { message?: unknown; accepted?: number; ids?: unknown[] };
        if (status === 202) {
          expect(parsed.accepted).toBe(parsed.ids?.length);
          acceptedIds.push(...((parsed.ids ?? []) as string[]));
        } else {
          expect(typeof parsed.message).toBe('string');
          expect((parsed.message as string).length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 150 },
    );
    // Not vacuous: both branches were reached.
    expect(statuses.get(202) ?? 0).toBeGreaterThan(0);
    expect([...statuses.keys()].some((s) => s >= 400)).toBe(true);
    // Accepted means stored: every id of a 202 becomes readable (an event the table cannot hold would not).
    const missing = await eventually(
      async () => {
        const left: string[] = [];
        for (const id of acceptedIds) if ((await api('GET', `/events/${id}`)).status !== 200) left.push(id);
        return left.length === 0 ? left : undefined;
      },
      20_000,
      `all ${acceptedIds.length} accepted events to be readable`,
    );
    expect(missing).toEqual([]);
  });
});
