import type { ChildProcess } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { startStackProcess } from './global-setup';
import { enginePids, eventually } from './support';

function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A stack whose store consumer is stuck: DynamoDB down and events accepted, so its invocations keep retrying. */
async function stuckStack() {
  const started = await startStackProcess();
  const { info } = started;
  const postEvents = (events: unknown[]) =>
    fetch(`${info.http}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': info.devApiKey },
      body: JSON.stringify({ events }),
    });
  // First while the table is up: the authorizer caches the key's decision, so it keeps ingesting during the outage.
  expect((await postEvents([{ type: 'stop.test', data: { warm: true } }])).status).toBe(202);
  const post = await fetch(`${info.control}/engines/dynamodb/stop`, { method: 'POST' });
  expect(post.ok).toBe(true);
  const accepted = await postEvents(Array.from({ length: 20 }, (_, i) => ({ type: 'stop.test', data: { i } })));
  expect(accepted.status).toBe(202);
  // The store consumer has taken the batch and is retrying its writes against the stopped table.
  await eventually(
    async () => {
      const stats = (await (await fetch(`${info.control}/stats`)).json()) as {
        pollers: { function: string; invocations: number }[];
      };
      return (stats.pollers.find((p) => p.function === 'storeEvents')?.invocations ?? 0) > 1 ? true : undefined;
    },
    20_000,
    'the store consumer invoked',
  );
  return started;
}

const exitOf = (child: ChildProcess) =>
  new Promise<number | NodeJS.Signals | null>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal)),
  );

describe('stopping `tem local` (Ctrl-C)', () => {
  it('stops within seconds while a consumer is stuck in its retries, and leaves no engine behind', async () => {
    const { child, info, output } = await stuckStack();
    const exited = exitOf(child);
    const t0 = performance.now();
    child.kill('SIGINT');
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const code = await exited;
    clearTimeout(timer);
    const seconds = (performance.now() - t0) / 1000;
    expect(code, output().slice(-2000)).toBe(0);
    // A few seconds (in-flight batches get 1 s, engines stop in parallel); generous for a loaded machine.
    expect(seconds).toBeLessThan(15);
    await eventually(
      async () => (enginePids(info).filter(alive).length === 0 ? true : undefined),
      10_000,
      'every engine gone',
    );
  });

  it('stops within seconds while an invocation hangs (DynamoDB frozen, SIGSTOP), and leaves no engine behind', async () => {
    const started = await startStackProcess();
    const { child, info, output } = started;
    const post = (events: unknown[]) =>
      fetch(`${info.http}/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': info.devApiKey },
        body: JSON.stringify({ events }),
      });
    expect((await post([{ type: 'stop.frozen', data: { warm: true } }])).status).toBe(202);
    // Frozen, not stopped: connections are accepted by the kernel and never answered, so the store consumer's
    // invocation hangs in its writes (the SDK's timeouts, then its retries) instead of failing fast.
    // The events table's own engine when the stack runs one per table (ADR 0017).
    const dynamodb = (info.tableEngines?.[info.resources.eventsTable]?.pid ?? info.engines.dynamodb.pid) as number;
    process.kill(dynamodb, 'SIGSTOP');
    try {
      expect((await post(Array.from({ length: 20 }, (_, i) => ({ type: 'stop.frozen', data: { i } })))).status).toBe(
        202,
      );
      await new Promise((r) => setTimeout(r, 2000)); // the batch is in the function, its writes hanging
      const exited = exitOf(child);
      const t0 = performance.now();
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 40_000);
      const code = await exited;
      clearTimeout(timer);
      const seconds = (performance.now() - t0) / 1000;
      expect(code, output().slice(-2000)).toBe(0);
      expect(seconds).toBeLessThan(15);
      await eventually(
        async () => (enginePids(info).filter(alive).length === 0 ? true : undefined),
        10_000,
        'every engine gone, the frozen one too',
      );
    } finally {
      if (alive(dynamodb)) {
        process.kill(dynamodb, 'SIGCONT');
        process.kill(dynamodb, 'SIGKILL');
      }
    }
  });

  it('a second Ctrl-C during the stop exits at once', async () => {
    const { child, info, output } = await stuckStack();
    const exited = exitOf(child);
    child.kill('SIGINT');
    // Only once it says it is stopping: a second signal before that would be the first one.
    await eventually(async () => (/SIGINT: stopping/.test(output()) ? true : undefined), 10_000, 'the stop begun');
    child.kill('SIGINT');
    const code = await exited;
    expect(output()).toMatch(/SIGINT again: stopping at once/);
    expect(code).toBe(130);
    // The exit hook kills every engine it started, also on this path.
    await eventually(
      async () => (enginePids(info).filter(alive).length === 0 ? true : undefined),
      10_000,
      'every engine gone',
    );
  });
});
