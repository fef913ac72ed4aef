import type { RouteSpec as SharedRouteSpec } from '../../shared/domain/routes';
import type { TopicRuleSpec as SharedTopicRuleSpec } from '../../shared/domain/topic-rule-spec';
import type { functions } from './functions';

export type { HttpMethod } from '../../shared/domain/routes';
export type { RuleExpression } from '../../shared/domain/topic-rule-spec';

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
/** Where events are archived when their volume is cheaper there than in a table (ADR 0018). */
export type ArchiveName = 'rawArchive';
export type ResourceName = StreamName | TableName | QueueName | KeyName | EndpointName | ArchiveName;
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

/** A route of the HTTP API, its function named by the topology (shared/domain/routes.ts). */
export type RouteSpec = SharedRouteSpec<FunctionName>;

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

/**
 * A raw archive: a Firehose delivery stream (Direct PUT) writing gzipped JSON lines to an S3 bucket of its own, with
 * a Glue table over it for Athena (ADR 0018). A function bound with `write` puts records to the delivery stream; its
 * env var carries the delivery stream's name. The bucket's lifecycle follows `policies/storage.json`.
 */
export interface ArchiveSpec {
  /** Firehose delivers an object when this many seconds passed since its buffer's first record (0..900)... */
  bufferIntervalSeconds: number;
  /** ...or when this many MiB are buffered (1..128), whichever comes first. */
  bufferSizeMb: number;
  /** Object key prefix, with Firehose's `!{timestamp:...}` expressions: one Athena partition (`dt`) per hour. */
  prefix: string;
  /** Where Firehose puts what it could not deliver (`!{firehose:error-output-type}` names why). */
  errorPrefix: string;
  purpose: string;
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

/** A topic rule of this topology: its stream and error queue named by it (shared/domain/topic-rule-spec.ts). */
export type TopicRuleSpec = SharedTopicRuleSpec<StreamName, QueueName>;

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
