/**
 * The one description of the system. Both targets are built from it:
 * - `infra/aws/` turns it into a CDK stack (`cdk synth` / `cdk deploy`);
 * - `infra/local/` turns it into the embedded local stack (`npm start`).
 *
 * Pure data plus small pure helpers: no CDK or AWS SDK imports here, so handlers
 * (the authorizer builds its IAM policy from `routes`) and tests can import it too.
 */

import { TELEMETRY_RULE } from '../shared/domain/iot-policy';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** Logical resource names. Physical names differ per target (CDK generates them, the local stack prefixes them). */
export type StreamName = 'eventStream';
export type TableName =
  | 'eventsTable'
  | 'principalsTable'
  | 'deviceMetricsTable'
  | 'devicesTable'
  | 'alertsTable'
  | 'connectionsTable';
export type QueueName = 'eventsDlq' | 'telemetryErrors' | 'ruleErrors' | 'alerts';
/** Asymmetric signing keys (KMS in AWS, a key file in the local stack). */
export type KeyName = 'tokenSigningKey';
/**
 * Service endpoints a function must be told about: the IoT data plane's is per account (`xxx-ats.iot.<region>...`),
 * looked up at deploy time in AWS; the local stack serves the same API itself.
 */
export type EndpointName = 'iotDataEndpoint' | 'wsManagementEndpoint';
export type ResourceName = StreamName | TableName | QueueName | KeyName | EndpointName;
export type FunctionName = keyof typeof functions;

/**
 * `describe` = the resource's status only (health checks); `read` / `write` = its data. For a signing key: `read`
 * = fetch the public key, `write` = sign.
 */
export type Access = 'describe' | 'read' | 'write' | 'readWrite';

/** A function's dependency on a resource: the env var that carries its physical name and the access it needs. */
export interface ResourceBinding {
  resource: ResourceName;
  env: string;
  access: Access;
}

export interface FunctionSpec {
  /** Handler source, relative to the repository root; the file exports `handler`. */
  entry: string;
  description: string;
  memoryMb: number;
  timeoutSeconds: number;
  bindings: readonly ResourceBinding[];
  /** Plain settings (not resource names) the function reads at cold start. */
  environment?: Readonly<Record<string, string>>;
  /**
   * The function answers some requests by throwing, as API Gateway's Lambda authorizer contract requires for a 401
   * (`Error('Unauthorized')`): its Errors metric counts refusals, so its alarm watches its own ERROR log lines instead
   * (less the runtime's line for each thrown refusal).
   */
  errorsAreAnswers?: true;
}

export interface RouteSpec {
  method: HttpMethod;
  /** API Gateway resource path, `{name}` for a path parameter. */
  path: string;
  /** `<app>.<http_method>.<view_name>`: what the authorizer checks for this route. */
  permission: string;
  function: FunctionName;
  /** `none` for the few public routes (JWKS, OpenAPI document); every other route goes through the authorizer. */
  auth?: 'authorizer' | 'none';
}

export interface StreamSpec {
  /**
   * `onDemand`: AWS sizes the stream to the traffic (the seed's 10,000+ msg/s is beyond a handful of shards, at
   * 1,000 records/s each); `provisioned`: exactly `shardCount` shards. The local stack always runs `shardCount`
   * shards, enough to exercise per-shard ordering and concurrency.
   */
  capacity: 'onDemand' | 'provisioned';
  shardCount: number;
  retentionHours: number;
}

export interface TableSpec {
  partitionKey: string;
  sortKey?: string;
  globalIndexes: readonly GlobalIndexSpec[];
  /** Attribute holding an epoch-seconds expiry, if items may expire. */
  ttlAttribute?: string;
}

export interface GlobalIndexSpec {
  name: string;
  partitionKey: string;
  sortKey: string;
  /**
   * Device readings do not carry this index's partition key, so the index does not hold them (a sparse index): a
   * fleet's readings all share one type, and would all land on one index partition (about 1,000 writes/s each in
   * DynamoDB, and a throttled index throttles the table's writes).
   */
  excludesDeviceReadings?: true;
}

/**
 * A `delivery` queue's consumers are outside this system: a message they fail on this many times moves to the
 * queue's own dead-letter queue (`<name>DeadLetter`), in both targets.
 */
export const DELIVERY_MAX_RECEIVE_COUNT = 5;

/** The dead-letter queue a delivery queue gets. */
export const deadLetterName = (queue: string): string => `${queue}DeadLetter`;

export interface QueueSpec {
  /**
   * `errorSink`: where failures end (a DLQ, an error queue): anything in it needs a person, so it is alarmed.
   * `delivery`: a normal hand-off to downstream consumers.
   */
  kind: 'errorSink' | 'delivery';
  /** Messages kept this long, so an operator has time to look and replay. */
  retentionDays: number;
  visibilityTimeoutSeconds: number;
  /** A delivery queue's receives before a message moves to its dead-letter queue (default DELIVERY_MAX_RECEIVE_COUNT). */
  maxReceiveCount?: number;
  purpose: string;
  /** Its messages are the alert messages (ADR 0007): the queue the AWS stack's alert e-mail path reads (ADR 0015). */
  alertMessages?: true;
}

/**
 * A Lambda SQS event source mapping: the function receives up to `batchSize` messages and reports the ones it failed
 * on (`batchItemFailures`); those become visible again after the queue's visibility timeout, until the queue's
 * `maxReceiveCount` moves them to its dead-letter queue. The queue must be a delivery queue (it has one).
 */
export interface QueueConsumerSpec {
  queue: QueueName;
  function: FunctionName;
  /** 1..10 (a larger batch needs a batching window; these consumers act at once). */
  batchSize: number;
  /** Lambda's `ScalingConfig.MaximumConcurrency` (2..1000): a redrive never floods what it redrives into. */
  maxConcurrency: number;
  reportBatchItemFailures: true;
}

