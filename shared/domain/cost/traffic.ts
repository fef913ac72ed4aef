import type { ConsumerDesign, CostDesign } from './design';
import type { ParameterId } from './prices';

/** Billing units: AWS bills GB as 2^30 bytes and KB as 1,024 bytes. */
export const GB = 2 ** 30;

export type Params = Record<ParameterId, number>;

/** One estimate's inputs: the CLI flags, and the design choices the alternatives flip one at a time. */
export interface CostInput {
  eventsPerSecond: number;
  devices: number;
  /** Share of events that are HTTP business events; the rest are device readings. */
  httpShare: number;
  /** Events per HTTP request. */
  batch: number;
  /** Readings a device packs into one MQTT message (batching at the device). */
  readingsPerMessage: number;
  stage: string;
  /**
   * Where raw readings are kept (policies/storage.json, ADR 0018): the events table, the archive (S3 through
   * Firehose), or both.
   */
  rawReadings: 'dynamodb' | 'firehose' | 'both';
  /** The archive's format: gzipped JSON lines (what is built) or Parquet, converted by Firehose (priced per GB). */
  archiveFormat: 'gzipJson' | 'parquet';
  /**
   * Where Firehose takes raw readings from: `stream` = the event stream as its source (every record, each billed as
   * 5 KB); `storeEvents` = the store consumer puts each batch's readings as one packed record (Direct PUT).
   */
  firehoseSource: 'stream' | 'storeEvents';
  kinesis: 'onDemand' | 'provisioned';
  /** `basicIngest`: `$aws/rules/<rule>/...`, no messaging charge; `brokerTopic`: the plain topic through the broker. */
  ingestTopic: 'basicIngest' | 'brokerTopic';
  /** `planned`: buckets written about once a minute (issue 9); `topology`: as often as the consumer's batches say. */
  metricsWrites: 'planned' | 'topology';
  /**
   * `cached` (the design): the alerts consumer keeps its rule states and claims the shard once per batch (ADR 0007);
   * `perBatch`: it reads the states each batch.
   */
  alertStateReads: 'perBatch' | 'cached';
}

export interface ConsumerLoad {
  function: ConsumerDesign['function'];
  readMode: ConsumerDesign['readMode'];
  memoryMb: number;
  recordsPerInvocation: number;
  invocationsPerSecond: number;
  billedMs: number;
  /** Batches a minute on one shard lane: how often one device's records can meet the consumer. */
  batchesPerLaneMinute: number;
}

export interface Traffic {
  secondsPerMonth: number;
  minutesPerMonth: number;
  daysPerMonth: number;
  httpEventsPerSecond: number;
  readingsPerSecond: number;
  apiRequestsPerSecond: number;
  /** MQTT messages carrying readings; each becomes one stream record (the rule's one Kinesis action). */
  messagesPerSecond: number;
  messageBytes: number;
  readingRecordBytes: number;
  streamRecordsPerSecond: number;
  streamBytesPerSecond: number;
  /** Consumers sharing the stream's read throughput (polling), and enhanced fan-out consumers. */
  pollingReaders: number;
  enhancedReaders: number;
  shards: number;
  shardBasis: string;
  readingsPerDeviceMinute: number;
  consumers: ConsumerLoad[];
}

const ceilTo = (bytes: number, unit: number) => Math.max(1, Math.ceil(bytes / unit)) * unit;

/** Rates per second, the stream's shard count, and what each consumer's batches look like at that rate. */
export function trafficOf(input: CostInput, design: CostDesign, p: Params): Traffic {
  const secondsPerMonth = p.hoursPerMonth * 3600;
  const httpEventsPerSecond = input.eventsPerSecond * input.httpShare;
  const readingsPerSecond = input.eventsPerSecond - httpEventsPerSecond;
  const messagesPerSecond = readingsPerSecond / input.readingsPerMessage;
  const readingRecordBytes = p.readingRecordBytes * input.readingsPerMessage;
  const streamRecordsPerSecond = httpEventsPerSecond + messagesPerSecond;
  const streamBytesPerSecond = httpEventsPerSecond * p.httpEventRecordBytes + messagesPerSecond * readingRecordBytes;
  // Firehose with the stream as its source reads like a polling consumer.
  const firehoseReads = input.rawReadings !== 'dynamodb' && input.firehoseSource === 'stream';
  const pollingReaders = design.consumers.filter((c) => c.readMode === 'polling').length + (firehoseReads ? 1 : 0);
  const enhancedReaders = design.consumers.filter((c) => c.readMode === 'enhancedFanOut').length;
  const { shards, shardBasis } = shardsFor(
    input.kinesis,
    streamRecordsPerSecond,
    streamBytesPerSecond,
    pollingReaders,
    p,
  );
  const packs = input.rawReadings !== 'dynamodb' && input.firehoseSource === 'storeEvents';
  const consumers = design.consumers.map((c) =>
    consumerLoad(c, streamRecordsPerSecond, shards, p, packs && c.function === 'storeEvents' ? p.firehosePutMs : 0),
  );
  return {
    secondsPerMonth,
    minutesPerMonth: secondsPerMonth / 60,
    daysPerMonth: p.hoursPerMonth / 24,
    httpEventsPerSecond,
    readingsPerSecond,
    apiRequestsPerSecond: httpEventsPerSecond / input.batch,
    messagesPerSecond,
    messageBytes: p.readingPayloadBytes * input.readingsPerMessage + p.mqttTopicBytes,
    readingRecordBytes,
    streamRecordsPerSecond,
    streamBytesPerSecond,
    pollingReaders,
    enhancedReaders,
    shards,
    shardBasis,
    readingsPerDeviceMinute: input.devices > 0 ? (60 * readingsPerSecond) / input.devices : 0,
    consumers,
  };
}

