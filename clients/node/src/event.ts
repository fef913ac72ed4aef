/**
 * One event as a producer sends it: the shape of `EventInputSchema` in shared/domain/events.ts (and of
 * docs/schemas/event-input.schema.json). Written out here so the published package carries no zod and no path into
 * the service's sources; test/unit/client-types.test.ts fails to compile if the two drift apart.
 */
export interface EventInput {
  /** Idempotency key (a UUID or a ULID), scoped to your principal; the client assigns a ULID when absent. */
  id?: string;
  /** Dotted lower-case type with 2+ segments, e.g. `order.created`. */
  type: string;
  /** Who the event is about; defaults (on the server) to the principal's name. */
  source?: string;
  /** ISO-8601 with `Z` or an offset; defaults (on the server) to the receipt time. */
  occurredAt?: string;
  /** A JSON object (at most 32 levels deep, finite numbers). */
  data: Record<string, unknown>;
}

/** The service's limits (docs/ingestion.md); test/unit/client-types.test.ts checks them against the server's. */
export const LIMITS = {
  /** Events per `POST /events`. */
  eventsPerRequest: 500,
  /** One event as a stored item (DynamoDB's 400 KB): an event whose JSON is larger can never be stored. */
  eventBytes: 400 * 1024,
  /**
   * Lambda's 6 MB synchronous payload holds the whole proxy event, the body JSON-escaped inside it; 64 KiB are left
   * for the headers and request context around the body.
   */
  requestBytes: 6 * 1024 * 1024 - 64 * 1024,
} as const;
