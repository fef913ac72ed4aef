import { createHash, randomUUID } from 'node:crypto';
import { z } from 'zod';

/** Dotted lower-case event type, at least two segments: `payment.success`, `user.created`. */
export const EventTypeSchema = z
  .string()
  .max(128)
  .regex(/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/, 'must be a dotted lower-case name such as payment.success');

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/i; // Crockford base32 is case-insensitive
export const EventIdSchema = z
  .string()
  .refine((s) => UUID.test(s) || ULID.test(s), { message: 'must be a UUID or a ULID' });

/** How far in the future a producer's clock may be before `occurredAt` is refused. */
export const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;

/** What a producer sends for one event. */
export const EventInputSchema = z.strictObject({
  id: EventIdSchema.optional(),
  type: EventTypeSchema,
  source: z
    .string()
    .min(1)
    .max(256)
    .regex(/^[A-Za-z0-9._:/@-]+$/, 'may hold letters, digits and ._:/@-')
    .optional(),
  occurredAt: z.iso.datetime({ offset: true }).optional(),
  data: z.record(z.string(), z.unknown()),
});
export type EventInput = z.infer<typeof EventInputSchema>;

/** What travels on the stream and is stored: the input plus what the boundary knows. */
export const EventEnvelopeSchema = z.object({
  id: z.string().min(1),
  type: EventTypeSchema,
  source: z.string().min(1),
  occurredAt: z.string(),
  receivedAt: z.string(),
  principalId: z.string().min(1),
  traceId: z.string().min(1),
  data: z.record(z.string(), z.unknown()),
});
export type EventEnvelope = z.infer<typeof EventEnvelopeSchema>;

export interface Receipt {
  principalId: string;
  /** The principal's own name: the default source. */
  principalName: string;
  traceId: string;
  receivedAt: Date;
}

export function toEnvelope(input: EventInput, receipt: Receipt): EventEnvelope {
  return {
    id: input.id ?? randomUUID(),
    type: input.type,
    source: input.source ?? receipt.principalName,
    occurredAt: input.occurredAt ? new Date(input.occurredAt).toISOString() : receipt.receivedAt.toISOString(),
    receivedAt: receipt.receivedAt.toISOString(),
    principalId: receipt.principalId,
    traceId: receipt.traceId,
    data: input.data,
  };
}

/** Sort key shared by the time-ordered indexes: time first, id to keep equal times distinct. */
export function timeKey(event: Pick<EventEnvelope, 'occurredAt' | 'id'>): string {
  return `${event.occurredAt}#${event.id}`;
}

/**
 * A name-based UUID (version 8 layout, SHA-256) for content that has no client-chosen id, so a redelivered message
 * maps to the same id and is stored once.
 */
export function deterministicId(...parts: readonly (string | number | undefined)[]): string {
  const hex = createHash('sha256').update(JSON.stringify(parts)).digest('hex');
  const variant = ((Number.parseInt(hex.slice(16, 18), 16) & 0x3f) | 0x80).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(18, 20)}-${hex.slice(20, 32)}`;
}
