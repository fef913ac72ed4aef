import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { topology } from '../../infra/topology';
import {
  ARCHITECTURE_DOC,
  between,
  FUNCTIONS_END,
  FUNCTIONS_START,
  renderFunctionsTable,
  tableRows,
} from '../../scripts/docs-tables';

const doc = readFileSync(ARCHITECTURE_DOC, 'utf8');
const rows = tableRows(between(doc, FUNCTIONS_START, FUNCTIONS_END));

describe('docs/architecture.md: the functions table', () => {
  it('is what scripts/docs-tables.ts renders from the topology today (run `npm run docs` after a change)', () => {
    expect(between(doc, FUNCTIONS_START, FUNCTIONS_END).trim()).toBe(renderFunctionsTable().trim());
  });

  it('has one row per function with its memory, timeout, every binding and every setting', () => {
    expect(rows.map((r) => r[0])).toEqual(Object.keys(topology.functions).map((f) => `\`${f}\``));
    for (const [name, f] of Object.entries(topology.functions)) {
      const row = rows.find((r) => r[0] === `\`${name}\``) ?? [];
      expect(row[2]).toBe(`${f.memoryMb} MB, ${f.timeoutSeconds} s`);
      for (const b of f.bindings) expect(row[3]).toContain(`\`${b.resource}\` (${b.access})`);
      for (const key of Object.keys(f.environment ?? {})) expect(row[4]).toContain(`\`${key}\``);
    }
  });

  it('names what triggers each function: its routes, the authorizers, the stream', () => {
    const trigger = (f: string) => rows.find((r) => r[0] === `\`${f}\``)?.[1];
    expect(trigger('getEvent')).toBe('`GET /events/{id}`');
    expect(trigger('jwks')).toContain('(public)');
    expect(trigger('deviceAuthorizer')).toContain('MQTT CONNECT');
    expect(trigger('deviceMetrics')).toBe('`eventStream` consumer (polling)');
  });
});
