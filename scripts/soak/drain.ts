import { sleep } from '../../bench/lib/util';
import { alertRules } from '../../shared/domain/alert-rules';
import type { ArchiveReader } from '../lib/archive-reader';
import type { AlertInbox } from '../simulate/alert-inbox';
import type { StackReader } from '../simulate/api';
import { expectedAlerts } from '../simulate/expected-alerts';
import type { HttpProducers } from '../simulate/http-producers';
import type { Publisher } from '../simulate/publisher';
import {
  httpFingerprint,
  type ReadbackResult,
  type ReadbackSource,
  readBack,
  readingFingerprint,
  storedHttpFingerprint,
  storedReadingFingerprint,
} from '../simulate/readback';
import {
  type AlertReconciliation,
  type EventReconciliation,
  reconcileAlerts,
  reconcileEvents,
} from '../simulate/reconcile';
import { waitForAlerts } from '../simulate/summary';
import type { InvalidPublisher } from './invalid-readings';
import { classifyQueues, type InvalidReconciliation, type QueueFindings, reconcileInvalid } from './queue-findings';
import type { QueueCollector } from './queues';
import { inStreamOrder } from './stream-order';

/**
 * After the traffic: wait (bounded) until every acknowledged event is readable, every acknowledged invalid reading
 * is reported and every expected alert has arrived, then reconcile all of it. Readings the topic rule parked in
 * ruleErrors never reached the stream: they are expected there, not in the table, and judged by no alert rule.
 */

export interface DrainInput {
  reader: StackReader;
  /** Where readings are read back when the storage policy keeps them in the raw archive only (ADR 0018). */
  archive?: ArchiveReader;
  publisher: Publisher;
  invalid: InvalidPublisher;
  producers: { producer: HttpProducers; principalId: string }[];
  badPrincipal: string;
  queues: Record<'telemetryErrors' | 'ruleErrors' | 'eventsDlq', QueueCollector>;
  inbox: AlertInbox;
  /** Event id → position in the stream: the order the alerts consumer judged readings in. */
  streamPositions: () => Promise<Map<string, number>>;
  /** performance.now() by which the drain gives up. */
  deadline: number;
  log: (line: string) => void;
}

export interface Drained {
  /** Seconds from the drain's start until everything acknowledged was in (undefined: not by the deadline). */
  completeAfter: number | undefined;
  readback: ReadbackResult;
  findings: QueueFindings;
  readings: EventReconciliation;
  http: EventReconciliation;
  invalid: InvalidReconciliation;
  alerts: AlertReconciliation;
  /** Readings both parked in ruleErrors and stored: the rule's put half-succeeded (a duplicate path). */
  parkedAndStored: string[];
  /** Events stored under the bad producer's principal: each one a bad request that changed something. */
  badStored: number;
}

const merge = (parts: readonly EventReconciliation[]): EventReconciliation =>
  parts.reduce((a, b) => ({
    sent: a.sent + b.sent,
    acked: a.acked + b.acked,
    stored: a.stored + b.stored,
    storedUnacked: a.storedUnacked + b.storedUnacked,
    missing: a.missing + b.missing,
    duplicates: a.duplicates + b.duplicates,
    unexpected: a.unexpected + b.unexpected,
    firstMissing: [...a.firstMissing, ...b.firstMissing].slice(0, 20),
    firstDuplicates: [...a.firstDuplicates, ...b.firstDuplicates].slice(0, 20),
    firstUnexpected: [...a.firstUnexpected, ...b.firstUnexpected].slice(0, 20),
  }));

const findingsOf = (q: DrainInput['queues']) =>
  classifyQueues(q.telemetryErrors.messages, q.ruleErrors.messages, q.eventsDlq.messages);

export async function drainAndRead(input: DrainInput): Promise<Drained> {
  const { publisher, invalid, queues, log } = input;
  const started = performance.now();
  const parked = findingsOf(queues).parkedReadings;
  const sources: ReadbackSource[] = publisher.devices
    .filter((d) => d.readings.length > 0)
    .map((d) => ({
      source: d.deviceId,
      since: new Date((d.readings[0]?.ts ?? 0) - 60_000).toISOString(),
      until: new Date((d.readings.at(-1)?.ts ?? 0) + 60_000).toISOString(),
      acked: new Set(d.readings.filter((r) => r.acked && !parked.has(r.id)).map((r) => r.id)),
      fingerprint: storedReadingFingerprint,
      ...(input.archive ? { archived: true } : {}),
    }));
  for (const { producer, principalId } of input.producers)
    sources.push({
      source: principalId,
      acked: new Set(producer.events.filter((e) => e.acked).map((e) => e.id)),
      fingerprint: storedHttpFingerprint,
    });
  const readback = await readBack(input.reader, sources, {
    concurrency: 4,
    deadline: input.deadline,
    onRound: (round, incomplete) => log(`read-back round ${round}: ${incomplete} sources incomplete`),
    ...(input.archive ? { archive: input.archive } : {}),
  });
  while (reconcileInvalid(invalid.readings, findingsOf(queues)).missing > 0 && performance.now() < input.deadline)
    await sleep(500);
  const storedIds = new Set([...readback.stored.values()].flatMap((events) => events.map((e) => e.id)));
  // Judged in stream order, as the consumer judges them: a reading the rule error redrive put late comes late.
  const positions = await input.streamPositions();
  const judged = new Map(
    publisher.devices.map((d) => [
      d.deviceId,
      inStreamOrder(
        d.readings.filter((r) => storedIds.has(r.id)),
        (r) => r.id,
        positions,
      ).map((r) => ({ eventId: r.id, ts: r.ts, metrics: r.metrics })),
    ]),
  );
  const expected = expectedAlerts(alertRules, judged, new Map());
  const keys = expected.map((e) => e.key);
  await waitForAlerts(input.inbox, keys, Math.max(input.deadline, performance.now() + 5_000));
  const allIn =
    readback.incomplete === 0 &&
    reconcileInvalid(invalid.readings, findingsOf(queues)).missing === 0 &&
    input.inbox.arrived(keys) === keys.length;
  const completeAfter = allIn ? Math.round(performance.now() - started) / 1000 : undefined;

  const findings = findingsOf(queues);
  const storedOf = (source: string) => readback.stored.get(source) ?? [];
  const readings = reconcileEvents(
    publisher.devices.flatMap((d) =>
      d.readings.map((r) => ({
        id: r.id,
        source: d.deviceId,
        acked: r.acked && !findings.parkedReadings.has(r.id),
        fingerprint: readingFingerprint(r.ts, r.seq),
      })),
    ),
    publisher.devices.flatMap((d) => storedOf(d.deviceId)),
  );
  const http = merge(
    input.producers.map(({ producer, principalId }) =>
      reconcileEvents(
        producer.events.map((e) => ({
          id: e.id,
          source: principalId,
          acked: e.acked,
          fingerprint: httpFingerprint(e.key),
        })),
        storedOf(principalId),
      ),
    ),
  );
  const badStored = (await input.reader.events(input.badPrincipal)).length;
  return {
    completeAfter,
    readback,
    findings,
    readings,
    http,
    invalid: reconcileInvalid(invalid.readings, findings),
    alerts: reconcileAlerts(expected, input.inbox.received),
    parkedAndStored: [...findings.parkedReadings.keys()].filter((id) => storedIds.has(id)),
    badStored,
  };
}
