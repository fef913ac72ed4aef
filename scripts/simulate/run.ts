import { cpus, loadavg } from 'node:os';
import { iotAuthorizer } from '../../infra/topology';
import { alertRules } from '../../shared/domain/alert-rules';
import type { RuleState } from '../../shared/domain/alerts';
import type { FleetCredential } from '../../shared/domain/device-fleet';
import type { ArchiveReader } from '../lib/archive-reader';
import { AlertInbox } from './alert-inbox';
import type { StackReader } from './api';
import { HttpClient } from './api';
import { expectedAlerts } from './expected-alerts';
import { Fleet } from './fleet';
import { HttpProducers } from './http-producers';
import type { SimulateOptions } from './options';
import { progressLine } from './progress';
import { Publisher } from './publisher';
import {
  httpFingerprint,
  type ReadbackResult,
  type ReadbackSource,
  readBack,
  readingFingerprint,
  storedHttpFingerprint,
  storedReadingFingerprint,
} from './readback';
import { reconcileAlerts, reconcileEvents, type SentEvent } from './reconcile';
import { StatsWatcher } from './stack-stats';
import { StoreSampler } from './store-sampler';
import type { SummaryInput } from './summary';
import { waitForAlerts } from './summary';

/**
 * One simulation, phase by phase: connect the fleet, publish (and post, with HTTP producers) for the duration,
 * wait for the PUBACKs still due, read everything back until it is all stored or the settle time is up, compute the
 * alerts the stored readings must have raised and wait for them, then reconcile.
 */

export interface RunContext {
  options: SimulateOptions;
  target: { http: string; mqtt: string; aws: boolean; control?: string };
  devices: readonly FleetCredential[];
  reader: StackReader;
  /**
   * Where readings are read back when policies/storage.json keeps them in the raw archive only (ADR 0018): the API
   * has no readings then, and their send→stored is read from each archived line's `archivedAt`.
   */
  archive?: ArchiveReader;
  /** What the stack already holds about these devices' alerts (see expected-alerts.ts). */
  prior: ReadonlyMap<string, RuleState>;
  producerKey?: { apiKey: string; principalId: string };
  log: (line: string) => void;
}

const CONNECT_ATTEMPTS = 8;
/** At most this long for the PUBACKs still due when publishing stops. */
const DRAIN_MS = 30_000;

