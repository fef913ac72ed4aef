import type { StoreEntry } from '../ports';
import { expiresAtFor } from './retention';
import type { DecodedRecord, TelemetryRejection } from './stream-records';

/** A stream record as the store sees it: its position and what it decoded to. */
export interface DecodedRecordRef {
  sequenceNumber: string;
  decoded: DecodedRecord;
}

export interface StoreBatchPlan {
  size: number;
  /** One entry per event id, the latest copy in stream order (puts replace: the last written is what stays). */
  entries: StoreEntry[];
  /** Device readings that failed validation: not stored, reported to `telemetryErrors` instead. */
  rejected: { sequenceNumber: string; rejection: TelemetryRejection }[];
  /**
   * The records to report failed, in batch order: every copy of an id not written (yet), and the records whose
   * report could not be sent; never a record that cannot succeed (the consumer parks those).
   */
  failedSequenceNumbers(unwrittenIds: readonly string[], unreportedSequenceNumbers?: readonly string[]): string[];
  /** The records holding these event ids (every copy), in batch order. */
  sequenceNumbersOf(ids: readonly string[]): string[];
  /** The event id a record holds ('' for one that is not an event). */
  idAt(sequenceNumber: string): string;
}

/**
 * What the store consumer writes for a batch. BatchWriteItem refuses two puts of one key in a call, and two copies
 * of an id in one batch are the same producer's retry (ids are owned, ADR 0011), so the batch writes each id once.
 */
export function planStoreBatch(records: readonly DecodedRecordRef[]): StoreBatchPlan {
  const copies = new Map<string, { entry: StoreEntry; sequenceNumbers: string[] }>();
  const rejected: StoreBatchPlan['rejected'] = [];
  const idOf = new Map<string, string>();
  for (const { sequenceNumber, decoded } of records) {
    if (decoded.kind === 'rejectedReading') {
      rejected.push({ sequenceNumber, rejection: decoded.rejection });
      continue;
    }
    const event = decoded.envelope;
    idOf.set(sequenceNumber, event.id);
    const known = copies.get(event.id);
    const entry = { event, expiresAt: expiresAtFor(event) };
    if (known) {
      known.entry = entry;
      known.sequenceNumbers.push(sequenceNumber);
    } else copies.set(event.id, { entry, sequenceNumbers: [sequenceNumber] });
  }
  return {
    size: records.length,
    entries: [...copies.values()].map((c) => c.entry),
    rejected,
    failedSequenceNumbers(unwrittenIds, unreportedSequenceNumbers = []) {
      const unwritten = new Set(unwrittenIds);
      const unreported = new Set(unreportedSequenceNumbers);
      return records
        .map((r) => r.sequenceNumber)
        .filter((seq) => unreported.has(seq) || unwritten.has(idOf.get(seq) ?? ''));
    },
    idAt(sequenceNumber) {
      return idOf.get(sequenceNumber) ?? '';
    },
    sequenceNumbersOf(ids) {
      const wanted = new Set(ids);
      return records.map((r) => r.sequenceNumber).filter((seq) => wanted.has(idOf.get(seq) ?? ''));
    },
  };
}
