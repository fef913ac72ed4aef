import type { Access, FunctionSpec, ResourceBinding } from './specs';

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
  rawArchive: { resource: 'rawArchive', env: 'ARCHIVE_DELIVERY_STREAM_NAME' },
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
      'Kinesis consumer: validates device readings (invalid ones to telemetryErrors), stores every event once per id in the table or the archive, as policies/storage.json says',
    memoryMb: 512,
    timeoutSeconds: 30,
    bindings: [
      bind(env.eventsTable, 'write'),
      bind(env.rawArchive, 'write'),
      bind(env.telemetryErrors, 'write'),
      bind(env.poisonRecords, 'write'),
    ],
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
    description:
      'GET /openapi.json: the OpenAPI 3.1 document of this API (docs/openapi.json, generated from the routes and schemas)',
    memoryMb: 128,
    timeoutSeconds: 5,
    bindings: [],
  },
} as const satisfies Record<string, FunctionSpec>;
