import type { ExpectedAlert } from './expected-alerts';

/**
 * The end-of-run check, pure: every event the stack acknowledged (a PUBACK, a 202) is stored exactly once, and every
 * expected alert arrived exactly once on its device's topic. Anything else is named, the first few of each kind.
 */

/** Something the run sent: a reading or an HTTP event. */
export interface SentEvent {
  /** The event id the stack derives for it (computable: ids are owned, ADR 0011). */
  id: string;
  source: string;
  /** The stack acknowledged it: it must be stored. An unacknowledged one may or may not be. */
  acked: boolean;
  /** What identifies the content whatever its id (a reading's time and seq, an HTTP event's key). */
  fingerprint: string;
}

/** An event as read back from `GET /events?source=...`. */
export interface StoredEvent {
  id: string;
  source: string;
  fingerprint: string;
  /** Read from the raw archive: when the store consumer archived it. */
  archivedAt?: string;
}

export const MAX_LISTED = 20;

export interface EventReconciliation {
  sent: number;
  acked: number;
  /** Acked and stored once. */
  stored: number;
  /** Sent but never acknowledged, stored anyway (a PUBACK lost with its connection): fine. */
  storedUnacked: number;
  missing: number;
  duplicates: number;
  /** Stored for a source of this run, within its time window, yet never sent by it. */
  unexpected: number;
  firstMissing: { id: string; source: string }[];
  firstDuplicates: { id: string; source: string; copies: number }[];
  firstUnexpected: { id: string; source: string }[];
}

export function reconcileEvents(sent: readonly SentEvent[], stored: readonly StoredEvent[]): EventReconciliation {
  const copies = new Map<string, number>();
  for (const event of stored) copies.set(event.id, (copies.get(event.id) ?? 0) + 1);
  const sentIds = new Map(sent.map((e) => [e.id, e]));
  const sentFingerprints = new Map(sent.map((e) => [`${e.source}\u0000${e.fingerprint}`, e]));
  const result: EventReconciliation = {
    sent: sent.length,
    acked: 0,
    stored: 0,
    storedUnacked: 0,
    missing: 0,
    duplicates: 0,
    unexpected: 0,
    firstMissing: [],
    firstDuplicates: [],
    firstUnexpected: [],
  };
  const duplicate = (id: string, source: string, n: number) => {
    result.duplicates++;
    if (result.firstDuplicates.length < MAX_LISTED) result.firstDuplicates.push({ id, source, copies: n });
  };
  for (const event of sent) {
    const n = copies.get(event.id) ?? 0;
    if (event.acked) result.acked++;
    if (n > 1) duplicate(event.id, event.source, n);
    if (n >= 1 && event.acked) result.stored++;
    else if (n >= 1) result.storedUnacked++;
    else if (event.acked) {
      result.missing++;
      if (result.firstMissing.length < MAX_LISTED) result.firstMissing.push({ id: event.id, source: event.source });
    }
  }
  for (const event of stored) {
    if (sentIds.has(event.id)) continue;
    // The same content stored under its own id and under another one: a reading or event stored twice.
    const twin = sentFingerprints.get(`${event.source}\u0000${event.fingerprint}`);
    const twinCopies = twin ? (copies.get(twin.id) ?? 0) : 0;
    if (twin && twinCopies > 0) duplicate(twin.id, event.source, twinCopies + 1);
    else {
      result.unexpected++;
      if (result.firstUnexpected.length < MAX_LISTED)
        result.firstUnexpected.push({ id: event.id, source: event.source });
    }
  }
  return result;
}

/** An alert message as a device received it. */
export interface ReceivedAlert {
  key: string;
  deviceId: string;
}

export interface AlertReconciliation {
  expected: number;
  /** Expected and received once. */
  received: number;
  missing: number;
  duplicates: number;
  unexpected: number;
  firstMissing: ExpectedAlert[];
  firstDuplicates: { key: string; deviceId: string; copies: number }[];
  firstUnexpected: ReceivedAlert[];
}

export function reconcileAlerts(
  expected: readonly ExpectedAlert[],
  received: readonly ReceivedAlert[],
): AlertReconciliation {
  const copies = new Map<string, number>();
  for (const message of received) copies.set(message.key, (copies.get(message.key) ?? 0) + 1);
  const expectedKeys = new Set(expected.map((e) => e.key));
  const result: AlertReconciliation = {
    expected: expected.length,
    received: 0,
    missing: 0,
    duplicates: 0,
    unexpected: 0,
    firstMissing: [],
    firstDuplicates: [],
    firstUnexpected: [],
  };
  for (const alert of expected) {
    const n = copies.get(alert.key) ?? 0;
    if (n === 0) {
      result.missing++;
      if (result.firstMissing.length < MAX_LISTED) result.firstMissing.push(alert);
      continue;
    }
    result.received++;
    if (n > 1) {
      result.duplicates++;
      if (result.firstDuplicates.length < MAX_LISTED)
        result.firstDuplicates.push({ key: alert.key, deviceId: alert.deviceId, copies: n });
    }
  }
  const seen = new Set<string>();
  for (const message of received) {
    if (expectedKeys.has(message.key) || seen.has(message.key)) continue;
    seen.add(message.key);
    result.unexpected++;
    if (result.firstUnexpected.length < MAX_LISTED) result.firstUnexpected.push(message);
  }
  return result;
}

/** Nothing lost, duplicated or invented. */
export const eventsReconciled = (e: EventReconciliation) => e.missing === 0 && e.duplicates === 0 && e.unexpected === 0;
export const alertsReconciled = (a: AlertReconciliation) => a.missing === 0 && a.duplicates === 0 && a.unexpected === 0;