/**
 * How a consumer reads its stream. `enhancedFanOut`: a registered stream consumer (`AWS::Kinesis::StreamConsumer`)
 * with its own 2 MB/s per shard, to which Kinesis pushes records over SubscribeToShard (AWS documents ~70 ms
 * propagation); for the latency-critical consumers. `polling`: the mapping polls GetRecords on the shared throughput
 * (about once a second per shard; ~200 ms to 1 s), for consumers that batch anyway. The local stack mirrors both: an
 * enhanced consumer is woken the moment a put lands, a polling one polls once a second when idle.
 */
export type StreamReadMode = 'enhancedFanOut' | 'polling';

/** Kinesis registers at most 20 enhanced fan-out consumers per stream. */
export const MAX_ENHANCED_CONSUMERS_PER_STREAM = 20;

export interface StreamConsumerSpec {
  stream: StreamName;
  function: FunctionName;
  readMode: StreamReadMode;
  /** Why this consumer's latency settings are what they are (shown in docs/performance.md). */
  latency: 'realtime' | 'batch';
  batchSize: number;
  /** 0 = invoke as soon as records are there (real-time consumers); more = wait to fill the batch (cost). */
  maxBatchingWindowSeconds: number;
  startingPosition: 'TRIM_HORIZON' | 'LATEST';
  parallelizationFactor: number;
  bisectBatchOnError: boolean;
  /** -1: retry until the records are older than `maxRecordAgeSeconds` (Lambda's default for streams). */
  maxRetryAttempts: number;
  maxRecordAgeSeconds: number;
  reportBatchItemFailures: true;
  onFailure: QueueName;
}

/** A value the rule computes rather than takes from the payload (`topic(2)`, `timestamp()`, `clientid()`). */
export type RuleExpression = { fn: 'topic'; segment: number } | { fn: 'timestamp' } | { fn: 'clientid' };

/**
 * An IoT topic rule as structured data rather than raw SQL, so the local broker can apply it without an IoT SQL
 * parser and the CDK stack renders the SQL from it (`topicRuleSql`). Devices reach it on its topic filter (through
 * the message broker) or with IoT Basic Ingest on `$aws/rules/<rule name>/<topic>` (no broker, no messaging charge;
 * `topic()` then sees the topic without that prefix), in both targets.
 */
export interface TopicRuleSpec {
  topicFilter: string;
  /**
   * Payload fields the rule passes on (`SELECT metrics, ts, ...`); all of them (`*`) when absent. Naming them keeps a
   * payload from supplying a field the rule itself sets, such as the device id taken from the topic.
   */
  fields?: readonly string[];
  /** Fields the rule adds (`topic(2) AS deviceId ...`). */
  select: Readonly<Record<string, RuleExpression>>;
  /**
   * The rule's action: each message becomes one record on the stream (IoT's Kinesis action), keyed by the
   * partition key expression (`${topic(2)}`), so one device's readings stay in order on one shard. No function runs
   * per message; the stream's consumers validate readings in batches.
   */
  action: { kinesis: { stream: StreamName; partitionKey: RuleExpression } };
  errorQueue: QueueName;
}

/**
 * A function run on a schedule (an EventBridge rule `rate(N minutes)` in AWS; a timer on the embedded stack), for
 * housekeeping no event triggers.
 */
export interface ScheduleSpec {
  function: FunctionName;
  rateMinutes: number;
  purpose: string;
}

export type EndpointSpec =
  | {
      service: 'iot-data';
      /** MQTT topics (IoT policy resource patterns, `*` allowed) that `write` access may publish to. */
      publishTopics: readonly string[];
    }
  | {
      /**
       * The WebSocket API's management API (`https://<api>.execute-api.<region>.amazonaws.com/<stage>`): `write` =
       * `execute-api:ManageConnections` (PostToConnection, DeleteConnection, GetConnection) on its connections.
       */
      service: 'ws-management';
    };

export type WebSocketRouteKey = '$connect' | '$disconnect' | '$default';

/**
 * The real-time boundary (ADR 0014): an API Gateway WebSocket API. `$connect` goes through a REQUEST authorizer that
 * takes the same credentials as the HTTP API (and, for browsers, from a query parameter or `Sec-WebSocket-Protocol`)
 * and requires `permission`; one function serves every route (connect, disconnect, and the client's
 * subscribe/unsubscribe/ping on `$default`, answered through a route response). The local stack mirrors it: the same
 * route events, the same authorizer, and the management API the functions reach with the SDK.
 */
export interface WebSocketSpec {
  stage: string;
  authorizer: FunctionName;
  routes: Readonly<Record<WebSocketRouteKey, FunctionName>>;
  /** `<app>.ws.<view>`: the permission `$connect` requires. */
  permission: string;
  connectionsTable: TableName;
  managementEndpoint: EndpointName;
  /** Query parameters a browser (which cannot set headers on a WebSocket) may carry a credential in. */
  credentialQueryParameters: { apiKey: string; token: string };
  limits: {
    connectionsPerPrincipal: number;
    subscriptionsPerConnection: number;
    /** Deliveries per connection per second (and the burst over it): a client over them is told, then dropped. */
    eventsPerSecond: number;
    burst: number;
  };
}

export interface KeySpec {
  spec: 'ECC_NIST_P256';
  purpose: string;
}

/**
 * The HTTP authorizer. API Gateway REST needs *every* identity source present (else 401 without calling the
 * authorizer), and caches only when they are declared. Callers send an API key *or* a bearer token, so no identity
 * source is declared and API Gateway's cache is off; the function caches decisions per credential itself (see
 * docs/decisions/0003). The local gateway implements both behaviours.
 */
