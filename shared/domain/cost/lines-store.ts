import type { Counts, Ctx } from './lines-ingest';
import { round } from './lines-ingest';
import type { PriceId } from './prices';
import { billedBytes, bucketWritesPerMinute, bucketWriteUnits, GB } from './traffic';

/**
 * DynamoDB (events once per id and per index, metric buckets, the registry, alert states; reads; storage with
 * point-in-time recovery), Firehose and S3 when raw readings go there, and the SQS queues. Returns the bucket writes
 * per minute it priced.
 */
export function storeLines(ctx: Ctx, c: Counts): number {
  const { input, design, p, t, S, add } = ctx;
  const ddb = (item: string, quantity: number, unit: string, priceId: PriceId) =>
    add('DynamoDB', item, quantity, unit, priceId);
  const wu = (bytes: number) => Math.ceil(bytes / p.dynamodbWriteUnitBytes);
  const copies = 1 + design.eventsTableIndexes;
  const wru = 'dynamodbWriteRequestUnit';
  ddb(
    `business events stored (${copies} writes each: table + indexes)`,
    c.httpRecords * wu(p.httpEventItemBytes) * copies,
    'WRU',
    wru,
  );
  const readingCopies = 1 + design.readingIndexes;
  if (input.rawReadings !== 'firehose')
    ddb(
      `raw readings stored (${readingCopies} writes each: table + the indexes that hold them)`,
      c.readings * wu(p.readingItemBytes) * readingCopies,
      'WRU',
      wru,
    );
  const perMinute = bucketWritesPerMinute(input, design, t, p);
  const bucketUnits = bucketWriteUnits(perMinute, t.readingsPerDeviceMinute, p);
  const bucketWrites = input.devices * p.metricsPerReading * t.minutesPerMonth * perMinute;
  ddb(
    `metric buckets: ${round(perMinute)} writes/min × ${round(bucketUnits)} WRU`,
    bucketWrites * bucketUnits,
    'WRU',
    wru,
  );
  ddb('device registry updates', input.devices * t.minutesPerMonth * perMinute * wu(p.registryItemBytes), 'WRU', wru);
  const alertWrites = wu(p.alertStateItemBytes) + wu(p.alertItemBytes) * (1 + design.alertsTableIndexes);
  ddb('alert state and alert items', c.transitions * alertWrites, 'WRU', wru);

  const alerts = t.consumers.find((l) => l.function === 'alerts');
  if (alerts && input.alertStateReads === 'cached')
    ddb('alerts shard claims (one write per batch, ADR 0007)', alerts.invocationsPerSecond * S, 'WRU', wru);
  if (alerts && input.alertStateReads === 'perBatch') {
    // Distinct devices per batch: the batch's readings, at most the devices of its shard.
    const deviceShare = t.streamRecordsPerSecond > 0 ? t.messagesPerSecond / t.streamRecordsPerSecond : 0;
    const devicesPerBatch = Math.min(alerts.recordsPerInvocation * deviceShare, input.devices / t.shards);
    const keys = alerts.invocationsPerSecond * S * devicesPerBatch * design.alertRules;
    ddb(
      `alert rule states read per batch (${design.alertRules} rules, strongly consistent)`,
      keys * Math.ceil(p.alertStateItemBytes / p.dynamodbReadUnitBytes),
      'RRU',
      'dynamodbReadRequestUnit',
    );
  }
  // Misses read KEY# and PRINCIPAL#; each warm container reads the epoch; a device authorization two items.
  const epochReads = c.apiRequests > 0 ? (p.authorizerWarmContainers / design.authEpochCheckSeconds) * S : 0;
  const gets =
    c.apiRequests * (1 - p.authorizerCacheHitRatio) * p.authorizerReadsPerMiss +
    epochReads +
    c.deviceAuthorizerInvocations * 2;
  ddb('authorizer reads (eventually consistent)', gets * 0.5, 'RRU', 'dynamodbReadRequestUnit');
  ddb('query API reads', p.queryReadUnitsPerSecond * S, 'RRU', 'dynamodbReadRequestUnit');
  const storageGb = tableStorageGb(ctx);
  ddb('storage (all tables and indexes)', storageGb, 'GB-month', 'dynamodbStorageGbMonth');
  ddb('point-in-time recovery', storageGb, 'GB-month', 'dynamodbPitrGbMonth');

  if (input.rawReadings !== 'dynamodb') {
    const kb5 = (b: number) => billedBytes(b, p.firehoseRecordRoundingBytes);
    const store = t.consumers.find((l) => l.function === 'storeEvents');
    // From the stream: every record, each billed as at least 5 KB. Packed: one record per store batch of readings.
    const readingsPerBatch =
      (t.readingsPerSecond / Math.max(1, t.streamRecordsPerSecond)) * (store?.recordsPerInvocation ?? 1);
    const gb =
      input.firehoseSource === 'stream'
        ? (c.httpRecords * kb5(p.httpEventRecordBytes) + c.messages * kb5(t.readingRecordBytes)) / GB
        : ((store?.invocationsPerSecond ?? 0) * S * kb5(readingsPerBatch * p.archiveLineBytes)) / GB;
    const how =
      input.firehoseSource === 'stream' ? 'from the stream (records rounded to 5 KB)' : 'packed per store batch';
    add('Firehose', `ingestion ${how}`, gb, 'GB', 'firehoseIngestGb');
    const parquet = input.archiveFormat === 'parquet';
    if (parquet) add('Firehose', 'conversion to Parquet', gb, 'GB', 'firehoseFormatConversionGb');
    // Held for the archive's retention; kept forever, as after the storage horizon.
    const days = design.archiveRetentionDays ?? t.daysPerMonth * p.storageHorizonMonths;
    const ratio = parquet ? p.parquetBytesRatio : p.gzipJsonBytesRatio;
    // Stored as written: Parquet from the stream's records, gzipped JSON from the archive's lines.
    const bytes = parquet ? p.readingRecordBytes : p.archiveLineBytes;
    const archiveGb = (t.readingsPerSecond * 86_400 * days * bytes * ratio) / GB;
    const format = parquet ? 'Parquet' : 'gzipped JSON lines';
    add('S3', `raw readings as ${format}, ${round(days)} days`, archiveGb, 'GB-month', 's3StandardGbMonth');
    const bufferSeconds = design.archiveBufferSeconds ?? p.firehoseBufferSeconds;
    add('S3', `objects written (one per ${bufferSeconds} s buffer)`, S / bufferSeconds, 'PUT', 's3PutRequest');
  }
  add('SQS', 'alerts queue sends', c.transitions, 'request', 'sqsRequest');
  add('SQS', 'telemetryErrors sends', c.readings * p.invalidReadingShare, 'request', 'sqsRequest');
  return perMinute;
}

