import type { EventEnvelope } from '../../shared/domain/events';

/**
 * `tem trace`'s reading of the local function log (`<functionName> <json log line>` per line): which lines are about
 * one event, what step of its path each one is, and the time between them. Pure: the command does the I/O.
 */

export interface Hop {
  /** UTC ISO-8601 with milliseconds. */
  at: string;
  hop: string;
  /** The function that logged it, or `event` for a time the stored event itself records. */
  function: string;
  detail?: string;
  level?: string;
  sincePreviousMs: number;
  sinceFirstMs: number;
}

interface LogLine {
  functionName: string;
  fields: Record<string, unknown>;
}

/** The steps of a path, by function and message (the lines of the handlers, ADR 0016). */
const STEPS: Readonly<Record<string, (f: Record<string, unknown>) => { hop: string; detail?: string }>> = {
  'httpIngest events accepted': (f) => ({
    hop: 'accepted',
    detail: `in the stream (${count(f.count)} event(s) in the request of ${String(f.principalId)})`,
  }),
  'storeEvents batch stored': (f) => ({ hop: 'stored', detail: `events table (batch of ${count(f.records)})` }),
  'deviceMetrics readings aggregated': (f) => ({
    hop: 'metrics aggregated',
    detail: `per-minute device metrics (batch of ${count(f.readings)} readings)`,
  }),
  'alerts readings judged': (f) => ({ hop: 'alert rules applied', detail: `batch of ${count(f.readings)} readings` }),
  'alerts alert.raised': (f) => ({
    hop: 'alert raised',
    detail: `${String(f.ruleId)} on ${String(f.deviceId)}: alert ${String(f.alertId)}, queued and published`,
  }),
  'alerts alert.resolved': (f) => ({
    hop: 'alert resolved',
    detail: `${String(f.ruleId)}: alert ${String(f.alertId)}`,
  }),
  'alerts alerts pushed to WebSocket subscribers': (f) => ({
    hop: 'alert pushed (WebSocket)',
    detail: `${count(f.posts)} post(s) to ${count(f.connections)} connection(s)`,
  }),
  'wsFanout WebSocket deliveries': (f) => ({
    hop: 'pushed (WebSocket)',
    detail: `batch matched against ${count(f.connections)} connection(s): ${count(f.posts)} post(s)`,
  }),
  'apiAuthorizer credential accepted': (f) => ({ hop: 'authorized', detail: `principal ${String(f.principalId)}` }),
};

const count = (value: unknown) => (typeof value === 'number' ? String(value) : '?');

/** A function log line, or undefined for one that is not a JSON log line (EMF metric lines included). */
export function parseLogLine(line: string): LogLine | undefined {
  const space = line.indexOf(' ');
  if (space <= 0 || line[space + 1] !== '{') return undefined;
  try {
    const fields = JSON.parse(line.slice(space + 1)) as Record<string, unknown>;
    if (typeof fields !== 'object' || fields === null || '_aws' in fields) return undefined;
    return { functionName: line.slice(0, space), fields };
  } catch {
    return undefined;
  }
}

/** Whether a log line names the event: by its id anywhere in its fields (ids are UUIDs, unique in the log). */
export function mentions(line: LogLine, eventId: string): boolean {
  return JSON.stringify(line.fields).includes(`"${eventId}"`);
}

/** The correlation id a line was logged under (HTTP invocations) or that it lists for the event. */
export function correlationOf(line: LogLine): string | undefined {
  const id = line.fields.correlation_id;
  return typeof id === 'string' ? id : undefined;
}

/** Lines logged under the correlation id only count shortly before the event's first own line (its request). */
export const CORRELATION_WINDOW_MS = 30_000;

/**
 * The event's path: the times the stored event records (when it occurred, when the boundary received it), then
 * every log line about it, in time order, with the time since the previous step and since the first.
 */
export function hopsOf(input: {
  eventId: string;
  stored: EventEnvelope | undefined;
  lines: readonly LogLine[];
  /** Lines that carry the correlation id but not the event id (the authorizer's, for instance). */
  correlated?: readonly LogLine[];
}): Hop[] {
  const raw: Omit<Hop, 'sincePreviousMs' | 'sinceFirstMs'>[] = [];
  const { stored } = input;
  if (stored) {
    const telemetry = stored.principalId === `device:${stored.source}`;
    if (stored.occurredAt !== stored.receivedAt)
      raw.push({ at: stored.occurredAt, hop: 'occurred', function: 'event', detail: "the producer's clock" });
    raw.push({
      at: stored.receivedAt,
      hop: 'received',
      function: 'event',
      detail: telemetry ? 'by the IoT topic rule (timestamp())' : 'by httpIngest',
    });
  }
  const own = input.lines.map(toHop).filter((h) => h !== undefined);
  const firstOwn = Math.min(...own.map((h) => Date.parse(h.at)));
  const context = (input.correlated ?? [])
    .map(toHop)
    .filter((h) => h !== undefined)
    .filter((h) => Date.parse(h.at) <= firstOwn && Date.parse(h.at) >= firstOwn - CORRELATION_WINDOW_MS);
  raw.push(...context, ...own);
  // Stable: equal times keep the order above (the stored event's own times first).
  raw.sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  const first = raw.length > 0 ? Date.parse(raw[0]?.at ?? '') : 0;
  return raw.map((h, i) => ({
    ...h,
    sincePreviousMs: i === 0 ? 0 : Date.parse(h.at) - Date.parse(raw[i - 1]?.at ?? h.at),
    sinceFirstMs: Date.parse(h.at) - first,
  }));
}

function toHop(line: LogLine): Omit<Hop, 'sincePreviousMs' | 'sinceFirstMs'> | undefined {
  const at = line.fields.timestamp;
  if (typeof at !== 'string' || Number.isNaN(Date.parse(at))) return undefined;
  const message = String(line.fields.message ?? '');
  const step = STEPS[`${line.functionName} ${message}`];
  const level = typeof line.fields.level === 'string' ? line.fields.level : undefined;
  const base = { at: new Date(at).toISOString(), function: line.functionName };
  if (step) return { ...base, ...step(line.fields), ...(level && level !== 'INFO' ? { level } : {}) };
  // Any other line about the event (a warning, an error): shown as logged.
  const reason = line.fields.reason ?? line.fields.error;
  return {
    ...base,
    hop: message || 'log line',
    ...(reason === undefined ? {} : { detail: typeof reason === 'string' ? reason : JSON.stringify(reason) }),
    ...(level ? { level } : {}),
  };
}

/** Milliseconds as people read them: `850 ms`, `2.4 s`, `3 min 12 s`. */
export function duration(ms: number): string {
  if (Math.abs(ms) < 1000) return `${ms} ms`;
  if (Math.abs(ms) < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/** The human-readable form: one line per hop, aligned. */
export function renderHops(hops: readonly Hop[]): string[] {
  const width = Math.max(...hops.map((h) => h.hop.length), 4);
  const fnWidth = Math.max(...hops.map((h) => h.function.length), 4);
  return hops.map((h) => {
    const delta = h.sincePreviousMs === 0 && h.sinceFirstMs === 0 ? '' : `+${duration(h.sincePreviousMs)}`;
    const level = h.level ? ` [${h.level}]` : '';
    return `  ${h.at}  ${delta.padStart(10)}  ${h.hop.padEnd(width)}  ${h.function.padEnd(fnWidth)}  ${h.detail ?? ''}${level}`.trimEnd();
  });
}
