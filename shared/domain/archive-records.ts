import type { EventEnvelope } from './events';

/** Firehose takes records of at most 1,000 KiB; a PutRecordBatch call at most 500 records and 4 MiB. */
export const ARCHIVE_RECORD_LIMIT_BYTES = 1_000 * 1024;
export const ARCHIVE_CALL_RECORDS = 500;
export const ARCHIVE_CALL_BYTES = 4 * 1024 * 1024;

/**
 * One archived event as one JSON line. `data` is kept as a JSON string, as the events table keeps it, so the Athena
 * table has the same columns for every event type (query the payload with `json_extract`), and a payload number no
 * SerDe can hold (beyond 2^63, 1e400) survives as written. `archivedAt` is when the store consumer sent the line to
 * Firehose: with `receivedAt`, how long the event took to be stored.
 */
export function archiveLine(event: EventEnvelope, archivedAt: string): string {
  return `${JSON.stringify({ ...event, data: JSON.stringify(event.data), archivedAt })}\n`;
}

/** An event as read back from the archive, with when it was archived. */
export type ArchivedEvent = EventEnvelope & { archivedAt?: string };

/** The inverse of `archiveLine`, for readers of the archive (the simulator, the tests). */
export function parseArchiveLine(line: string): ArchivedEvent {
  const item = JSON.parse(line) as Record<string, unknown>;
  return { ...item, data: typeof item.data === 'string' ? JSON.parse(item.data) : item.data } as ArchivedEvent;
}

export interface ArchiveRecord {
  /** JSON lines, each ending in a newline: Firehose joins records as they are, so objects stay line-delimited. */
  data: string;
  bytes: number;
  ids: string[];
}

/**
 * Packs a batch's events into as few Firehose records as the record limit allows. Firehose bills ingestion in 5 KB
 * steps per record, so a ~300 B reading alone would pay for 17 times its size; packed, a batch pays for its bytes.
 * An event whose line alone passes the limit cannot be archived by any retry: it is returned as refused.
 */
export function packArchiveRecords(
  events: readonly EventEnvelope[],
  archivedAt: string,
  limitBytes = ARCHIVE_RECORD_LIMIT_BYTES,
): { records: ArchiveRecord[]; refused: { id: string; reason: string }[] } {
  const records: ArchiveRecord[] = [];
  const refused: { id: string; reason: string }[] = [];
  let open: { lines: string[]; bytes: number; ids: string[] } | undefined;
  const close = () => {
    if (open) records.push({ data: open.lines.join(''), bytes: open.bytes, ids: open.ids });
    open = undefined;
  };
  for (const event of events) {
    const line = archiveLine(event, archivedAt);
    const bytes = Buffer.byteLength(line);
    if (bytes > limitBytes) {
      refused.push({ id: event.id, reason: `archive line of ${bytes} bytes is over Firehose's ${limitBytes}` });
      continue;
    }
    if (open && open.bytes + bytes > limitBytes) close();
    open ??= { lines: [], bytes: 0, ids: [] };
    open.lines.push(line);
    open.bytes += bytes;
    open.ids.push(event.id);
  }
  close();
  return { records, refused };
}

/** Groups records into PutRecordBatch calls within the per-call limits, in order. */
export function archiveCalls(
  records: readonly ArchiveRecord[],
  limits = { records: ARCHIVE_CALL_RECORDS, bytes: ARCHIVE_CALL_BYTES },
): ArchiveRecord[][] {
  const calls: ArchiveRecord[][] = [];
  let call: ArchiveRecord[] = [];
  let bytes = 0;
  for (const record of records) {
    if (call.length > 0 && (call.length >= limits.records || bytes + record.bytes > limits.bytes)) {
      calls.push(call);
      call = [];
      bytes = 0;
    }
    call.push(record);
    bytes += record.bytes;
  }
  if (call.length > 0) calls.push(call);
  return calls;
}

/**
 * The key prefix of one hour's objects, for a prefix of the shape `<fixed>!{timestamp:yyyy-MM-dd-HH}/` (the one the
 * topology declares, which the Glue table's partition projection also reads). Undefined for any other shape.
 */
export function archiveHourPrefix(prefix: string, hour: Date): string | undefined {
  const match = /^([^!]*)!\{timestamp:yyyy-MM-dd-HH\}\/$/.exec(prefix);
  if (!match) return undefined;
  const iso = hour.toISOString();
  return `${match[1]}${iso.slice(0, 10)}-${iso.slice(11, 13)}/`;
}
