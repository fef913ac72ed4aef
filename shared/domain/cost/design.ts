/**
 * What the cost model needs to know about the system, read from the topology (never restated) by
 * `designFromTopology` (infra/topology/cost-design.ts): memory per function, how each stream consumer reads and
 * batches, the stream's capacity mode and what is alarmed. The model itself takes this plain value, so a test can pin
 * a design while the topology moves on.
 */
export interface ConsumerDesign {
  /**
   * The consumer's function. Its duration comes from the price book's `<function>BaseMs`/`<function>PerRecordMs`, or
   * the consumer defaults for one the book has no figures for; its downstream calls are priced for the consumers the
   * model knows (storeEvents, deviceMetrics, alerts).
   */
  function: string;
  memoryMb: number;
  readMode: 'enhancedFanOut' | 'polling';
  batchSize: number;
  maxBatchingWindowSeconds: number;
  parallelizationFactor: number;
  /** Lambda tumbling window, if the topology declares one: state carried across batches, one write per window. */
  tumblingWindowSeconds?: number;
}

export interface CostDesign {
  memoryMb: Record<'apiAuthorizer' | 'deviceAuthorizer' | 'httpIngest', number>;
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
  /** Where readings are kept (policies/storage.json); the table when absent. */
  readingPlaces?: readonly ('table' | 'archive')[];
  /** Days an archived object lives (policies/storage.json; null = forever). */
  archiveRetentionDays?: number | null;
  /** The archive's Firehose buffer interval (the topology): one S3 object per interval and Firehose partition. */
  archiveBufferSeconds?: number;
  metricsRetentionDays: number;
  authEpochCheckSeconds: number;
  routes: number;
  /** Functions whose errors are answers: their alarm watches a log metric filter (one custom metric each). */
  logMetricFilters: number;
  alarms: number;
}

/** What the policies/ files say, read by the caller (the model does no I/O). */
export interface PolicyFacts {
  alertRules: number;
  readingRetentionDays: number | null;
  eventRetentionDays: number | null;
  readingPlaces?: readonly ('table' | 'archive')[];
  archiveRetentionDays?: number | null;
}

/** The model's name for where readings are kept, from the policy's places. */
export function rawReadingsOf(places: readonly ('table' | 'archive')[] = ['table']): 'dynamodb' | 'firehose' | 'both' {
  const table = places.includes('table');
  const archive = places.includes('archive');
  return table && archive ? 'both' : archive ? 'firehose' : 'dynamodb';
}
