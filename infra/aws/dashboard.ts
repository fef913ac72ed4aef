import { Duration, Stack } from 'aws-cdk-lib';
import type * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { deadLetterName, type FunctionName, type QueueName, type StreamName, type Topology } from '../topology';
import { errorLogLinesMetricName, METRIC_NAMESPACE } from './alarms';
import type { AlertNotifications } from './alert-notifications';
import { edgeRows, graph, max, pct, sum } from './dashboard-edges';
import { consumerKey } from './stream-consumers';
import type { TemFunction } from './tem-function';
import type { TemWebSocketApi } from './websocket-api';

/**
 * The EMF metrics the handlers emit (shared/observability.ts), by the function that emits them: counts are graphed as
 * sums, latencies (Milliseconds) as p50 and p99. A test checks that every `addMetric` name in the code is here.
 */
export const EMF_PANELS: readonly {
  title: string;
  function: FunctionName;
  counts?: readonly string[];
  latencies?: readonly string[];
}[] = [
  {
    title: 'Ingest: events accepted / rejected / failed',
    function: 'httpIngest',
    counts: ['EventsAccepted', 'EventsRejected', 'EventsFailed'],
  },
  { title: 'Stored telemetry', function: 'storeEvents', counts: ['TelemetryStored', 'TelemetryRejected'] },
  { title: 'Rule error redrive', function: 'ruleErrorsRedrive', counts: ['RuleErrorsRedriven', 'TelemetryRejected'] },
  {
    title: 'Alerts raised / resolved',
    function: 'alerts',
    counts: ['AlertsRaised', 'AlertsResolved', 'AlertNotificationsFailed'],
  },
  { title: 'Accepted -> stored (ms)', function: 'storeEvents', latencies: ['AcceptedToStoredMs'] },
  { title: 'Reading -> alert (ms)', function: 'alerts', latencies: ['ReadingToAlertMs'] },
];

export interface DashboardSources {
  topology: Topology;
  api: apigw.RestApi;
  webSocket: TemWebSocketApi;
  functions: Record<FunctionName, TemFunction>;
  streams: Record<StreamName, kinesis.Stream>;
  /** Registered enhanced fan-out consumers by `consumerKey`. */
  streamConsumers: Record<string, kinesis.StreamConsumer>;
  queues: Record<QueueName, sqs.Queue>;
  deadLetterQueues: Partial<Record<QueueName, sqs.Queue>>;
  /** IoT topic rules' physical names (none without IoT). */
  topicRules: readonly string[];
  /** IoT on: the device authorizer and the account's MQTT connections are graphed too. */
  iot: boolean;
  /** A log metric filter's metric name, with the mesh's prefix (`MeshNames.metric`). */
  metricName: (name: string) => string;
  alarms: readonly cloudwatch.IAlarm[];
  alarmTopic: sns.ITopic;
  alertNotifications?: AlertNotifications;
}

/** The `service` dimension of a function's EMF metrics: its POWERTOOLS_SERVICE_NAME, as deployed. */
export function serviceNameOf(fn: TemFunction): string {
  const cfn = fn.node.defaultChild as lambda.CfnFunction;
  const env = Stack.of(fn).resolve(cfn.environment) as { variables?: Record<string, unknown> } | undefined;
  const name = env?.variables?.POWERTOOLS_SERVICE_NAME;
  if (typeof name !== 'string')
    throw new Error(`function ${fn.node.id} has no POWERTOOLS_SERVICE_NAME (EMF dimension)`);
  return name;
}

/**
 * The stack's CloudWatch dashboard, laid out left to right like the pipeline (and the local stack's page): the HTTP
 * API, the authorizers, ingest, the stream, its consumers, the functions, the queues, IoT, WebSocket, notifications.
 * Every line comes from the topology or the stack built from it, so a new consumer, queue or function appears here
 * without a change to this file.
 */