export interface AuthorizerSpec {
  function: FunctionName;
  /** Headers that must all be present; they also key API Gateway's decision cache. */
  identitySources: readonly string[];
  /** API Gateway's decision cache TTL; needs identity sources. */
  resultTtlSeconds: number;
  /** Headers the authorizer reads a credential from, in order of preference (documentation and local gateway). */
  credentialHeaders: readonly string[];
}

/** IoT Core custom authorizer for MQTT CONNECT (username = device id, password = device token). */
export interface IotAuthorizerSpec {
  name: string;
  function: FunctionName;
}

const env = {
  eventStream: { resource: 'eventStream', env: 'EVENT_STREAM_NAME' },
  eventsTable: { resource: 'eventsTable', env: 'EVENTS_TABLE_NAME' },
  principalsTable: { resource: 'principalsTable', env: 'PRINCIPALS_TABLE_NAME' },
  telemetryErrors: { resource: 'telemetryErrors', env: 'TELEMETRY_ERRORS_QUEUE_URL' },
  tokenSigningKey: { resource: 'tokenSigningKey', env: 'TOKEN_SIGNING_KEY' },
  deviceMetricsTable: { resource: 'deviceMetricsTable', env: 'DEVICE_METRICS_TABLE_NAME' },
  devicesTable: { resource: 'devicesTable', env: 'DEVICES_TABLE_NAME' },
  alertsTable: { resource: 'alertsTable', env: 'ALERTS_TABLE_NAME' },
  alertsQueue: { resource: 'alerts', env: 'ALERTS_QUEUE_URL' },
  connectionsTable: { resource: 'connectionsTable', env: 'CONNECTIONS_TABLE_NAME' },
  wsManagementEndpoint: { resource: 'wsManagementEndpoint', env: 'WS_MANAGEMENT_ENDPOINT' },
  /** Where a consumer parks a record it can never process (ADR 0005): the consumers' on-failure queue. */
  poisonRecords: { resource: 'eventsDlq', env: 'POISON_RECORDS_QUEUE_URL' },
  iotDataEndpoint: { resource: 'iotDataEndpoint', env: 'IOT_DATA_ENDPOINT' },
} as const satisfies Record<string, Omit<ResourceBinding, 'access'>>;

const bind = (b: Omit<ResourceBinding, 'access'>, access: Access): ResourceBinding => ({ ...b, access });

/** Settings shared by the functions that issue or verify this system's own tokens. */
const tokenSettings = {
  JWT_ISSUER: 'urn:tem:telemetry-event-mesh',
  JWT_AUDIENCE: 'tem-api',
} as const;

/** What a function that pushes to WebSocket connections needs (`shared/aws/ws-delivery-from-env.ts`). */
const wsDeliveryBindings = [
  bind(env.connectionsTable, 'readWrite'),
  bind(env.principalsTable, 'read'),
  bind(env.wsManagementEndpoint, 'write'),
];

/** What the two credential authorizers (HTTP and WebSocket) share: the same principals, keys, tokens and cache. */
const credentialAuthorizer = {
  memoryMb: 256,
  timeoutSeconds: 5,
  bindings: [bind(env.principalsTable, 'read'), bind(env.tokenSigningKey, 'read')],
  errorsAreAnswers: true,
  environment: {
    ...tokenSettings,
    /** JSON array of trusted external issuers: {issuer, jwksUri, audience, algorithms?, rolesClaim?}. */
    JWT_TRUSTED_ISSUERS: '[]',
    AUTH_CACHE_TTL_SECONDS: '300',
    AUTH_EPOCH_CHECK_SECONDS: '5',
  },
} as const;

