import type { Topology } from '../../../infra/topology';

/**
 * What the cost model needs to know about the system, read from the topology (never restated): memory per function,
 * how each stream consumer reads and batches, the stream's capacity mode and what is alarmed. The model itself takes
 * this plain value, so a test can pin a design while the topology moves on.
 */
export interface ConsumerDesign {
  function: 'storeEvents' | 'deviceMetrics' | 'alerts' | 'wsFanout';
  readMode: 'enhancedFanOut' | 'polling';
  batchSize: number;
  maxBatchingWindowSeconds: number;
  parallelizationFactor: number;
  /** Lambda tumbling window, if the topology declares one: state carried across batches, one write per window. */
  tumblingWindowSeconds?: number;
}

export interface CostDesign {
  memoryMb: Record<'apiAuthorizer' | 'deviceAuthorizer' | 'httpIngest' | ConsumerDesign['function'], number>;
  consumers: readonly ConsumerDesign[];
  streamCapacity: 'onDemand' | 'provisioned';
  /** Global secondary indexes (projection ALL) of the events and alerts tables: each write is repeated per index. */
  eventsTableIndexes: number;
  /** Of those, the indexes that hold device readings (the type index is sparse: readings are not in it). */
  readingIndexes: number;
  alertsTableIndexes: number;
  /** Topic rules a device reading triggers, and the actions each executes (one Kinesis action, the error action aside). */
  rulesPerReading: number;
  actionsPerRule: number;
  /** Alert rules a reading is judged against (upper bound: every reading carries every rule's metric). */
  alertRules: number;
  /** Days a stored reading and a stored business event live (policies/retention.json; null = forever). */
  readingRetentionDays: number | null;
  eventRetentionDays: number | null;
  metricsRetentionDays: number;
  authEpochCheckSeconds: number;
  routes: number;
  /** Functions whose errors are answers: their alarm watches a log metric filter (one custom metric each). */
  logMetricFilters: number;
  alarms: number;
}

const CONSUMERS = ['storeEvents', 'deviceMetrics', 'alerts', 'wsFanout'] as const;

/** What the policies/ files say, read by the caller (the model does no I/O). */
export interface PolicyFacts {
  alertRules: number;
  readingRetentionDays: number | null;
  eventRetentionDays: number | null;
}

/** Reads the design from the topology and the policy facts. */
export function designFromTopology(t: Topology, policies: PolicyFacts): CostDesign {
  const fn = (name: string) => {
    const spec = t.functions[name as keyof Topology['functions']];
    if (!spec) throw new Error(`the cost model needs function ${name}, which the topology does not declare`);
    return spec;
  };
  const consumers = t.streamConsumers.map((c): ConsumerDesign => {
    const name = CONSUMERS.find((n) => n === c.function);
    if (!name) throw new Error(`the cost model has no figures for stream consumer ${c.function}`);
    const tumbling = (c as { tumblingWindowSeconds?: unknown }).tumblingWindowSeconds;
    return {
      function: name,
      readMode: c.readMode,
      batchSize: c.batchSize,
      maxBatchingWindowSeconds: c.maxBatchingWindowSeconds,
      parallelizationFactor: c.parallelizationFactor,
      ...(typeof tumbling === 'number' ? { tumblingWindowSeconds: tumbling } : {}),
    };
  });
  const streams = Object.values(t.streams);
  if (streams.length !== 1) throw new Error('the cost model knows one event stream');
  const queues = Object.values(t.queues);
  const envNumber = (name: string, key: string) => {
    const value = Number(fn(name).environment?.[key]);
    if (!Number.isFinite(value)) throw new Error(`topology: ${name} has no numeric ${key}`);
    return value;
  };
  const functionCount = Object.keys(t.functions).length;
  return {
    memoryMb: {
      apiAuthorizer: fn(t.authorizer.function).memoryMb,
      deviceAuthorizer: fn(t.iotAuthorizer.function).memoryMb,
      httpIngest: fn('httpIngest').memoryMb,
      storeEvents: fn('storeEvents').memoryMb,
      deviceMetrics: fn('deviceMetrics').memoryMb,
      alerts: fn('alerts').memoryMb,
      wsFanout: fn('wsFanout').memoryMb,
    },
    consumers,
    streamCapacity: (streams[0] as { capacity: 'onDemand' | 'provisioned' }).capacity,
    eventsTableIndexes: t.tables.eventsTable.globalIndexes.length,
    readingIndexes: t.tables.eventsTable.globalIndexes.filter((g) => !g.excludesDeviceReadings).length,
    alertsTableIndexes: t.tables.alertsTable.globalIndexes.length,
    rulesPerReading: Object.keys(t.topicRules).length,
    actionsPerRule: 1,
    ...policies,
    metricsRetentionDays: envNumber('deviceMetrics', 'METRICS_RETENTION_DAYS'),
    authEpochCheckSeconds: envNumber(t.authorizer.function, 'AUTH_EPOCH_CHECK_SECONDS'),
    routes: t.routes.length,
    logMetricFilters: Object.values(t.functions).filter((f) => f.errorsAreAnswers).length,
    // infra/aws/stack.ts buildAlarms: one per error sink, per delivery queue's dead-letter queue, per consumer, per
    // function (errors or error log lines), and the stage's 5xx.
    alarms:
      queues.filter((q) => q.kind === 'errorSink').length +
      queues.filter((q) => q.kind === 'delivery').length +
      t.streamConsumers.length +
      functionCount +
      1,
  };
}
