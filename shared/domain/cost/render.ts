import type { Alternative } from './alternatives';
import type { CostLine, Estimate } from './model';
import type { PriceBook } from './prices';

export const NOT_MODELLED =
  'not modelled: data transfer, KMS requests of the stream key, CloudFormation, the Lambda free tier and every other ' +
  'free tier, reserved capacity and savings plans';

const en = (digits: number) => new Intl.NumberFormat('en-US', { maximumFractionDigits: digits });

/** 2,628,000 · 1,234.5 · 0.0739: thousands separated, small values to 3 significant digits. */
export function quantity(n: number): string {
  if (n === 0) return '0';
  if (Math.abs(n) >= 1000) return en(0).format(n);
  if (Math.abs(n) >= 1) return en(2).format(n);
  return String(Number(n.toPrecision(3)));
}

export const usd = (n: number): string =>
  `${n < 0 ? '-' : ''}$${new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(Math.abs(n))}`;

/** $3.50, $0.625, $0.0000133334: cents always shown, small rates to 6 significant digits. */
export function rate(value: number): string {
  const text = String(Number(value.toPrecision(value >= 0.01 ? 4 : 6)));
  const decimals = text.split('.')[1]?.length ?? 0;
  return `$${decimals < 2 ? value.toFixed(2) : text}`;
}

/** `$3.50 per 1M request`, `$0.0000133334 per GB-second`; the effective rate of a tiered price is marked. */
export function unitPrice(line: CostLine): string {
  if (!line.priceId) return 'not charged';
  const per = line.per === 1 ? '' : line.per === 1e6 ? ' per 1M' : line.per === 1000 ? ' per 1K' : ` per ${line.per}`;
  return `${rate(line.unitUsd)}${per}${line.tiered ? ' (tiered)' : ''}`;
}

function table(header: readonly string[], rows: readonly (readonly string[])[], right: ReadonlySet<number>): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const cell = (text: string, i: number) =>
    right.has(i) ? text.padStart(widths[i] ?? 0) : text.padEnd(widths[i] ?? 0);
  return [header, ...rows].map((r) => r.map(cell).join('  ').trimEnd());
}

/** What the estimate assumed, in one paragraph: the traffic, the month, the design choices. */
export function describeInput(e: Estimate, book: PriceBook): string[] {
  const t = e.traffic;
  const i = e.input;
  return [
    `${quantity(i.eventsPerSecond)} events/s: ${quantity(t.readingsPerSecond)} device readings/s from ` +
      `${quantity(i.devices)} devices (${quantity(t.readingsPerDeviceMinute)} a minute each, ${i.readingsPerMessage} per ` +
      `message), ${quantity(t.httpEventsPerSecond)} HTTP events/s in requests of ${i.batch}; stage ${i.stage}; ` +
      `${book.region}.`,
    `A month is ${e.hoursPerMonth} h (${quantity(e.hoursPerMonth / 24)} days, ${quantity(t.secondsPerMonth)} s). Prices of ` +
      `${book.retrievedOn} from policies/prices.json; free tiers not applied; GB = 2^30 bytes.`,
    `Kinesis ${i.kinesis === 'onDemand' ? 'on-demand' : 'provisioned'}, ${t.shards} shard${t.shards === 1 ? '' : 's'} (${t.shardBasis}); raw ` +
      `readings ${{ dynamodb: 'in DynamoDB', firehose: 'archived only', both: 'in DynamoDB and archived' }[i.rawReadings]}${i.rawReadings === 'dynamodb' ? '' : ` (S3 by Firehose, ${i.firehoseSource === 'stream' ? 'stream source' : 'packed by storeEvents'}, ${i.archiveFormat === 'parquet' ? 'Parquet' : 'gzipped JSON'})`}; ` +
      `readings over ${i.ingestTopic === 'basicIngest' ? 'Basic Ingest' : 'the broker topic'}; metric buckets written ` +
      `${i.metricsWrites === 'planned' ? 'once a minute (a tumbling window)' : "as the topology's batches fall"}; alert ` +
      `states ${i.alertStateReads === 'perBatch' ? 'read each batch' : 'cached'}.`,
  ];
}

/** The estimate for people: every line's quantity, unit and unit price, then the totals and the alternatives. */
export function renderText(e: Estimate, alternatives: readonly Alternative[], book: PriceBook): string {
  const lines = table(
    ['service', 'item', 'quantity/month', 'unit', 'unit price', 'USD/month'],
    e.lines.map((l) => [l.service, l.item, quantity(l.quantity), l.unit, unitPrice(l), usd(l.usd)]),
    new Set([2, 5]),
  );
  const services = table(
    ['service', 'USD/month', 'share'],
    Object.entries(e.byService).map(([s, v]) => [s, usd(v), `${((100 * v) / (e.totalUsd || 1)).toFixed(1)} %`]),
    new Set([1, 2]),
  );
  const alts = table(
    ['alternative (one change; the last: all cheaper ones)', 'USD/month', 'change', 'per million events'],
    alternatives.map((a) => [a.name, usd(a.totalUsd), usd(a.deltaUsd), usd(a.perMillionEvents)]),
    new Set([1, 2, 3]),
  );
  const consumers = e.traffic.consumers.map(
    (c) =>
      `  ${c.function} (${c.readMode === 'enhancedFanOut' ? 'enhanced fan-out' : 'polling'}): ` +
      `${quantity(c.recordsPerInvocation)} records per invocation, ${quantity(c.invocationsPerSecond)} invocations/s, ` +
      `${c.billedMs} ms billed`,
  );
  return [
    ...describeInput(e, book),
    'Stream consumers (batch sizes and windows from infra/topology.ts):',
    ...consumers,
    '',
    ...lines,
    '',
    ...services,
    '',
    `total ${usd(e.totalUsd)} a month; ${usd(e.perMillionEvents)} per million events (${quantity(e.eventsPerMonth / 1e6)} M events a month)`,
    '',
    ...alts,
    '',
    'notes:',
    ...[...e.notes, NOT_MODELLED].map((n) => `  - ${n}`),
  ].join('\n');
}