/**
 * Provisioned: enough shards for the writes (1,000 records/s, 1 MB/s each) and for the polling readers' share of
 * 2 MB/s, at the target utilization. On-demand: what AWS provisions (twice the peak, at least 4); it is not billed
 * per shard, but it sets how many batches the consumers see.
 */
export function shardsFor(
  mode: CostInput['kinesis'],
  recordsPerSecond: number,
  bytesPerSecond: number,
  pollingReaders: number,
  p: Params,
): { shards: number; shardBasis: string } {
  const byRecords = recordsPerSecond / p.shardWriteRecordsPerSecond;
  const byBytes = bytesPerSecond / p.shardWriteBytesPerSecond;
  const byReads = (pollingReaders * bytesPerSecond) / p.shardReadBytesPerSecond;
  if (mode === 'onDemand') {
    const shards = Math.max(p.onDemandMinShards, Math.ceil(p.onDemandPeakHeadroom * Math.max(byRecords, byBytes)));
    return { shards, shardBasis: `on-demand: max(${p.onDemandMinShards}, ${p.onDemandPeakHeadroom} × peak write)` };
  }
  const need = Math.max(byRecords, byBytes, byReads);
  const shards = Math.max(1, Math.ceil(need / p.provisionedTargetUtilization));
  const limit = need === byRecords ? 'records/s' : need === byBytes ? 'write MB/s' : 'polling read MB/s';
  return { shards, shardBasis: `provisioned: ${limit} at ${p.provisionedTargetUtilization * 100}% of a shard` };
}

/**
 * A mapping invokes once per shard lane and cycle with what arrived meanwhile, capped by the batch size: the cycle is
 * the batching window, or for a window of 0 the push cycle (enhanced fan-out) or the poll interval.
 */
export function consumerLoad(
  c: ConsumerDesign,
  recordsPerSecond: number,
  shards: number,
  p: Params,
  extraMs = 0,
): ConsumerLoad {
  const lanes = shards * c.parallelizationFactor;
  const perLane = recordsPerSecond / lanes;
  const modeCycle = c.readMode === 'enhancedFanOut' ? p.enhancedFanOutCycleSeconds : p.pollingCycleSeconds;
  const cycle = Math.max(c.maxBatchingWindowSeconds, modeCycle);
  const recordsPerInvocation = Math.min(c.batchSize, Math.max(1, perLane * cycle));
  const { baseMs, perRecordMs } = consumerDuration(c.function, p);
  return {
    function: c.function,
    readMode: c.readMode,
    memoryMb: c.memoryMb,
    recordsPerInvocation,
    invocationsPerSecond: recordsPerSecond > 0 ? recordsPerSecond / recordsPerInvocation : 0,
    billedMs: Math.ceil(baseMs + extraMs + perRecordMs * recordsPerInvocation),
    batchesPerLaneMinute: perLane > 0 ? (60 * perLane) / recordsPerInvocation : 0,
  };
}

/** A consumer's billed time per invocation and per record: its own figures in the price book, or the defaults. */
export function consumerDuration(fn: string, p: Params): { baseMs: number; perRecordMs: number; own: boolean } {
  const figures = p as Partial<Record<string, number>>;
  const baseMs = figures[`${fn}BaseMs`];
  const perRecordMs = figures[`${fn}PerRecordMs`];
  if (baseMs !== undefined && perRecordMs !== undefined) return { baseMs, perRecordMs, own: true };
  return { baseMs: p.consumerDefaultBaseMs, perRecordMs: p.consumerDefaultPerRecordMs, own: false };
}

/**
 * Writes per (device, metric, minute) bucket: at most one per reading, and at most one per batch (or per tumbling
 * window) that holds one of the device's readings; `planned` is the target of about one a minute.
 */
export function bucketWritesPerMinute(input: CostInput, design: CostDesign, t: Traffic, p: Params): number {
  const perReading = t.readingsPerDeviceMinute;
  if (input.metricsWrites === 'planned') return Math.min(perReading, p.metricsWritesPerBucketMinute);
  const spec = design.consumers.find((c) => c.function === 'deviceMetrics');
  const load = t.consumers.find((c) => c.function === 'deviceMetrics');
  if (!spec || !load) return 0;
  const perWindow = spec.tumblingWindowSeconds
    ? Math.max(1, 60 / spec.tumblingWindowSeconds)
    : load.batchesPerLaneMinute;
  return Math.min(perReading, perWindow);
}

/**
 * Mean write units of a bucket update: the item grows by one id per reading through its minute and each update is
 * charged on the larger (later) image, so the k-th of w writes carries k/w of the minute's ids.
 */
export function bucketWriteUnits(writesPerMinute: number, readingsPerDeviceMinute: number, p: Params): number {
  const writes = Math.max(1, Math.round(writesPerMinute));
  const ids = Math.max(1, readingsPerDeviceMinute);
  let units = 0;
  for (let k = 1; k <= writes; k++)
    units += Math.ceil((p.metricsItemBaseBytes + (p.metricsIdBytes * ids * k) / writes) / p.dynamodbWriteUnitBytes);
  return units / writes;
}

/** Billed bytes of a record rounded up to a billing unit (1 KB Kinesis on-demand, 5 KB Firehose and IoT). */
export const billedBytes = ceilTo;
