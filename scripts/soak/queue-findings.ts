import { readingEventId, type SimReading } from '../simulate/readings';
import { MAX_LISTED } from '../simulate/reconcile';
import { INVALID_SEQ_BASE, type InvalidReading } from './invalid-readings';

/**
 * What the error queues say about the run's readings. `telemetryErrors` holds the consumer's rejections (the
 * reading as the rule put it on the stream: deviceId, seq, ...). The rule's error messages (an IoT error action
 * message: topic and base64 payload, e.g. while the Kinesis engine was down) are put on the stream again by the
 * ruleErrors redrive (ADR 0012); what it gave up on ends in the dead-letter queue of ruleErrors, which is what the
 * run collects as `ruleErrors` (readings there were PUBACKed and never stored). `eventsDlq` must stay empty: anything there is a record a consumer gave up on
 * (an on-failure record) or parked as poison, and this run sends no poison.
 */

export interface QueueFindings {
  /** Valid readings the rule parked in ruleErrors: event id → copies. */
  parkedReadings: Map<string, number>;
  /** Invalid readings (`deviceId|seq`) the rule parked in ruleErrors, and the ones telemetryErrors reports. */
  parkedInvalid: Map<string, number>;
  rejected: Map<string, number>;
  /** Messages that match nothing this run sent. */
  unexpected: { queue: string; message: unknown }[];
  unexpectedCount: number;
  dlq: unknown[];
}

const invalidKey = (deviceId: unknown, seq: unknown) => `${String(deviceId)}|${String(seq)}`;

const bump = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);

export function classifyQueues(
  telemetryErrors: readonly unknown[],
  ruleErrors: readonly unknown[],
  eventsDlq: readonly unknown[],
): QueueFindings {
  const findings: QueueFindings = {
    parkedReadings: new Map(),
    parkedInvalid: new Map(),
    rejected: new Map(),
    unexpected: [],
    unexpectedCount: 0,
    dlq: [...eventsDlq],
  };
  const unexpected = (queue: string, message: unknown) => {
    findings.unexpectedCount++;
    if (findings.unexpected.length < MAX_LISTED) findings.unexpected.push({ queue, message });
  };
  for (const message of telemetryErrors) {
    const reading = (message as { reading?: { deviceId?: unknown; seq?: unknown } } | null)?.reading;
    if (typeof reading?.seq === 'number' && reading.seq >= INVALID_SEQ_BASE)
      bump(findings.rejected, invalidKey(reading.deviceId, reading.seq));
    else unexpected('telemetryErrors', message);
  }
  for (const message of ruleErrors) {
    const { topic, base64OriginalPayload } = (message ?? {}) as { topic?: unknown; base64OriginalPayload?: unknown };
    const deviceId = typeof topic === 'string' ? /^devices\/([^/]+)\/telemetry$/.exec(topic)?.[1] : undefined;
    let payload: SimReading | undefined;
    try {
      payload = JSON.parse(Buffer.from(String(base64OriginalPayload), 'base64').toString('utf8')) as SimReading;
    } catch {
      payload = undefined;
    }
    if (!deviceId || typeof payload?.seq !== 'number') unexpected('ruleErrors', message);
    else if (payload.seq >= INVALID_SEQ_BASE) bump(findings.parkedInvalid, invalidKey(deviceId, payload.seq));
    else bump(findings.parkedReadings, readingEventId(deviceId, payload));
  }
  return findings;
}

export interface InvalidReconciliation {
  sent: number;
  acked: number;
  /** Acknowledged and reported in telemetryErrors (at least once). */
  reported: number;
  /** Acknowledged, never on the stream: the rule parked them in ruleErrors. */
  parked: number;
  missing: number;
  /** Reports beyond the first (an at-least-once queue: a retried batch may report again). */
  extraReports: number;
  firstMissing: { deviceId: string; seq: number; kind: string }[];
}

export function reconcileInvalid(sent: readonly InvalidReading[], findings: QueueFindings): InvalidReconciliation {
  const result: InvalidReconciliation = {
    sent: sent.length,
    acked: 0,
    reported: 0,
    parked: 0,
    missing: 0,
    extraReports: 0,
    firstMissing: [],
  };
  for (const r of sent) {
    const key = invalidKey(r.deviceId, r.seq);
    const reports = findings.rejected.get(key) ?? 0;
    const parked = findings.parkedInvalid.get(key) ?? 0;
    result.extraReports += Math.max(0, reports - 1);
    if (!r.acked) continue;
    result.acked++;
    if (reports > 0) result.reported++;
    else if (parked > 0) result.parked++;
    else {
      result.missing++;
      if (result.firstMissing.length < MAX_LISTED)
        result.firstMissing.push({ deviceId: r.deviceId, seq: r.seq, kind: r.kind });
    }
  }
  return result;
}
