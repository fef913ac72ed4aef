import { KinesisClient } from '@aws-sdk/client-kinesis';
import { SQSClient } from '@aws-sdk/client-sqs';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { sleep } from '../../bench/lib/util';
import type { LocalStackInfo } from '../../infra/local/stack';
import { alertRules } from '../../shared/domain/alert-rules';
import type { FleetCredential } from '../../shared/domain/device-fleet';
import { isArchivedOnly } from '../../shared/domain/storage-policy';
import { TELEMETRY_EVENT_TYPE } from '../../shared/domain/telemetry';
import { ArchiveReader } from '../lib/archive-reader';
import { clientConfig } from '../lib/stores';
import { AlertInbox } from '../simulate/alert-inbox';
import { HttpClient, StackReader } from '../simulate/api';
import { Fleet } from '../simulate/fleet';
import { HttpProducers } from '../simulate/http-producers';
import { Publisher } from '../simulate/publisher';
import { StatsWatcher } from '../simulate/stack-stats';
import { BadProducer } from './bad-input';
import { type Drained, drainAndRead } from './drain';
import { FaultInjector, type Outage, planOutages } from './faults';
import { InvalidPublisher } from './invalid-readings';
import type { SoakOptions } from './options';
import { soakLine } from './progress';
import { QueueCollector } from './queues';
import { streamPositions } from './stream-order';

/**
 * One soak, phase by phase: empty the error queues as the run goes; connect the fleet; for the duration, publish
 * valid and invalid readings, post valid events from several producers and bad requests from another, while each
 * engine is stopped and started once; then drain and reconcile (drain.ts).
 */

export interface Credential {
  apiKey: string;
  principalId: string;
}

export interface SoakContext {
  options: SoakOptions;
  info: LocalStackInfo;
  devices: readonly FleetCredential[];
  producers: readonly Credential[];
  bad: Credential;
  log: (line: string) => void;
}

export interface SoakRun {
  seconds: Record<string, number>;
  outages: Outage[];
  fleet: Fleet;
  publisher: Publisher;
  invalid: InvalidPublisher;
  producers: HttpProducers[];
  bad: BadProducer;
  queues: Record<'telemetryErrors' | 'ruleErrors' | 'eventsDlq', QueueCollector>;
  inbox: AlertInbox;
  drained: Drained;
  /** The topic rule's failed puts and what the ruleErrors redrive did with them (from the stack's counters). */
  redrive: RedriveFigures | undefined;
}

export interface RedriveFigures {
  ruleFailures: number;
  redriven: number;
  failedAttempts: number;
}

export const SOAK_EVENT_TYPES = ['soak.order_created', 'soak.payment_succeeded', 'soak.user_signed_up'];

