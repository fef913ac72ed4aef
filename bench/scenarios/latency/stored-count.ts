import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { EngineClients } from '../../lib/engines';
import type { Check } from '../../lib/report';
import { pool, progress, round, sleep } from '../../lib/util';

/** Counting what the events table holds per source, and waiting for the pipeline to store what was accepted. */

export async function queryIds(clients: EngineClients, table: string, source: string, countOnly: boolean) {
  const ids: string[] = [];
  const keys: string[] = [];
  let count = 0;
  let start: Record<string, unknown> | undefined;
  do {
    const page = await clients.dynamo.send(
      new QueryCommand({
        TableName: table,
        IndexName: 'bySource',
        KeyConditionExpression: '#s = :s',
        ExpressionAttributeNames: { '#s': 'source', ...(countOnly ? {} : { '#id': 'id', '#k': 'idempotencyKey' }) },
        ExpressionAttributeValues: { ':s': source },
        ...(countOnly ? { Select: 'COUNT' as const } : { ProjectionExpression: '#id, #k' }),
        ...(start ? { ExclusiveStartKey: start } : {}),
      }),
    );
    count += page.Count ?? 0;
    for (const item of page.Items ?? []) {
      ids.push(String(item.id));
      if (typeof item.idempotencyKey === 'string') keys.push(item.idempotencyKey);
    }
    start = page.LastEvaluatedKey;
  } while (start);
  return { count, ids, keys };
}

export interface Drain {
  /** Seconds until every item was there; undefined when it was not. */
  seconds: number | undefined;
  count: number;
  /** The count stopped growing for STALL_S before reaching the target: lost, not late. */
  stalled: boolean;
}

const STALL_S = 20;

/**
 * Waits until the sources hold `expected` items in all: at most `timeoutS`, and no longer than STALL_S without the
 * count growing (the pipeline is no longer catching up: what is missing is lost, not late).
 */
export async function waitForCount(
  clients: EngineClients,
  table: string,
  sources: readonly string[],
  expected: number,
  timeoutS: number,
  label: string,
): Promise<Drain> {
  const t0 = performance.now();
  let last = t0;
  let grewAt = t0;
  let previous = -1;
  for (;;) {
    let count = 0;
    await pool(sources, 8, async (s) => {
      const found = (await queryIds(clients, table, s, true)).count;
      count += found;
    });
    const now = performance.now();
    const elapsed = (now - t0) / 1000;
    if (count >= expected) return { seconds: elapsed, count, stalled: false };
    if (count > previous) grewAt = now;
    previous = count;
    if ((now - grewAt) / 1000 > STALL_S) return { seconds: undefined, count, stalled: true };
    if (elapsed > timeoutS) return { seconds: undefined, count, stalled: false };
    if (now - last > 5000) {
      progress(`${label}: ${count}/${expected} stored, waiting`);
      last = now;
    }
    await sleep(500);
  }
}

export function drainText(drain: Drain): string {
  if (drain.seconds !== undefined) return `all stored ${round(drain.seconds)} s after the load`;
  return drain.stalled ? `storing stopped at ${drain.count}` : `still draining at the deadline (${drain.count} stored)`;
}

/**
 * Nothing missing: ok. Missing while the backlog was still draining at the deadline: not verified (reported, not a
 * failure: late is not lost). Missing after the drain ended or stalled, or anything duplicated: a failure.
 */
export function drainCheck(name: string, drain: Drain, missing: number, wrong: number, detail: string): Check {
  if (wrong > 0 || (missing > 0 && (drain.stalled || drain.seconds !== undefined))) return { name, ok: false, detail };
  if (missing > 0) return { name, ok: false, unverified: true, detail: `${detail} (not verified: still draining)` };
  return { name, ok: true, detail };
}
