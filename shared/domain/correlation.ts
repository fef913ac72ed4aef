import { z } from 'zod';
import type { EventEnvelope } from './events';

/**
 * One correlation id per event, from where it entered to every consumer's log lines (ADR 0016):
 *
 * - HTTP: the caller's `X-Correlation-Id` when it is a valid one, else the API Gateway request id. An invalid header
 *   is ignored, never refused: a bad trace header must not cost a producer its events (as W3C Trace Context does
 *   with a malformed `traceparent`). Every API answer echoes the id used in `X-Correlation-Id`.
 * - MQTT: the reading's own event id. It is derived from the reading (ADR 0011), so a redelivered message keeps it,
 *   both targets compute it the same way, and the topic rule needs no `newuuid()`.
 */
export const CORRELATION_ID_HEADER = 'X-Correlation-Id';

/**
 * 1-128 of `A-Z a-z 0-9 . _ : / @ = + -`: UUIDs, ULIDs, W3C trace ids and base64 ids fit; quotes, spaces and control
 * characters, which could break a log line or a Logs Insights query, do not.
 */
export const CorrelationIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9._:/@=+-]{1,128}$/, 'must be 1-128 of A-Z a-z 0-9 . _ : / @ = + -');

/** The correlation id of a request: the caller's header when valid, else the request id. */
export function correlationIdFor(headerValue: string | undefined, requestId: string): string {
  return headerValue !== undefined && CorrelationIdSchema.safeParse(headerValue).success ? headerValue : requestId;
}

/** An event, or a reading known by its id only (then its own correlation id). */
type Correlated = Pick<EventEnvelope, 'id'> & Partial<Pick<EventEnvelope, 'traceId' | 'correlationId'>>;

/** An event's correlation id; events stored before it was carried fall back to `traceId` (then the same value). */
export function correlationIdOf(event: Correlated): string {
  return event.correlationId ?? event.traceId ?? event.id;
}

/**
 * At most this many event ids per batch log line (a Kinesis batch holds up to 10,000 records): ~40 KB, far below
 * CloudWatch Logs' event size limit.
 */
export const TRACE_IDS_PER_LINE = 1000;

/** The fields of one batch log line: whom the line is about. */
export interface BatchTrace {
  eventIds: string[];
  /** The distinct correlation ids of these events, except those equal to the event's own id (a reading's). */
  correlationIds: string[];
}

/**
 * What a consumer logs once per batch (one line per `TRACE_IDS_PER_LINE` events) instead of one line per record:
 * the batch's event ids and correlation ids, so a search for either finds the line. A reading's correlation id is its
 * event id, listed once; the events of one HTTP request share one.
 */
export function batchTraces(events: readonly Correlated[], perLine = TRACE_IDS_PER_LINE): BatchTrace[] {
  const lines: BatchTrace[] = [];
  for (let i = 0; i < events.length; i += perLine) {
    const chunk = events.slice(i, i + perLine);
    const correlationIds = new Set<string>();
    for (const event of chunk) {
      const id = correlationIdOf(event);
      if (id !== event.id) correlationIds.add(id);
    }
    lines.push({ eventIds: chunk.map((e) => e.id), correlationIds: [...correlationIds] });
  }
  return lines;
}

/** The fields a per-record warning or error carries, so it can be found from the event or its request. */
export function recordTrace(event: Correlated): { id: string; correlationId: string } {
  return { id: event.id, correlationId: correlationIdOf(event) };
}
