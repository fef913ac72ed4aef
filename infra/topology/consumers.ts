import type { QueueConsumerSpec, ScheduleSpec, StreamConsumerSpec } from './specs';

const consumerDefaults = {
  stream: 'eventStream',
  startingPosition: 'TRIM_HORIZON',
  parallelizationFactor: 1,
  bisectBatchOnError: true,
  // Until it succeeds or ages out: a transient failure (a table or queue unreachable, throttling) delays the shard and
  // raises its iterator age, and storage catches up by itself. Consumers park records that can never succeed.
  maxRetryAttempts: -1,
  maxRecordAgeSeconds: 24 * 3600,
  reportBatchItemFailures: true,
  onFailure: 'eventsDlq',
} as const satisfies Omit<
  StreamConsumerSpec,
  'function' | 'readMode' | 'latency' | 'batchSize' | 'maxBatchingWindowSeconds'
>;

/**
 * Latency per consumer (docs/performance.md has the budget per hop). Storing and alerting are what a user waits for:
 * pushed (enhanced fan-out) and invoked at once. Under load a batch still fills up to `batchSize` from what is
 * already in the shard, so a window of 0 costs nothing in batching when it matters. Device metrics are per-minute
 * aggregates read by people: polled, and batched for up to a minute (10,000 records, Lambda's largest Kinesis batch)
 * so one conditional write covers a device's readings of a minute, not one each (ADR 0006: writes per bucket).
 */
export const streamConsumers: readonly StreamConsumerSpec[] = [
  {
    ...consumerDefaults,
    function: 'storeEvents',
    readMode: 'enhancedFanOut',
    latency: 'realtime',
    batchSize: 500,
    maxBatchingWindowSeconds: 0,
  },
  {
    ...consumerDefaults,
    function: 'deviceMetrics',
    readMode: 'polling',
    latency: 'batch',
    batchSize: 10000,
    maxBatchingWindowSeconds: 60,
  },
  {
    ...consumerDefaults,
    function: 'alerts',
    readMode: 'enhancedFanOut',
    latency: 'realtime',
    batchSize: 500,
    maxBatchingWindowSeconds: 0,
  },
  {
    ...consumerDefaults,
    function: 'wsFanout',
    readMode: 'enhancedFanOut',
    latency: 'realtime',
    batchSize: 500,
    maxBatchingWindowSeconds: 0,
    // Live delivery is at most once (ADR 0014): an event a minute old is no longer worth pushing; a client resumes
    // with GET /events?since=... after a gap.
    maxRecordAgeSeconds: 60,
  },
];

/**
 * Readings a device had acknowledged (PUBACK) but the rule could not put on the stream (a Kinesis outage, throttling)
 * are not left in the error queue: the redrive re-applies the rule to the original payload and puts them again, so
 * "accepted means stored" holds for MQTT as for HTTP (ADR 0012).
 */
export const queueConsumers: readonly QueueConsumerSpec[] = [
  {
    queue: 'ruleErrors',
    function: 'ruleErrorsRedrive',
    batchSize: 10,
    maxConcurrency: 2,
    reportBatchItemFailures: true,
  },
];

export const schedules: readonly ScheduleSpec[] = [
  {
    function: 'wsSweep',
    rateMinutes: 1,
    purpose: 'closes idle WebSocket connections of revoked keys, which no delivery would reach (ADR 0014)',
  },
];
