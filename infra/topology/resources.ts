import type {
  ArchiveName,
  ArchiveSpec,
  EndpointName,
  EndpointSpec,
  KeyName,
  KeySpec,
  QueueName,
  QueueSpec,
  StreamName,
  StreamSpec,
  TableName,
  TableSpec,
  WebSocketSpec,
} from './specs';

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

export const archives: Record<ArchiveName, ArchiveSpec> = {
  rawArchive: {
    // A minute and 64 MiB: about one object per minute per Firehose partition, each worth querying (Athena scans
    // whole objects; many tiny ones cost more to list and open than to read).
    bufferIntervalSeconds: 60,
    bufferSizeMb: 64,
    prefix: 'events/dt=!{timestamp:yyyy-MM-dd-HH}/',
    errorPrefix: 'errors/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd-HH}/',
    purpose: 'Raw events of the types policies/storage.json archives (device readings), for Athena',
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
