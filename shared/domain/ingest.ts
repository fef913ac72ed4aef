import { z } from 'zod';
import type { EventPublisher, StreamRecord } from '../ports';
import { type FieldError, Rejection } from './errors';
import {
  type EventEnvelope,
  EventInputSchema,
  envelopeJson,
  MAX_CLOCK_SKEW_MS,
  MAX_STORED_ITEM_BYTES,
  type Receipt,
  storedItemBytesOf,
  toEnvelope,
} from './events';
import { eventTypeAllowed } from './permissions';
import { TELEMETRY_EVENT_TYPE } from './telemetry';

export const MAX_EVENTS_PER_REQUEST = 500;
/** Kinesis caps a record (data + partition key) at 1 MiB. */
export const MAX_RECORD_BYTES = 1024 * 1024;
/** API Gateway REST caps a payload at 10 MB. */
export const MAX_BODY_BYTES = 10 * 1024 * 1024;
/** PutRecords caps a call at 500 records and 5 MiB. */
const MAX_CALL_RECORDS = 500;
const MAX_CALL_BYTES = 5 * 1024 * 1024;

/**
 * The body of `POST /events` as `application/json`, for documentation (docs/schemas/ingest-request.schema.json):
 * one event, or `{"events": [...]}` with 1 to 500 events. `parseBody` + `validateEvents` enforce the same shape
 * (and answer 413 rather than 400 past 500 events); NDJSON carries one event per line instead.
 */
export const IngestRequestSchema = z.union([
  EventInputSchema,
  z.object({
    events: z.array(EventInputSchema).min(1).max(MAX_EVENTS_PER_REQUEST),
  }),
]);

export interface Producer extends Receipt {
  /** Event-type patterns the principal may emit. */
  eventTypes: readonly string[];
  /** Whether the principal may name a source other than itself. */
  mayClaimAnySource: boolean;
}

/** Turns the raw body into a list of candidate events, refusing media types and shapes it cannot read. */
export function parseBody(body: string, contentType: string | undefined): unknown[] {
  const media = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (media !== 'application/json' && media !== 'application/x-ndjson')
    throw new Rejection('unsupported-media-type', 'Content-Type must be application/json or application/x-ndjson');
  if (Buffer.byteLength(body, 'utf8') > MAX_BODY_BYTES) throw new Rejection('too-large', 'Request body is over 10 MB');
  // API Gateway hands a text body over as UTF-8 with every invalid byte sequence replaced by U+FFFD: storing that
  // would acknowledge data the producer never sent. A producer that means U+FFFD can send it escaped (\ufffd).
  const replaced = body.indexOf('\uFFFD');
  if (replaced >= 0)
    throw new Rejection(
      'invalid',
      `Body is not valid UTF-8: character ${replaced} is U+FFFD, the mark of bytes that are not UTF-8 (a real U+FFFD must be sent escaped, as \\ufffd)`,
    );
  let items: unknown[];
  if (media === 'application/json') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      throw new Rejection('invalid', 'Body is not valid JSON');
    }
    const isBatch = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) && 'events' in parsed;
    if (isBatch) {
      const events = (parsed as { events: unknown }).events;
      if (!Array.isArray(events)) throw new Rejection('invalid', '"events" must be an array of events');
      items = events;
    } else {
      items = [parsed];
    }
  } else {
    items = [];
    const lines = body.split('\n');
    for (const [index, line] of lines.entries()) {
      if (line.trim() === '') continue;
      try {
        items.push(JSON.parse(line));
      } catch {
        throw new Rejection('invalid', 'Body is not valid NDJSON', {
          errors: [{ index, path: '', message: 'line is not valid JSON' }],
        });
      }
    }
  }
  if (items.length === 0) throw new Rejection('invalid', 'The request holds no event');
  if (items.length > MAX_EVENTS_PER_REQUEST)
    throw new Rejection('too-large', `At most ${MAX_EVENTS_PER_REQUEST} events per request, got ${items.length}`);
  return items;
}

function zodErrors(index: number, error: z.ZodError): FieldError[] {
  return error.issues.map((issue) => ({ index, path: issue.path.join('.'), message: issue.message }));
}

/**
 * Validates every candidate and builds the envelopes. All or nothing: any invalid event rejects the request, so a
 * producer never has to work out which half of its batch went in.
 */
