import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { FunctionError, LocalFunction } from '../../infra/local/function-host';
import type { FunctionSpec } from '../../infra/topology';

/** Local "Lambda containers" with small handler modules written here: no emulator, no esbuild. */
const dir = mkdtempSync(path.join(tmpdir(), 'tem-fh-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function bundle(name: string, source: string): string {
  const file = path.join(dir, `${name}.mjs`);
  writeFileSync(file, source);
  return pathToFileURL(file).href;
}

const spec = (timeoutSeconds = 5): FunctionSpec => ({
  entry: 'x',
  description: 'x',
  memoryMb: 128,
  timeoutSeconds,
  bindings: [],
});

// Module state counts invocations in flight in this container: Lambda never runs two at once in one environment.
const counting = bundle(
  'counting',
  `let inFlight = 0; let served = 0; const container = Math.random().toString(36).slice(2);
   export const handler = async (event, context) => {
     inFlight++; served++;
     const seen = inFlight;
     await new Promise((r) => setTimeout(r, event.ms ?? 50));
     inFlight--;
     return { seen, served, container, setting: process.env.SETTING, remaining: context.getRemainingTimeInMillis() };
   };`,
);

describe('LocalFunction', () => {
  it('runs one invocation at a time per container and scales out with cold starts, up to the limit', async () => {
    const fn = new LocalFunction('counting', spec(), counting, { SETTING: 'from-env' }, () => {}, 2);
    try {
      const results = (await Promise.all(Array.from({ length: 6 }, () => fn.invoke({ ms: 100 })))) as {
        seen: number;
        container: string;
        setting: string;
        remaining: number;
      }[];
      expect(results.every((r) => r.seen === 1)).toBe(true);
      expect(new Set(results.map((r) => r.container)).size).toBe(2);
      expect(fn.coldStarts).toBe(2);
      expect(results[0]?.setting).toBe('from-env');
      expect(results[0]?.remaining).toBeGreaterThan(4000);
      // Warm: the next invocation reuses a container.
      await fn.invoke({ ms: 1 });
      expect(fn.coldStarts).toBe(2);
    } finally {
      await fn.stop();
    }
  });

  it('times out like Lambda and replaces the container', async () => {
    const fn = new LocalFunction('counting', spec(1), counting, {}, () => {}, 1);
    try {
      const error = await fn.invoke({ ms: 3000 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(FunctionError);
      expect((error as FunctionError).errorType).toBe('Sandbox.Timedout');
      const after = (await fn.invoke({ ms: 1 })) as { served: number };
      expect(after.served).toBe(1); // a fresh module instance
      expect(fn.coldStarts).toBe(2);
    } finally {
      await fn.stop();
    }
  });

  it('reports a failing cold start (e.g. a missing setting) as Runtime.InitError, and a thrown error by its name', async () => {
    const broken = bundle(
      'broken',
      `throw new Error('Missing required setting X');\nexport const handler = async () => 1;`,
    );
    const fn = new LocalFunction('broken', spec(), broken, {}, () => {}, 1);
    const failing = bundle('failing', `export const handler = async () => { throw new TypeError('bad input'); };`);
    const fn2 = new LocalFunction('failing', spec(), failing, {}, () => {}, 1);
    try {
      const error = (await fn.invoke({}).catch((e: unknown) => e)) as FunctionError;
      expect(error.errorType).toBe('Runtime.InitError');
      expect(error.errorMessage).toContain('Missing required setting X');
      const thrown = (await fn2.invoke({}).catch((e: unknown) => e)) as FunctionError;
      expect([thrown.errorType, thrown.errorMessage]).toEqual(['TypeError', 'bad input']);
    } finally {
      await fn.stop();
      await fn2.stop();
    }
  });

  it('captures the handler’s log lines', async () => {
    const lines: string[] = [];
    const logging = bundle(
      'logging',
      `export const handler = async () => { console.log('hello from the container'); return 1; };`,
    );
    const fn = new LocalFunction('logging', spec(), logging, {}, (_fn, line) => lines.push(line), 1);
    try {
      await fn.invoke({});
      await new Promise((r) => setTimeout(r, 100));
      expect(lines).toContain('hello from the container');
    } finally {
      await fn.stop();
    }
  });
});
