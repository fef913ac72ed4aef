import { MAX_LISTED } from '../simulate/reconcile';
import type { SoakOptions } from './options';
import type { SoakRun } from './run';

/**
 * The soak's verdict: the final JSON (stdout) and the lines naming what went wrong (stderr). The run fails on any
 * acknowledged event not stored exactly once (readings parked in ruleErrors by the rule's error action count as
 * accounted for, and are shown), anything stored that was never sent, an acknowledged invalid reading neither
 * reported nor parked, an expected alert missing or repeated, a bad request not answered with a 4xx or that stored
 * something, anything in eventsDlq, an outage that did not happen as planned, or a drain that did not finish.
 */
export function buildSoakSummary(
  run: SoakRun,
  options: SoakOptions,
  extra: { seconds: Record<string, number>; machine: Record<string, unknown> },
): { json: Record<string, unknown> & { ok: boolean }; problems: string[] } {
  const d = run.drained;
  const problems: string[] = [];
  const list = (what: string, n: number, first: readonly unknown[]) => {
    if (n === 0) return;
    problems.push(`${what}: ${n}${n > first.length ? ` (first ${first.length})` : ''}`);
    for (const item of first) problems.push(`  ${JSON.stringify(item)}`);
  };
  list('acknowledged readings not stored (nor parked in ruleErrors)', d.readings.missing, d.readings.firstMissing);
  list('readings stored more than once', d.readings.duplicates, d.readings.firstDuplicates);
  list(
    'stored readings this run never sent (an invalid one stored?)',
    d.readings.unexpected,
    d.readings.firstUnexpected,
  );
  list(
    'readings both parked in ruleErrors and stored',
    d.parkedAndStored.length,
    d.parkedAndStored.slice(0, MAX_LISTED),
  );
  list('accepted (202) HTTP events not stored', d.http.missing, d.http.firstMissing);
  list('HTTP events stored more than once', d.http.duplicates, d.http.firstDuplicates);
  list('stored HTTP events this run never sent', d.http.unexpected, d.http.firstUnexpected);
  list('invalid readings acknowledged but not in telemetryErrors', d.invalid.missing, d.invalid.firstMissing);
  list('expected alerts that did not arrive', d.alerts.missing, d.alerts.firstMissing);
  list('alerts that arrived more than once', d.alerts.duplicates, d.alerts.firstDuplicates);
  list('alerts that arrived but were not expected', d.alerts.unexpected, d.alerts.firstUnexpected);
  list('error-queue messages matching nothing sent', d.findings.unexpectedCount, d.findings.unexpected);
  list(
    'messages in eventsDlq (records a consumer gave up on or parked)',
    d.findings.dlq.length,
    d.findings.dlq.slice(0, 5),
  );
  list('bad requests not answered with a 4xx', run.bad.wrongAnswers, run.bad.wrong);
  if (d.badStored > 0) problems.push(`events stored under the bad producer's principal: ${d.badStored}`);
  const httpFailed = run.producers.reduce((n, p) => n + p.failed, 0);
  if (httpFailed > 0) problems.push(`HTTP batches given up after every retry: ${httpFailed}`);
  const mismatched = run.producers.reduce((n, p) => n + p.mismatchedIds, 0);
  if (mismatched > 0) problems.push(`HTTP event ids other than the ones derived from their keys: ${mismatched}`);
  const failedOutages = run.outages.filter((o) => o.error || o.stoppedAt === undefined);
  list('outages that did not happen as planned', failedOutages.length, failedOutages);
  if (d.completeAfter === undefined) problems.push(`the pipeline did not drain within ${options.drainSeconds} s`);
  const unacked = run.publisher.sent - run.publisher.acked;
  const ok = problems.length === 0;
  const sum = (pick: (p: SoakRun['producers'][number]) => number) => run.producers.reduce((n, p) => n + pick(p), 0);
  const retriesByStatus: Record<string, number> = {};
  for (const p of run.producers)
    for (const [status, n] of Object.entries(p.retriesByStatus))
      retriesByStatus[status] = (retriesByStatus[status] ?? 0) + n;
  const json = {
    ok,
    config: options,
    machine: extra.machine,
    seconds: { ...extra.seconds, ...run.seconds, drainedAfter: d.completeAfter ?? null },
    outages: run.outages,
    mqtt: {
      devices: run.fleet.devices.length,
      sent: run.publisher.sent,
      acked: run.publisher.acked,
      unacked,
      publishErrors: run.publisher.errors,
      skipped: run.publisher.skipped,
      reconnects: run.fleet.reconnects,
      drops: run.fleet.drops,
      invalidSent: run.invalid.readings.length,
      invalidAcked: run.invalid.acked,
      parkedInRuleErrors: d.findings.parkedReadings.size,
    },
    http: {
      producers: run.producers.length,
      sent: sum((p) => p.events.length),
      acked: sum((p) => p.acked),
      requests: sum((p) => p.requests),
      retriesByStatus,
      answersWithRetryAfter: sum((p) => p.retryAfterAnswers),
      failedBatches: httpFailed,
    },
    badRequests: {
      requests: run.bad.requests,
      retries: run.bad.retries,
      byStatus: run.bad.byStatus,
      byCase: run.bad.byCase,
      storedUnderBadPrincipal: d.badStored,
    },
    ...(run.redrive ? { ruleErrorsRedrive: run.redrive } : {}),
    queues: {
      telemetryErrors: run.queues.telemetryErrors.messages.length,
      ruleErrors: run.queues.ruleErrors.messages.length,
      eventsDlq: run.queues.eventsDlq.messages.length,
      receiveErrors: Object.fromEntries(Object.entries(run.queues).map(([n, q]) => [n, q.errors])),
    },
    reconcile: {
      readings: d.readings,
      http: d.http,
      invalidReadings: d.invalid,
      alerts: d.alerts,
      parkedAndStored: d.parkedAndStored.length,
      readBack: { rounds: d.readback.rounds, requests: d.readback.requests, errors: d.readback.errors },
    },
    problems,
  };
  return { json, problems };
}
