import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleFunctions } from '../../infra/local/function-host';
import { type FunctionName, type FunctionSpec, topology } from '../../infra/topology';
import { type BenchContext, needStack } from '../lib/context';
import { baseEnv, functionEnv } from '../lib/function-env';
import { median, progress, round } from '../lib/util';

/**
 * Step 4: cold start of each bundled handler. Bundled with the local stack's own esbuild settings
 * (`bundleFunctions`), then, per run, a fresh `node` process with the function's environment imports the bundle and
 * checks it exports a handler: process start → handler ready, as the parent sees it. Runs are interleaved across
 * functions (so drift hits all alike); the median is reported. Baseline: an empty handler bundled the same way.
 */
const RUNNER = `
const t0 = performance.now();
const mod = await import(process.env.BENCH_BUNDLE);
if (typeof mod.handler !== 'function') throw new Error('no handler export');
const ready = performance.now();
process.send({ importMs: ready - t0, sinceProcessStartMs: ready }, () => process.exit(0));
`;

function coldStartOnce(bundle: string, env: Record<string, string>): Promise<{ wallMs: number; importMs: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, ['--input-type=module', '-e', RUNNER], {
      env: { ...env, BENCH_BUNDLE: bundle },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    let stderr = '';
    let done = false;
    child.stderr?.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.on('message', (m: { importMs: number }) => {
      done = true;
      resolve({ wallMs: performance.now() - t0, importMs: m.importMs });
    });
    child.on('exit', (code) => {
      if (!done) reject(new Error(`cold start of ${bundle} failed (${code}): ${stderr.slice(-1000)}`));
    });
  });
}

export async function coldStartStep(ctx: BenchContext): Promise<void> {
  const { info } = needStack(ctx);
  const dir = mkdtempSync(path.join(tmpdir(), 'tem-bench-bundles-'));
  try {
    const EMPTY = 'benchEmptyHandler';
    const specs = {
      ...topology.functions,
      [EMPTY]: {
        entry: 'bench/lib/empty-handler.ts',
        description: 'baseline',
        memoryMb: 128,
        timeoutSeconds: 3,
        bindings: [],
      },
    } as unknown as Record<FunctionName, FunctionSpec>;
    const t0 = performance.now();
    const bundles = await bundleFunctions(specs, dir);
    const bundleSeconds = (performance.now() - t0) / 1000;
    const names = Object.keys(bundles) as string[];
    const runs = ctx.quick ? 2 : 5;
    progress(`step 4 cold start: bundled ${names.length} handlers in ${bundleSeconds.toFixed(1)} s; ${runs} runs each`);
    const envOf = (name: string) =>
      name === EMPTY
        ? { ...baseEnv(), AWS_REGION: info.region }
        : { ...baseEnv(), ...functionEnv(info, name as FunctionName, { logLevel: ctx.logLevel }) };
    const samples = new Map<string, { wallMs: number[]; importMs: number[] }>(
      names.map((n) => [n, { wallMs: [], importMs: [] }]),
    );
    for (let r = 0; r < runs; r++) {
      for (const name of names) {
        const s = await coldStartOnce(bundles[name as FunctionName], envOf(name));
        samples.get(name)?.wallMs.push(s.wallMs);
        samples.get(name)?.importMs.push(s.importMs);
      }
      progress(`step 4 cold start: run ${r + 1}/${runs} of ${names.length} handlers`);
    }
    const sizeOf = (name: string) => statSync(fileURLToPath(bundles[name as FunctionName])).size;
    const base = samples.get(EMPTY) as { wallMs: number[]; importMs: number[] };
    const baseWall = median(base.wallMs);
    const baseImport = median(base.importMs);
    const table: Record<string, unknown> = {};
    const walls: number[] = [];
    let largest = { name: '', bytes: 0 };
    for (const name of names) {
      const s = samples.get(name) as { wallMs: number[]; importMs: number[] };
      table[name] = {
        wallMs: s.wallMs.map((v) => round(v)),
        importMs: s.importMs.map((v) => round(v)),
        bytes: sizeOf(name),
      };
      if (name === EMPTY) continue;
      const wall = median(s.wallMs);
      const imp = median(s.importMs);
      walls.push(wall);
      if (sizeOf(name) > largest.bytes) largest = { name, bytes: sizeOf(name) };
      // One row per handler in the cold-start table of the docs block.
      ctx.figures.push({
        id: `coldstart.${name}`,
        step: '4',
        table: 'coldstart',
        name,
        value: round(wall),
        unit: 'ms',
        display: `${round(wall)} ms`,
        baseline: { name: 'empty handler', value: round(baseWall), unit: 'ms' },
        ratio: round(wall / baseWall, 3),
        better: 'lower',
        limitedBy: `import ${round(imp)} ms (empty: ${round(baseImport)} ms); bundle ${sizeOf(name).toLocaleString('en-US')} B`,
      });
    }
    const all = median(walls);
    ctx.figures.push({
      id: 'coldstart.median',
      step: '4',
      name: `cold start, process start → handler ready (median of ${names.length - 1} handlers, ${runs} runs each)`,
      value: round(all),
      unit: 'ms',
      display: `${round(all)} ms (${round(Math.min(...walls))}–${round(Math.max(...walls))} ms; per handler below)`,
      baseline: {
        name: `empty handler bundled the same way (${sizeOf(EMPTY)} B)`,
        value: round(baseWall),
        unit: 'ms',
        display: `${round(baseWall)} ms (import ${round(baseImport)} ms)`,
      },
      ratio: round(all / baseWall, 3),
      better: 'lower',
      limitedBy: `module init: evaluating 1–2 MB bundles (AWS SDK clients, zod schemas, Powertools), largest ${largest.name} ${(largest.bytes / 1e6).toFixed(2)} MB; node's own start is the baseline`,
    });
    ctx.details.coldStart = { runs, bundleSeconds: round(bundleSeconds), byFunction: table };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