export const functions = {
  apiAuthorizer: {
    entry: 'functions/authorizers/api-authorizer.ts',
    description: 'REQUEST authorizer: API key or JWT -> principal -> permission policy -> IAM policy for its routes',
    ...credentialAuthorizer,
  },
  deviceAuthorizer: {
    entry: 'functions/authorizers/device-authorizer.ts',
    description: 'IoT Core custom authorizer: device id + device token -> IoT policy for its own topics',
    memoryMb: 256,
    timeoutSeconds: 5,
    bindings: [bind(env.principalsTable, 'read')],
    // The policy refresh of a live connection (IoT Core: 300..86,400 s): how long a revocation takes to reach it.
    environment: { DEVICE_POLICY_REFRESH_SECONDS: '300' },
  },
  tokenIssue: {
    entry: 'functions/auth/token-issue.ts',
    description: 'POST /auth/token: exchanges an API key for a short-lived ES256 JWT',
    memoryMb: 256,
    timeoutSeconds: 5,
    bindings: [bind(env.tokenSigningKey, 'readWrite')],
    environment: { ...tokenSettings, JWT_TTL_SECONDS: '900' },
  },
  jwks: {
    entry: 'functions/auth/jwks.ts',
    description: 'GET /.well-known/jwks.json: the public keys of this issuer',
    memoryMb: 128,
    timeoutSeconds: 5,
    bindings: [bind(env.tokenSigningKey, 'read')],
  },
  httpIngest: {
    entry: 'functions/ingest/http-ingest.ts',
    description: 'POST /events: validates events and writes them to the event stream',
    memoryMb: 512,
    timeoutSeconds: 10,
    bindings: [bind(env.eventStream, 'write')],
  },
  storeEvents: {
    entry: 'functions/consumers/store-events.ts',
    description:
      'Kinesis consumer: validates device readings (invalid ones to telemetryErrors), stores every event once per id',
    memoryMb: 512,
    timeoutSeconds: 30,
    bindings: [bind(env.eventsTable, 'write'), bind(env.telemetryErrors, 'write'), bind(env.poisonRecords, 'write')],
  },
  deviceMetrics: {
    entry: 'functions/consumers/device-metrics.ts',
    description: 'Kinesis consumer: per device, metric and minute aggregates; the device registry',
    memoryMb: 512,
    // A full batch (up to 10,000 readings, 6 MB) is up to 40,000 conditional writes (32 in flight) when every
    // reading is another device's; ~5,000 for a fleet publishing every second. 120 s covers the slow emulator too.
    timeoutSeconds: 120,
    // readWrite: a write that loses its version check reads the bucket when the failure carries no item (ADR 0006).
    bindings: [
      bind(env.deviceMetricsTable, 'readWrite'),
      bind(env.devicesTable, 'write'),
      bind(env.poisonRecords, 'write'),
    ],
    environment: { METRICS_RETENTION_DAYS: '30' },
  },
  alerts: {
    entry: 'functions/consumers/alerts.ts',
    description: 'Kinesis consumer: evaluates the alert rules, raises and resolves alerts (table, SQS, MQTT)',
    memoryMb: 512,
    timeoutSeconds: 30,
    bindings: [
      bind(env.alertsTable, 'readWrite'),
      bind(env.alertsQueue, 'write'),
      bind(env.iotDataEndpoint, 'write'),
      bind(env.poisonRecords, 'write'),
      // Raised and resolved alerts also go to WebSocket subscribers of the device's alerts (ADR 0014).
      ...wsDeliveryBindings,
    ],
  },
  ruleErrorsRedrive: {
    entry: 'functions/consumers/rule-errors-redrive.ts',
    description: 'SQS consumer of ruleErrors: re-applies the topic rule to the original message, puts it on the stream',
    memoryMb: 256,
    timeoutSeconds: 5,
    bindings: [bind(env.eventStream, 'write'), bind(env.telemetryErrors, 'write')],
  },
  wsAuthorizer: {
    entry: 'functions/websocket/ws-authorizer.ts',
    description: 'WebSocket $connect REQUEST authorizer: API key or JWT (header, query or subprotocol) -> principal',
    ...credentialAuthorizer,
  },
  wsConnections: {
    entry: 'functions/websocket/ws-connections.ts',
    description: 'WebSocket routes: $connect (limits), $disconnect, $default (subscribe, unsubscribe, ping)',
    memoryMb: 256,
    timeoutSeconds: 5,
    bindings: [bind(env.connectionsTable, 'readWrite'), bind(env.principalsTable, 'read')],
  },
  wsSweep: {
    entry: 'functions/websocket/ws-sweep.ts',
    description: 'Scheduled: closes WebSocket connections whose API key was revoked or whose credential expired',
    memoryMb: 256,
    timeoutSeconds: 60,
    bindings: wsDeliveryBindings,
  },
  wsFanout: {
    entry: 'functions/websocket/ws-fanout.ts',
    description: 'Kinesis consumer: posts each event to the WebSocket connections whose subscriptions match it',
    memoryMb: 512,
    timeoutSeconds: 30,
    bindings: wsDeliveryBindings,
  },
  listEvents: {
    entry: 'functions/queries/list-events.ts',
    description: 'GET /events?type|source&since&until&limit&cursor',
    memoryMb: 256,
    timeoutSeconds: 5,
    bindings: [bind(env.eventsTable, 'read')],
  },
  listDevices: {
    entry: 'functions/queries/list-devices.ts',
    description: 'GET /devices',
    memoryMb: 256,
    timeoutSeconds: 5,
    bindings: [bind(env.devicesTable, 'read')],
  },
  getDeviceMetrics: {
    entry: 'functions/queries/device-metrics.ts',
    description: 'GET /devices/{id}/metrics?since&until&metric',
    memoryMb: 256,
    timeoutSeconds: 5,
    bindings: [bind(env.deviceMetricsTable, 'read')],
  },
  listAlerts: {
    entry: 'functions/queries/list-alerts.ts',
    description: 'GET /alerts?deviceId&since&state',
    memoryMb: 256,
    timeoutSeconds: 5,
    bindings: [bind(env.alertsTable, 'read')],
  },
  getEvent: {
    entry: 'functions/queries/get-event.ts',
    description: 'GET /events/{id}',
    memoryMb: 256,
    timeoutSeconds: 5,
    bindings: [bind(env.eventsTable, 'read')],
  },
  healthz: {
    entry: 'functions/queries/healthz.ts',
    description: 'GET /healthz: versions; for admins, checks of the stream and the events table',
    memoryMb: 128,
    timeoutSeconds: 5,
    bindings: [bind(env.eventStream, 'describe'), bind(env.eventsTable, 'describe')],
  },
  openApi: {
    entry: 'functions/meta/openapi.ts',
    description: 'GET /openapi.json: the OpenAPI 3.1 document of this API, from the topology and the zod schemas',
    memoryMb: 128,
    timeoutSeconds: 5,
    bindings: [],
  },
} as const satisfies Record<string, FunctionSpec>;

export const routes = [
  { method: 'GET', path: '/healthz', permission: 'common.get.healthz', function: 'healthz' },
  { method: 'POST', path: '/events', permission: 'events.post.event_ingest', function: 'httpIngest' },
  { method: 'GET', path: '/events', permission: 'events.get.event_list', function: 'listEvents' },
  { method: 'GET', path: '/events/{id}', permission: 'events.get.event_detail', function: 'getEvent' },
  { method: 'GET', path: '/devices', permission: 'devices.get.device_list', function: 'listDevices' },
  {
    method: 'GET',
    path: '/devices/{id}/metrics',
    permission: 'devices.get.device_metrics',
    function: 'getDeviceMetrics',
  },
  { method: 'GET', path: '/alerts', permission: 'alerts.get.alert_list', function: 'listAlerts' },
  { method: 'POST', path: '/auth/token', permission: 'auth.post.token_issue', function: 'tokenIssue' },
  { method: 'GET', path: '/.well-known/jwks.json', permission: 'auth.get.jwks', function: 'jwks', auth: 'none' },
  { method: 'GET', path: '/openapi.json', permission: 'common.get.openapi', function: 'openApi', auth: 'none' },
] as const satisfies readonly RouteSpec[];

