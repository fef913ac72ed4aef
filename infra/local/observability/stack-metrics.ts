import type { PollerStats } from '../kinesis-poller';
import type { SqsPollerStats } from '../sqs-poller';
import type { WebSocketGatewayStats } from '../websocket-gateway';
import type { Labels, MetricFamily, ScalarSample } from './prometheus';

/**
 * The counters the local stack's own parts keep (gateway, pollers, broker, Kinesis front, ...): what `GET /stats`
 * answers, and what they become in `GET /metrics`. Read at scrape time; nothing is counted twice.
 */
export interface StackStats {
  pollers: (PollerStats & { function: string | undefined; readMode: string | undefined })[];
  queuePollers: (SqsPollerStats & { function: string | undefined; queue: string | undefined })[];
  kinesisPuts: number;
  kinesisRecordsPut: number;
  functions: Record<string, { invocations: number; coldStarts: number }>;
  authorizerInvocations: number;
  gateway: { responses: Record<string, number>; authorizerDecisions: Record<string, number> };
  usagePlans: { throttled: number; quotaExceeded: number };
  mqtt: {
    connections: number;
    messagesRouted: number;
    connectionsRefused: number;
    connectionsRevoked: number;
    connectionsThrottled: number;
    publishesRefused: number;
    publishesTooLarge: number;
    rulePuts: number;
    ruleFailures: number;
    dataPlanePublished: number;
  };
  webSocket: WebSocketGatewayStats;
  engines: Record<string, { running: boolean; pid: number | undefined; engine?: string }>;
}

const family = (
  type: 'counter' | 'gauge',
  name: string,
  help: string,
  samples: readonly ScalarSample[],
): MetricFamily => ({ name, help, type, samples });
const one = (value: number, labels: Labels = {}): ScalarSample[] => [{ labels, value }];

