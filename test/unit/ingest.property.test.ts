import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Rejection } from '../../shared/domain/errors';
import { EventEnvelopeSchema } from '../../shared/domain/events';
import { type Producer, parseBody, validateEvents } from '../../shared/domain/ingest';

const RECEIVED_AT = new Date('2024-05-01T12:00:00.000Z');

const contentType = fc.constantFrom('application/json', 'application/x-ndjson', 'text/plain', undefined);

const producer: fc.Arbitrary<Producer> = fc.record({
  principalId: fc.constant('prn-1'),
  principalName: fc.constantFrom('svc-orders', 'billing'),
  traceId: fc.constant('trace-1'),
  receivedAt: fc.constant(RECEIVED_AT),
  eventTypes: fc.constantFrom(['*'], ['payment.*'], ['user.created'], []),
  mayClaimAnySource: fc.boolean(),
});

/** Something close to an event, so that some inputs get all the way through validation. */
const eventLike = fc.record(
  {
    id: fc.oneof(fc.uuid(), fc.constant('01HZX3K4ZQ8J9P6V5W4T3S2R1Q'), fc.string()),
    type: fc.oneof(fc.constantFrom('payment.success', 'user.created', 'Payment.Success', 'payment'), fc.string()),
    source: fc.oneof(fc.constantFrom('svc-orders', 'billing', ''), fc.string()),
    occurredAt: fc.oneof(
      fc
        .date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2030-01-01T00:00:00Z'), noInvalidDate: true })
        .map((d) => d.toISOString()),
      fc.string(),
    ),
    data: fc.oneof(fc.object(), fc.jsonValue()),
  },
  { requiredKeys: ['type'] },
);

const asJson = (value: unknown): string => JSON.stringify(value) ?? '';

/** Valid for any producer allowed `user.created`: keeps the accepted branch reachable on every seed. */
const validEvent = fc.record({ type: fc.constant('user.created'), data: fc.object() });

const body = fc.oneof(
  fc.string(),
  fc.json(),
  fc.anything().map(asJson),
  fc.array(fc.object()).map(asJson),
  fc.array(fc.object()).map((events) => asJson({ events })),
  fc.array(fc.object()).map((items) => items.map(asJson).join('\n')),
  eventLike.map(asJson),
  fc.array(eventLike, { maxLength: 5 }).map((events) => asJson({ events })),
  fc.array(eventLike, { maxLength: 5 }).map((items) => items.map(asJson).join('\n')),
  fc.record({ events: fc.anything() }).map(asJson),
  fc.array(validEvent, { minLength: 1, maxLength: 5 }).map((events) => asJson({ events })),
  fc.array(validEvent, { minLength: 1, maxLength: 5 }).map((items) => items.map(asJson).join('\n')),
);

type Outcome = { kind: 'envelopes'; count: number } | { kind: 'rejection'; rejection: Rejection };

function ingest(raw: string, type: string | undefined, p: Producer): Outcome {
  try {
    const envelopes = validateEvents(parseBody(raw, type), p);
    for (const envelope of envelopes) expect(EventEnvelopeSchema.safeParse(envelope).success).toBe(true);
    return { kind: 'envelopes', count: envelopes.length };
  } catch (error) {
    if (error instanceof Rejection) return { kind: 'rejection', rejection: error };
    throw error;
  }
}

describe('parseBody + validateEvents (property)', () => {
  it('either return valid envelopes or throw a Rejection, never anything else', () => {
    let accepted = 0;
    let rejected = 0;
    fc.assert(
      fc.property(body, contentType, producer, (raw, type, p) => {
        const outcome = ingest(raw, type, p);
        if (outcome.kind === 'envelopes') {
          accepted++;
          expect(outcome.count).toBeGreaterThan(0);
          expect(outcome.count).toBeLessThanOrEqual(500);
          expect(type === 'application/json' || type === 'application/x-ndjson').toBe(true);
        } else {
          rejected++;
          expect(['invalid', 'unsupported-media-type', 'too-large', 'forbidden']).toContain(outcome.rejection.kind);
          if (type === 'text/plain' || type === undefined)
            expect(outcome.rejection.kind).toBe('unsupported-media-type');
        }
      }),
      { numRuns: 1500 },
    );
    // the generators reach both outcomes, so the property is not vacuous
    expect(accepted).toBeGreaterThan(0);
    expect(rejected).toBeGreaterThan(0);
  });
});
