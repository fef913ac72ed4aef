import type { Topology } from '../topology';
import type { Engine, ServiceName } from './engines';
import type { LocalFunction } from './function-host';
import type { LocalGateway } from './gateway';
import type { IotBroker } from './iot-broker';
import type { IotDataPlane } from './iot-data-plane';
import type { KinesisFront } from './kinesis-front';
import type { KinesisPoller } from './kinesis-poller';
import type { StackStats } from './observability/stack-metrics';
import type { RuleKinesisAction } from './rule-kinesis-action';
import type { SqsPoller } from './sqs-poller';
import type { UsagePlanMeter } from './usage-plans';
import type { LocalWebSocketGateway } from './websocket-gateway';

/** The parts of a running stack whose counters `/stats`, `/metrics` and the dashboard show. */
export interface StackParts {
  topology: Topology;
  pollers: readonly KinesisPoller[];
  queuePollers: readonly SqsPoller[];
  kinesisFront: KinesisFront;
  functions: Record<string, LocalFunction>;
  gateway: LocalGateway;
  usagePlans: UsagePlanMeter;
  broker: IotBroker;
  ruleActions: Record<string, RuleKinesisAction>;
  iotData: IotDataPlane;
  wsGateway: LocalWebSocketGateway;
  engines: Record<ServiceName, Engine>;
}

/** A snapshot of every part's counters (GET <control>/stats). */
export function stackStats(parts: StackParts): StackStats {
  const {
    topology,
    pollers,
    queuePollers,
    kinesisFront,
    functions,
    gateway,
    usagePlans,
    broker,
    ruleActions,
    iotData,
    wsGateway,
    engines,
  } = parts;
  return {
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
  };
}
