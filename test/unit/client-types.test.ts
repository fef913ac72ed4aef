import { readFileSync } from 'node:fs';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { type EventInput, LIMITS } from '../../clients/node/src/index';
import type { EventInput as ServerEventInput } from '../../shared/domain/events';
import { MAX_STORED_ITEM_BYTES } from '../../shared/domain/events';
import { MAX_EVENTS_PER_REQUEST } from '../../shared/domain/ingest';

/**
 * The client's event type is written out (the package carries no zod and no path into shared/); these checks fail
 * to compile (`tsc --noEmit`) or to pass when it and the server's schema drift apart.
 */
describe("the client's event type and limits are the server's", () => {
  it('EventInput is the type the ingest function validates', () => {
    expectTypeOf<EventInput>().toEqualTypeOf<ServerEventInput>();
    // Both ways, as a plain assignment too: a field added, removed, made optional or required breaks one of them.
    const toServer = (e: EventInput): ServerEventInput => e;
    const fromServer = (e: ServerEventInput): EventInput => e;
    expect([toServer, fromServer]).toHaveLength(2);
  });

  it('has the fields of docs/schemas/event-input.schema.json, the same ones required', () => {
    const schema = JSON.parse(readFileSync('docs/schemas/event-input.schema.json', 'utf8')) as {
      properties: Record<string, unknown>;
      required: string[];
    };
    const fields: Record<keyof EventInput, boolean> = {
      id: false,
      type: true,
      source: false,
      occurredAt: false,
      data: true,
    };
    expect(Object.keys(schema.properties).sort()).toEqual(Object.keys(fields).sort());
    expect([...schema.required].sort()).toEqual(
      Object.entries(fields)
        .filter(([, required]) => required)
        .map(([name]) => name)
        .sort(),
    );
  });

  it('limits match the ingest function and the platform', () => {
    expect(LIMITS.eventsPerRequest).toBe(MAX_EVENTS_PER_REQUEST);
    expect(LIMITS.eventBytes).toBe(MAX_STORED_ITEM_BYTES);
    expect(LIMITS.requestBytes).toBeLessThan(6 * 1024 * 1024);
  });
});