export function buildDashboard(scope: Construct, id: string, s: DashboardSources): cloudwatch.Dashboard {
  const t = s.topology;
  const fnNames = Object.keys(s.functions) as FunctionName[];
  const dashboard = new cloudwatch.Dashboard(scope, id, {
    defaultInterval: Duration.hours(3),
    periodOverride: cloudwatch.PeriodOverride.AUTO,
  });
  const row = (...widgets: cloudwatch.IWidget[]) => dashboard.addWidgets(...widgets);

  row(
    new cloudwatch.TextWidget({
      markdown:
        `# ${t.service}: HTTP API / MQTT -> authorizers -> ingest -> ${Object.keys(t.streams).join(', ')} -> ` +
        'consumers -> tables, alerts, WebSocket\nFailures end in the queues below; alarms notify the alarm topic ' +
        '(docs/runbooks/alarms.md).',
      width: 24,
      height: 2,
    }),
  );
  row(new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: [...s.alarms], width: 24, height: 4 }));

  // HTTP API (stage metrics: every method).
  const stage = s.api.deploymentStage;
  row(
    graph('API requests', [stage.metricCount({ ...sum, label: 'requests' })]),
    graph('API 4xx / 5xx', [
      stage.metricClientError({ ...sum, label: '4xx' }),
      stage.metricServerError({ ...sum, label: '5xx' }),
    ]),
    graph('API latency (ms)', [
      stage.metricLatency({ ...pct(50), label: 'latency p50' }),
      stage.metricLatency({ ...pct(99), label: 'latency p99' }),
      stage.metricIntegrationLatency({ ...pct(99), label: 'integration p99' }),
    ]),
  );

  // Authorizers: HTTP, WebSocket, IoT device. A function whose Errors are answers counts its refusals there.
  const authorizers = [
    ...new Set([t.authorizer.function, t.webSocket.authorizer, ...(s.iot ? [t.iotAuthorizer.function] : [])]),
  ];
  row(
    ...authorizers.map((name) => {
      const fn = s.functions[name];
      const answers = t.functions[name].errorsAreAnswers;
      return graph(
        `Authorizer ${name}`,
        [
          fn.metricInvocations({ ...sum, label: 'invocations' }),
          fn.metricErrors({ ...sum, label: answers ? 'errors (refusals included)' : 'errors' }),
          ...(answers
            ? [
                new cloudwatch.Metric({
                  namespace: METRIC_NAMESPACE,
                  metricName: s.metricName(errorLogLinesMetricName(name)),
                  ...sum,
                  label: 'error log lines (failures)',
                }),
              ]
            : []),
        ],
        [fn.metricDuration({ ...pct(50), label: 'p50 ms' }), fn.metricDuration({ ...pct(99), label: 'p99 ms' })],
      );
    }),
  );

  // The handlers' own metrics (EMF, namespace TelemetryEventMesh, dimension service).
  const emf = EMF_PANELS.filter((p) => p.function in s.functions).map((p) => {
    const service = serviceNameOf(s.functions[p.function]);
    const metric = (metricName: string, options: cloudwatch.MetricOptions) =>
      new cloudwatch.Metric({ namespace: METRIC_NAMESPACE, metricName, dimensionsMap: { service }, ...options });
    return graph(
      p.title,
      [
        ...(p.counts ?? []).map((m) => metric(m, { ...sum, label: m })),
        ...(p.latencies ?? []).flatMap((m) => [
          metric(m, { ...pct(50), label: `${m} p50` }),
          metric(m, { ...pct(99), label: `${m} p99` }),
        ]),
      ],
      [],
      8,
    );
  });
  row(...emf);

  // The stream: writes and their throttling, reads of polling consumers, pushes to enhanced fan-out consumers.
  for (const [name, stream] of Object.entries(s.streams) as [StreamName, kinesis.Stream][]) {
    const consumers = t.streamConsumers.filter((c) => c.stream === name);
    const pushed = consumers.flatMap((c) => {
      const registered = s.streamConsumers[consumerKey(c)];
      return registered ? [[c.function, registered] as const] : [];
    });
    row(
      graph(`${name}: records in`, [
        stream.metricIncomingRecords({ ...sum, label: 'incoming records' }),
        stream.metricWriteProvisionedThroughputExceeded({ ...sum, label: 'write throttled' }),
      ]),
      graph(`${name}: polled (GetRecords)`, [
        stream.metricGetRecords({ ...sum, label: 'records read' }),
        stream.metricReadProvisionedThroughputExceeded({ ...sum, label: 'read throttled' }),
      ]),
      graph(
        `${name}: pushed to enhanced fan-out consumers`,
        pushed.map(
          ([fn, consumer]) =>
            new cloudwatch.Metric({
              namespace: 'AWS/Kinesis',
              metricName: 'SubscribeToShardEvent.Records',
              dimensionsMap: { StreamName: stream.streamName, ConsumerName: consumer.streamConsumerName },
              ...sum,
              label: fn,
            }),
        ),
      ),
    );
  }

  // Each consumer's lag: stream consumers' iterator age, queue consumers' oldest message.
  row(
    graph(
      'Stream consumers: iterator age (ms, max)',
      t.streamConsumers.map((c) =>
        s.functions[c.function].metric('IteratorAge', { ...max, label: `${c.function} (${c.readMode})` }),
      ),
      [],
      12,
    ),
    graph(
      'Queue consumers: oldest message (s)',
      t.queueConsumers.map((c) =>
        s.queues[c.queue].metricApproximateAgeOfOldestMessage({ ...max, label: `${c.queue} -> ${c.function}` }),
      ),
      [],
      12,
    ),
  );

  // Every function: errors, throttles, duration.
  row(
    graph(
      'Function errors',
      fnNames.map((n) => s.functions[n].metricErrors({ ...sum, label: n })),
    ),
    graph(
      'Function throttles',
      fnNames.map((n) => s.functions[n].metricThrottles({ ...sum, label: n })),
    ),
    graph(
      'Function duration p99 (ms)',
      fnNames.map((n) => s.functions[n].metricDuration({ ...pct(99), label: n })),
    ),
  );

  // Queues: where failures end (error sinks, dead-letter queues) and the delivery queues' backlog.
  const queueNames = Object.keys(s.queues) as QueueName[];
  const failureQueues: [string, sqs.Queue][] = [
    ...queueNames.filter((q) => t.queues[q].kind === 'errorSink').map((q) => [q, s.queues[q]] as [string, sqs.Queue]),
    ...(Object.entries(s.deadLetterQueues) as [QueueName, sqs.Queue][]).map(
      ([q, dlq]) => [deadLetterName(q), dlq] as [string, sqs.Queue],
    ),
  ];
  const deliveryQueues = queueNames.filter((q) => t.queues[q].kind === 'delivery');
  row(
    graph(
      'Failure queues: visible messages (DLQs, error sinks)',
      failureQueues.map(([name, q]) => q.metricApproximateNumberOfMessagesVisible({ ...max, label: name })),
      [],
      12,
    ),
    graph(
      'Delivery queues: backlog',
      deliveryQueues.map((q) =>
        s.queues[q].metricApproximateNumberOfMessagesVisible({ ...max, label: `${q} visible` }),
      ),
      deliveryQueues.map((q) => s.queues[q].metricApproximateAgeOfOldestMessage({ ...max, label: `${q} oldest (s)` })),
      12,
    ),
  );

  for (const widgets of edgeRows(s)) row(...widgets);
  return dashboard;
}