export function validateEvents(items: readonly unknown[], producer: Producer): EventEnvelope[] {
  const errors: FieldError[] = [];
  const envelopes: EventEnvelope[] = [];
  const latest = producer.receivedAt.getTime() + MAX_CLOCK_SKEW_MS;
  const receivedAt = producer.receivedAt.toISOString();
  for (const [index, item] of items.entries()) {
    const result = EventInputSchema.safeParse(item);
    if (!result.success) {
      errors.push(...zodErrors(index, result.error));
      continue;
    }
    const input = result.data;
    if (input.occurredAt !== undefined && new Date(input.occurredAt).getTime() > latest) {
      errors.push({ index, path: 'occurredAt', message: 'is more than 5 minutes in the future' });
      continue;
    }
    const envelope = toEnvelope(input, producer, receivedAt);
    const bytes = Buffer.byteLength(envelopeJson(envelope), 'utf8') + Buffer.byteLength(envelope.source, 'utf8');
    if (bytes > MAX_RECORD_BYTES)
      throw new Rejection('too-large', `Event ${index} is ${bytes} bytes serialized; the limit is 1 MiB`, {
        errors: [{ index, path: '', message: 'event is over 1 MiB serialized' }],
      });
    // The table caps an item at 400 KB: an event the consumer could not store must not be accepted.
    const itemBytes = storedItemBytesOf(envelope);
    if (itemBytes > MAX_STORED_ITEM_BYTES)
      throw new Rejection(
        'too-large',
        `Event ${index} is ${itemBytes} bytes as a stored item; the limit is ${MAX_STORED_ITEM_BYTES} bytes (400 KB)`,
        { errors: [{ index, path: '', message: 'event is over 400 KB as a stored item' }] },
      );
    envelopes.push(envelope);
  }
  if (errors.length > 0) throw new Rejection('invalid', 'One or more events are invalid', { errors });

  for (const [index, envelope] of envelopes.entries()) {
    if (envelope.type === TELEMETRY_EVENT_TYPE)
      throw new Rejection('forbidden', `${TELEMETRY_EVENT_TYPE} is published by devices over MQTT, not posted`, {
        index,
      });
    if (!eventTypeAllowed(producer.eventTypes, envelope.type))
      throw new Rejection('forbidden', `Not allowed to emit events of type ${envelope.type}`, { index });
    if (envelope.source !== producer.principalName && !producer.mayClaimAnySource)
      throw new Rejection('forbidden', `Not allowed to emit events for source ${envelope.source}`, { index });
  }
  return envelopes;
}

/** Events of one source share a partition key, so they keep their order on one shard. */
export function toStreamRecord(envelope: EventEnvelope): StreamRecord {
  return {
    id: envelope.id,
    partitionKey: envelope.source,
    data: Buffer.from(envelopeJson(envelope), 'utf8'),
  };
}

export function chunkForPutRecords(records: readonly StreamRecord[]): StreamRecord[][] {
  const chunks: StreamRecord[][] = [];
  let current: StreamRecord[] = [];
  let bytes = 0;
  for (const record of records) {
    const size = record.data.byteLength + Buffer.byteLength(record.partitionKey, 'utf8');
    if (current.length > 0 && (current.length === MAX_CALL_RECORDS || bytes + size > MAX_CALL_BYTES)) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(record);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

export interface PublishReport {
  accepted: string[];
  failed: { id: string; errorCode: string }[];
}

export interface RetryBudget {
  /** Milliseconds left before the function must answer. */
  remainingMs: () => number;
  sleep: (ms: number) => Promise<void>;
  random?: () => number;
}

/**
 * Publishes every record, retrying only the ones Kinesis refused, with full-jitter exponential backoff, while the
 * function's time budget allows. Returns which ids are in the stream and which are not: never claims a record it
 * did not see acknowledged.
 */
/**
 * Time one PutRecords call may need (the ingest clients' request timeout is 2 s, one attempt) plus the time left to
 * answer: a call is not started with less, so the function answers 503 with the ids instead of timing out.
 */
export const CALL_BUDGET_MS = 3000;

export async function publishAll(
  publisher: EventPublisher,
  records: readonly StreamRecord[],
  budget: RetryBudget,
): Promise<PublishReport> {
  const random = budget.random ?? Math.random;
  let pending = [...records];
  let lastErrors = new Map<string, string>();
  let calls = 0;
  for (let attempt = 0; pending.length > 0; attempt++) {
    if (attempt > 0) {
      const delay = Math.floor(random() * Math.min(1000, 50 * 2 ** attempt));
      if (budget.remainingMs() < delay + CALL_BUDGET_MS) break;
      await budget.sleep(delay);
    }
    const failedNow = new Map<string, string>();
    for (const chunk of chunkForPutRecords(pending)) {
      // A call may take up to the client's request timeout: after the first one, start another only if its answer
      // can still be reported (the first always goes: a function starts with far more than this).
      if (calls > 0 && budget.remainingMs() < CALL_BUDGET_MS) {
        for (const r of chunk) failedNow.set(r.id, 'TimeBudgetExhausted');
        continue;
      }
      calls++;
      try {
        const outcome = await publisher.publish(chunk);
        for (const f of outcome.failed) failedNow.set(f.id, f.errorCode);
      } catch (error) {
        // The whole call failed (throttled, stream unavailable, network): every record of the chunk is pending.
        const code = error instanceof Error ? error.name : 'PublishError';
        for (const r of chunk) failedNow.set(r.id, code);
      }
    }
    pending = pending.filter((r) => failedNow.has(r.id));
    lastErrors = failedNow;
  }
  const failedIds = new Set(pending.map((r) => r.id));
  return {
    accepted: records.filter((r) => !failedIds.has(r.id)).map((r) => r.id),
    failed: pending.map((r) => ({ id: r.id, errorCode: lastErrors.get(r.id) ?? 'Unknown' })),
  };
}