export async function runSimulation(ctx: RunContext): Promise<Omit<SummaryInput, 'options' | 'info'>> {
  const { options, target, devices, log } = ctx;
  const phases: Record<string, number> = {};
  const phase = (name: string, since: number) => {
    phases[name] = Math.round(performance.now() - since) / 1000;
  };

  let publisher: Publisher | undefined;
  const inbox = new AlertInbox((deviceId, eventId) => publisher?.sentAt(deviceId, eventId));
  const connectStarted = performance.now();
  const fleet = new Fleet(devices, {
    url: target.mqtt,
    usernameSuffix: target.aws ? `?x-amz-customauthorizer-name=${iotAuthorizer.name}` : '',
    concurrency: options.connectConcurrency,
    maxAttempts: CONNECT_ATTEMPTS,
    // Generous for a storm (every CONNECT runs the device authorizer), bounded all the same.
    deadline: connectStarted + (60 + devices.length / 50) * 1000,
    onMessage: (index, payload, at) => inbox.accept(devices[index]?.deviceId ?? '', payload, at),
  });
  log(`connecting ${devices.length} devices to ${target.mqtt} (${options.connectConcurrency} at a time)`);
  let connectedSoFar = 0;
  const connectTicker = setInterval(() => log(`connected ${connectedSoFar}/${devices.length}`), 1000);
  const connect = await fleet.connect((n) => {
    connectedSoFar = n;
  });
  clearInterval(connectTicker);
  phase('connect', connectStarted);
  log(`connected ${connect.connected}/${devices.length} in ${connect.seconds} s (${connect.attempts} attempts)`);

  const sampler = new StoreSampler(ctx.reader);
  publisher = new Publisher(
    fleet,
    fleet.clients.flatMap((c, i) => (c ? [i] : [])),
    {
      rate: options.rate,
      total: options.rate * options.duration,
      seed: options.seed,
      rules: alertRules,
      anomalyPercent: options.anomalies,
      basicIngest: options.basicIngest,
      maxInflight: Math.max(1000, options.rate * 5),
    },
    (reading) => {
      if (!ctx.archive) sampler.offer(reading.id, reading.sentAt, 'mqtt');
    },
  );
  const producerClient = ctx.producerKey ? new HttpClient(target.http, options.httpProducers) : undefined;
  const producers =
    ctx.producerKey && producerClient
      ? new HttpProducers(
          producerClient,
          ctx.producerKey.apiKey,
          ctx.producerKey.principalId,
          { producers: options.httpProducers, rate: options.httpRate, batch: options.httpBatch },
          (event) => sampler.offer(event.id, event.sentAt, 'http'),
        )
      : undefined;

  let stopping = false;
  const onSignal = () => {
    if (stopping) process.exit(130);
    stopping = true;
    log('interrupted: publishing stops, then the run is reconciled (again to quit at once)');
  };
  process.on('SIGINT', onSignal);
  const stats = new StatsWatcher(target.control);
  await stats.start();
  const expectedKeys: string[] = [];
  let lastSent = 0;
  let peakRss = process.memoryUsage().rss;
  const publishStarted = performance.now();
  const ticker = setInterval(() => {
    stats.refresh();
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    const p = publisher as Publisher;
    const figures = stats.figures();
    const sendToStored = sampler.latencies.mqtt.summary();
    const readingToAlert = inbox.latency.summary();
    const line = progressLine({
      elapsedSeconds: (performance.now() - publishStarted) / 1000,
      connected: fleet.connected(),
      devices: devices.length,
      sentPerSecond: p.sent - lastSent,
      sent: p.sent,
      acked: p.acked,
      inflight: p.inflight,
      errors: p.errors + fleet.errors + (producers ? producers.failed + producers.refused : 0),
      ...(figures.stored === undefined ? {} : { stored: figures.stored }),
      ...(sendToStored ? { sendToStored } : {}),
      alerts: expectedKeys.length > 0 ? inbox.arrived(expectedKeys) : inbox.received.length,
      ...(readingToAlert ? { readingToAlert } : {}),
      ...(figures.lagMs ? { lagMs: figures.lagMs } : {}),
      ...(producers ? { http: { sent: producers.events.length, acked: producers.acked } } : {}),
    });
    process.stderr.write(`${line}\n`);
    lastSent = p.sent;
  }, 1000);

  try {
    await Promise.all([
      publisher.run(() => stopping),
      producers?.run(options.duration * 1000, () => stopping, publishStarted),
    ]);
    phase('publish', publishStarted);
    const drainStarted = performance.now();
    await publisher.drain(DRAIN_MS);
    await sampler.stop();
    phase('drain', drainStarted);

    const settleStarted = performance.now();
    const deadline = settleStarted + options.settle * 1000;
    const sources: ReadbackSource[] = publisher.devices
      .filter((d) => d.readings.length > 0)
      .map((d) => ({
        source: d.deviceId,
        // The run's own window: a reused device's earlier readings are not part of it.
        since: new Date(d.readings[0]?.ts ?? 0).toISOString(),
        until: new Date(d.readings.at(-1)?.ts ?? 0).toISOString(),
        acked: new Set(d.readings.filter((r) => r.acked).map((r) => r.id)),
        fingerprint: storedReadingFingerprint,
        ...(ctx.archive ? { archived: true } : {}),
      }));
    if (producers && ctx.producerKey)
      sources.push({
        source: ctx.producerKey.principalId,
        acked: new Set(producers.events.filter((e) => e.acked).map((e) => e.id)),
        fingerprint: storedHttpFingerprint,
      });
    log(`reading back ${sources.length} sources (${options.readConcurrency} at a time)`);
    const readback = await readBack(ctx.reader, sources, {
      concurrency: options.readConcurrency,
      deadline,
      onRound: (round, incomplete) => log(`read-back round ${round}: ${incomplete} sources incomplete`),
      ...(ctx.archive ? { archive: ctx.archive } : {}),
    });
    if (ctx.archive) archivedLatencies(readback, publisher, sampler);
    const storedIds = new Set([...readback.stored.values()].flatMap((events) => events.map((e) => e.id)));
    // What reached the stream is what the alerts consumer judged: the acknowledged readings, and any stored anyway.
    const judged = new Map(
      publisher.devices.map((d) => [
        d.deviceId,
        d.readings
          .filter((r) => r.acked || storedIds.has(r.id))
          .map((r) => ({ eventId: r.id, ts: r.ts, metrics: r.metrics })),
      ]),
    );
    const expected = expectedAlerts(alertRules, judged, ctx.prior);
    expectedKeys.push(...expected.map((e) => e.key));
    // The alerts arrive while the read-back runs; a few more seconds for the last ones if the settle time is up.
    await waitForAlerts(inbox, expectedKeys, Math.max(deadline, performance.now() + 5_000));
    phase('settle', settleStarted);

    const storedOf = (source: string) => readback.stored.get(source) ?? [];
    const sentReadings: SentEvent[] = publisher.devices.flatMap((d) =>
      d.readings.map((r) => ({
        id: r.id,
        source: d.deviceId,
        acked: r.acked,
        fingerprint: readingFingerprint(r.ts, r.seq),
      })),
    );
    const http =
      producers && ctx.producerKey
        ? reconcileEvents(
            producers.events.map((e) => ({
              id: e.id,
              source: ctx.producerKey?.principalId ?? '',
              acked: e.acked,
              fingerprint: httpFingerprint(e.key),
            })),
            storedOf(ctx.producerKey.principalId),
          )
        : undefined;
    return {
      phases,
      machine: {
        cpus: cpus().length,
        loadAverage1m: Math.round((loadavg()[0] ?? 0) * 100) / 100,
        node: process.version,
        peakRssMB: Math.round(peakRss / 2 ** 20),
      },
      connect,
      fleet,
      publisher,
      sampler,
      inbox,
      producers,
      readback,
      readings: reconcileEvents(
        sentReadings,
        publisher.devices.flatMap((d) => storedOf(d.deviceId)),
      ),
      http,
      alerts: reconcileAlerts(expected, inbox.received),
    };
  } finally {
    clearInterval(ticker);
    process.off('SIGINT', onSignal);
    await fleet.close(options.connectConcurrency);
    producerClient?.close();
  }
}

/**
 * Send → stored of every archived reading: the line's `archivedAt` (the store consumer's clock) less the time it was
 * sent (this process's clock; one machine for the embedded stack, NTP-close for a deployed one).
 */
function archivedLatencies(readback: ReadbackResult, publisher: Publisher, sampler: StoreSampler): void {
  for (const [deviceId, events] of readback.stored)
    for (const event of events) {
      const sentAt = publisher.sentAt(deviceId, event.id);
      if (sentAt === undefined || event.archivedAt === undefined) continue;
      sampler.latencies.mqtt.add(Date.parse(event.archivedAt) - (performance.timeOrigin + sentAt));
    }
}
