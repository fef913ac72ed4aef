import type { IncomingMessage, ServerResponse } from 'node:http';
import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { type AlertStore, listAlerts } from '../../../shared/domain/alerts';
import type { KinesisFront } from '../kinesis-front';
import { EmfMetricsSink } from './emf-metrics';
import { EventTail } from './event-tail';
import { serveObservability } from './http-routes';
import { LiveHub } from './live-hub';
import { type ChartPoint, chartPoint, quantile, ratesBetween, readTotals, type Totals } from './live-snapshot';
import { PolledValue } from './polled';
import { type MetricFamily, renderPrometheus } from './prometheus';
import { MetricRegistry } from './registry';
import { type StackStats, stackFamilies } from './stack-metrics';

export interface WatchedQueue {
  queue: string;
  kind: 'errorSink' | 'deadLetter';
  url: string;
}

export interface ObservabilityDeps {
  stats: () => StackStats;
  sqs: SQSClient;
  /** The error sinks and dead-letter queues: anything in them needs a person. */
  queues: readonly WatchedQueue[];
  alerts: Pick<AlertStore, 'queryAlerts'>;
}

/** Five minutes of per-second points for the page's charts; latency quantiles over the last ten seconds. */
const HISTORY_POINTS = 300;
const LATENCY_WINDOW_POINTS = 10;
const OPEN_ALERTS_SHOWN = 100;

/**
 * The local stack's metrics, dashboard page and Prometheus endpoint, fed from:
 * - the functions' EMF lines (as CloudWatch reads them): `functionLogLine`, for every line a function writes;
 * - each invocation's outcome and duration: `invoked`;
 * - the stack's own counters (`stats`), read once a second and at each scrape;
 * - queue depths and open alerts, read from the engines only while a page is open or Prometheus scrapes;
 * - the records the Kinesis front passes on, for the live tail.
 * Per event, the stack's main thread does no more than a counter increment and a ring-buffer push.
 */