/** CloudWatch logs, metrics, alarms and dashboards; X-Ray traces under the default sampling rule. */
export function observabilityLines({ design, p, t, S, add }: Ctx, c: Counts): void {
  const invocations = c.functions.reduce((sum, f) => sum + f.invocations, 0);
  const logGb = (invocations * p.lambdaLogBytesPerInvocation + c.apiRequests * p.apiLogBytesPerRequest) / GB;
  const metrics = p.emfMetricNames + design.routes * p.apiMetricsPerMethod + design.logMetricFilters;
  const cw = (item: string, quantity: number, unit: string, priceId: PriceId) =>
    add('CloudWatch', item, quantity, unit, priceId);
  cw('logs ingested', logGb, 'GB', 'cloudwatchLogsIngestGb');
  cw(
    'logs stored (compressed)',
    logGb * p.logStoredBytesRatio * p.logRetentionMonths,
    'GB-month',
    'cloudwatchLogsStorageGbMonth',
  );
  cw('custom metrics (EMF, API per-method, log filters)', metrics, 'metric', 'cloudwatchCustomMetricMonth');
  cw('alarms (from the topology)', design.alarms, 'alarm', 'cloudwatchAlarmMonth');
  cw('dashboards', p.dashboards, 'dashboard', 'cloudwatchDashboardMonth');
  const sampled = (rate: number) =>
    Math.min(rate, p.xrayReservoirPerSecond) + p.xraySampledShare * Math.max(0, rate - p.xrayReservoirPerSecond);
  const entries = [
    t.apiRequestsPerSecond,
    c.deviceAuthorizerInvocations / S,
    ...t.consumers.map((l) => l.invocationsPerSecond),
  ];
  add(
    'X-Ray',
    'traces recorded (default sampling)',
    entries.reduce((sum, r) => sum + sampled(r), 0) * S,
    'trace',
    'xrayTraceRecorded',
  );
}

/** GB held in a month: readings and events for their retention (or the horizon when kept forever), buckets, items. */
function tableStorageGb({ input, design, p, t }: Ctx): number {
  const overhead = p.dynamodbItemOverheadBytes;
  const copies = 1 + design.eventsTableIndexes;
  const heldSeconds = (days: number | null) => (days ?? t.daysPerMonth * p.storageHorizonMonths) * 86_400;
  const events =
    t.httpEventsPerSecond * heldSeconds(design.eventRetentionDays) * (p.httpEventItemBytes + overhead) * copies;
  const readings =
    input.rawReadings !== 'firehose'
      ? t.readingsPerSecond *
        heldSeconds(design.readingRetentionDays) *
        (p.readingItemBytes + overhead) *
        (1 + design.readingIndexes)
      : 0;
  // A bucket exists for each (device, metric) minute that had a reading; it ends the minute holding all their ids.
  const bucketsPerMinute = input.devices * p.metricsPerReading * Math.min(1, t.readingsPerDeviceMinute);
  const bucketBytes = p.metricsItemBaseBytes + p.metricsIdBytes * Math.max(1, t.readingsPerDeviceMinute) + overhead;
  const buckets = bucketsPerMinute * design.metricsRetentionDays * 1440 * bucketBytes;
  const registry = input.devices * (p.registryItemBytes + overhead);
  const states = input.devices * design.alertRules * (p.alertStateItemBytes + overhead);
  return (events + readings + buckets + registry + states) / GB;
}
