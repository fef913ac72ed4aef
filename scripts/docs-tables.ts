/**
 * Rewrites the tables in the docs that are generated from `infra/topology.ts`: the stream consumers table of
 * docs/performance.md (between `<!-- consumers:start -->` and `<!-- consumers:end -->`) and the functions table of
 * docs/architecture.md (`<!-- functions:start -->` ... `<!-- functions:end -->`). Run after changing the topology:
 * `npm run docs`. Unit tests (test/unit/performance-doc.test.ts, test/unit/architecture-doc.test.ts) fail while a
 * committed table differs.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type FunctionSpec, type StreamConsumerSpec, type Topology, topology } from '../infra/topology';

export const PERFORMANCE_DOC = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'docs', 'performance.md');
export const CONSUMERS_START = '<!-- consumers:start -->';
export const CONSUMERS_END = '<!-- consumers:end -->';
export const ARCHITECTURE_DOC = path.join(path.dirname(PERFORMANCE_DOC), 'architecture.md');
export const FUNCTIONS_START = '<!-- functions:start -->';
export const FUNCTIONS_END = '<!-- functions:end -->';

const READ_MODE: Record<StreamConsumerSpec['readMode'], string> = {
  enhancedFanOut: 'enhanced fan-out',
  polling: 'polling',
};

/** Why each latency class is configured the way it is (the topology's comment on `streamConsumers`, per row). */
const WHY: Record<StreamConsumerSpec['latency'], string> = {
  realtime:
    'someone waits for it: records are pushed and the function invoked at once; under load a batch still fills ' +
    'from what is already in the shard',
  batch: 'aggregates read by people: polled, and held for the window so one write covers many readings',
};

const cell = (text: string): string => text.replace(/\|/g, '\\|');

/** A Markdown table with its columns padded to their widest cell, as the hand-written tables in the docs are. */
function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [header, ...rows].map((r) => r.map(cell));
  const widths = header.map((_, i) => Math.max(3, ...all.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]) => `| ${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  const [head = [], ...body] = all;
  return [line(head), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...body.map(line)].join('\n');
}

/** The consumers table: one row per topology consumer, in the topology's order. */
export function renderConsumersTable(
  consumers: readonly StreamConsumerSpec[] = topology.streamConsumers,
  functions: Readonly<Record<string, FunctionSpec>> = topology.functions,
): string {
  return markdownTable(
    ['consumer', 'does', 'read mode', 'latency', 'batch size', 'batching window', 'why'],
    consumers.map((c) => [
      `\`${c.function}\``,
      (functions[c.function]?.description ?? '').replace(/^Kinesis consumer: /, ''),
      READ_MODE[c.readMode],
      c.latency,
      String(c.batchSize),
      `${c.maxBatchingWindowSeconds} s`,
      WHY[c.latency],
    ]),
  );
}

/** What invokes a function: its routes, the authorizer it is, or the stream it consumes. */
function triggerOf(name: string, t: Topology): string {
  const triggers: string[] = [];
  if (t.authorizer.function === name) triggers.push('REQUEST authorizer of every non-public route');
  if (t.iotAuthorizer.function === name) triggers.push('IoT custom authorizer, MQTT CONNECT');
  for (const r of t.routes)
    if (r.function === name) triggers.push(`\`${r.method} ${r.path}\`${r.auth === 'none' ? ' (public)' : ''}`);
  for (const c of t.streamConsumers)
    if (c.function === name) triggers.push(`\`${c.stream}\` consumer (${READ_MODE[c.readMode]})`);
  for (const c of t.queueConsumers)
    if (c.function === name) triggers.push(`\`${c.queue}\` consumer (SQS, batch ${c.batchSize})`);
  return triggers.join(', ');
}

/** The functions table: one row per topology function, in the topology's order. */
export function renderFunctionsTable(t: Topology = topology): string {
  return markdownTable(
    ['function', 'trigger', 'memory, timeout', 'resources (access)', 'settings (default)'],
    Object.entries(t.functions).map(([name, f]) => [
      `\`${name}\``,
      triggerOf(name, t),
      `${f.memoryMb} MB, ${f.timeoutSeconds} s`,
      f.bindings.map((b) => `\`${b.resource}\` (${b.access})`).join(', '),
      Object.entries(f.environment ?? {})
        .map(([k, v]) => `\`${k}\` (\`${v}\`)`)
        .join(', '),
    ]),
  );
}

/** The body rows of a Markdown table (header and separator left out), cells trimmed; `\|` stays inside a cell. */
export const tableRows = (table: string): string[][] =>
  table
    .trim()
    .split('\n')
    .slice(2)
    .map((line) =>
      line
        .split(/(?<!\\)\|/)
        .slice(1, -1)
        .map((c) => c.trim()),
    );

/** What lies between two marker lines (exclusive), or an error naming the missing marker. */
export function between(doc: string, start: string, end: string): string {
  const from = doc.indexOf(start);
  const to = doc.indexOf(end);
  if (from < 0 || to < 0 || to < from) throw new Error(`markers ${start} ... ${end} missing or out of order`);
  return doc.slice(from + start.length, to);
}

/** The document with `body` between the two markers, each marker on its own line. */
export function replaceBetween(doc: string, start: string, end: string, body: string): string {
  const old = between(doc, start, end);
  const at = doc.indexOf(start) + start.length;
  return `${doc.slice(0, at)}\n${body.trim()}\n${doc.slice(at + old.length)}`;
}

function rewrite(file: string, start: string, end: string, table: string): void {
  const doc = readFileSync(file, 'utf8');
  const next = replaceBetween(doc, start, end, table);
  if (next !== doc) writeFileSync(file, next);
  console.log(`${next === doc ? 'unchanged' : 'wrote'} ${path.relative(process.cwd(), file)}`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  rewrite(PERFORMANCE_DOC, CONSUMERS_START, CONSUMERS_END, renderConsumersTable());
  rewrite(ARCHITECTURE_DOC, FUNCTIONS_START, FUNCTIONS_END, renderFunctionsTable());
}
