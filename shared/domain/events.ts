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

/**
 * Limits of what the event store can hold, checked at the boundary so that an accepted event is also a storable one
 * (a record the consumer cannot write would only retry, bisect and end in the events DLQ).
 *
 * - DynamoDB nests maps and lists up to 32 levels, the item being the first: `data` may nest 31.
 * - Numbers: the SDK's document client refuses to marshal a number outside the safe-integer range (RFC 8259 §6
 *   calls that range the interoperable one), and DynamoDB refuses a non-zero magnitude under 1e-130.
 * - Map keys: DynamoDB refuses an empty attribute name; `__proto__` does not survive a round trip through a
 *   JavaScript object (zod and the SDK's unmarshalling both drop it), so it is refused rather than silently lost.
 * - Size: an item is at most 400 KB (`MAX_STORED_ITEM_BYTES`), checked on the whole envelope in `validateEvents`.
 */
export const MAX_DATA_DEPTH = 31;
export const MIN_NUMBER_MAGNITUDE = 1e-130;
export const MAX_STORED_ITEM_BYTES = 400 * 1024;
/** At most this many storability problems are reported per event. */
const MAX_DATA_PROBLEMS = 10;

export const numberProblem = (n: number): string | undefined => {
  if (!Number.isFinite(n)) return 'must be a finite number';
  const magnitude = Math.abs(n);
  if (magnitude > Number.MAX_SAFE_INTEGER) return `must be within ±${Number.MAX_SAFE_INTEGER}`;
  if (magnitude !== 0 && magnitude < MIN_NUMBER_MAGNITUDE) return 'must be 0 or at least 1e-130 in magnitude';
  return undefined;
};

export interface DataProblem {
  path: (string | number)[];
  message: string;
}

/** Why a JSON value cannot be stored as event data (empty when it can). Iterative: any depth is safe to inspect. */
export function dataProblems(data: unknown, limit = MAX_DATA_PROBLEMS): DataProblem[] {
  const problems: DataProblem[] = [];
  const stack: { value: unknown; path: (string | number)[]; depth: number }[] = [{ value: data, path: [], depth: 0 }];
  while (stack.length > 0 && problems.length < limit) {
    const { value, path, depth } = stack.pop() as (typeof stack)[number];
    if (typeof value === 'number') {
      const message = numberProblem(value);
      if (message) problems.push({ path, message });
      continue;
    }
    if (typeof value !== 'object' || value === null) continue;
    if (depth + 1 > MAX_DATA_DEPTH) {
      problems.push({ path, message: `nests deeper than ${MAX_DATA_DEPTH} levels of objects and arrays` });
      continue;
    }
    const entries: [string | number, unknown][] = Array.isArray(value)
      ? value.map((v, i) => [i, v])
      : Object.entries(value);
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, child] = entries[i] as [string | number, unknown];
      if (key === '') problems.push({ path, message: 'has an empty key' });
      else if (key === '__proto__') problems.push({ path: [...path, key], message: 'is a reserved key' });
      else stack.push({ value: child, path: [...path, key], depth: depth + 1 });
    }
  }
  return problems.slice(0, limit);
}

/** Event data: a JSON object the event store can hold. */
export const EventDataSchema = z.record(z.string(), z.unknown()).superRefine((data, ctx) => {
  for (const problem of dataProblems(data))
    ctx.addIssue({ code: 'custom', path: problem.path, message: problem.message });
});

/** What a producer sends for one event. */
export const EventInputSchema = z.strictObject({
  id: EventIdSchema.optional().describe('Idempotency key chosen by the producer (UUID or ULID); generated if absent'),
  type: EventTypeSchema.describe('Dotted lower-case event type, e.g. payment.success'),
  source: z
    .string()
    .min(1)
    .max(256)
    .regex(/^[A-Za-z0-9._:/@-]+$/, 'may hold letters, digits and ._:/@-')
    .optional()
    .describe("Who the event is about; defaults to the caller's principal name; also the stream partition key"),
  occurredAt: z.iso
    .datetime({ offset: true })
    .optional()
    .describe('ISO-8601 time with Z or an offset; default: receipt time; at most 5 minutes in the future'),
  data: EventDataSchema.describe(
    `JSON object; nests at most ${MAX_DATA_DEPTH} levels, numbers within ±2^53-1, no empty or __proto__ keys`,
  ),
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

/**
 * A DynamoDB item's size as AWS documents it (attribute names + values in UTF-8; numbers 1 byte per two significant
 * digits + 1; booleans and null 1 byte; lists and maps 3 bytes + 1 per element), erring high: at most
 * `MAX_STORED_ITEM_BYTES` means the item fits.
 */
export function storedItemBytes(item: Readonly<Record<string, unknown>>): number {
  let bytes = 0;
  const stack: unknown[] = [item];
  while (stack.length > 0) {
    const value = stack.pop();
    if (typeof value === 'string') bytes += Buffer.byteLength(value, 'utf8');
    else if (typeof value === 'number') bytes += numberBytes(value);
    else if (typeof value === 'boolean' || value === null) bytes += 1;
    else if (Array.isArray(value)) {
      bytes += 3 + value.length;
      for (const v of value) stack.push(v);
    } else if (typeof value === 'object') {
      const entries = Object.entries(value);
      bytes += 3 + entries.length;
      for (const [k, v] of entries) {
        bytes += Buffer.byteLength(k, 'utf8');
        stack.push(v);
      }
    }
  }
  // The item itself is not a map attribute: no overhead for it.
  return bytes - 3 - Object.keys(item).length;
}

function numberBytes(n: number): number {
  const digits = Math.abs(n).toExponential().replace(/e.*$/, '').replace('.', '').replace(/0+$/, '').length;
  return Math.ceil(Math.max(digits, 1) / 2) + 1;
}

/**
 * The stored item of an envelope, for sizing: what the event store writes (the envelope, its index sort key and,
 * for events that expire, an epoch-seconds `expiresAt`, counted here at its widest).
 */
export function storedItem(envelope: EventEnvelope): Record<string, unknown> {
  return { ...envelope, timeKey: timeKey(envelope), expiresAt: 99_999_999_999 };
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