export function stackFamilies(stats: StackStats): MetricFamily[] {
  const consumers = (pick: (p: StackStats['pollers'][number]) => number) =>
    stats.pollers.map((p) => ({ labels: { consumer: p.function ?? '', read_mode: p.readMode ?? '' }, value: pick(p) }));
  const queueConsumers = (pick: (p: StackStats['queuePollers'][number]) => number) =>
    stats.queuePollers.map((p) => ({ labels: { consumer: p.function ?? '', queue: p.queue ?? '' }, value: pick(p) }));
  const fns = (pick: (f: { invocations: number; coldStarts: number }) => number) =>
    Object.entries(stats.functions).map(([fn, f]) => ({ labels: { function: fn }, value: pick(f) }));
  const { mqtt, webSocket: ws } = stats;
  return [
    family(
      'counter',
      'tem_http_responses_total',
      'Answers of the REST gateway, by HTTP status (4xx/5xx: refused or failed requests)',
      Object.entries(stats.gateway.responses).map(([status, value]) => ({ labels: { status }, value })),
    ),
    family(
      'counter',
      'tem_authorizer_invocations_total',
      'REQUEST authorizer invocations (cache misses)',
      one(stats.authorizerInvocations),
    ),
    family(
      'counter',
      'tem_authorizer_decisions_total',
      'Requests on authorized routes by outcome: allow, deny (policy), unauthorized (authorizer), missing_identity (gateway), unavailable',
      Object.entries(stats.gateway.authorizerDecisions).map(([decision, value]) => ({ labels: { decision }, value })),
    ),
    family('counter', 'tem_usage_plan_refusals_total', 'Requests refused by a usage plan (429)', [
      { labels: { reason: 'throttled' }, value: stats.usagePlans.throttled },
      { labels: { reason: 'quota_exceeded' }, value: stats.usagePlans.quotaExceeded },
    ]),
    family(
      'counter',
      'tem_kinesis_put_requests_total',
      'Successful PutRecord(s) calls through the Kinesis front',
      one(stats.kinesisPuts),
    ),
    family(
      'counter',
      'tem_kinesis_records_put_total',
      "Records the stream took through the Kinesis front (the stack's own writers: ingest, topic rules, redrive)",
      one(stats.kinesisRecordsPut),
    ),
    family(
      'counter',
      'tem_stream_consumer_invocations_total',
      'Batches a stream consumer was invoked with',
      consumers((p) => p.invocations),
    ),
    family(
      'counter',
      'tem_stream_records_processed_total',
      'Records a stream consumer checkpointed',
      consumers((p) => p.recordsProcessed),
    ),
    family(
      'counter',
      'tem_stream_records_discarded_total',
      'Records a stream consumer sent to its on-failure destination',
      consumers((p) => p.recordsDiscarded),
    ),
    family(
      'counter',
      'tem_stream_poll_errors_total',
      'Failed reads of the stream by a consumer',
      consumers((p) => p.errors),
    ),
    family(
      'gauge',
      'tem_stream_iterator_age_seconds',
      "Lambda's IteratorAge: age of the last record of a consumer's latest batch when it was handed to the function",
      consumers((p) => p.iteratorAgeMs / 1000),
    ),
    family(
      'gauge',
      'tem_stream_consumer_enabled',
      'Whether the event source mapping is enabled (1) or not (0)',
      consumers((p) => (p.enabled ? 1 : 0)),
    ),
    family(
      'counter',
      'tem_queue_consumer_invocations_total',
      'Batches a queue consumer was invoked with',
      queueConsumers((p) => p.invocations),
    ),
    family(
      'counter',
      'tem_queue_messages_deleted_total',
      'Messages a queue consumer handled and deleted',
      queueConsumers((p) => p.messagesDeleted),
    ),
    family(
      'counter',
      'tem_queue_messages_failed_total',
      'Messages a queue consumer failed on (received again later)',
      queueConsumers((p) => p.messagesFailed),
    ),
    family(
      'counter',
      'tem_function_invocations_total',
      'Function invocations',
      fns((f) => f.invocations),
    ),
    family(
      'counter',
      'tem_function_cold_starts_total',
      'Function containers started',
      fns((f) => f.coldStarts),
    ),
    family('gauge', 'tem_mqtt_connections', 'Devices connected over MQTT (devices online)', one(mqtt.connections)),
    family(
      'counter',
      'tem_mqtt_connections_refused_total',
      'MQTT connections the device authorizer refused',
      one(mqtt.connectionsRefused),
    ),
    family(
      'counter',
      'tem_mqtt_connections_revoked_total',
      'MQTT connections closed by a policy refresh',
      one(mqtt.connectionsRevoked),
    ),
    family(
      'counter',
      'tem_mqtt_connections_throttled_total',
      'MQTT connections closed for publishing too fast',
      one(mqtt.connectionsThrottled),
    ),
    family(
      'counter',
      'tem_mqtt_messages_routed_total',
      'MQTT publishes handed to the topic rules',
      one(mqtt.messagesRouted),
    ),
    family(
      'counter',
      'tem_mqtt_publishes_refused_total',
      'MQTT publishes the policy refused',
      one(mqtt.publishesRefused),
    ),
    family(
      'counter',
      'tem_mqtt_publishes_too_large_total',
      'MQTT publishes over the size limit',
      one(mqtt.publishesTooLarge),
    ),
    family('counter', 'tem_topic_rule_puts_total', "Records the topic rules' Kinesis actions put", one(mqtt.rulePuts)),
    family(
      'counter',
      'tem_topic_rule_failures_total',
      "Messages the topic rules' Kinesis actions failed on",
      one(mqtt.ruleFailures),
    ),
    family(
      'counter',
      'tem_iot_data_published_total',
      'Messages published through the IoT data plane API',
      one(mqtt.dataPlanePublished),
    ),
    family('gauge', 'tem_websocket_connections', 'Open WebSocket API connections', one(ws.connections)),
    family('counter', 'tem_websocket_connects_refused_total', 'WebSocket connects refused', one(ws.connectsRefused)),
    family('counter', 'tem_websocket_messages_in_total', 'WebSocket messages from clients', one(ws.messagesIn)),
    family('counter', 'tem_websocket_posts_total', 'Messages pushed to WebSocket connections', one(ws.posts)),
    family('counter', 'tem_websocket_posts_gone_total', 'Pushes to a connection that was gone', one(ws.postsGone)),
    family(
      'counter',
      'tem_websocket_closed_slow_total',
      'WebSocket connections closed for reading too slowly',
      one(ws.closedSlow),
    ),
    family(
      'gauge',
      'tem_engine_up',
      'Whether the emulator behind a service is running (1) or not (0)',
      Object.entries(stats.engines).map(([service, e]) => ({
        labels: { service, engine: e.engine ?? '' },
        value: e.running ? 1 : 0,
      })),
    ),
  ];
}
