/**
 * Step 3, inside a child process with the three consumers' environments: each handler module in-process against
 * the running stack's engines, fed synthetic KinesisStreamEvents (base64 envelopes exactly as the ingest writes
 * them) in the batches its mapping would hand it, its AWS calls counted by `awsCallCounts()`.
 */
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { type FunctionName, topology } from '../../infra/topology';
import { awsCallCounts, resetAwsCallCounts } from '../../shared/aws/call-counter';
import { childParams, childProgress, childResult } from '../lib/child';
import { mappingBatches, streamRecords, telemetryEnvelope } from '../lib/events';
import { lambdaContext } from '../lib/lambda';
import { alertsMinimum, deviceMetricsMinimum, type Minimum, storeMinimum } from '../lib/minimum-calls';

interface Params {
  run: string;
  devices: number;
  readingsPerDevice: number;
  hotDevices: number;
}

const params = childParams<Params>();

// The readings: `devices` devices, each `readingsPerDevice` readings 5 s apart within one minute, temperature and
// humidity; `hotDevices` of them once over the high-temperature threshold (a raise, then a resolve).
const minute = Math.floor(Date.now() / 60_000) * 60_000 - 60_000;
const envelopes = [];
for (let j = 0; j < params.readingsPerDevice; j++)
  for (let d = 0; d < params.devices; d++) {
    const hot = d < params.hotDevices && j === Math.floor(params.readingsPerDevice / 2);
    envelopes.push(
      telemetryEnvelope(
        `bench-calls-${params.run}-${d}`,
        j,
        { temperature: hot ? 85 : 21.5 + (j % 3) / 10, humidity: 40 + (d % 7) },
        minute + j * 5000 + d,
      ),
    );
  }
const records = streamRecords(envelopes);

const consumers: { fn: FunctionName; module: string; minimum: (b: KinesisStreamEvent[]) => Minimum }[] = [
  { fn: 'storeEvents', module: '../../functions/consumers/store-events', minimum: storeMinimum },
  { fn: 'deviceMetrics', module: '../../functions/consumers/device-metrics', minimum: deviceMetricsMinimum },
  { fn: 'alerts', module: '../../functions/consumers/alerts', minimum: alertsMinimum },
];

const results = [];
for (const consumer of consumers) {
  const { handler } = (await import(consumer.module)) as {
    handler: (
      event: KinesisStreamEvent,
      context: ReturnType<typeof lambdaContext>,
    ) => Promise<KinesisStreamBatchResponse>;
  };
  const spec = topology.streamConsumers.find((c) => c.function === consumer.fn);
  if (!spec) throw new Error(`no stream consumer runs ${consumer.fn}`);
  const batches = mappingBatches(records, spec.batchSize);
  resetAwsCallCounts();
  let failed = 0;
  const t0 = performance.now();
  for (const batch of batches) {
    const response = await handler(
      batch,
      lambdaContext(`tem-${consumer.fn}`, topology.functions[consumer.fn].timeoutSeconds),
    );
    failed += response?.batchItemFailures?.length ?? 0;
  }
  const ms = performance.now() - t0;
  const counts = awsCallCounts();
  const calls = Object.values(counts).reduce((s, v) => s + v, 0);
  const minimum = consumer.minimum(batches);
  const per1000 = (n: number) => (n * 1000) / records.length;
  results.push({
    function: consumer.fn,
    records: records.length,
    batches: batches.length,
    batchSize: spec.batchSize,
    failedRecords: failed,
    calls,
    byOperation: counts,
    callsPer1000: per1000(calls),
    minimumPer1000: per1000(minimum.total),
    minimumByCommand: minimum.byCommand,
    minimumRule: minimum.rule,
    ratio: calls / minimum.total,
    wallMs: ms,
  });
  childProgress(
    `consumer calls: ${consumer.fn}: ${calls} AWS calls for ${records.length} records (minimum ${minimum.total}) in ${Math.round(ms)} ms`,
  );
}
await childResult({
  shape: `${records.length} readings of ${params.devices} devices x 2 metrics in one minute, ${params.hotDevices} devices over the threshold once`,
  consumers: results,
});
