import type { ArchiveName, QueueName, ResourceName, Topology } from '../topology';
import type { ServiceName } from './engines';
import type { Endpoints } from './provision';

/**
 * What `.tem/local.json` holds: everything a CLI or a test needs to find a running stack. `tem state --from-stack`
 * writes the same shape for a deployed one (AWS or LocalStack), without the embedded-only fields.
 */
export interface StackInfo {
  target: 'embedded' | 'aws' | 'localstack';
  http: string;
  mqtt?: string;
  /** The WebSocket API's URL (`wss://...`/`ws://...` with the stage): live subscriptions (ADR 0014). */
  webSocket?: string;
  region: string;
  endpoints: Partial<Endpoints>;
  resources: Record<ResourceName, string>;
  /**
   * A deployed stack's REST API (outputs `RestApiId`, `RestApiStage`): where principals' usage keys go; `namePrefix`
   * (output `NamePrefix`) names its usage plans and scopes the keys' values (ADR 0013), `tem` when absent.
   */
  restApi?: { restApiId: string; stage: string; namePrefix?: string };
  /** Dead-letter queue URLs of the delivery queues (`<queue>DeadLetter` outputs in AWS), by the queue they serve. */
  deadLetterQueues?: Partial<Record<QueueName, string>>;
  /** Each raw archive's bucket (`resources` holds its delivery stream's name), where its objects are read back. */
  archiveBuckets?: Partial<Record<ArchiveName, string>>;
  devApiKey?: string;
}

export interface LocalStackInfo extends StackInfo {
  target: 'embedded';
  mqtt: string;
  webSocket: string;
  control: string;
  /** The live dashboard page and the Prometheus endpoint, both on the control server. */
  dashboard: string;
  metrics: string;
  endpoints: Endpoints;
  devApiKey: string;
  engines: Record<ServiceName, { engine: string; pid: number | undefined; url: string }>;
  /**
   * DynamoDB's engines of one table each, by table name, when the stack runs them per table (ADR 0017);
   * `engines.dynamodb` then holds any other table, and `endpoints.dynamodb` is the front that routes between them.
   */
  tableEngines?: Record<string, { engine: string; pid: number | undefined; url: string }>;
  /** Where every function's log lines go (one file, `<function> <line>`). */
  functionLogs: string;
  pid: number;
  startedAt: string;
}

export interface StartOptions {
  port: number;
  mqttPort: number;
  stateDir: string;
  logLevel: string;
  /** Echo function log lines to stdout (they always go to `<stateDir>/logs/functions.log`). */
  echoFunctionLogs: boolean;
  progress: (line: string) => void;
  topology?: Topology;
  /**
   * Overrides of function settings (a function's `environment` in the topology), e.g. JWT_TRUSTED_ISSUERS. Only
   * settings a function declares are overridden, so a typo cannot inject a variable nothing reads.
   */
  settings?: Readonly<Record<string, string>>;
  /** Caps every stream consumer's batching window (tests: `TEM_LOCAL_MAX_BATCHING_WINDOW_SECONDS`). */
  maxBatchingWindowSeconds?: number;
  /** Runs scheduled functions this often instead of at their rate (tests: `TEM_LOCAL_SCHEDULE_SECONDS`). */
  scheduleIntervalSeconds?: number | undefined;
}

export interface RunningStack {
  info: LocalStackInfo;
  stop(): Promise<void>;
  /** Synchronous last resort when the process is exiting. */
  killEngines(): void;
  /** Shutdown has begun: engine exits are no longer news. */
  expectEngineExits(): void;
}
