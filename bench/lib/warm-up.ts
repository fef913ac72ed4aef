import type { LocalStackInfo } from '../../infra/local/stack';
import { closedLoop } from './engines';
import { batchBody, businessEvent } from './events';
import { agent, postEvents, send } from './http';
import { poller, stackStats } from './stack';
import { progress, sleep } from './util';

/**
 * Brings the HTTP path's containers up before a measurement: a few seconds of posts on 8 connections (the function
 * host starts up to 4 containers per function, each a cold start of seconds on a busy 2-core machine), a few reads,
 * and waits until the store consumer has taken it all. Not measured.
 */
export async function warmUp(info: LocalStackInfo, seconds: number, source: string): Promise<void> {
  const via = agent(8);
  const before = poller(await stackStats(info), 'storeEvents').recordsProcessed;
  const ids: string[] = [];
  let n = 0;
  const t0 = performance.now();
  const load = await closedLoop(seconds, 8, 'warm-up', async () => {
    const body = batchBody(Array.from({ length: 10 }, (_, i) => businessEvent(n * 10 + i, { source })));
    n++;
    const answer = await postEvents(via, info.http, info.devApiKey, body);
    ids.push(...answer.ids.slice(0, 1));
    return { items: answer.ids.length, failed: 0 };
  });
  // Reads 8 at a time, twice: up to 4 getEvent containers (the latency step polls 4 at once).
  for (let round = 0; round < 2; round++)
    await Promise.all(
      ids
        .slice(-8)
        .map((id) =>
          send(via, `${info.http}/events/${id}`, 'GET', { 'X-API-Key': info.devApiKey }).catch(() => undefined),
        ),
    );
  const deadline = performance.now() + 60_000;
  while (
    performance.now() < deadline &&
    poller(await stackStats(info), 'storeEvents').recordsProcessed - before < load.items
  )
    await sleep(100);
  via.destroy();
  progress(`warm-up: ${load.items} events posted and stored in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}