export const authorizer: AuthorizerSpec = {
  function: 'apiAuthorizer',
  identitySources: [],
  resultTtlSeconds: 0,
  credentialHeaders: ['X-API-Key', 'Authorization'],
};

export const iotAuthorizer: IotAuthorizerSpec = {
  name: 'TemDeviceAuthorizer',
  function: 'deviceAuthorizer',
};

export const keys: Record<KeyName, KeySpec> = {
  tokenSigningKey: { spec: 'ECC_NIST_P256', purpose: 'Signs the ES256 JWTs issued by POST /auth/token' },
};

export const streams: Record<StreamName, StreamSpec> = {
  eventStream: { capacity: 'onDemand', shardCount: 2, retentionHours: 24 },
};

export const tables: Record<TableName, TableSpec> = {
  eventsTable: {
    partitionKey: 'id',
    globalIndexes: [
      // `typeKey` = the type, on every event but device readings (ADR 0004: query readings by device, the source).
      { name: 'byType', partitionKey: 'typeKey', sortKey: 'timeKey', excludesDeviceReadings: true },
      { name: 'bySource', partitionKey: 'source', sortKey: 'timeKey' },
    ],
    ttlAttribute: 'expiresAt',
  },
  principalsTable: {
    partitionKey: 'pk',
    globalIndexes: [],
  },
  /** One item per device, metric and minute: `bucket` = `<metric>#<minute ISO>` (see ADR 0006). */
  deviceMetricsTable: {
    partitionKey: 'deviceId',
    sortKey: 'bucket',
    globalIndexes: [],
    ttlAttribute: 'expiresAt',
  },
  /** The device registry: first seen, last seen, last reading. */
  devicesTable: {
    partitionKey: 'deviceId',
    globalIndexes: [],
  },
  /**
   * Alert items (`ALERT#<id>`) and one state item per device and rule (`STATE#<deviceId>#<ruleId>`) whose
   * conditional updates make "one alert per cooldown window" hold across batches and shards.
   */
  alertsTable: {
    partitionKey: 'pk',
    globalIndexes: [
      { name: 'byState', partitionKey: 'state', sortKey: 'raisedAtKey' },
      { name: 'byDevice', partitionKey: 'deviceId', sortKey: 'raisedAtKey' },
    ],
  },
  /**
   * One item per WebSocket connection (`pk` = connection id: its principal, credential and subscriptions) and one
   * `#version` item counting changes, so a fan-out container re-reads the connections only when they changed.
   */
  connectionsTable: {
    partitionKey: 'pk',
    globalIndexes: [{ name: 'byPrincipal', partitionKey: 'principalId', sortKey: 'connectedAt' }],
    ttlAttribute: 'expiresAt',
  },
};

export const endpoints: Record<EndpointName, EndpointSpec> = {
  iotDataEndpoint: { service: 'iot-data', publishTopics: ['devices/*/alerts'] },
  wsManagementEndpoint: { service: 'ws-management' },
};

export const webSocket: WebSocketSpec = {
  stage: 'v1',
  authorizer: 'wsAuthorizer',
  routes: { $connect: 'wsConnections', $disconnect: 'wsConnections', $default: 'wsConnections' },
  permission: 'events.ws.event_stream',
  connectionsTable: 'connectionsTable',
  managementEndpoint: 'wsManagementEndpoint',
  credentialQueryParameters: { apiKey: 'api_key', token: 'access_token' },
  limits: { connectionsPerPrincipal: 20, subscriptionsPerConnection: 10, eventsPerSecond: 500, burst: 1000 },
};

export const queues: Record<QueueName, QueueSpec> = {
  eventsDlq: {
    kind: 'errorSink',
    retentionDays: 14,
    visibilityTimeoutSeconds: 120,
    purpose: 'On-failure destination of the stream consumers: batches that exhausted their retries',
  },
  telemetryErrors: {
    kind: 'errorSink',
    retentionDays: 14,
    visibilityTimeoutSeconds: 30,
    purpose: 'Device readings the store consumer rejected in validation, with the reason',
  },
  ruleErrors: {
    kind: 'delivery',
    retentionDays: 14,
    // A message the redrive failed on is tried again this much later (a Kinesis outage: every 10 s)...
    visibilityTimeoutSeconds: 10,
    // ...for about 10 minutes; then its dead-letter queue (alarmed) holds it for `tem dlq replay`.
    maxReceiveCount: 60,
    purpose:
      'Error action of the IoT topic rules: messages a rule failed to put on the stream, put again by ruleErrorsRedrive',
  },
  alerts: {
    kind: 'delivery',
    retentionDays: 4,
    visibilityTimeoutSeconds: 60,
    purpose: 'Raised and resolved alerts, for downstream notification (at least once: dedupe by alertId)',
    alertMessages: true,
  },
};

/** The failure handling every consumer of the event stream shares (see ADR 0005). */
const consumerDefaults = {
  stream: 'eventStream',
  startingPosition: 'TRIM_HORIZON',
  parallelizationFactor: 1,
  bisectBatchOnError: true,
  // Until it succeeds or ages out: a transient failure (a table or queue unreachable, throttling) delays the shard and
  // raises its iterator age, and storage catches up by itself. Consumers park records that can never succeed.
  maxRetryAttempts: -1,
  maxRecordAgeSeconds: 24 * 3600,
  reportBatchItemFailures: true,
  onFailure: 'eventsDlq',
} as const satisfies Omit<
  StreamConsumerSpec,
  'function' | 'readMode' | 'latency' | 'batchSize' | 'maxBatchingWindowSeconds'
>;

