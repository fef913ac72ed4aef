import type { BenchStack } from '../../lib/stack';
import { stackStats } from '../../lib/stack';
import { round, sleep, summarize } from '../../lib/util';

/** What the latency step reads from the stack while a phase runs: iterator ages, invocations, stack CPU. */

/**
 * Samples the consumers' iterator age (`GET /stats`) twice a second while a phase runs, and keeps the store
 * consumer's count of records processed (how far the pipeline has got).
 */
export function iteratorAges(info: BenchStack['info']) {
  const ages: Record<string, number[]> = {};
  let running = true;
  let stored = 0;
  const loop = (async () => {
    while (running) {
      try {
        for (const p of (await stackStats(info)).pollers) {
          if (p.function === 'storeEvents') stored = p.recordsProcessed;
          if (typeof p.iteratorAgeMs === 'number') {
            const list = ages[p.function] ?? [];
            list.push(p.iteratorAgeMs);
            ages[p.function] = list;
          }
        }
      } catch {
        // the control port is busy: skip a sample
      }
      await sleep(500);
    }
  })();
  return {
    stored: () => stored,
    async stop() {
      running = false;
      await loop;
      return Object.fromEntries(Object.entries(ages).map(([fn, v]) => [fn, summarize(v)]));
    },
  };
}

/** Function invocations during a phase (`GET /stats`), per unit of load (a request, a reading). */
export async function invocationCounter(info: BenchStack['info']) {
  const count = async () => (await stackStats(info)).functions ?? {};
  const before = await count();
  return {
    async per(units: number): Promise<Record<string, number>> {
      const after = await count();
      const out: Record<string, number> = {};
      for (const [fn, f] of Object.entries(after)) {
        const n = f.invocations - (before[fn]?.invocations ?? 0);
        if (n > 0 && units > 0) out[fn] = round(n / units, 2);
      }
      return out;
    },
  };
}

/** Stack-process CPU per unit of load (ms): the cost of the gateway, broker, pollers and function workers. */
export function stackCpuMs(cpu: Record<string, number>, seconds: number, units: number): number {
  const stack = Object.entries(cpu).find(([name]) => name.startsWith('tem local'))?.[1] ?? 0;
  return round((stack * seconds * 1000) / Math.max(1, units), 2);
}

export function invocationText(per: Record<string, number>, unit: string): string {
  const parts = Object.entries(per)
    .filter(([fn]) => fn !== 'getEvent')
    .sort((a, b) => b[1] - a[1])
    .map(([fn, n]) => `${n} ${fn}`);
  return parts.length > 0 ? `invocations per ${unit}: ${parts.join(', ')}` : '';
}
