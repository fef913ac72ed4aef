import type { ConsumerDesign, CostDesign, PolicyFacts } from '../../shared/domain/cost/design';
import type { Topology } from '../topology';

/** Reads the design from the topology and the policy facts. */
export function designFromTopology(t: Topology, policies: PolicyFacts): CostDesign {
  const fn = (name: string) => {
    const spec = t.functions[name as keyof Topology['functions']];
    if (!spec) throw new Error(`the cost model needs function ${name}, which the topology does not declare`);
    return spec;
  };
  const consumers = t.streamConsumers.map((c): ConsumerDesign => {
    const tumbling = (c as { tumblingWindowSeconds?: unknown }).tumblingWindowSeconds;
    return {
      function: c.function,
      memoryMb: fn(c.function).memoryMb,
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
    },
    consumers,
    streamCapacity: (streams[0] as { capacity: 'onDemand' | 'provisioned' }).capacity,
    eventsTableIndexes: t.tables.eventsTable.globalIndexes.length,
    readingIndexes: t.tables.eventsTable.globalIndexes.filter((g) => !g.excludesDeviceReadings).length,
    alertsTableIndexes: t.tables.alertsTable.globalIndexes.length,
    rulesPerReading: Object.keys(t.topicRules).length,
    actionsPerRule: 1,
    ...policies,
    archiveBufferSeconds: t.archives.rawArchive.bufferIntervalSeconds,
    metricsRetentionDays: envNumber('deviceMetrics', 'METRICS_RETENTION_DAYS'),
    authEpochCheckSeconds: envNumber(t.authorizer.function, 'AUTH_EPOCH_CHECK_SECONDS'),
    routes: t.routes.length,
    logMetricFilters: Object.values(t.functions).filter((f) => f.errorsAreAnswers).length,
    // infra/aws/stack.ts buildAlarms: one per error sink, per delivery queue's dead-letter queue, per consumer, per
    // function (errors or error log lines), the stage's 5xx, and two per archive (freshness, failed deliveries).
    alarms:
      queues.filter((q) => q.kind === 'errorSink').length +
      queues.filter((q) => q.kind === 'delivery').length +
      t.streamConsumers.length +
      functionCount +
      1 +
      2 * Object.keys(t.archives).length,
  };
}
