import { rmSync } from 'node:fs';
import path from 'node:path';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoAlertStore } from '../../shared/aws/dynamo-alert-store';
import { DynamoPrincipalStore } from '../../shared/aws/dynamo-principal-store';
import { createApiKey, LOCAL_USAGE_KEYS } from '../../shared/domain/admin';
import {
  assertValidTopology,
  topology as defaultTopology,
  type FunctionName,
  type QueueName,
  type ResourceName,
  type Topology,
} from '../topology';
import { startControlServer } from './control-server';
import { localDeviceGateway } from './device-gateway';
import { EngineSet } from './engine-set';
import { chooseEngines, type Engine, type ServiceName } from './engines';
import { startEventSources } from './event-sources';
import { LocalGateway } from './gateway';
import type { IotBroker } from './iot-broker';
import { IotDataPlane } from './iot-data-plane';
import { KinesisFront } from './kinesis-front';
import { LocalObservability } from './observability/local-observability';
import type { StackStats } from './observability/stack-metrics';
import {
  type Endpoints,
  LOCAL_ACCOUNT,
  LOCAL_REGION,
  type LocalClients,
  localClients,
  type Provisioned,
  provisionQueues,
  provisionService,
  provisionStreams,
  provisionTables,
  watchedQueues,
} from './provision';
import { archiveBucketName, provisionArchives } from './provision-archives';
import { startSchedules } from './schedules';
import type { LocalStackInfo, RunningStack, StartOptions } from './stack-info';
import { createFunctions, startEnginesWhileBundling } from './stack-startup';
import { stackStats } from './stack-stats';
import { announceLocalState, makePrivate, openFunctionLog, signingKeyFiles } from './state-dir';
import { UsagePlanMeter } from './usage-plans';

import { LocalWebSocketGateway } from './websocket-gateway';