export async function runSoak(ctx: SoakContext): Promise<SoakRun> {
  const { options, info, log } = ctx;
  const seconds: Record<string, number> = {};
  const since = (t: number) => Math.round(performance.now() - t) / 1000;
  const sqs = new SQSClient({ ...clientConfig(info, 'sqs'), maxAttempts: 1 });
  const queues = {
    telemetryErrors: new QueueCollector(sqs, 'telemetryErrors', info.resources.telemetryErrors),
    // ruleErrors itself belongs to the redrive, which puts its messages on the stream again: what the run collects
    // is what the redrive gave up on (its dead-letter queue), which must stay empty in a short outage.
    ruleErrors: new QueueCollector(sqs, 'ruleErrorsDeadLetter', ruleErrorsDeadLetter(info)),
    eventsDlq: new QueueCollector(sqs, 'eventsDlq', info.resources.eventsDlq),
  };
  for (const q of Object.values(queues)) q.start();

  let publisher: Publisher | undefined;
  const inbox = new AlertInbox((deviceId, eventId) => publisher?.sentAt(deviceId, eventId));
  const connectStarted = performance.now();
  const fleet = new Fleet(ctx.devices, {
    url: info.mqtt,
    usernameSuffix: '',
    concurrency: 10,
    maxAttempts: 8,
    deadline: connectStarted + 60_000,
    onMessage: (index, payload, at) => inbox.accept(ctx.devices[index]?.deviceId ?? '', payload, at),
  });
  const httpClient = new HttpClient(info.http, options.httpProducers + 6);
  try {
    const connect = await fleet.connect();
    seconds.connect = since(connectStarted);
    if (connect.failed.length > 0) throw new Error(`devices that never connected: ${JSON.stringify(connect.failed)}`);
    log(`connected ${connect.connected} devices in ${connect.seconds} s`);
    const connected = fleet.clients.flatMap((c, i) => (c ? [i] : []));
    publisher = new Publisher(fleet, connected, {
      rate: options.readingRate,
      total: options.readingRate * options.duration,
      seed: options.seed,
      rules: alertRules,
      anomalyPercent: 5,
      basicIngest: false,
      maxInflight: 5_000,
    });
    const invalid = new InvalidPublisher(fleet, connected);
    const producers = ctx.producers.map(
      (p) =>
        new HttpProducers(httpClient, p.apiKey, p.principalId, {
          producers: 1,
          rate: options.httpRate,
          batch: options.httpBatch,
          attempts: 40,
          types: SOAK_EVENT_TYPES,
        }),
    );
    const bad = new BadProducer(httpClient, ctx.bad.apiKey);
    const faults = new FaultInjector(info.control, planOutages(options.duration));
    const stats = new StatsWatcher(info.control);
    await stats.start();

    let phase = 'traffic';
    const runStarted = performance.now();
    const ticker = setInterval(() => {
      stats.refresh();
      const p = publisher as Publisher;
      const figures = stats.figures();
      const line = soakLine({
        elapsedSeconds: since(runStarted),
        phase,
        down: faults.current,
        mqtt: { sent: p.sent, acked: p.acked, inflight: p.inflight, invalidSent: invalid.readings.length },
        http: {
          sent: producers.reduce((n, h) => n + h.events.length, 0),
          acked: producers.reduce((n, h) => n + h.acked, 0),
          retries: producers.reduce((n, h) => n + Object.values(h.retriesByStatus).reduce((a, b) => a + b, 0), 0),
        },
        bad: { requests: bad.requests, wrong: bad.wrongAnswers },
        ...(figures.stored === undefined ? {} : { stored: figures.stored }),
        queues: {
          telemetryErrors: queues.telemetryErrors.messages.length,
          ruleErrors: queues.ruleErrors.messages.length,
          eventsDlq: queues.eventsDlq.messages.length,
        },
        alerts: inbox.received.length,
        ...(figures.lagMs ? { lagMs: figures.lagMs } : {}),
      });
      process.stderr.write(`${line}\n`);
    }, 1000);

    let drained: Drained;
    let archive: ArchiveReader | undefined;
    try {
      const durationMs = options.duration * 1000;
      // Traffic has a hard end: producers still retrying a minute after it give up (and say so).
      const hardStop = () => performance.now() - runStarted > durationMs + 60_000;
      await Promise.all([
        publisher.run(() => false),
        invalid.run(options.invalidRate, durationMs, () => false),
        ...producers.map((h) => h.run(durationMs, hardStop, runStarted)),
        bad.run(options.badRate, durationMs, hardStop),
        faults.run(runStarted, () => performance.now() - runStarted > durationMs),
      ]);
      seconds.traffic = since(runStarted);
      phase = 'draining';
      const drainStarted = performance.now();
      await publisher.drain(30_000);
      const reader = new StackReader(httpClient, info.devApiKey);
      archive = isArchivedOnly(TELEMETRY_EVENT_TYPE) ? ArchiveReader.of(info) : undefined;
      drained = await drainAndRead({
        reader,
        ...(archive ? { archive } : {}),
        publisher,
        invalid,
        producers: producers.map((h, i) => ({ producer: h, principalId: ctx.producers[i]?.principalId ?? '' })),
        badPrincipal: ctx.bad.principalId,
        queues,
        inbox,
        streamPositions: async () => {
          const kinesis = new KinesisClient({
            ...clientConfig(info, 'kinesis'),
            requestHandler: new NodeHttpHandler(),
          });
          try {
            return await streamPositions(kinesis, info.resources.eventStream);
          } finally {
            kinesis.destroy();
          }
        },
        deadline: drainStarted + options.drainSeconds * 1000,
        log,
      });
      seconds.drain = since(drainStarted);
    } finally {
      clearInterval(ticker);
      archive?.close();
    }
    // Late duplicates (an alert sent twice, a record stored again) get a moment to show up before the verdict.
    await sleep(2_000);
    for (const q of Object.values(queues)) await q.stop();
    const redrive = await redriveFigures(info.control);
    return {
      seconds,
      outages: faults.outages,
      fleet,
      publisher,
      invalid,
      producers,
      bad,
      queues,
      inbox,
      drained,
      redrive,
    };
  } finally {
    for (const q of Object.values(queues)) await q.stop();
    await fleet.close(10);
    httpClient.close();
    sqs.destroy();
  }
}

function ruleErrorsDeadLetter(info: SoakContext['info']): string {
  const url = info.deadLetterQueues?.ruleErrors;
  if (!url) throw new Error('the state file lists no dead-letter queue of ruleErrors (deadLetterQueues.ruleErrors)');
  return url;
}

async function redriveFigures(control: string | undefined): Promise<RedriveFigures | undefined> {
  if (!control) return undefined;
  const stats = (await fetch(`${control}/stats`, { signal: AbortSignal.timeout(2000) })
    .then((r) => r.json())
    .catch(() => undefined)) as
    | {
        mqtt?: { ruleFailures?: number };
        queuePollers?: { queue: string; messagesDeleted: number; messagesFailed: number }[];
      }
    | undefined;
  const poller = stats?.queuePollers?.find((p) => p.queue === 'ruleErrors');
  if (!stats?.mqtt || !poller) return undefined;
  return {
    ruleFailures: stats.mqtt.ruleFailures ?? 0,
    redriven: poller.messagesDeleted,
    failedAttempts: poller.messagesFailed,
  };
}
