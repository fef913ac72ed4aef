import { randomUUID } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  createWriteStream,
  mkdirSync,
  openSync,
  readdirSync,
  rmSync,
  type WriteStream,
  writeFileSync,
} from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import path from 'node:path';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { KinesisStreamEvent, SQSEvent } from 'aws-lambda';
import { DynamoAlertStore } from '../../shared/aws/dynamo-alert-store';
import { DynamoPrincipalStore } from '../../shared/aws/dynamo-principal-store';
import { ensureSigningKeyFile } from '../../shared/crypto/file-signer';
import { createApiKey, LOCAL_USAGE_KEYS } from '../../shared/domain/admin';
import type { PolicyDocument } from '../../shared/domain/iam-policy';
import { ruleErrorMessage } from '../../shared/domain/topic-rule';
import {
  assertValidTopology,
  deadLetterName,
  topology as defaultTopology,
  type FunctionName,
  type QueueName,
  type ResourceName,
  type TopicRuleSpec,
  type Topology,
} from '../topology';
import { chooseEngines, Engine, type ServiceName } from './engines';
import { localFunctionEnv } from './function-env';
import { bundleFunctions, LocalFunction } from './function-host';
import { LocalGateway } from './gateway';
import { IotBroker, type RuleMessage } from './iot-broker';
import { IotDataPlane } from './iot-data-plane';
import { KinesisFront } from './kinesis-front';
import { KinesisPoller } from './kinesis-poller';
import { freePort } from './net';
import { LocalObservability } from './observability/local-observability';
import type { StackStats } from './observability/stack-metrics';
import {
  type Endpoints,
  LOCAL_ACCOUNT,
  LOCAL_REGION,
  type LocalClients,
  localClients,
  type Provisioned,
  physicalName,
  provisionQueues,
  provisionStreams,
  provisionTables,
  queueArn,
  streamArn,
} from './provision';
import { RuleKinesisAction } from './rule-kinesis-action';
import { SqsPoller } from './sqs-poller';
import { UsagePlanMeter } from './usage-plans';
import { LocalWebSocketGateway } from './websocket-gateway';

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
  /** A deployed stack's REST API (outputs `RestApiId`, `RestApiStage`): where principals' usage keys go. */
  restApi?: { restApiId: string; stage: string };
  /** Dead-letter queue URLs of the delivery queues (`<queue>DeadLetter` outputs in AWS), by the queue they serve. */
  deadLetterQueues?: Partial<Record<QueueName, string>>;
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

function functionArn(name: string): string {
  return `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:function:tem-${name}`;
}

/**
 * The state dir holds the dev API key, the token signing key, the function logs and the engines' data: private to
 * the user (0700, files 0600), also when it was created earlier with looser modes.
 */
function makePrivate(stateDir: string): void {
  for (const dir of [stateDir, path.join(stateDir, 'logs'), path.join(stateDir, 'keys'), path.join(stateDir, 'data')]) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
  }
  for (const dir of ['keys', 'logs']) {
    for (const file of readdirSync(path.join(stateDir, dir), { withFileTypes: true }))
      if (file.isFile()) chmodSync(path.join(stateDir, dir, file.name), 0o600);
  }
}

/** Starts everything, or, if any step fails, stops what it had started and rethrows. */
export async function startLocalStack(options: StartOptions): Promise<RunningStack> {
  const cleanups: (() => Promise<unknown> | undefined)[] = [];
  try {
    return await start(options, cleanups);
  } catch (error) {
    for (const stop of cleanups.reverse()) await Promise.resolve(stop()).catch(() => {});
    throw error;
  }
}