/**
 * Latency per consumer (docs/performance.md has the budget per hop). Storing and alerting are what a user waits for:
 * pushed (enhanced fan-out) and invoked at once. Under load a batch still fills up to `batchSize` from what is
 * already in the shard, so a window of 0 costs nothing in batching when it matters. Device metrics are per-minute
 * aggregates read by people: polled, and batched for up to a minute (10,000 records, Lambda's largest Kinesis batch)
 * so one conditional write covers a device's readings of a minute, not one each (ADR 0006: writes per bucket).
 */
export const streamConsumers: readonly StreamConsumerSpec[] = [
  {
    ...consumerDefaults,
    function: 'storeEvents',
    readMode: 'enhancedFanOut',
    latency: 'realtime',
    batchSize: 500,
    maxBatchingWindowSeconds: 0,
  },
  {
    ...consumerDefaults,
    function: 'deviceMetrics',
    readMode: 'polling',
    latency: 'batch',
    batchSize: 10000,
    maxBatchingWindowSeconds: 60,
  },
  {
    ...consumerDefaults,
    function: 'alerts',
    readMode: 'enhancedFanOut',
    latency: 'realtime',
    batchSize: 500,
    maxBatchingWindowSeconds: 0,
  },
  {
    ...consumerDefaults,
    function: 'wsFanout',
    readMode: 'enhancedFanOut',
    latency: 'realtime',
    batchSize: 500,
    maxBatchingWindowSeconds: 0,
    // Live delivery is at most once (ADR 0014): an event a minute old is no longer worth pushing; a client resumes
    // with GET /events?since=... after a gap.
    maxRecordAgeSeconds: 60,
  },
];

/**
 * Readings a device had acknowledged (PUBACK) but the rule could not put on the stream (a Kinesis outage, throttling)
 * are not left in the error queue: the redrive re-applies the rule to the original payload and puts them again, so
 * "accepted means stored" holds for MQTT as for HTTP (ADR 0012).
 */
export const queueConsumers: readonly QueueConsumerSpec[] = [
  {
    queue: 'ruleErrors',
    function: 'ruleErrorsRedrive',
    batchSize: 10,
    maxConcurrency: 2,
    reportBatchItemFailures: true,
  },
];

export const schedules: readonly ScheduleSpec[] = [
  {
    function: 'wsSweep',
    rateMinutes: 1,
    purpose: 'closes idle WebSocket connections of revoked keys, which no delivery would reach (ADR 0014)',
  },
];

export const topicRules: Readonly<Record<string, TopicRuleSpec>> = {
  [TELEMETRY_RULE]: {
    topicFilter: 'devices/+/telemetry',
    fields: ['metrics', 'ts', 'seq'],
    select: { deviceId: { fn: 'topic', segment: 2 }, receivedAt: { fn: 'timestamp' } },
    action: { kinesis: { stream: 'eventStream', partitionKey: { fn: 'topic', segment: 2 } } },
    errorQueue: 'ruleErrors',
  },
};

export const topology = {
  service: 'tem',
  functions: functions as Readonly<Record<FunctionName, FunctionSpec>>,
  routes: routes as readonly RouteSpec[],
  authorizer,
  streams,
  tables,
  queues,
  streamConsumers,
  queueConsumers,
  schedules,
  topicRules,
  iotAuthorizer,
  keys,
  endpoints,
  webSocket,
} as const;

export type Topology = typeof topology;

/** A rule expression in IoT SQL: `topic(2)`, `timestamp()`, `clientid()`. */
export function ruleExpressionSql(e: RuleExpression): string {
  return e.fn === 'topic' ? `topic(${e.segment})` : `${e.fn}()`;
}

/** IoT SQL for a structured topic rule, e.g. `SELECT metrics, topic(2) AS deviceId FROM 'devices/+/telemetry'`. */
export function topicRuleSql(rule: TopicRuleSpec): string {
  const extras = Object.entries(rule.select).map(([alias, sel]) => `${ruleExpressionSql(sel)} AS ${alias}`);
  return `SELECT ${[...(rule.fields ?? ['*']), ...extras].join(', ')} FROM '${rule.topicFilter}'`;
}

