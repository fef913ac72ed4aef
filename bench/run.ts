/**
 * `npm run bench`: the performance suite of the ingestion boundary, on this machine. Every figure is reported next
 * to a baseline measured side by side in the same run, with their ratio and what limits the figure, in
 * `bench/results.json` and in the block between the bench markers of `docs/performance.md`.
 *
 * Steps (BENCH_ONLY=<step>[,<step>] runs some; BENCH_QUICK=1 is a ~1 minute smoke run):
 *   ingest      2. the ingest handler's own CPU per event (in-process, Kinesis answered at once)
 *   coldstart   4. cold start and bundle size of each handler (bundled as the local stack bundles them)
 *   authorizer  1. authorizer decision p50/p99: cached, uncached (API key lookup), JWT (in-process)
 *   consumers   3. AWS calls per 1,000 records of each stream consumer vs the minimum (in-process)
 *   throughput  5. HTTP ingest and store rates vs the engines' raw rates, drain times (end to end)
 *   latency     6. send→stored and reading→alert at 100/s and 1,000/s, exactly-once checks (end to end)
 *   memory      7. RSS of the stack and its engines
 *   websocket   8. WebSocket accepted→delivered at 1,000/s to 100 subscribers, a stalled subscriber (end to end)
 * A full run of every step writes bench/results.json and the docs block; other runs write a temp file and leave
 * both alone unless BENCH_WRITE=1. Progress goes to stderr; the last stdout line is one JSON object. The exit code
 * is non-zero when a step failed or a check (loss, duplicates, missing alerts) did not hold.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import type { BenchContext } from './lib/context';
import {
  cpuTicks,
  formatJson,
  gitState,
  machine,
  markdownBlock,
  type ResultsDocument,
  stealPercent,
  updateDocsBlock,
} from './lib/report';
import { type BenchStack, rssMb, stackProcesses, startStack } from './lib/stack';
import { errorMessage, progress } from './lib/util';
import { authorizerStep } from './scenarios/authorizer';
import { coldStartStep } from './scenarios/cold-start';
import { consumerCallsStep } from './scenarios/consumer-calls';
import { ingestCostStep } from './scenarios/ingest-cost';
import { latencyStep } from './scenarios/latency';
import { memoryStep } from './scenarios/memory';
import { throughputStep } from './scenarios/throughput';
import { websocketStep } from './scenarios/websocket';

// The SDK's notice about Node 20 is for this host, not news about the bench (as in scripts/tem.mjs).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const ALL_STEPS = [
  'ingest',
  'coldstart',
  'authorizer',
  'consumers',
  'throughput',
  'latency',
  'memory',
  'websocket',
] as const;
type Step = (typeof ALL_STEPS)[number];
// Every step but the in-process ingest one starts the local stack.
const STACK_STEPS: readonly Step[] = ALL_STEPS.filter((step) => step !== 'ingest');

function selectedSteps(): Step[] {
  const raw = (process.env.BENCH_ONLY ?? '').trim();
  if (raw === '') return [...ALL_STEPS];
  const wanted = raw.split(',').map((s) => s.trim());
  const unknown = wanted.filter((s) => !(ALL_STEPS as readonly string[]).includes(s));
  if (unknown.length > 0)
    throw new Error(`BENCH_ONLY: unknown step(s) ${unknown.join(', ')}; steps: ${ALL_STEPS.join(', ')}`);
  return ALL_STEPS.filter((s) => wanted.includes(s));
}

async function main(): Promise<number> {
  const started = performance.now();
  const quick = process.env.BENCH_QUICK === '1';
  const steps = selectedSteps();
  const complete = !quick && steps.length === ALL_STEPS.length;
  const write = complete || process.env.BENCH_WRITE === '1';
  const resultsFile = write ? path.resolve('bench/results.json') : path.join(tmpdir(), 'tem-bench-results.json');
  const docsFile = path.resolve('docs/performance.md');
  const ctx: BenchContext = {
    quick,
    run: randomBytes(3).toString('hex'),
    logLevel: process.env.BENCH_LOG_LEVEL ?? 'INFO',
    stack: undefined,
    figures: [],
    checks: [],
    details: {},
    settings: {},
  };
  ctx.settings = { quick, steps, functionLogLevel: ctx.logLevel, run: ctx.run };
  const host = machine();
  const ticksAtStart = cpuTicks();
  progress(
    `TelemetryEventMesh bench (${quick ? 'quick' : 'full'}): ${steps.join(', ')} on ${host.cpuModel}, ${host.cores} cores, Node ${host.nodeVersion}, load ${host.loadAverageAtStart.join(' ')}`,
  );
  const failures: string[] = [];
  let stack: BenchStack | undefined;
  let rssAtStart = new Map<number, number>();
  const stopStack = async () => {
    if (stack) await stack.stop().catch(() => {});
  };
  const onSignal = (signal: NodeJS.Signals) => {
    progress(`${signal}: stopping the stack`);
    void stopStack().then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  // Whatever ends this process, the stack it started goes with it (it stops its engines on SIGTERM).
  process.once('exit', () => {
    if (stack?.child.exitCode === null) stack.child.kill('SIGTERM');
  });

  const runStep = async (step: Step, work: () => Promise<void> | void) => {
    if (!steps.includes(step)) return;
    const t0 = performance.now();
    try {
      await work();
      progress(`step ${step} done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    } catch (error) {
      failures.push(`${step}: ${errorMessage(error)}`);
      progress(`step ${step} FAILED: ${errorMessage(error)}`);
    }
  };

  try {
    // Without the stack first, on a quiet machine.
    await runStep('ingest', () => ingestCostStep(ctx));
    if (steps.some((s) => STACK_STEPS.includes(s))) {
      progress('starting the local stack (tem local, free ports, its own state dir)');
      stack = await startStack(ctx.logLevel);
      ctx.stack = stack;
      rssAtStart = rssMb(stackProcesses(stack.info).map((p) => p.pid));
      progress(
        `stack ready in ${stack.startSeconds.toFixed(1)} s: ${Object.entries(stack.info.engines)
          .map(([s, e]) => `${s}=${e.engine}`)
          .join(', ')}`,
      );
    }
    await runStep('coldstart', () => coldStartStep(ctx));
    await runStep('authorizer', () => authorizerStep(ctx));
    await runStep('consumers', () => consumerCallsStep(ctx));
    await runStep('throughput', () => throughputStep(ctx));
    await runStep('latency', () => latencyStep(ctx));
    await runStep('memory', () => memoryStep(ctx, rssAtStart));
    // Last: its 100 connections and their load come after the memory figures, which stay those of the suite above.
    await runStep('websocket', () => websocketStep(ctx));
  } catch (error) {
    failures.push(errorMessage(error));
    progress(`bench FAILED: ${errorMessage(error)}`);
  } finally {
    await stopStack();
  }

  const doc: ResultsDocument = {
    benchmark: 'TelemetryEventMesh npm run bench',
    date: new Date().toISOString(),
    mode: quick ? 'quick' : 'full',
    steps,
    durationSeconds: Math.round((performance.now() - started) / 1000),
    machine: {
      ...host,
      loadAverageAtEnd: os.loadavg().map((l) => Math.round(l * 100) / 100),
      cpuStealPercent: stealPercent(ticksAtStart, cpuTicks()),
    },
    git: gitState(),
    engines: stack
      ? Object.fromEntries(Object.entries(stack.info.engines).map(([service, e]) => [service, e.engine]))
      : {},
    settings: { ...ctx.settings, stackStartSeconds: stack ? Math.round(stack.startSeconds * 10) / 10 : undefined },
    figures: ctx.figures,
    checks: ctx.checks,
    failures,
    details: ctx.details,
  };
  writeFileSync(resultsFile, formatJson(doc));
  progress(`results: ${resultsFile}`);
  if (write) {
    try {
      progress(`docs: ${updateDocsBlock(docsFile, markdownBlock(doc))} in ${path.relative(process.cwd(), docsFile)}`);
    } catch (error) {
      failures.push(`docs: ${errorMessage(error)}`);
      progress(`docs NOT updated: ${errorMessage(error)}`);
    }
  } else progress(`docs/performance.md left alone (${quick ? 'quick' : 'partial'} run; BENCH_WRITE=1 writes it)`);

  const failedChecks = ctx.checks.filter((c) => !c.ok && !c.unverified);
  for (const c of failedChecks) progress(`CHECK FAILED: ${c.name}: ${c.detail}`);
  for (const c of ctx.checks.filter((k) => k.unverified)) progress(`CHECK NOT VERIFIED: ${c.name}: ${c.detail}`);
  for (const f of failures) progress(`FAILED: ${f}`);
  process.stdout.write(
    `${JSON.stringify({
      results: resultsFile,
      figures: ctx.figures.length,
      failedChecks: failedChecks.map((c) => c.name),
      failures,
      seconds: doc.durationSeconds,
    })}\n`,
  );
  return failures.length > 0 || failedChecks.length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    progress(`bench failed: ${errorMessage(error)}`);
    process.exit(1);
  },
);
