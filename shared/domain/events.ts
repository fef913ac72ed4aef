import { createHash, randomUUID } from 'node:crypto';
import { z } from 'zod';

/** Dotted lower-case event type, at least two segments: `payment.success`, `user.created`. */
export const EventTypeSchema = z
  .string()
  .max(128)
  .regex(/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/, 'must be a dotted lower-case name such as payment.success');

// One pattern without flags, so the JSON Schema export carries it as is. ULID: Crockford base32, either case.
const UUID = '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}';
const ULID = '[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}';
export const EventIdSchema = z.string().regex(new RegExp(`^(?:${UUID}|${ULID})$`), 'must be a UUID or a ULID');

/** Who an event is about (also its stream partition key and a listing key): 1-256 of `A-Z a-z 0-9 . _ : / @ -`. */
export const EventSourceSchema = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[A-Za-z0-9._:/@-]+$/, 'may hold letters, digits and ._:/@-');

/** How far in the future a producer's clock may be before `occurredAt` is refused. */
export const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;

/**
 * Limits on `data`, checked at the boundary so that an accepted event is also one every part downstream can handle
 * (a record the consumer cannot write would only retry, bisect and end in the events DLQ):
 *
 * - Depth: at most 32 levels of objects and arrays, `data` being the first. Serializing a much deeper value
 *   overflows the call stack (`JSON.stringify` throws), and 32 is DynamoDB's own nesting limit.
 * - Numbers: finite. JSON allows `1e400`, which JavaScript reads as Infinity and would store as `null`.
 * - Keys: no top-level `__proto__`: zod's copy of the record, and the store's reading back, both drop it.
 * - Size: see `storedItem` / `MAX_STORED_ITEM_BYTES`, checked on the whole envelope in `validateEvents`.
 */
export const MAX_DATA_DEPTH = 32;
export const MAX_STORED_ITEM_BYTES = 400 * 1024;
/** DynamoDB refuses a non-zero number of smaller magnitude (for numbers stored as numbers, e.g. device metrics). */
export const MIN_NUMBER_MAGNITUDE = 1e-130;
/** At most this many problems are reported per event. */
const MAX_DATA_PROBLEMS = 10;

export interface DataProblem {
  path: (string | number)[];
  message: string;
}

/** Why a JSON value cannot be event data (empty when it can). Iterative: any depth is safe to inspect. */
export function dataProblems(data: unknown, limit = MAX_DATA_PROBLEMS): DataProblem[] {
  const problems: DataProblem[] = [];
  if (typeof data === 'object' && data !== null && !Array.isArray(data) && Object.hasOwn(data, '__proto__'))
    problems.push({ path: ['__proto__'], message: 'is a reserved key' });
  const stack: { value: unknown; path: (string | number)[]; depth: number }[] = [{ value: data, path: [], depth: 0 }];
  while (stack.length > 0 && problems.length < limit) {
    const { value, path, depth } = stack.pop() as (typeof stack)[number];
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) problems.push({ path, message: 'must be a finite number' });
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
      stack.push({ value: child, path: [...path, key], depth: depth + 1 });
    }
  }
  return problems.slice(0, limit);
}

/**
 * Event data: a JSON object the event store can hold. Checked on the raw input, before zod copies the record (the
 * copy would already have dropped a top-level `__proto__` key).
 */
export const EventDataSchema = z.preprocess(
  (data, ctx) => {
    for (const problem of dataProblems(data))
      ctx.addIssue({ code: 'custom', path: problem.path, message: problem.message, input: data });
    return data;
  },
  z.record(z.string(), z.unknown()),
);

/** What a producer sends for one event. */
export const EventInputSchema = z.strictObject({
  id: EventIdSchema.optional().describe(
    "The producer's idempotency key (UUID or ULID), scoped to the producer: the stored event's id is derived from it and the producer's principal (see ownedEventId); a random id if absent",
  ),
  type: EventTypeSchema.describe('Dotted lower-case event type, e.g. payment.success'),
  source: EventSourceSchema.optional().describe(
    "Who the event is about; defaults to the caller's principal name; also the stream partition key",
  ),
  occurredAt: z.iso
    .datetime({ offset: true })
    .optional()
    .describe('ISO-8601 time with Z or an offset; default: receipt time; at most 5 minutes in the future'),
  data: EventDataSchema.describe(
    `JSON object; nests at most ${MAX_DATA_DEPTH} levels; finite numbers; no top-level __proto__ key`,
  ),
});
export type EventInput = z.infer<typeof EventInputSchema>;

/** What travels on the stream and is stored: the input plus what the boundary knows. */
export const EventEnvelopeSchema = z.object({
  id: z
    .string()
    .min(1)
    .describe(
      "The event's id: derived from the producer's principal and its idempotency key (or, for telemetry, the reading), else a random UUID",
    ),
  idempotencyKey: z.string().optional().describe('The `id` the producer sent, when it sent one'),
  type: EventTypeSchema,
  source: z.string().min(1).describe('The given source, else the principal name; a device id for telemetry'),
  occurredAt: z.string().describe('UTC ISO-8601 with milliseconds; the receipt time when the producer gave none'),
  receivedAt: z.string().describe('UTC ISO-8601: when the boundary received the event'),
  principalId: z.string().min(1).describe('Who sent it: the API principal, or device:<deviceId>'),
  traceId: z.string().min(1).describe('The API Gateway request id (HTTP), or the event id (telemetry)'),
  // Optional so that records and items written before it was carried still decode; every new event has one.
  correlationId: z
    .string()
    .min(1)
    .optional()
    .describe(
      "Follows the event through every function's logs: the caller's X-Correlation-Id header when valid, else the API Gateway request id (HTTP); the event id (telemetry). Absent on events accepted before it was carried: use traceId",
    ),
  data: z.record(z.string(), z.unknown()),
});
export type EventEnvelope = z.infer<typeof EventEnvelopeSchema>;