async function start(options: StartOptions, cleanups: (() => Promise<unknown> | undefined)[]): Promise<RunningStack> {
  const topology = options.topology ?? defaultTopology;
  assertValidTopology(topology);
  const { progress } = options;
  const started = Date.now();
  makePrivate(options.stateDir);
  const functionLogPath = path.join(options.stateDir, 'logs', 'functions.log');
  closeSync(openSync(functionLogPath, 'a', 0o600)); // created (or kept) before its mode is set
  chmodSync(functionLogPath, 0o600);
  const functionLog: WriteStream = createWriteStream(functionLogPath, { flags: 'a' });
  const log = (message: string, fields: Record<string, unknown> = {}) =>
    progress(`[tem] ${message}${Object.keys(fields).length > 0 ? ` ${JSON.stringify(fields)}` : ''}`);

  const choice = chooseEngines();
  for (const warning of choice.warnings) progress(warning);

  let provisioned: Provisioned | undefined;
  let clients: LocalClients | undefined;
  const engines = {} as Record<ServiceName, Engine>;
  const onEngineExit = (engine: Engine, code: number | null) =>
    log(`${engine.engine} (${engine.service}) exited unexpectedly; the gateway keeps running`, { code });

  progress(`starting engines: kinesis=${choice.kinesis}, dynamodb=${choice.dynamodb}, sqs=local-aws-sqs`);
  const buildDir = path.join(options.stateDir, 'build');
  rmSync(buildDir, { recursive: true, force: true });
  const [bundles] = await Promise.all([
    bundleFunctions(topology.functions, buildDir).then((b) => {
      progress(`bundled ${Object.keys(b).length} functions with esbuild`);
      return b;
    }),
    ...(['kinesis', 'dynamodb', 'sqs'] as const).map(async (service) => {
      const engine = await Engine.create(service, choice, options.stateDir, onEngineExit);
      engines[service] = engine;
      cleanups.push(() => engine.stop());
      const t0 = Date.now();
      await engine.start();
      progress(`${engine.engine} (${service}) listening on ${engine.url} in ${Date.now() - t0} ms`);
    }),
  ]);
  // Everything but the benchmark's baselines reaches Kinesis through the front, which wakes enhanced consumers.
  const kinesisFront = new KinesisFront(engines.kinesis.url);
  const endpoints: Endpoints = {
    kinesis: await kinesisFront.listen(),
    dynamodb: engines.dynamodb.url,
    sqs: engines.sqs.url,
  };
  cleanups.push(() => kinesisFront.close());
  const observability = new LocalObservability(kinesisFront);
  cleanups.push(() => {
    observability.close();
    return undefined;
  });
  clients = localClients(endpoints);
  const [streams, tables, { queues, deadLetterQueues }] = await Promise.all([
    provisionStreams(topology, clients),
    provisionTables(topology, clients),
    provisionQueues(topology, clients),
  ]);
  provisioned = { streams, tables, queues, deadLetterQueues };
  progress(
    `provisioned ${Object.keys(streams).length} stream(s), ${Object.keys(tables).length} table(s), ${Object.keys(queues).length} queue(s)`,
  );
  // The KMS key's local stand-in: a P-256 key file that survives restarts, so issued tokens stay valid.
  const keyFiles = Object.fromEntries(
    Object.keys(topology.keys).map((name) => [
      name,
      `file://${ensureSigningKeyFile(path.join(options.stateDir, 'keys', `${name}.pem`))}`,
    ]),
  ) as Record<keyof Topology['keys'], string>;
  // The IoT data plane's Publish API, served locally; it forwards to the broker (started below).
  let broker: IotBroker | undefined;
  const iotData = new IotDataPlane(async (topic, payload, qos) => {
    if (!broker) throw new Error('broker not started');
    await broker.publish(topic, payload, qos);
  });
  const iotDataUrl = `http://127.0.0.1:${await iotData.listen()}`;
  cleanups.push(() => iotData.close());
  // API Gateway's WebSocket API (ADR 0014): its functions are invoked once they exist (below).
  const wsGateway = new LocalWebSocketGateway({
    spec: topology.webSocket,
    region: LOCAL_REGION,
    accountId: LOCAL_ACCOUNT,
    invoke: (name, event) => invoke(name, event),
    log,
  });
  await wsGateway.listen();
  cleanups.push(() => wsGateway.close());
  const endpointUrls = Object.fromEntries(
    Object.entries(topology.endpoints).map(([n, e]) => [
      n,
      e.service === 'iot-data' ? iotDataUrl : wsGateway.managementUrl,
    ]),
  ) as Record<keyof Topology['endpoints'], string>;
  const resources: Record<ResourceName, string> = { ...streams, ...tables, ...queues, ...keyFiles, ...endpointUrls };

  // Functions: each gets only the settings its topology bindings give it, as in AWS.
  const functions = {} as Record<FunctionName, LocalFunction>;
  for (const [name, spec] of Object.entries(topology.functions) as [
    FunctionName,
    Topology['functions'][FunctionName],
  ][]) {
    const env = localFunctionEnv({
      name,
      spec,
      region: LOCAL_REGION,
      endpoints,
      resources,
      logLevel: options.logLevel,
      overrides: options.settings,
    });
    functions[name] = new LocalFunction(name, spec, bundles[name], env, (fn, line) => {
      functionLog.write(`${fn} ${line}\n`);
      observability.functionLogLine(fn, line);
      if (options.echoFunctionLogs) progress(`[${fn}] ${line}`);
    });
  }
  const invoke = (name: string, event: unknown) => {
    const fn = functions[name as FunctionName];
    if (!fn) throw new Error(`unknown function ${name}`);
    return observability.invoked(name, fn.invoke(event));
  };
  const sendTo = (queue: QueueName) => async (body: unknown) => {
    if (!clients || !provisioned) throw new Error('stack not provisioned');
    await clients.sqs.send(
      new SendMessageCommand({ QueueUrl: provisioned.queues[queue], MessageBody: JSON.stringify(body) }),
    );
  };

  // Seed the local admin principal: its key goes into local.json for the CLI, tests and curl.
  const principals = new DynamoPrincipalStore(DynamoDBDocumentClient.from(clients.dynamodb), tables.principalsTable);
  const devKey = await createApiKey(principals, { name: 'local-admin', role: 'admin' }, new Date(), LOCAL_USAGE_KEYS);

  const pollers = topology.streamConsumers.map(
    (consumer) =>
      new KinesisPoller(consumer, {
        kinesis: (clients as LocalClients).kinesis,
        streamName: streams[consumer.stream],
        streamArn: streamArn(streams[consumer.stream]),
        region: LOCAL_REGION,
        functionArn: functionArn(consumer.function),
        invoke: (event: KinesisStreamEvent) => invoke(consumer.function, event),
        sendOnFailure: sendTo(consumer.onFailure),
        log,
        putSignal: kinesisFront,
        maxBatchingWindowSeconds: options.maxBatchingWindowSeconds,
      }),
  );
  await Promise.all(pollers.map((p) => p.start()));
  const queuePollers = topology.queueConsumers.map(
    (consumer) =>
      new SqsPoller(consumer, {
        sqs: (clients as LocalClients).sqs,
        queueUrl: queues[consumer.queue],
        queueArn: queueArn(physicalName(consumer.queue)),
        region: LOCAL_REGION,
        invoke: (event: SQSEvent) => invoke(consumer.function, event),
        log,
      }),
  );
  for (const p of queuePollers) p.start();
  // EventBridge schedules: the function gets a scheduled event at its rate; a run still going is not started twice.
  const scheduleTimers = topology.schedules.map((schedule) => {
    let running = false;
    const everyMs = (options.scheduleIntervalSeconds ?? schedule.rateMinutes * 60) * 1000;
    return setInterval(() => {
      if (running) return;
      running = true;
      invoke(schedule.function, {
        version: '0',
        id: randomUUID(),
        'detail-type': 'Scheduled Event',
        source: 'aws.events',
        account: LOCAL_ACCOUNT,
        time: new Date().toISOString(),
        region: LOCAL_REGION,
        resources: [`arn:aws:events:${LOCAL_REGION}:${LOCAL_ACCOUNT}:rule/tem-${schedule.function}`],
        detail: {},
      })
        .catch((error) =>
          log('scheduled function failed', { function: schedule.function, error: (error as Error).message }),
        )
        .finally(() => {
          running = false;
        });
    }, everyMs).unref();
  });
  cleanups.push(() => {
    for (const timer of scheduleTimers) clearInterval(timer);
    return undefined;
  });

  // API Gateway's usage plans: the same numbers as the CDK stack's, per usage key (ADR 0013).
  const usagePlans = new UsagePlanMeter();
  const gateway = new LocalGateway({
    routes: topology.routes,
    authorizer: topology.authorizer,
    region: LOCAL_REGION,
    accountId: LOCAL_ACCOUNT,
    invoke,
    log,
    usagePlans,
  });
  // The topic rules' Kinesis actions: one record per message, keyed by the rule's partition key expression.
  const ruleActions = Object.fromEntries(
    Object.entries(topology.topicRules).map(([name, rule]) => [
      name,
      new RuleKinesisAction((clients as LocalClients).kinesis, streams[rule.action.kinesis.stream]),
    ]),
  );
  const ruleError = (ruleName: string, rule: TopicRuleSpec, message: RuleMessage, errorMessage: string) => {
    log('topic rule could not act on a message', { rule: ruleName, error: errorMessage });
    const failure = {
      failedAction: 'KinesisAction',
      failedResource: streams[rule.action.kinesis.stream],
      errorMessage,
    };
    sendTo(rule.errorQueue)(ruleErrorMessage(ruleName, message, failure)).catch((error) =>
      log('rule error action failed', { error: (error as Error).message }),
    );
  };
  broker = new IotBroker({
    rules: topology.topicRules,
    deliver: (ruleName, rule, record, message) => {
      ruleActions[ruleName]?.send({
        ...record,
        onFailure: (errorMessage) => ruleError(ruleName, rule, message, errorMessage),
      });
    },
    ruleError,
    authenticate: async (clientId, username, password) => {
      // The event IoT Core sends a custom authorizer for an MQTT CONNECT.
      const response = (await invoke(topology.iotAuthorizer.function, {
        signatureVerified: false,
        protocols: ['mqtt'],
        protocolData: {
          mqtt: {
            clientId,
            ...(username === undefined ? {} : { username }),
            ...(password ? { password: password.toString('base64') } : {}),
          },
        },
        connectionMetadata: { id: randomUUID() },
      })) as {
        isAuthenticated?: boolean;
        policyDocuments?: string[];
        refreshAfterInSeconds?: number;
        disconnectAfterInSeconds?: number;
      } | null;
      if (!response?.isAuthenticated) return undefined;
      const statements = (response.policyDocuments ?? []).flatMap(
        (doc) => (JSON.parse(doc) as { Statement: PolicyDocument['Statement'] }).Statement,
      );
      return {
        policy: { Version: '2012-10-17', Statement: statements },
        ...(response.refreshAfterInSeconds === undefined
          ? {}
          : { refreshAfterSeconds: response.refreshAfterInSeconds }),
        ...(response.disconnectAfterInSeconds === undefined
          ? {}
          : { disconnectAfterSeconds: response.disconnectAfterInSeconds }),
      };
    },
    log,
  });
  cleanups.push(() => Promise.all([...pollers, ...queuePollers].map((p) => p.stop())));
  cleanups.push(() => Promise.all(Object.values(functions).map((f) => f.stop())));
  const httpPort = await gateway.listen(options.port);
  cleanups.push(() => gateway.close());
  const mqttPort = await broker.listen(options.mqttPort);
  cleanups.push(() => broker.close());

  const restartEngine = async (service: ServiceName) => {
    const engine = engines[service];
    await engine.recover();
    if (!clients) return;
    // Provision again: idempotent for engines that kept their data (all of them, after an outage), and what an
    // engine that had crashed and came back empty needs.
    if (service === 'sqs') await provisionQueues(topology, clients);
    if (service === 'kinesis') await provisionStreams(topology, clients);
    if (service === 'dynamodb') await provisionTables(topology, clients);
  };
  const stats = (): StackStats => ({
    pollers: pollers.map((p, i) => ({
      function: topology.streamConsumers[i]?.function,
      readMode: topology.streamConsumers[i]?.readMode,
      ...p.stats,
    })),
    queuePollers: queuePollers.map((p, i) => ({
      function: topology.queueConsumers[i]?.function,
      queue: topology.queueConsumers[i]?.queue,
      ...p.stats,
    })),
    kinesisPuts: kinesisFront.puts,
    kinesisRecordsPut: kinesisFront.records,
    functions: Object.fromEntries(
      Object.entries(functions).map(([n, f]) => [n, { invocations: f.invocations, coldStarts: f.coldStarts }]),
    ),
    authorizerInvocations: gateway.authorizerInvocations,
    gateway: { responses: gateway.responses, authorizerDecisions: gateway.authorizerDecisions },
    usagePlans: { throttled: usagePlans.throttled, quotaExceeded: usagePlans.quotaExceeded },
    mqtt: {
      connections: broker.connections,
      messagesRouted: broker.messagesRouted,
      connectionsRefused: broker.connectionsRefused,
      connectionsRevoked: broker.connectionsRevoked,
      connectionsThrottled: broker.connectionsThrottled,
      publishesRefused: broker.publishesRefused,
      publishesTooLarge: broker.publishesTooLarge,
      rulePuts: Object.values(ruleActions).reduce((n, a) => n + a.put, 0),
      ruleFailures: Object.values(ruleActions).reduce((n, a) => n + a.failed, 0),
      dataPlanePublished: iotData.published,
    },
    webSocket: wsGateway.stats,
    engines: Object.fromEntries(
      Object.entries(engines).map(([s, e]) => [s, { running: e.running, pid: e.pid, engine: e.engine }]),
    ),
  });
  observability.attach({
    stats,
    sqs: clients.sqs,
    queues: [
      ...(Object.entries(topology.queues) as [QueueName, Topology['queues'][QueueName]][])
        .filter(([, spec]) => spec.kind === 'errorSink')
        .map(([queue]) => ({ queue, kind: 'errorSink' as const, url: queues[queue] })),
      ...Object.entries(deadLetterQueues).map(([queue, url]) => ({
        queue: deadLetterName(queue),
        kind: 'deadLetter' as const,
        url: url as string,
      })),
    ],
    alerts: new DynamoAlertStore(DynamoDBDocumentClient.from(clients.dynamodb), tables.alertsTable),
  });
  const control = await startControlServer({
    stats,
    serve: (req, res) => observability.handle(req, res),
    stopEngine: (service) => engines[service].outage(),
    startEngine: restartEngine,
    setMappingEnabled: (fn, enabled) => {
      const index = topology.streamConsumers.findIndex((c) => c.function === fn);
      const poller = pollers[index];
      if (!poller) return false;
      poller.setEnabled(enabled);
      return true;
    },
    flushAuthorizerCache: () => gateway.flushAuthorizerCache(),
  });

  const info: LocalStackInfo = {
    target: 'embedded',
    http: `http://127.0.0.1:${httpPort}`,
    mqtt: `mqtt://127.0.0.1:${mqttPort}`,
    webSocket: wsGateway.url,
    control: `http://127.0.0.1:${control.port}`,
    dashboard: `http://127.0.0.1:${control.port}/`,
    metrics: `http://127.0.0.1:${control.port}/metrics`,
    region: LOCAL_REGION,
    // Clients outside the stack (CLI, tests) reach the engine itself, as before the front existed; what they put is
    // picked up by the enhanced consumers' 1 s safety poll. The stack's own functions and pollers use the front.
    endpoints: { ...endpoints, kinesis: engines.kinesis.url },
    resources,
    deadLetterQueues,
    devApiKey: devKey.apiKey,
    functionLogs: functionLogPath,
    engines: Object.fromEntries(
      Object.entries(engines).map(([s, e]) => [s, { engine: e.engine, pid: e.pid, url: e.url }]),
    ) as LocalStackInfo['engines'],
    pid: process.pid,
    startedAt: new Date().toISOString(),
  };
  // The mode of writeFileSync applies only to a new file: one left by a killed stack keeps its own until chmod.
  const statePath = path.join(options.stateDir, 'local.json');
  writeFileSync(statePath, `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 });
  chmodSync(statePath, 0o600);
  progress(`HTTP  ${info.http}`);
  progress(`MQTT  ${info.mqtt}`);
  progress(`WS    ${info.webSocket}`);
  progress(`dashboard ${info.dashboard}  (Prometheus: ${info.metrics})`);
  progress(`state ${path.join(options.stateDir, 'local.json')} (dev API key inside)`);
  progress(`TelemetryEventMesh local stack ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  const killEngines = () => {
    for (const engine of Object.values(engines)) engine.kill();
  };
  return {
    info,
    killEngines,
    expectEngineExits: () => {
      for (const engine of Object.values(engines)) engine.expectExit();
    },
    async stop() {
      for (const timer of scheduleTimers) clearInterval(timer);
      for (const engine of Object.values(engines)) engine.expectExit();
      observability.close();
      await Promise.allSettled([
        gateway.close(),
        wsGateway.close(),
        broker.close(),
        iotData.close(),
        new Promise<void>((r) => control.server.close(() => r())),
      ]);
      await Promise.allSettled([...pollers, ...queuePollers].map((p) => p.stop()));
      await Promise.allSettled(Object.values(functions).map((f) => f.stop()));
      await kinesisFront.close();
      await Promise.allSettled(Object.values(engines).map((e) => e.stop()));
      functionLog.end();
      rmSync(path.join(options.stateDir, 'local.json'), { force: true });
    },
  };
}

interface ControlDeps {
  stats: () => unknown;
  /** The dashboard page, `/live` and `/metrics` (true: answered). */
  serve: (req: IncomingMessage, res: ServerResponse) => boolean;
  /** Like UpdateEventSourceMapping `Enabled`; false when no consumer runs that function. */
  setMappingEnabled: (functionName: string, enabled: boolean) => boolean;
  stopEngine: (service: ServiceName) => Promise<void>;
  startEngine: (service: ServiceName) => Promise<void>;
  flushAuthorizerCache: () => void;
}

/**
 * Operator/test control of the running stack (loopback only): stats, stopping and starting an engine to inject a
 * fault, flushing the authorizer cache.
 */
async function startControlServer(deps: ControlDeps): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (deps.serve(req, res)) return;
    const url = new URL(req.url ?? '/', 'http://localhost');
    const engineMatch = /^\/engines\/(kinesis|dynamodb|sqs)\/(stop|start)$/.exec(url.pathname);
    const mappingMatch = /^\/mappings\/([A-Za-z0-9]+)\/(enable|disable)$/.exec(url.pathname);
    if (req.method === 'GET' && url.pathname === '/stats') return reply(200, deps.stats());
    if (req.method === 'POST' && mappingMatch) {
      const [, fn = '', action] = mappingMatch;
      if (!deps.setMappingEnabled(fn, action === 'enable'))
        return reply(404, { message: `no stream consumer runs function ${fn}` });
      return reply(200, { function: fn, enabled: action === 'enable' });
    }
    if (req.method === 'POST' && url.pathname === '/authorizer-cache/flush') {
      deps.flushAuthorizerCache();
      return reply(200, { flushed: true });
    }
    if (req.method === 'POST' && engineMatch) {
      const service = engineMatch[1] as ServiceName;
      const action = engineMatch[2] === 'stop' ? deps.stopEngine(service) : deps.startEngine(service);
      action.then(
        () => reply(200, { service, state: engineMatch[2] === 'stop' ? 'stopped' : 'running' }),
        (error: Error) => reply(500, { message: error.message }),
      );
      return;
    }
    reply(404, { message: 'Not Found' });
  });
  const port = controlPort() ?? (await freePort());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return { server, port };
}

/** `TEM_CONTROL_PORT`: a fixed port for the control server (a Prometheus scrape target); unset, a free one. */
function controlPort(): number | undefined {
  const raw = process.env.TEM_CONTROL_PORT;
  if (raw === undefined || raw === '' || raw === '0') return undefined;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new Error(`TEM_CONTROL_PORT must be a port number (0 picks a free one), got "${raw}"`);
  return port;
}
