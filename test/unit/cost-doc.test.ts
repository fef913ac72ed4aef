import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { costContext } from '../../scripts/commands/cost';
import { COST_END, COST_START, renderCostSection } from '../../scripts/cost-table';
import { between, PERFORMANCE_DOC } from '../../scripts/docs-tables';

describe('docs/performance.md: the cost section', () => {
  it('is what the cost model renders today (run `npm run docs` after a change)', () => {
    const { book, design } = costContext();
    const doc = readFileSync(PERFORMANCE_DOC, 'utf8');
    expect(between(doc, COST_START, COST_END).trim()).toBe(renderCostSection(book, design).trim());
  });
});