export interface Receipt {
  principalId: string;
  /** The principal's own name: the default source. */
  principalName: string;
  traceId: string;
  /** The request's correlation id (`correlationIdFor`); `traceId` when not given. */
  correlationId?: string;
  receivedAt: Date;
}

export function toEnvelope(input: EventInput, receipt: Receipt, receivedAtIso?: string): EventEnvelope {
  const receivedAt = receivedAtIso ?? receipt.receivedAt.toISOString();
  return {
    id: input.id === undefined ? randomUUID() : ownedEventId(receipt.principalId, input.id),
    ...(input.id === undefined ? {} : { idempotencyKey: input.id }),
    type: input.type,
    source: input.source ?? receipt.principalName,
    occurredAt: input.occurredAt ? new Date(input.occurredAt).toISOString() : receivedAt,
    receivedAt,
    principalId: receipt.principalId,
    traceId: receipt.traceId,
    correlationId: receipt.correlationId ?? receipt.traceId,
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
 * The item the event store writes for an envelope, for sizing: the envelope with `data` as a JSON string (as
 * `DynamoEventStore` keeps it), its index keys (`timeKey`; `typeKey`, which device readings do not carry: counted
 * anyway, erring high) and, for events that expire, an epoch-seconds `expiresAt`, counted here at its widest. A unit
 * test checks this against what the store really writes.
 */
export function storedItem(envelope: EventEnvelope): Record<string, unknown> {
  return {
    ...envelope,
    data: JSON.stringify(envelope.data),
    timeKey: timeKey(envelope),
    typeKey: envelope.type,
    expiresAt: 99_999_999_999,
  };
}

/**
 * An envelope's JSON, computed once: the ingest sizes it, and then sends exactly these bytes as the stream record.
 * `dataBytes` is the UTF-8 size of `data`'s JSON text, which is also what the store keeps (`storedItem`).
 */
interface Serialized {
  json: string;
  dataBytes: number;
}
const serializedEnvelopes = new WeakMap<EventEnvelope, Serialized>();

function serialize(envelope: EventEnvelope): Serialized {
  let done = serializedEnvelopes.get(envelope);
  if (done === undefined) {
    const { data, ...rest } = envelope;
    const dataJson = JSON.stringify(data);
    // The envelope's own key order, `data` last, as toEnvelope builds it: one JSON text, `data` serialized once.
    const head = JSON.stringify(rest);
    done = { json: `${head.slice(0, -1)},"data":${dataJson}}`, dataBytes: Buffer.byteLength(dataJson, 'utf8') };
    serializedEnvelopes.set(envelope, done);
  }
  return done;
}

/** The envelope as JSON text (what the stream record carries), serialized once per envelope. */
export function envelopeJson(envelope: EventEnvelope): string {
  return serialize(envelope).json;
}

/**
 * `storedItemBytes(storedItem(envelope))`, without serializing `data` again or walking it: every other attribute of
 * the stored item is a string, and `data` is stored as its JSON text. A property test holds the two equal.
 */
export function storedItemBytesOf(envelope: EventEnvelope): number {
  let bytes = 0;
  for (const [name, value] of Object.entries(envelope)) {
    if (name === 'data' || typeof value !== 'string') continue;
    bytes += name.length + Buffer.byteLength(value, 'utf8');
  }
  const key = timeKey(envelope);
  // data (name + JSON text), timeKey, typeKey, expiresAt at its widest (11 digits: 7 bytes).
  return (
    bytes +
    4 +
    serialize(envelope).dataBytes +
    7 +
    Buffer.byteLength(key, 'utf8') +
    7 +
    Buffer.byteLength(envelope.type, 'utf8') +
    9 +
    numberBytes(99_999_999_999)
  );
}

/** Sort key shared by the time-ordered indexes: time first, id to keep equal times distinct. */
export function timeKey(event: Pick<EventEnvelope, 'occurredAt' | 'id'>): string {
  return `${event.occurredAt}#${event.id}`;
}

/**
 * The id of an event whose producer named it: a name-based UUID of the producer's principal and its key (see
 * docs/decisions/0011-event-ids-are-owned.md). The same principal retrying with the same key gets the same id, so the
 * event is stored once; another principal using the same key gets another id, so no producer can suppress, overwrite
 * or pass off as its own an event of someone else by choosing its id.
 */
export function ownedEventId(principalId: string, key: string | number): string {
  return deterministicId('event', principalId, key);
}

/**
 * A name-based UUID (version 8 layout, SHA-256) of its parts, so that the same parts (a redelivered message, a
 * retried request) always map to the same id.
 */
export function deterministicId(...parts: readonly (string | number | undefined)[]): string {
  const hex = createHash('sha256').update(JSON.stringify(parts)).digest('hex');
  const variant = ((Number.parseInt(hex.slice(16, 18), 16) & 0x3f) | 0x80).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(18, 20)}-${hex.slice(20, 32)}`;
}
