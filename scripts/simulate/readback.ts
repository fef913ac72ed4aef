import { pool, sleep } from '../../bench/lib/util';
import type { ArchiveReader } from '../lib/archive-reader';
import type { StackReader } from './api';
import type { StoredEvent } from './reconcile';

/**
 * Reading the run's events back through the API (`GET /events?source=...`, every page, as the admin of the state
 * file), a bounded number of sources at a time, in rounds: a source whose acknowledged events are not all there yet
 * is read again, until all are or the deadline passes (the stream's consumers may still be catching up).
 */

export interface ReadbackSource {
  source: string;
  /** Bounds on `occurredAt` (ISO): a reused device's earlier readings are outside the run's window. */
  since?: string;
  until?: string;
  /** The ids that must be there before the source counts as complete. */
  acked: ReadonlySet<string>;
  /** The content identity of a listed item (see SentEvent.fingerprint). */
  fingerprint: (item: Record<string, unknown>) => string;
  /** Its events are kept in the raw archive only (policies/storage.json, ADR 0018): read there, not from the API. */
  archived?: boolean;
}

export interface ReadbackResult {
  stored: Map<string, StoredEvent[]>;
  rounds: number;
  requests: number;
  /** Sources still incomplete when the deadline passed. */
  incomplete: number;
  errors: string[];
  /**
   * Archive lines beyond the first of an id: Firehose delivers at least once (a redelivered batch is put again), so
   * readers keep one line per id, as these are kept once in `stored`.
   */
  archiveDuplicates: number;
  /** Archive objects read. */
  archiveObjects: number;
}

export async function readBack(
  reader: StackReader,
  sources: readonly ReadbackSource[],
  options: {
    concurrency: number;
    deadline: number;
    onRound?: (round: number, incomplete: number) => void;
    /** Where the `archived` sources are read. */
    archive?: ArchiveReader;
  },
): Promise<ReadbackResult> {
  const result: ReadbackResult = {
    stored: new Map(),
    rounds: 0,
    requests: 0,
    incomplete: 0,
    errors: [],
    archiveDuplicates: 0,
    archiveObjects: 0,
  };
  const archived = new ArchiveIndex(sources.filter((s) => s.archived));
  let pending = [...sources];
  while (pending.length > 0) {
    result.rounds++;
    if (pending.some((s) => s.archived)) {
      if (!options.archive) throw new Error('sources kept in the archive need an archive reader');
      try {
        await archived.read(options.archive);
      } catch (error) {
        if (result.errors.length < 20) result.errors.push(`archive: ${(error as Error).message}`);
      }
      for (const s of pending.filter((p) => p.archived)) result.stored.set(s.source, archived.of(s));
      result.archiveDuplicates = archived.duplicates;
      result.archiveObjects = options.archive.objects;
    }
    await pool(
      pending.filter((s) => !s.archived),
      options.concurrency,
      async (s) => {
        try {
          const items = await reader.events(s.source, s.since, s.until);
          result.requests += Math.max(1, Math.ceil(items.length / 100));
          result.stored.set(
            s.source,
            items.map((item) => ({ id: String(item.id), source: s.source, fingerprint: s.fingerprint(item) })),
          );
        } catch (error) {
          if (result.errors.length < 20) result.errors.push(`${s.source}: ${(error as Error).message}`);
        }
      },
    );
    pending = pending.filter((s) => {
      const ids = new Set((result.stored.get(s.source) ?? []).map((e) => e.id));
      for (const id of s.acked) if (!ids.has(id)) return true;
      return false;
    });
    options.onRound?.(result.rounds, pending.length);
    if (pending.length === 0 || performance.now() + 1000 > options.deadline) break;
    await sleep(1000);
  }
  result.incomplete = pending.length;
  return result;
}

/** The archive's events of the sources read there, one per id, indexed by source. */
class ArchiveIndex {
  private readonly bySource = new Map<string, Map<string, Record<string, unknown>>>();
  duplicates = 0;
  private readonly since: Date;
  private readonly until: Date;

  constructor(sources: readonly ReadbackSource[]) {
    for (const s of sources) this.bySource.set(s.source, new Map());
    const times = sources.flatMap((s) => [s.since, s.until]).flatMap((t) => (t ? [Date.parse(t)] : []));
    this.since = new Date(times.length > 0 ? Math.min(...times) : Date.now() - 3_600_000);
    this.until = new Date(Math.max(Date.now(), ...times));
  }

  async read(reader: ArchiveReader): Promise<void> {
    for (const event of await reader.readNew(this.since, new Date(Math.max(this.until.getTime(), Date.now())))) {
      const ids = this.bySource.get(event.source);
      if (!ids) continue;
      if (ids.has(event.id)) this.duplicates++;
      else ids.set(event.id, event as unknown as Record<string, unknown>);
    }
  }

  of(s: ReadbackSource): StoredEvent[] {
    const inWindow = (item: Record<string, unknown>) =>
      (!s.since || String(item.occurredAt) >= s.since) && (!s.until || String(item.occurredAt) <= s.until);
    return [...(this.bySource.get(s.source)?.values() ?? [])].filter(inWindow).map((item) => ({
      id: String(item.id),
      source: s.source,
      fingerprint: s.fingerprint(item),
      ...(typeof item.archivedAt === 'string' ? { archivedAt: item.archivedAt } : {}),
    }));
  }
}

/** A reading's content identity: its time and seq (what its id is derived from, with the metrics). */
export const readingFingerprint = (ts: number | string, seq: unknown) =>
  `${typeof ts === 'number' ? new Date(ts).toISOString() : ts}|${String(seq)}`;

export function storedReadingFingerprint(item: Record<string, unknown>): string {
  const data = item.data as { seq?: unknown } | undefined;
  return readingFingerprint(String(item.occurredAt), data?.seq);
}

export const httpFingerprint = (key: unknown) => `key:${String(key)}`;

export const storedHttpFingerprint = (item: Record<string, unknown>) => httpFingerprint(item.idempotencyKey);