/** Does an MQTT topic match a filter with `+` (one level) and `#` (rest) wildcards? */
export function mqttTopicMatches(filter: string, topic: string): boolean {
  // MQTT 3.1.1 4.7.2: a filter starting with a wildcard never matches a `$` topic ($SYS/..., $aws/...).
  if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false;
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

/**
 * Checks the description for mistakes a type cannot catch. Both targets call it before building anything, so a bad
 * topology fails `cdk synth` and `npm start` with the same message.
 */
export function validateTopology(t: Topology = topology): string[] {
  const problems: string[] = [];
  const permissionPattern = /^[a-z0-9_]+\.(get|post|put|patch|delete)\.[a-z0-9_]+$/;
  const seen = new Set<string>();
  for (const r of t.routes) {
    const key = `${r.method} ${r.path}`;
    if (seen.has(key)) problems.push(`route ${key} is declared twice`);
    seen.add(key);
    if (!permissionPattern.test(r.permission))
      problems.push(`route ${key}: permission "${r.permission}" is not <app>.<method>.<view>`);
    else if (r.permission.split('.')[1] !== r.method.toLowerCase())
      problems.push(`route ${key}: permission "${r.permission}" names another HTTP method`);
    if (!Object.hasOwn(t.functions, r.function)) problems.push(`route ${key}: unknown function ${r.function}`);
    if (!r.path.startsWith('/')) problems.push(`route ${key}: path must start with /`);
  }
  for (const [name, fn] of Object.entries(t.functions)) {
    if (fn.timeoutSeconds < 1 || fn.timeoutSeconds > 900) problems.push(`function ${name}: timeout out of range`);
    if (fn.memoryMb < 128 || fn.memoryMb > 10240) problems.push(`function ${name}: memory out of range`);
    const envNames = fn.bindings.map((b) => b.env);
    if (new Set(envNames).size !== envNames.length) problems.push(`function ${name}: duplicate binding env var`);
  }
  for (const c of t.streamConsumers) {
    if (!Object.hasOwn(t.functions, c.function) || !Object.hasOwn(t.queues, c.onFailure)) {
      problems.push(`consumer ${c.function}: unknown function or on-failure queue ${c.onFailure}`);
      continue;
    }
    if (c.batchSize < 1 || c.batchSize > 10000) problems.push(`consumer ${c.function}: batchSize 1..10000`);
    if (c.maxBatchingWindowSeconds < 0 || c.maxBatchingWindowSeconds > 300)
      problems.push(`consumer ${c.function}: batching window 0..300 s`);
    if (!Number.isInteger(c.maxRetryAttempts) || c.maxRetryAttempts < -1 || c.maxRetryAttempts > 10000)
      problems.push(`consumer ${c.function}: retries -1 (until the record ages out) or 0..10000`);
    if (c.maxRecordAgeSeconds < 60 || c.maxRecordAgeSeconds > 604_800)
      problems.push(`consumer ${c.function}: maximum record age 60..604800 s`);
    if (c.latency === 'realtime' && (c.readMode !== 'enhancedFanOut' || c.maxBatchingWindowSeconds !== 0))
      problems.push(
        `consumer ${c.function}: a realtime consumer reads by enhanced fan-out with a batching window of 0`,
      );
    if (c.parallelizationFactor < 1 || c.parallelizationFactor > 10)
      problems.push(`consumer ${c.function}: parallelization 1..10`);
    // Its state cache is trusted per shard claim, which holds only while one batch of a shard runs at a time.
    if (c.function === 'alerts' && c.parallelizationFactor !== 1)
      problems.push('consumer alerts: parallelization 1 (its state cache is claimed per shard, ADR 0007)');
    const consumerTimeout = t.functions[c.function].timeoutSeconds;
    if (t.queues[c.onFailure].visibilityTimeoutSeconds < consumerTimeout)
      problems.push(`consumer ${c.function}: on-failure queue visibility shorter than the function timeout`);
  }
  for (const c of t.queueConsumers) {
    if (!Object.hasOwn(t.functions, c.function) || !Object.hasOwn(t.queues, c.queue)) {
      problems.push(`queue consumer ${c.function}: unknown function or queue ${c.queue}`);
      continue;
    }
    const queue = t.queues[c.queue];
    if (queue.kind !== 'delivery')
      problems.push(`queue consumer ${c.function}: ${c.queue} must be a delivery queue (one with a dead-letter queue)`);
    if (c.batchSize < 1 || c.batchSize > 10) problems.push(`queue consumer ${c.function}: batchSize 1..10`);
    if (c.maxConcurrency < 2 || c.maxConcurrency > 1000)
      problems.push(`queue consumer ${c.function}: maxConcurrency 2..1000`);
    // Lambda refuses a mapping whose queue would show a message again while the function may still hold it.
    if (queue.visibilityTimeoutSeconds < t.functions[c.function].timeoutSeconds)
      problems.push(`queue consumer ${c.function}: ${c.queue} visibility shorter than the function timeout`);
  }
  for (const [name, q] of Object.entries(t.queues))
    if (q.maxReceiveCount !== undefined && (q.kind !== 'delivery' || q.maxReceiveCount < 1 || q.maxReceiveCount > 1000))
      problems.push(`queue ${name}: maxReceiveCount 1..1000, on a delivery queue only`);
  for (const stream of Object.keys(t.streams)) {
    const enhanced = t.streamConsumers.filter((c) => c.stream === stream && c.readMode === 'enhancedFanOut');
    if (enhanced.length > MAX_ENHANCED_CONSUMERS_PER_STREAM)
      problems.push(`stream ${stream}: at most ${MAX_ENHANCED_CONSUMERS_PER_STREAM} enhanced fan-out consumers`);
  }
  for (const [name, rule] of Object.entries(t.topicRules)) {
    if (!/^[A-Za-z0-9_]+$/.test(name)) problems.push(`topic rule ${name}: name must be alphanumeric/underscore`);
    if (!Object.hasOwn(t.streams, rule.action.kinesis.stream))
      problems.push(`topic rule ${name}: unknown stream ${rule.action.kinesis.stream}`);
    if (!Object.hasOwn(t.queues, rule.errorQueue))
      problems.push(`topic rule ${name}: unknown error queue ${rule.errorQueue}`);
    const levels = rule.topicFilter.split('/');
    for (const field of rule.fields ?? []) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(field)) problems.push(`topic rule ${name}: field "${field}" is not a name`);
      if (Object.hasOwn(rule.select, field))
        problems.push(`topic rule ${name}: field "${field}" is also set by the rule`);
    }
    for (const sel of [...Object.values(rule.select), rule.action.kinesis.partitionKey])
      if (sel.fn === 'topic' && (sel.segment < 1 || sel.segment > levels.length))
        problems.push(`topic rule ${name}: topic(${sel.segment}) is outside ${rule.topicFilter}`);
  }
  if (!Object.hasOwn(t.functions, t.authorizer.function))
    problems.push(`authorizer: unknown function ${t.authorizer.function}`);
  if (t.authorizer.resultTtlSeconds < 0 || t.authorizer.resultTtlSeconds > 3600)
    problems.push('authorizer: TTL 0..3600 s');
  if (t.authorizer.resultTtlSeconds > 0 && t.authorizer.identitySources.length === 0)
    problems.push('authorizer: a cache TTL needs identity sources (API Gateway keys its cache on them)');
  if (!Object.hasOwn(t.functions, t.iotAuthorizer.function))
    problems.push(`IoT authorizer: unknown function ${t.iotAuthorizer.function}`);
  else {
    const refresh = Number(t.functions[t.iotAuthorizer.function].environment?.DEVICE_POLICY_REFRESH_SECONDS ?? 300);
    if (!Number.isInteger(refresh) || refresh < 300 || refresh > 86_400)
      problems.push('IoT authorizer: DEVICE_POLICY_REFRESH_SECONDS must be 300..86400 (IoT Core refuses others)');
  }
  problems.push(...webSocketProblems(t));
  problems.push(...deliveryProblems(t));
  for (const sc of t.schedules) {
    if (!Object.hasOwn(t.functions, sc.function)) problems.push(`schedule: unknown function ${sc.function}`);
    // EventBridge's finest rate is one minute.
    if (!Number.isInteger(sc.rateMinutes) || sc.rateMinutes < 1 || sc.rateMinutes > 1440)
      problems.push(`schedule ${sc.function}: rateMinutes 1..1440`);
  }
  for (const [name, fn] of Object.entries(t.functions))
    for (const b of fn.bindings)
      if (![t.streams, t.tables, t.queues, t.keys, t.endpoints].some((group) => Object.hasOwn(group, b.resource)))
        problems.push(`function ${name}: binding to unknown resource ${b.resource}`);
  return problems;
}

