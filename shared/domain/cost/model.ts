import type { CostDesign } from './design';
import { type Ctx, frontDoorLines, round, streamLines } from './lines-ingest';
import { observabilityLines, storeLines } from './lines-store';
import { charge, PARAMETER_IDS, type PriceBook, type PriceId } from './prices';
import { bucketWritesPerMinute, type CostInput, GB, type Params, type Traffic, trafficOf } from './traffic';

export { round } from './lines-ingest';

/** One priced quantity: what is counted, how many a month, at which listed price. */
export interface CostLine {
  service: string;
  item: string;
  quantity: number;
  unit: string;
  /** The price it is charged at; absent for a quantity shown at no charge (readings over Basic Ingest). */
  priceId?: PriceId;
  /** USD per `per` units, the effective rate when the price is tiered. */
  unitUsd: number;
  per: number;
  tiered: boolean;
  usd: number;
}

export interface Estimate {
  input: CostInput;
  hoursPerMonth: number;
  traffic: Traffic;
  lines: CostLine[];
  byService: Record<string, number>;
  totalUsd: number;
  eventsPerMonth: number;
  perMillionEvents: number;
  notes: string[];
}

export const paramsOf = (book: PriceBook): Params =>
  Object.fromEntries(PARAMETER_IDS.map((id) => [id, book.parameters[id].value])) as Params;

type Draft = Omit<CostLine, 'unitUsd' | 'per' | 'tiered' | 'usd'>;

/** The monthly estimate: every line a quantity times a listed price, the quantities from the traffic and design. */
export function estimate(input: CostInput, design: CostDesign, book: PriceBook): Estimate {
  const p = paramsOf(book);
  const t = trafficOf(input, design, p);
  const drafts: Draft[] = [];
  const ctx: Ctx = {
    input,
    design,
    p,
    t,
    S: t.secondsPerMonth,
    add: (service, item, quantity, unit, priceId) =>
      drafts.push({ service, item, quantity, unit, ...(priceId ? { priceId } : {}) }),
  };
  const counts = frontDoorLines(ctx);
  streamLines(ctx, counts);
  const perMinute = storeLines(ctx, counts);
  observabilityLines(ctx, counts);

  const lines = priceLines(drafts, book);
  const byService: Record<string, number> = {};
  for (const l of lines) byService[l.service] = (byService[l.service] ?? 0) + l.usd;
  const totalUsd = lines.reduce((sum, l) => sum + l.usd, 0);
  const eventsPerMonth = input.eventsPerSecond * t.secondsPerMonth;
  const notes: string[] = [];
  if (design.eventRetentionDays === null && t.httpEventsPerSecond > 0) {
    const bytes = (p.httpEventItemBytes + p.dynamodbItemOverheadBytes) * (1 + design.eventsTableIndexes);
    notes.push(
      'business events are kept forever (policies/retention.json): their storage is priced as after ' +
        `${p.storageHorizonMonths} months and grows by ${round((counts.httpRecords * bytes) / GB)} GB a month`,
    );
  }
  if (input.metricsWrites === 'planned') {
    const today = bucketWritesPerMinute({ ...input, metricsWrites: 'topology' }, design, t, p);
    if (today > perMinute * 1.01)
      notes.push(
        `deviceMetrics as the topology configures it writes a bucket ${round(today)} times a minute, not ` +
          `${round(perMinute)}: the planned aggregation (issue 9) is what is priced here`,
      );
  }
  const perMillionEvents = eventsPerMonth > 0 ? totalUsd / (eventsPerMonth / 1e6) : 0;
  return {
    input,
    hoursPerMonth: p.hoursPerMonth,
    traffic: t,
    lines,
    byService,
    totalUsd,
    eventsPerMonth,
    perMillionEvents,
    notes,
  };
}

/** Prices the drafts; a tiered price is charged on the month's total over all its lines, shared out by quantity. */
function priceLines(drafts: readonly Draft[], book: PriceBook): CostLine[] {
  const totals = new Map<PriceId, number>();
  for (const d of drafts) if (d.priceId) totals.set(d.priceId, (totals.get(d.priceId) ?? 0) + d.quantity);
  return drafts.map((d) => {
    if (!d.priceId) return { ...d, unitUsd: 0, per: 1, tiered: false, usd: 0 };
    const price = book.prices[d.priceId];
    const total = totals.get(d.priceId) ?? 0;
    const usd = total > 0 ? charge(price, total) * (d.quantity / total) : 0;
    const unitUsd = d.quantity > 0 ? (usd / d.quantity) * price.per : price.usd;
    return { ...d, unitUsd, per: price.per, tiered: price.tiers !== undefined, usd };
  });
}
