import { sleep } from '../../bench/lib/util';
import type { StackInfo } from '../../infra/local/stack';
import type { AlertInbox } from './alert-inbox';
import type { ConnectReport, Fleet } from './fleet';
import type { HttpProducers } from './http-producers';
import type { SimulateOptions } from './options';
import type { Publisher } from './publisher';
import type { ReadbackResult } from './readback';
import {
  type AlertReconciliation,
  alertsReconciled,
  type EventReconciliation,
  eventsReconciled,
  MAX_LISTED,
} from './reconcile';
import type { StoreSampler } from './store-sampler';

/** Once every expected alert has arrived, duplicates get this long to show up before the run is judged. */
const DUPLICATE_GRACE_MS = 2_000;

/** Waits until every expected alert has arrived at least once, or the deadline (performance.now()) passes. */
export async function waitForAlerts(inbox: AlertInbox, keys: readonly string[], deadline: number): Promise<void> {
  while (inbox.arrived(keys) < keys.length && performance.now() < deadline) await sleep(200);
  await sleep(Math.max(0, Math.min(DUPLICATE_GRACE_MS, deadline - performance.now())));
}

export interface SummaryInput {
  options: SimulateOptions;
  info: StackInfo;
  phases: Record<string, number>;
  machine: { cpus: number; loadAverage1m: number; node: string; peakRssMB: number };
  connect: ConnectReport;
  fleet: Fleet;
  publisher: Publisher;
  sampler: StoreSampler;
  inbox: AlertInbox;
  producers: HttpProducers | undefined;
  readback: ReadbackResult;
  readings: EventReconciliation;
  http: EventReconciliation | undefined;
  alerts: AlertReconciliation;
}

/** The final JSON of a run, and the lines that say what went wrong (for stderr). */
export function buildSummary(input: SummaryInput): {
  json: Record<string, unknown> & { ok: boolean };
  problems: string[];
} {
  const { options, publisher, producers, connect, readings, http, alerts } = input;
  const publishSeconds = input.phases.publish ?? options.duration;
  const anomalies: Record<string, number> = {};
  for (const device of publisher.devices)
    for (const [rule, n] of device.generator.anomalies) anomalies[rule] = (anomalies[rule] ?? 0) + n;
  const problems: string[] = [];
  const list = (what: string, n: number, first: readonly unknown[]) => {
    if (n === 0) return;
    problems.push(`${what}: ${n}${n > first.length ? ` (first ${first.length})` : ''}`);
    for (const item of first) problems.push(`  ${JSON.stringify(item)}`);
  };
  list('devices that never connected', connect.failed.length, connect.failed.slice(0, MAX_LISTED));
  list('acknowledged readings not stored', readings.missing, readings.firstMissing);
  list('readings stored more than once', readings.duplicates, readings.firstDuplicates);
  list('stored readings this run never sent', readings.unexpected, readings.firstUnexpected);
  if (http) {
    list('acknowledged HTTP events not stored', http.missing, http.firstMissing);
    list('HTTP events stored more than once', http.duplicates, http.firstDuplicates);
    list('stored HTTP events this run never sent', http.unexpected, http.firstUnexpected);
  }
  list('expected alerts that did not arrive', alerts.missing, alerts.firstMissing);
  list('alerts that arrived more than once', alerts.duplicates, alerts.firstDuplicates);
  list('alerts that arrived but were not expected', alerts.unexpected, alerts.firstUnexpected);
  if (producers && producers.mismatchedIds > 0)
    problems.push(`HTTP event ids other than the ones derived from their keys: ${producers.mismatchedIds}`);
  const ok =
    connect.failed.length === 0 &&
    eventsReconciled(readings) &&
    alertsReconciled(alerts) &&
    (http === undefined || eventsReconciled(http)) &&
    (producers?.mismatchedIds ?? 0) === 0;
  const json = {
    ok,
    config: {
      ...options,
      target: input.info.target,
      http: input.info.http,
      mqtt: input.info.mqtt,
    },
    machine: input.machine,
    seconds: input.phases,
    connect: {
      connected: connect.connected,
      failed: connect.failed.length,
      attempts: connect.attempts,
      retried: connect.retried,
      seconds: connect.seconds,
      errors: connect.errors,
      ...(connect.failed.length > 0 ? { firstFailed: connect.failed.slice(0, MAX_LISTED) } : {}),
    },
    mqtt: {
      sent: publisher.sent,
      acked: publisher.acked,
      unacked: publisher.sent - publisher.acked,
      publishErrors: publisher.errors,
      skipped: publisher.skipped,
      sentPerSecond: Math.round(publisher.sent / Math.max(0.001, publishSeconds)),
      anomalies,
      reconnects: input.fleet.reconnects,
      drops: input.fleet.drops,
      clientErrors: input.fleet.errors,
      subscribeRefused: input.fleet.subscribeRefused,
      malformedAlertMessages: input.inbox.malformed,
    },
    ...(producers
      ? {
          http: {
            sent: producers.events.length,
            acked: producers.acked,
            requests: producers.requests,
            refused: producers.refused,
            failed: producers.failed,
            sentPerSecond: Math.round(producers.events.length / Math.max(0.001, publishSeconds)),
          },
        }
      : {}),
    latencyMs: {
      sendToAck: publisher.ackLatency.summary() ?? null,
      sendToStored: {
        mqtt: input.sampler.latencies.mqtt.summary() ?? null,
        ...(producers ? { http: input.sampler.latencies.http.summary() ?? null } : {}),
        timedOut: input.sampler.timedOut,
      },
      readingToAlert: input.inbox.latency.summary() ?? null,
    },
    reconcile: {
      readings,
      ...(http ? { http } : {}),
      alerts,
      readBack: {
        rounds: input.readback.rounds,
        requests: input.readback.requests,
        incompleteSources: input.readback.incomplete,
        errors: input.readback.errors,
        ...(input.readback.archiveObjects > 0
          ? { archiveObjects: input.readback.archiveObjects, archiveDuplicates: input.readback.archiveDuplicates }
          : {}),
      },
    },
  };
  return { json, problems };
}
