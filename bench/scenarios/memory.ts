import { type BenchContext, needStack } from '../lib/context';
import { rssMb, stackProcesses, stackStats } from '../lib/stack';

/** Step 7: resident memory of the stack and its engines now, against the same processes right after start. */
export async function memoryStep(ctx: BenchContext, atStart: Map<number, number>): Promise<void> {
  const { info } = needStack(ctx);
  const procs = stackProcesses(info);
  const stats = await stackStats(info).catch(() => undefined);
  const containers = Object.values(stats?.functions ?? {}).reduce((n, f) => n + f.coldStarts, 0);
  const now = rssMb(procs.map((p) => p.pid));
  const total = (m: Map<number, number>) => procs.reduce((s, p) => s + (m.get(p.pid) ?? 0), 0);
  const byProcess = procs.map((p) => ({
    process: p.name,
    pid: p.pid,
    startMb: atStart.get(p.pid),
    endMb: now.get(p.pid),
  }));
  ctx.details.memory = byProcess;
  // Processes of one name add up (DynamoDB's engines of one table each, ADR 0017).
  const byName = new Map<string, { mb: number; count: number }>();
  for (const p of byProcess) {
    const name = p.process.replace(/ \(.*$/, '').replace('tem local', 'stack');
    const entry = byName.get(name) ?? { mb: 0, count: 0 };
    byName.set(name, { mb: entry.mb + (p.endMb ?? 0), count: entry.count + 1 });
  }
  const parts = [...byName].map(
    ([name, { mb, count }]) => `${name} ${Math.round(mb)} MB${count > 1 ? ` in ${count} processes` : ''}`,
  );
  ctx.figures.push({
    id: 'memory.rss',
    step: '7',
    name: 'RSS of the stack and its engines at the end',
    value: total(now),
    unit: 'MB',
    display: `${total(now)} MB (${parts.join(', ')})`,
    baseline: { name: 'the same processes right after start', value: total(atStart), unit: 'MB' },
    ratio: Math.round((total(now) / total(atStart)) * 100) / 100,
    better: 'lower',
    limitedBy: `design: one worker thread per container (${containers} started, up to 4 per function, each with its own V8 heap and module instances) in the stack process; the engines (${Object.values(
      info.engines,
    )
      .map((e) => e.engine)
      .join(', ')}) hold their data`,
  });
}
