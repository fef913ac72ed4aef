import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type StreamConsumerSpec, streamConsumers } from '../../infra/topology';
import {
  between,
  CONSUMERS_END,
  CONSUMERS_START,
  PERFORMANCE_DOC,
  renderConsumersTable,
  replaceBetween,
  tableRows,
} from '../../scripts/docs-tables';

const doc = readFileSync(PERFORMANCE_DOC, 'utf8');
const rowsOf = tableRows;

describe('docs/performance.md: the consumers table', () => {
  it('is what scripts/docs-tables.ts renders from the topology today (run `npm run docs` after a change)', () => {
    expect(between(doc, CONSUMERS_START, CONSUMERS_END).trim()).toBe(renderConsumersTable().trim());
  });

  it('has one row per topology consumer, in order, with its read mode, batch size and window', () => {
    const rows = rowsOf(between(doc, CONSUMERS_START, CONSUMERS_END));
    // Written out here rather than taken from the renderer: what a reader must find in each row.
    expect(rows.map((r) => [r[0], r[2], r[3], r[4], r[5]])).toEqual(
      streamConsumers.map((c) => [
        `\`${c.function}\``,
        c.readMode === 'enhancedFanOut' ? 'enhanced fan-out' : 'polling',
        c.latency,
        String(c.batchSize),
        `${c.maxBatchingWindowSeconds} s`,
      ]),
    );
  });

  it('a drifted topology renders another table (so the first test catches the drift)', () => {
    const [first, ...rest] = streamConsumers;
    if (!first) throw new Error('the topology has no stream consumer');
    const drifts: StreamConsumerSpec[][] = [
      [{ ...first, batchSize: first.batchSize + 1 }, ...rest],
      [{ ...first, maxBatchingWindowSeconds: first.maxBatchingWindowSeconds + 1 }, ...rest],
      [{ ...first, readMode: first.readMode === 'polling' ? 'enhancedFanOut' : 'polling' }, ...rest],
      rest,
    ];
    for (const drifted of drifts) expect(renderConsumersTable(drifted)).not.toBe(renderConsumersTable());
  });

  it('the generator rewrites only what is between the markers, idempotently', () => {
    const stale = replaceBetween(doc, CONSUMERS_START, CONSUMERS_END, '| old |');
    expect(stale).not.toBe(doc);
    const fixed = replaceBetween(stale, CONSUMERS_START, CONSUMERS_END, renderConsumersTable());
    expect(fixed).toBe(doc);
    expect(replaceBetween(fixed, CONSUMERS_START, CONSUMERS_END, renderConsumersTable())).toBe(fixed);
    expect(() => replaceBetween('no markers', CONSUMERS_START, CONSUMERS_END, 'x')).toThrow(/markers/);
    expect(() => between(`${CONSUMERS_END}\n${CONSUMERS_START}`, CONSUMERS_START, CONSUMERS_END)).toThrow(/order/);
  });

  it('keeps the benchmark block markers, in order, at the end of the page', () => {
    const start = doc.indexOf('<!-- bench:start -->');
    const end = doc.indexOf('<!-- bench:end -->');
    expect(start).toBeGreaterThan(doc.indexOf(CONSUMERS_END));
    expect(end).toBeGreaterThan(start);
    expect(doc.slice(end + '<!-- bench:end -->'.length).trim()).toBe('');
  });
});
