import { pool, sleep } from '../../bench/lib/util';
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
}

export interface ReadbackResult {
  stored: Map<string, StoredEvent[]>;
  rounds: number;
  requests: number;
  /** Sources still incomplete when the deadline passed. */
  incomplete: number;
  errors: string[];
}

export async function readBack(
  reader: StackReader,
  sources: readonly ReadbackSource[],
  options: { concurrency: number; deadline: number; onRound?: (round: number, incomplete: number) => void },
): Promise<ReadbackResult> {
  const result: ReadbackResult = { stored: new Map(), rounds: 0, requests: 0, incomplete: 0, errors: [] };
  let pending = [...sources];
  while (pending.length > 0) {
    result.rounds++;
    await pool(pending, options.concurrency, async (s) => {
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
    });
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

/** A reading's content identity: its time and seq (what its id is derived from, with the metrics). */
export const readingFingerprint = (ts: number | string, seq: unknown) =>
  `${typeof ts === 'number' ? new Date(ts).toISOString() : ts}|${String(seq)}`;

export function storedReadingFingerprint(item: Record<string, unknown>): string {
  const data = item.data as { seq?: unknown } | undefined;
  return readingFingerprint(String(item.occurredAt), data?.seq);
}

export const httpFingerprint = (key: unknown) => `key:${String(key)}`;

export const storedHttpFingerprint = (item: Record<string, unknown>) => httpFingerprint(item.idempotencyKey);