export class LocalObservability {
  private readonly registry = new MetricRegistry();
  private readonly emf = new EmfMetricsSink(this.registry);
  private readonly tail = new EventTail();
  private readonly hub = new LiveHub();
  private readonly errors = this.registry.counter(
    'tem_function_errors_total',
    'Invocations that failed (a function error, a timeout, a crashed container), by function',
  );
  private readonly durations = this.registry.histogram(
    'tem_function_duration_seconds',
    'How long invocations took, queueing for a container included, by function',
  );
  private deps: ObservabilityDeps | undefined;
  private queueDepths: PolledValue<{ queue: string; kind: string; messages: number }[]> | undefined;
  private openAlerts: PolledValue<{ items: ReturnType<typeof alertRow>[]; more: boolean }> | undefined;
  private readonly totals: Totals[] = [];
  private readonly history: ChartPoint[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(kinesisFront: Pick<KinesisFront, 'onRecords'>) {
    kinesisFront.onRecords((body, failed) => this.tail.push(body, failed));
  }

  functionLogLine(functionName: string, line: string): void {
    this.emf.line(functionName, line);
  }

  /** Counts an invocation's failure and duration; returns the same promise. */
  invoked<T>(functionName: string, invocation: Promise<T>): Promise<T> {
    const started = performance.now();
    const labels = { function: functionName };
    invocation.then(
      () => this.durations.observe(labels, (performance.now() - started) / 1000),
      () => {
        this.durations.observe(labels, (performance.now() - started) / 1000);
        this.errors.inc(labels);
      },
    );
    return invocation;
  }

  /** Starts the once-a-second sampler, once the stack's parts exist. */
  attach(deps: ObservabilityDeps): void {
    this.deps = deps;
    this.queueDepths = new PolledValue(() =>
      Promise.all(
        deps.queues.map(async ({ queue, kind, url }) => {
          const { Attributes } = await deps.sqs.send(
            new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages'] }),
          );
          return { queue, kind, messages: Number(Attributes?.ApproximateNumberOfMessages ?? 0) };
        }),
      ),
    );
    this.openAlerts = new PolledValue(async () => {
      const page = await listAlerts(deps.alerts, { state: 'open', limit: OPEN_ALERTS_SHOWN });
      return { items: page.items.map(alertRow), more: page.nextCursor !== null };
    });
    this.timer = setInterval(() => this.tick(), 1000);
    this.timer.unref();
    this.tick();
  }

  /** Everything `GET /metrics` renders: recorded, read from the stack's parts, and polled from the engines. */
  families(): MetricFamily[] {
    const polled: MetricFamily[] = [];
    const depths = this.queueDepths?.value;
    if (depths)
      polled.push({
        name: 'tem_queue_messages',
        help: 'Messages in an error sink or dead-letter queue (SQS ApproximateNumberOfMessages)',
        type: 'gauge',
        samples: depths.map((d) => ({ labels: { queue: d.queue, kind: d.kind }, value: d.messages })),
      });
    const alerts = this.openAlerts?.value;
    if (alerts)
      polled.push({
        name: 'tem_alerts_open',
        help: `Open alerts (read from the alerts table; counts at most ${OPEN_ALERTS_SHOWN})`,
        type: 'gauge',
        samples: [{ labels: {}, value: alerts.items.length }],
      });
    return [...this.registry.collect(), ...(this.deps ? stackFamilies(this.deps.stats()) : []), ...polled];
  }

  async metricsText(): Promise<string> {
    // A scrape reads the engines again when their values are older than the poll interval.
    await Promise.all([this.queueDepths?.fresh(2000, 1500), this.openAlerts?.fresh(2000, 1500)]);
    return renderPrometheus(this.families());
  }

  /** The control server's routes for the page, `/live` and `/metrics`; false when the request is not one of them. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    return serveObservability(req, res, {
      metricsText: () => this.metricsText(),
      live: (_req, response) => this.hub.add(response, { history: this.history }),
    });
  }

  /** Once a second: one reading of every family, one snapshot, sent to every open page (none: nothing sent). */
  private tick(): void {
    const now = readTotals(this.families(), Date.now());
    this.totals.push(now);
    if (this.totals.length > LATENCY_WINDOW_POINTS + 1) this.totals.shift();
    const previous = this.totals.at(-2) ?? now;
    const windowStart = this.totals[0] ?? now;
    const rates = ratesBetween(now, previous);
    const point = chartPoint(rates, now, windowStart);
    this.history.push(point);
    if (this.history.length > HISTORY_POINTS) this.history.shift();
    if (this.hub.size === 0) return;
    this.queueDepths?.want();
    this.openAlerts?.want();
    this.hub.broadcast({
      t: now.at,
      point,
      rates,
      totals: {
        accepted: now.accepted,
        rejected: Object.values(now.rejected).reduce((a, b) => a + b, 0),
        failed: now.failed,
        stored: now.stored,
        streamRecords: now.streamRecords,
        alertsRaised: now.alertsRaised,
        requests: Object.values(now.responses).reduce((a, b) => a + b, 0),
        mqttRefused: now.mqttRefused,
      },
      latency: {
        acceptedToStored: quantiles(now.storedLatency, windowStart.storedLatency),
        readingToAlert: quantiles(now.alertLatency, windowStart.alertLatency),
      },
      consumers: now.consumers.map((c) => ({ ...c, recordsPerSecond: rates.consumers[c.consumer] ?? 0 })),
      devicesOnline: now.devicesOnline,
      webSocketConnections: now.webSocketConnections,
      engines: now.engines,
      queues: { items: this.queueDepths?.value ?? null, error: this.queueDepths?.error ?? null },
      alerts: { ...(this.openAlerts?.value ?? { items: null, more: false }), error: this.openAlerts?.error ?? null },
      tail: this.tail.entries(),
    });
  }

  /** Ends every open page's stream (so the control server can close) and stops the sampler and the polls. */
  close(): void {
    clearInterval(this.timer);
    this.queueDepths?.pause();
    this.openAlerts?.pause();
    this.hub.close();
  }
}

/** p50 and p99 in ms of what was observed since `before` (null: nothing was). */
function quantiles(now: Totals['storedLatency'], before: Totals['storedLatency']) {
  const ms = (q: number) => {
    const seconds = quantile(q, now, before);
    return seconds === undefined ? null : Math.round(seconds * 1000);
  };
  return { p50Ms: ms(0.5), p99Ms: ms(0.99) };
}

function alertRow(alert: Awaited<ReturnType<typeof listAlerts>>['items'][number]) {
  return {
    alertId: alert.alertId,
    deviceId: alert.deviceId,
    ruleId: alert.ruleId,
    metric: alert.metric,
    value: alert.value,
    threshold: alert.threshold,
    comparison: alert.comparison,
    severity: alert.severity,
    raisedAt: alert.raisedAt,
  };
}