function webSocketProblems(t: Topology): string[] {
  const ws = t.webSocket;
  const problems: string[] = [];
  for (const fn of [ws.authorizer, ...Object.values(ws.routes)])
    if (!Object.hasOwn(t.functions, fn)) problems.push(`webSocket: unknown function ${fn}`);
  if (!/^[a-z0-9_]+\.ws\.[a-z0-9_]+$/.test(ws.permission))
    problems.push(`webSocket: permission "${ws.permission}" is not <app>.ws.<view>`);
  if (!Object.hasOwn(t.tables, ws.connectionsTable))
    problems.push(`webSocket: unknown connections table ${ws.connectionsTable}`);
  if (t.endpoints[ws.managementEndpoint]?.service !== 'ws-management')
    problems.push(`webSocket: ${ws.managementEndpoint} is not a ws-management endpoint`);
  if (!/^[A-Za-z0-9_]{1,128}$/.test(ws.stage)) problems.push('webSocket: stage name is alphanumeric/underscore');
  const l = ws.limits;
  if (
    l.connectionsPerPrincipal < 1 ||
    l.subscriptionsPerConnection < 1 ||
    l.eventsPerSecond < 1 ||
    l.burst < l.eventsPerSecond
  )
    problems.push('webSocket: limits must be positive, burst at least the rate');
  return problems;
}

/** Where failures and alerts go, and the names the AWS target derives from the topology's (checked for both). */
function deliveryProblems(t: Topology): string[] {
  const problems: string[] = [];
  // Only `errorSink` queues are alarmed: a failure landing in a `delivery` queue would go unnoticed, unless the
  // queue's own consumer retries it (its dead-letter queue and its message age are alarmed).
  const retried = new Set<string>(t.queueConsumers.map((c) => c.queue));
  const destinations = new Set<string>([
    ...t.streamConsumers.map((c) => c.onFailure),
    ...Object.values(t.topicRules).map((r) => r.errorQueue),
  ]);
  const unalarmed = [...destinations].filter(
    (q) => Object.hasOwn(t.queues, q) && t.queues[q as QueueName].kind !== 'errorSink' && !retried.has(q),
  );
  if (unalarmed.length > 0)
    problems.push(
      `failure destinations must be alarmed errorSink queues (or consumed by a queue consumer): ${unalarmed.join(', ')}`,
    );
  // A delivery queue's dead-letter queue takes `<name>DeadLetter` (its output key, alarm and local queue name).
  const names = new Set<string>([t.streams, t.tables, t.queues, t.keys, t.endpoints].flatMap(Object.keys));
  const taken = Object.entries(t.queues)
    .filter(([, q]) => q.kind === 'delivery')
    .map(([q]) => deadLetterName(q))
    .filter((n) => names.has(n));
  if (taken.length > 0) problems.push(`dead-letter queue names already used by the topology: ${taken.join(', ')}`);
  // One WebSocket API: a second management endpoint would have no API of its own.
  for (const [name, e] of Object.entries(t.endpoints))
    if (e.service === 'ws-management' && name !== t.webSocket.managementEndpoint)
      problems.push(`endpoint ${name}: the WebSocket API's management endpoint is ${t.webSocket.managementEndpoint}`);
  // One event source mapping per function and stream (Lambda refuses a second on the same source).
  const consumerKeys = t.streamConsumers.map((c) => `${c.stream}:${c.function}`);
  const twice = consumerKeys.filter((k, i) => consumerKeys.indexOf(k) !== i);
  if (twice.length > 0) problems.push(`a function consumes a stream at most once: ${[...new Set(twice)].join(', ')}`);
  // The alert e-mail path (ADR 0015) reads the one queue of alert messages; a dead-letter queue keeps what it fails on.
  const alertQueues = Object.entries(t.queues).filter(([, q]) => q.alertMessages);
  if (alertQueues.length > 1)
    problems.push(`at most one queue holds the alert messages: ${alertQueues.map(([q]) => q).join(', ')}`);
  for (const [q, spec] of alertQueues)
    if (spec.kind !== 'delivery') problems.push(`queue ${q}: the alert messages queue must be a delivery queue`);
  // IoT Core's rule for authorizer names; devices name it in their MQTT username.
  if (!/^[\w=,@-]{1,128}$/.test(t.iotAuthorizer.name))
    problems.push(`IoT authorizer: name "${t.iotAuthorizer.name}" is not 1..128 of [A-Za-z0-9_=,@-]`);
  return problems;
}

export function assertValidTopology(t: Topology = topology): void {
  const problems = validateTopology(t);
  if (problems.length > 0) throw new Error(`Invalid topology:\n- ${problems.join('\n- ')}`);
}
