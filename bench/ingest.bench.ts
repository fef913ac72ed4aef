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
import { KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
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

    // Baseline 1: raw PutRecords into the same engine, same batch size and payload.
    let t0 = performance.now();
    await pool(batches, CONCURRENCY, async (b) => {
      await kinesis.send(
        new PutRecordsCommand({
          StreamName: info.resources.eventStream,
          Records: Array.from({ length: BATCH }, (_, i) => ({
            PartitionKey: `baseline-${i % 16}`,
            Data: Buffer.from(JSON.stringify({ id: crypto.randomUUID(), ...event(b * BATCH + i, 'baseline') })),
          })),
        }),
      );
    });
    const rawPutPerSec = EVENTS / ((performance.now() - t0) / 1000);
    log(`baseline: raw PutRecords ${rawPutPerSec.toFixed(0)} records/s`);

    // System: POST /events through the gateway, authorizer and ingest function.
    const latencies: number[] = [];
    t0 = performance.now();
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
    const httpPerSec = EVENTS / ((performance.now() - t0) / 1000);
    latencies.sort((a, b) => a - b);
    log(`system: HTTP ingest ${httpPerSec.toFixed(0)} events/s (batch p50 ${percentile(latencies, 50).toFixed(0)} ms)`);

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

    // Baseline 2: raw conditional puts into the events table, as many as the consumers have to store.
    t0 = performance.now();
    await pool(
      Array.from({ length: 2000 }, (_, i) => i),
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
    const rawDynamoPerSec = 2000 / ((performance.now() - t0) / 1000);

    // Fan-out: how long until the store consumer has caught up with everything written above.
    const statsOf = async () =>
      (await (await fetch(`${info.control}/stats`)).json()) as {
        pollers: { function: string; recordsProcessed: number }[];
      };
    const expected = EVENTS * 2 + 200;
    t0 = performance.now();
    const startCount = (await statsOf()).pollers.find((p) => p.function === 'storeEvents')?.recordsProcessed ?? 0;
    let processed = startCount;
    while (processed < expected && performance.now() - t0 < 300_000) {
      await new Promise((r) => setTimeout(r, 250));
      processed = (await statsOf()).pollers.find((p) => p.function === 'storeEvents')?.recordsProcessed ?? 0;
    }
    const drainSeconds = (performance.now() - t0) / 1000;
    const storePerSec = (processed - startCount) / Math.max(drainSeconds, 0.001);
    log(
      `system: store consumer drained at ${storePerSec.toFixed(0)} records/s after ingest (baseline raw puts ${rawDynamoPerSec.toFixed(0)}/s)`,
    );

    const pids = [info.pid, ...Object.values(info.engines).map((e) => e.pid ?? 0)].filter((p) => p > 0);
    const memory = rssMb(pids);
    const report = {
      events: EVENTS,
      httpIngestPerSec: Math.round(httpPerSec),
      rawPutRecordsPerSec: Math.round(rawPutPerSec),
      httpVsRawPutRatio: Number((httpPerSec / rawPutPerSec).toFixed(3)),
      singlePostLatencyMs: { p50: percentile(single, 50), p95: percentile(single, 95), p99: percentile(single, 99) },
      storeConsumerPerSec: Math.round(storePerSec),
      rawConditionalPutsPerSec: Math.round(rawDynamoPerSec),
      storeVsRawPutRatio: Number((storePerSec / rawDynamoPerSec).toFixed(3)),
      rssMb: memory,
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
