/**
 * `npm run bench`: throughput and latency of the ingestion path on this machine, each reported as a ratio to a
 * baseline measured side by side in the same run (so a slower or faster machine does not change the verdict):
 * - HTTP ingest (gateway -> authorizer -> ingest -> Kinesis) vs. raw PutRecords into the same Kinesis engine;
 * - stream fan-out (Kinesis -> 3 consumers -> DynamoDB) vs. the same number of raw conditional puts;
 * - memory: resident set of the stack process and its engines.
 * Nothing here is asserted: numbers are printed, and the last stdout line is one JSON object.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  KinesisClient,
  PutRecordsCommand,
} from '@aws-sdk/client-kinesis';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { LocalStackInfo } from '../infra/local/stack';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 10_000);
const BATCH = 500;
const CONCURRENCY = 4;
const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };

const log = (line: string) => process.stderr.write(`${line}\n`);

async function startStack(): Promise<{ child: ChildProcess; info: LocalStackInfo; dir: string }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'tem-bench-'));
  const child = spawn(process.execPath, ['scripts/tem.mjs', 'local'], {
    env: { ...process.env, PORT: '0', MQTT_PORT: '0', TEM_STATE_DIR: dir, TEM_QUIET: '1', TEM_LOG_LEVEL: 'WARN' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('"ready":true')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`stack exited with ${code}`)));
  });
  return { child, dir, info: JSON.parse(readFileSync(path.join(dir, 'local.json'), 'utf8')) as LocalStackInfo };
}

function event(i: number, run: string) {
  return { type: 'bench.event', source: `bench-${i % 16}`, data: { run, i, payload: 'x'.repeat(200) } };
}

async function pool<T>(items: T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await work(items[next++] as T);
    }),
  );
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;

function rssMb(pids: number[]): number {
  const out = execFileSync('ps', ['-o', 'rss=', '-p', pids.join(',')], { encoding: 'utf8' });
  return Math.round(out.split('\n').reduce((sum, l) => sum + (Number(l.trim()) || 0), 0) / 1024);
}

async function main() {
  const { child, info, dir } = await startStack();
  try {
    const kinesis = new KinesisClient({
      region: info.region,
      credentials,
      endpoint: info.endpoints.kinesis,
      requestHandler: new NodeHttpHandler(),
    });
    const dynamo = DynamoDBDocumentClient.from(
      new DynamoDBClient({ region: info.region, credentials, endpoint: info.endpoints.dynamodb }),
    );
    const batches = Array.from({ length: Math.ceil(EVENTS / BATCH) }, (_, b) => b);

    // Baseline 1: raw PutRecords into the same engine, same batch size and payload, on a stream of its own (the
    // consumers never see these records).
    const baselineStream = 'tem-bench-baseline';
    await kinesis.send(new CreateStreamCommand({ StreamName: baselineStream, ShardCount: 2 }));
    for (;;) {
      const { StreamDescriptionSummary } = await kinesis.send(
        new DescribeStreamSummaryCommand({ StreamName: baselineStream }),
      );
      if (StreamDescriptionSummary?.StreamStatus === 'ACTIVE') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    let t0 = performance.now();
    await pool(batches, CONCURRENCY, async (b) => {
      await kinesis.send(
        new PutRecordsCommand({
          StreamName: baselineStream,
          Records: Array.from({ length: BATCH }, (_, i) => ({
            PartitionKey: `baseline-${i % 16}`,
            Data: Buffer.from(JSON.stringify({ id: crypto.randomUUID(), ...event(b * BATCH + i, 'baseline') })),
          })),
        }),
      );
    });
    const rawPutPerSec = EVENTS / ((performance.now() - t0) / 1000);
    log(`baseline: raw PutRecords ${rawPutPerSec.toFixed(0)} records/s`);

    // Baseline 2: raw conditional puts into the events table, the write the store consumer makes per event.
    const PUTS = 2000;
    t0 = performance.now();
    await pool(
      Array.from({ length: PUTS }, (_, i) => i),
      CONCURRENCY * 4,
      async (i) => {
        await dynamo.send(
          new PutCommand({
            TableName: info.resources.eventsTable,
            Item: { id: `baseline-${i}-${crypto.randomUUID()}`, type: 'bench.baseline', source: 'b', timeKey: `${i}` },
            ConditionExpression: 'attribute_not_exists(id)',
          }),
        );
      },
    );
    const rawDynamoPerSec = PUTS / ((performance.now() - t0) / 1000);
    log(`baseline: raw conditional puts ${rawDynamoPerSec.toFixed(0)}/s`);

    const stats = async () =>
      (await (await fetch(`${info.control}/stats`)).json()) as {
        pollers: { function: string; recordsProcessed: number }[];
      };
    const stored = async () => (await stats()).pollers.find((p) => p.function === 'storeEvents')?.recordsProcessed ?? 0;
    const storedBefore = await stored();

    // System: POST /events through the gateway, authorizer and ingest function.
    const latencies: number[] = [];
    const ingestStart = performance.now();
    await pool(batches, CONCURRENCY, async (b) => {
      const started = performance.now();
      const response = await fetch(`${info.http}/events`, {
        method: 'POST',
        headers: { 'X-API-Key': info.devApiKey, 'content-type': 'application/json' },
        body: JSON.stringify({ events: Array.from({ length: BATCH }, (_, i) => event(b * BATCH + i, 'http')) }),
      });
      if (response.status !== 202)
        throw new Error(`POST /events answered ${response.status}: ${await response.text()}`);
      latencies.push(performance.now() - started);
    });
    const httpPerSec = EVENTS / ((performance.now() - ingestStart) / 1000);
    latencies.sort((a, b) => a - b);
    log(
      `system: HTTP ingest ${httpPerSec.toFixed(0)} events/s (batch of ${BATCH} p50 ${percentile(latencies, 50).toFixed(0)} ms)`,
    );

    // Fan-out: from the first POST until the store consumer has stored them all (Kinesis -> Lambda -> DynamoDB).
    let processed = await stored();
    while (processed - storedBefore < EVENTS && performance.now() - ingestStart < 600_000) {
      await new Promise((r) => setTimeout(r, 200));
      processed = await stored();
    }
    const pipelineSeconds = (performance.now() - ingestStart) / 1000;
    const storePerSec = (processed - storedBefore) / pipelineSeconds;
    log(
      `system: POST -> stored for ${processed - storedBefore} events in ${pipelineSeconds.toFixed(1)} s = ${storePerSec.toFixed(0)}/s`,
    );

    // Single-event latency, the producer's view of one POST.
    const single: number[] = [];
    for (let i = 0; i < 200; i++) {
      const started = performance.now();
      await fetch(`${info.http}/events`, {
        method: 'POST',
        headers: { 'X-API-Key': info.devApiKey, 'content-type': 'application/json' },
        body: JSON.stringify(event(i, 'single')),
      });
      single.push(performance.now() - started);
    }
    single.sort((a, b) => a - b);

    const pids = [info.pid, ...Object.values(info.engines).map((e) => e.pid ?? 0)].filter((p) => p > 0);
    const round = (n: number) => Number(n.toFixed(1));
    const report = {
      events: EVENTS,
      httpIngestPerSec: Math.round(httpPerSec),
      rawPutRecordsPerSec: Math.round(rawPutPerSec),
      httpVsRawPutRatio: Number((httpPerSec / rawPutPerSec).toFixed(3)),
      singlePostLatencyMs: {
        p50: round(percentile(single, 50)),
        p95: round(percentile(single, 95)),
        p99: round(percentile(single, 99)),
      },
      pipelineSeconds: round(pipelineSeconds),
      storedPerSec: Math.round(storePerSec),
      rawConditionalPutsPerSec: Math.round(rawDynamoPerSec),
      storedVsRawPutRatio: Number((storePerSec / rawDynamoPerSec).toFixed(3)),
      rssMb: rssMb(pids),
    };
    process.stdout.write(`${JSON.stringify(report)}\n`);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  log(`bench failed: ${(error as Error).message}`);
  process.exit(1);
});