export type { LocalStackInfo, RunningStack, StackInfo, StartOptions } from './stack-info';

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
  const { path: functionLogPath, stream: functionLog } = openFunctionLog(options.stateDir);
  const log = (message: string, fields: Record<string, unknown> = {}) =>
    progress(`[tem] ${message}${Object.keys(fields).length > 0 ? ` ${JSON.stringify(fields)}` : ''}`);

  const choice = chooseEngines();
  for (const warning of choice.warnings) progress(warning);

  let provisioned: Provisioned | undefined;
  let clients: LocalClients | undefined;
  const engineSet = new EngineSet();
  const engines = engineSet.services;
  const onEngineExit = (engine: Engine, code: number | null) =>
    log(`${engine.engine} (${engine.service}) exited unexpectedly; the gateway keeps running`, { code });

  progress(`starting engines: kinesis=${choice.kinesis}, dynamodb=${choice.dynamodb}, sqs=local-aws-sqs, s3, firehose`);
  const bundles = await startEnginesWhileBundling({
    topology,
    choice,
    stateDir: options.stateDir,
    engines: engineSet,
    onEngineExit,
    cleanups,
    progress,
  });
  // One DynamoDB endpoint, as in AWS: a front routes each request to the engine of the tables it names.
  const dynamoFront = engineSet.dynamoFront();
  // Everything but the benchmark's baselines reaches Kinesis through the front, which wakes enhanced consumers.
  const kinesisFront = new KinesisFront(engines.kinesis.url);
  const endpoints: Endpoints = {
    kinesis: await kinesisFront.listen(),
    dynamodb: dynamoFront ? await dynamoFront.listen() : engines.dynamodb.url,
    sqs: engines.sqs.url,
    s3: engines.s3.url,
    firehose: engines.firehose.url,
  };
  cleanups.push(() => kinesisFront.close());
  if (dynamoFront) cleanups.push(() => dynamoFront.close());
  const observability = new LocalObservability(kinesisFront);
  cleanups.push(() => {
    observability.close();
    return undefined;
  });
  clients = localClients(endpoints);
  const [streams, tables, { queues, deadLetterQueues }, archives] = await Promise.all([
    provisionStreams(topology, clients),
    provisionTables(topology, clients),
    provisionQueues(topology, clients),
    provisionArchives(topology, clients),
  ]);
  provisioned = { streams, tables, queues, deadLetterQueues };
  progress(
    `provisioned ${Object.keys(streams).length} stream(s), ${Object.keys(tables).length} table(s), ${Object.keys(queues).length} queue(s)`,
  );
  const keyFiles = signingKeyFiles(topology, options.stateDir);
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
  const resources: Record<ResourceName, string> = {
    ...streams,
    ...tables,
    ...queues,
    ...keyFiles,
    ...endpointUrls,
    ...archives,
  };

  // Functions: each gets only the settings its topology bindings give it, as in AWS.
  const functions = createFunctions({
    topology,
    bundles,
    endpoints,
    resources,
    logLevel: options.logLevel,
    settings: options.settings,
    onLogLine: (fn, line) => {
      functionLog.write(`${fn} ${line}\n`);
      observability.functionLogLine(fn, line);
      if (options.echoFunctionLogs) progress(`[${fn}] ${line}`);
    },
  });
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

  const { pollers, queuePollers } = await startEventSources({
    topology,
    clients,
    streams,
    queues,
    invoke,
    sendTo,
    log,
    putSignal: kinesisFront,
    maxBatchingWindowSeconds: options.maxBatchingWindowSeconds,
  });
  const scheduleTimers = startSchedules(topology.schedules, options.scheduleIntervalSeconds, invoke, log);
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
  const devices = localDeviceGateway({
    topology,
    kinesis: (clients as LocalClients).kinesis,
    streams,
    invoke,
    sendTo,
    log,
  });
  const { ruleActions } = devices;
  broker = devices.broker;
  cleanups.push(() => Promise.all([...pollers, ...queuePollers].map((p) => p.stop())));
  cleanups.push(() => Promise.all(Object.values(functions).map((f) => f.stop())));
  const httpPort = await gateway.listen(options.port);
  cleanups.push(() => gateway.close());
  const mqttPort = await broker.listen(options.mqttPort);
  cleanups.push(() => broker.close());

  const restartEngine = async (service: ServiceName) => {
    await engineSet.recover(service);
    if (clients) await provisionService(service, topology, clients);
  };
  const stats = (): StackStats =>
    stackStats({
      topology,
      pollers,
      queuePollers,
      kinesisFront,
      functions,
      gateway,
      usagePlans,
      broker: broker as IotBroker,
      ruleActions,
      iotData,
      wsGateway,
      engines,
    });
  observability.attach({
    stats,
    sqs: clients.sqs,
    queues: watchedQueues(topology, { queues, deadLetterQueues }),
    alerts: new DynamoAlertStore(DynamoDBDocumentClient.from(clients.dynamodb), tables.alertsTable),
  });
  const control = await startControlServer({
    stats,
    serve: (req, res) => observability.handle(req, res),
    stopEngine: (service) => engineSet.outage(service),
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
    archiveBuckets: Object.fromEntries(Object.keys(archives).map((a) => [a, archiveBucketName(a)])),
    devApiKey: devKey.apiKey,
    functionLogs: functionLogPath,
    ...engineSet.info(),
    pid: process.pid,
    startedAt: new Date().toISOString(),
  };
  announceLocalState(options.stateDir, info, progress);
  progress(`TelemetryEventMesh local stack ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  return {
    info,
    killEngines: () => engineSet.killAll(),
    expectEngineExits: () => engineSet.expectExits(),
    async stop() {
      for (const timer of scheduleTimers) clearInterval(timer);
      engineSet.expectExits();
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
      await dynamoFront?.close();
      await Promise.allSettled(engineSet.all().map((e) => e.stop()));
      functionLog.end();
      rmSync(path.join(options.stateDir, 'local.json'), { force: true });
    },
  };
}
