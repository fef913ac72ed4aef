import { describe, expect, it } from 'vitest';
import {
  firstFailedIndex,
  type InvocationOutcome,
  type Plan,
  type PlannedBatch,
  planAfterInvocation,
  type RetrySettings,
} from '../../infra/local/esm-retry';

const BISECT: RetrySettings = { bisectBatchOnError: true, maxRetryAttempts: 2 };
const NO_BISECT: RetrySettings = { bisectBatchOnError: false, maxRetryAttempts: 2 };
const batch = (records: string[], attempts = 0): PlannedBatch<string> => ({ records, attempts });
const letters = (n: number) => Array.from({ length: n }, (_, i) => String.fromCharCode(97 + i));

describe('planAfterInvocation', () => {
  it('success checkpoints the whole batch', () => {
    expect(planAfterInvocation(batch(letters(4), 1), { kind: 'success' }, BISECT)).toEqual({
      checkpointed: ['a', 'b', 'c', 'd'],
      retry: [],
      discarded: [],
    });
  });

  it('error with bisect splits into two halves (first half the larger) keeping attempts', () => {
    expect(planAfterInvocation(batch(letters(5), 1), { kind: 'error' }, BISECT)).toEqual({
      checkpointed: [],
      retry: [batch(['a', 'b', 'c'], 1), batch(['d', 'e'], 1)],
      discarded: [],
    });
  });

  it('bisecting does not consume attempts, even when the batch is out of retries', () => {
    const plan = planAfterInvocation(batch(letters(2), 2), { kind: 'error' }, BISECT);
    expect(plan.retry).toEqual([batch(['a'], 2), batch(['b'], 2)]);
    expect(plan.discarded).toEqual([]);
  });

  it('error with bisect on a single record retries it with attempts + 1', () => {
    expect(planAfterInvocation(batch(['a'], 0), { kind: 'error' }, BISECT)).toEqual({
      checkpointed: [],
      retry: [batch(['a'], 1)],
      discarded: [],
    });
  });

  it.each([0, 1])('error without bisect retries the whole batch with attempts + 1 (attempts %i)', (attempts) => {
    expect(planAfterInvocation(batch(letters(3), attempts), { kind: 'error' }, NO_BISECT)).toEqual({
      checkpointed: [],
      retry: [batch(['a', 'b', 'c'], attempts + 1)],
      discarded: [],
    });
  });

  it.each([2, 3])('error without bisect discards the batch once attempts (%i) >= maxRetryAttempts', (attempts) => {
    expect(planAfterInvocation(batch(letters(3), attempts), { kind: 'error' }, NO_BISECT)).toEqual({
      checkpointed: [],
      retry: [],
      discarded: ['a', 'b', 'c'],
    });
  });

  it('maxRetryAttempts 0 discards on the first failure', () => {
    const plan = planAfterInvocation(
      batch(['a']),
      { kind: 'error' },
      { bisectBatchOnError: false, maxRetryAttempts: 0 },
    );
    expect(plan).toEqual({ checkpointed: [], retry: [], discarded: ['a'] });
  });

  it('maxRetryAttempts -1 (until the records age out) never discards, however many attempts were made', () => {
    const settings = { bisectBatchOnError: false, maxRetryAttempts: -1 };
    for (const attempts of [0, 3, 10_000])
      expect(planAfterInvocation(batch(['a', 'b'], attempts), { kind: 'error' }, settings)).toEqual({
        checkpointed: [],
        retry: [batch(['a', 'b'], attempts + 1)],
        discarded: [],
      });
  });

  it('partial failure at k checkpoints [0,k) and bisects the rest', () => {
    expect(planAfterInvocation(batch(letters(6), 1), { kind: 'partial', firstFailedIndex: 2 }, BISECT)).toEqual({
      checkpointed: ['a', 'b'],
      retry: [batch(['c', 'd'], 1), batch(['e', 'f'], 1)],
      discarded: [],
    });
  });

  it('partial failure at k without bisect retries the rest with attempts + 1', () => {
    expect(planAfterInvocation(batch(letters(6), 1), { kind: 'partial', firstFailedIndex: 2 }, NO_BISECT)).toEqual({
      checkpointed: ['a', 'b'],
      retry: [batch(['c', 'd', 'e', 'f'], 2)],
      discarded: [],
    });
  });

  it('partial failure at k without bisect discards the rest when out of retries', () => {
    expect(planAfterInvocation(batch(letters(4), 2), { kind: 'partial', firstFailedIndex: 3 }, NO_BISECT)).toEqual({
      checkpointed: ['a', 'b', 'c'],
      retry: [],
      discarded: ['d'],
    });
  });

  it('partial failure at the last record with bisect retries it alone with attempts + 1', () => {
    expect(planAfterInvocation(batch(letters(4), 0), { kind: 'partial', firstFailedIndex: 3 }, BISECT)).toEqual({
      checkpointed: ['a', 'b', 'c'],
      retry: [batch(['d'], 1)],
      discarded: [],
    });
  });

  it('partial failure at index 0 behaves like an error', () => {
    const partial = planAfterInvocation(batch(letters(4), 1), { kind: 'partial', firstFailedIndex: 0 }, BISECT);
    expect(partial).toEqual(planAfterInvocation(batch(letters(4), 1), { kind: 'error' }, BISECT));
  });

  it('an out-of-range failed index is clamped', () => {
    expect(planAfterInvocation(batch(letters(3)), { kind: 'partial', firstFailedIndex: 7 }, BISECT)).toEqual({
      checkpointed: ['a', 'b', 'c'],
      retry: [],
      discarded: [],
    });
    expect(planAfterInvocation(batch(letters(3)), { kind: 'partial', firstFailedIndex: -2 }, NO_BISECT).retry).toEqual([
      batch(['a', 'b', 'c'], 1),
    ]);
  });

  it.each([
    [0, 1],
    [1, 2],
    [3, 4],
  ])('a single record failing every time is discarded after exactly %i retries (%i invocations)', (max, expected) => {
    for (const bisectBatchOnError of [true, false]) {
      const settings = { bisectBatchOnError, maxRetryAttempts: max };
      let current: PlannedBatch<string> | undefined = batch(['poison']);
      let invocations = 0;
      let discarded: string[] = [];
      while (current && invocations < 100) {
        invocations++;
        const plan: Plan<string> = planAfterInvocation(current, { kind: 'error' }, settings);
        expect(plan.retry.length).toBeLessThanOrEqual(1);
        current = plan.retry[0];
        discarded = [...discarded, ...plan.discarded];
      }
      expect(invocations).toBe(expected);
      expect(discarded).toEqual(['poison']);
    }
  });
});

