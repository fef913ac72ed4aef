import { topology } from '../../infra/topology';
import { designFromTopology } from '../../infra/topology/cost-design';
import pricesDocument from '../../policies/prices.json' with { type: 'json' };
import { alertRules } from '../../shared/domain/alert-rules';
import { alternatives, defaultInput } from '../../shared/domain/cost/alternatives';
import type { CostDesign } from '../../shared/domain/cost/design';
import { estimate } from '../../shared/domain/cost/model';
import { type PriceBook, parsePriceBook } from '../../shared/domain/cost/prices';
import { renderText } from '../../shared/domain/cost/render';
import type { CostInput } from '../../shared/domain/cost/traffic';
import { retention } from '../../shared/domain/retention';
import { placesOf, storagePolicy } from '../../shared/domain/storage-policy';
import { TELEMETRY_EVENT_TYPE } from '../../shared/domain/telemetry';
import { parseCommand, positionals, usageError } from '../lib/args';
import { result } from '../lib/output';

export const costUsage = `usage: tem cost --events-per-second N [--devices N] [--http-share 0.2] [--batch 100] [--stage prod]
                [--raw-readings table|archive|both] [--archive-format gzip-json|parquet] [--firehose-source store|stream]
                [--kinesis on-demand|provisioned] [--readings-per-message 1] [--json]
  A monthly estimate (730 h) per AWS service, us-east-1, from policies/prices.json and infra/topology.ts.
  raw readings default to where policies/storage.json keeps them (ADR 0018).
  devices default to one per event/s; kinesis defaults to the topology's capacity mode; --stage only labels the
  estimate (every stage deploys the same configuration). Prices, parameters and their sources: policies/prices.json.`;
const text = { type: 'string' } as const;
const spec = {
  usage: costUsage,
  options: {
    'events-per-second': text,
    devices: text,
    'http-share': text,
    batch: text,
    stage: text,
    'raw-readings': text,
    'firehose-source': text,
    'archive-format': text,
    kinesis: text,
    'readings-per-message': text,
    json: { type: 'boolean' },
  },
} as const;

/** The price book and the design as the repository has them now (the topology and the policies/ files). */
export function costContext(): { book: PriceBook; design: CostDesign } {
  const readings = retention.eventTypes[TELEMETRY_EVENT_TYPE];
  return {
    book: parsePriceBook(pricesDocument),
    design: designFromTopology(topology, {
      alertRules: alertRules.length,
      readingRetentionDays: readings === undefined ? retention.defaultDays : readings,
      eventRetentionDays: retention.defaultDays,
      readingPlaces: placesOf(TELEMETRY_EVENT_TYPE),
      archiveRetentionDays: storagePolicy.archive.retentionDays,
    }),
  };
}

function numberOption(raw: string | undefined, flag: string, min: number, max: number, integer = false) {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (
    raw.trim() === '' ||
    !Number.isFinite(value) ||
    value < min ||
    value > max ||
    (integer && !Number.isInteger(value))
  )
    throw usageError(
      spec,
      `--${flag} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, got "${raw}"`,
    );
  return value;
}

function choice<T extends string>(raw: string | undefined, flag: string, map: Record<string, T>): T | undefined {
  if (raw === undefined) return undefined;
  const value = map[raw];
  if (value === undefined)
    throw usageError(spec, `--${flag} must be one of ${Object.keys(map).join(', ')}, got "${raw}"`);
  return value;
}

/** The flags as a cost input; anything not given takes the planned design's default. */
export function costInputFrom(argv: readonly string[], design: CostDesign): { input: CostInput; json: boolean } {
  const args = parseCommand(argv, spec);
  positionals(args, []);
  const { values } = args;
  const eventsPerSecond = numberOption(values['events-per-second'], 'events-per-second', 0.001, 10_000_000);
  if (eventsPerSecond === undefined) throw usageError(spec, '--events-per-second is required');
  const { stage } = values;
  if (stage !== undefined && !/^[a-z][a-z0-9-]{0,31}$/.test(stage))
    throw usageError(spec, `--stage must be a lower-case name, got "${stage}"`);
  const given: Partial<CostInput> = {
    devices: numberOption(values.devices, 'devices', 1, 100_000_000, true),
    httpShare: numberOption(values['http-share'], 'http-share', 0, 1),
    batch: numberOption(values.batch, 'batch', 1, 500, true),
    readingsPerMessage: numberOption(values['readings-per-message'], 'readings-per-message', 1, 100, true),
    stage,
    rawReadings: choice(values['raw-readings'], 'raw-readings', {
      table: 'dynamodb',
      archive: 'firehose',
      both: 'both',
    }),
    archiveFormat: choice(values['archive-format'], 'archive-format', { 'gzip-json': 'gzipJson', parquet: 'parquet' }),
    firehoseSource: choice(values['firehose-source'], 'firehose-source', { stream: 'stream', store: 'storeEvents' }),
    kinesis: choice(values.kinesis, 'kinesis', { 'on-demand': 'onDemand', provisioned: 'provisioned' }),
  };
  const defined = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) as Partial<CostInput>;
  return { input: defaultInput(design, { ...defined, eventsPerSecond }), json: values.json === true };
}

/** `tem cost`: the monthly AWS estimate of the design at a given rate (pure model: no AWS call). */
export async function runCost(argv: string[]): Promise<void> {
  const { book, design } = costContext();
  const { input, json } = costInputFrom(argv, design);
  const e = estimate(input, design, book);
  const alts = alternatives(e, design, book);
  if (json) return result({ ...e, alternatives: alts, retrievedOn: book.retrievedOn, region: book.region });
  process.stdout.write(`${renderText(e, alts, book)}\n`);
  return result({
    totalUsd: e.totalUsd,
    perMillionEvents: e.perMillionEvents,
    byService: e.byService,
    hoursPerMonth: e.hoursPerMonth,
    retrievedOn: book.retrievedOn,
  });
}