/**
 * A whole mapping run over one shard: retries run before anything newer, in order, as the poller does. The fake
 * function fails the poison record whenever it is in the batch, reporting it as the failure (partial batch response)
 * or throwing (error), and handles every other record.
 */
function runMapping(records: string[], poison: string, settings: RetrySettings, mode: 'partial' | 'error') {
  const queue: PlannedBatch<string>[] = [batch(records)];
  const checkpointed: string[] = [];
  const discarded: string[] = [];
  const invoked: string[][] = [];
  while (queue.length > 0 && invoked.length < 1000) {
    const next = queue.shift();
    if (!next) break;
    invoked.push(next.records);
    const at = next.records.indexOf(poison);
    const outcome: InvocationOutcome =
      at < 0 ? { kind: 'success' } : mode === 'partial' ? { kind: 'partial', firstFailedIndex: at } : { kind: 'error' };
    const plan = planAfterInvocation(next, outcome, settings);
    checkpointed.push(...plan.checkpointed);
    discarded.push(...plan.discarded);
    queue.unshift(...plan.retry);
  }
  return { checkpointed, discarded, invocations: invoked.length, invoked };
}

describe('a mapping run with one poison record (bisect on, maxRetryAttempts 2)', () => {
  const records = Array.from({ length: 10 }, (_, i) => `r${i + 1}`);
  const poison = 'r6';
  const good = records.filter((r) => r !== poison);

  it.each(['partial', 'error'] as const)(
    '%s: every good record checkpointed once, in order; poison discarded',
    (mode) => {
      const run = runMapping(records, poison, BISECT, mode);
      expect(run.checkpointed).toEqual(good);
      expect(run.discarded).toEqual([poison]);
      expect(run.invocations).toBeLessThan(30);
      // the poison record was tried once alone per retry attempt: 1 + maxRetryAttempts
      expect(run.invoked.filter((b) => b.length === 1 && b[0] === poison)).toHaveLength(1 + BISECT.maxRetryAttempts);
    },
  );

  it('partial: records before the poison are checkpointed by the first invocation', () => {
    const run = runMapping(records, poison, BISECT, 'partial');
    expect(run.invoked[0]).toEqual(records);
    expect(run.checkpointed.slice(0, 5)).toEqual(['r1', 'r2', 'r3', 'r4', 'r5']);
  });

  it('without bisect the batch from the poison on is discarded after its retries', () => {
    const run = runMapping(records, poison, NO_BISECT, 'partial');
    expect(run.checkpointed).toEqual(['r1', 'r2', 'r3', 'r4', 'r5']);
    expect(run.discarded).toEqual(['r6', 'r7', 'r8', 'r9', 'r10']);
    expect(run.invocations).toBe(1 + NO_BISECT.maxRetryAttempts);
  });
});

describe('firstFailedIndex', () => {
  const seqs = ['100', '200', '300', '400'];

  it.each<[string, unknown]>([
    ['undefined', undefined],
    ['null', null],
    ['a string', 'ok'],
    ['an object without batchItemFailures', { status: 'ok' }],
    ['an empty batchItemFailures', { batchItemFailures: [] }],
    ['a null batchItemFailures', { batchItemFailures: null }],
  ])('%s -> success', (_name, response) => {
    expect(firstFailedIndex(seqs, response)).toEqual({ kind: 'success' });
  });

  it('names the lowest index among several failures, whatever their order', () => {
    const response = {
      batchItemFailures: [{ itemIdentifier: '400' }, { itemIdentifier: '200' }, { itemIdentifier: '300' }],
    };
    expect(firstFailedIndex(seqs, response)).toEqual({ kind: 'partial', firstFailedIndex: 1 });
  });

  it('a single failure at the first record is index 0', () => {
    expect(firstFailedIndex(seqs, { batchItemFailures: [{ itemIdentifier: '100' }] })).toEqual({
      kind: 'partial',
      firstFailedIndex: 0,
    });
  });

  it.each<[string, unknown[]]>([
    ['an unknown identifier', [{ itemIdentifier: '999' }]],
    ['an unknown identifier next to a known one', [{ itemIdentifier: '200' }, { itemIdentifier: '999' }]],
    ['a missing identifier', [{}]],
    ['an empty identifier', [{ itemIdentifier: '' }]],
    ['a numeric identifier', [{ itemIdentifier: 200 }]],
    ['a null entry', [null]],
  ])('%s -> error (whole batch failed)', (_name, batchItemFailures) => {
    expect(firstFailedIndex(seqs, { batchItemFailures })).toEqual({ kind: 'error' });
  });
});
