import { type CostDesign, rawReadingsOf } from './design';
import { type Estimate, estimate } from './model';
import type { PriceBook } from './prices';
import type { CostInput } from './traffic';

export interface Alternative {
  name: string;
  input: CostInput;
  totalUsd: number;
  deltaUsd: number;
  perMillionEvents: number;
}

/** The design as the repository plans it (issue 9), the stream's capacity mode from the topology. */
export function defaultInput(
  design: CostDesign,
  given: Partial<CostInput> & Pick<CostInput, 'eventsPerSecond'>,
): CostInput {
  return {
    devices: Math.max(1, Math.round(given.eventsPerSecond)),
    httpShare: 0.2,
    batch: 100,
    readingsPerMessage: 1,
    stage: 'prod',
    // What policies/storage.json says, and how the store consumer archives: each batch packed (ADR 0018).
    rawReadings: rawReadingsOf(design.readingPlaces),
    firehoseSource: 'storeEvents',
    archiveFormat: 'gzipJson',
    kinesis: design.streamCapacity,
    ingestTopic: 'basicIngest',
    metricsWrites: 'topology',
    // The alerts consumer keeps its rule states (ADR 0007, state cache): a claim write per batch, no state reads.
    alertStateReads: 'cached',
    ...given,
  };
}

/** The design choices that move the total, each flipped alone against the given input. */
export function alternativeInputs(input: CostInput): { name: string; input: CostInput }[] {
  const flip = <K extends keyof CostInput>(key: K, value: CostInput[K], name: string) => ({
    name,
    input: { ...input, [key]: value },
  });
  return [
    input.kinesis === 'onDemand'
      ? flip('kinesis', 'provisioned', 'Kinesis provisioned (shards from throughput)')
      : flip('kinesis', 'onDemand', 'Kinesis on-demand'),
    ...(['dynamodb', 'firehose', 'both'] as const)
      .filter((place) => place !== input.rawReadings)
      .map((place) =>
        flip(
          'rawReadings',
          place,
          {
            dynamodb: 'raw readings in the events table only, not archived',
            firehose: 'raw readings in the archive only (S3 by Firehose), not in the events table',
            both: 'raw readings in the events table and the archive',
          }[place],
        ),
      ),
    ...(input.rawReadings === 'dynamodb'
      ? []
      : [
          input.firehoseSource === 'storeEvents'
            ? flip('firehoseSource', 'stream', 'Firehose reading the stream (each record billed as 5 KB), not packed')
            : flip('firehoseSource', 'storeEvents', 'readings packed per batch by storeEvents for Firehose'),
          input.archiveFormat === 'gzipJson'
            ? flip('archiveFormat', 'parquet', 'archive converted to Parquet by Firehose')
            : flip('archiveFormat', 'gzipJson', 'archive as gzipped JSON lines'),
        ]),
    input.ingestTopic === 'basicIngest'
      ? flip('ingestTopic', 'brokerTopic', 'readings on the plain topic (messaging charged), not Basic Ingest')
      : flip('ingestTopic', 'basicIngest', 'readings over Basic Ingest'),
    input.readingsPerMessage === 1
      ? flip('readingsPerMessage', 10, 'devices batch 10 readings per MQTT message')
      : flip('readingsPerMessage', 1, 'one reading per MQTT message'),
    input.batch > 1
      ? flip('batch', 1, 'HTTP clients send one event per request')
      : flip('batch', 100, 'HTTP clients batch 100 events per request'),
    input.metricsWrites === 'planned'
      ? flip('metricsWrites', 'topology', "deviceMetrics writing as often as today's topology batches")
      : flip('metricsWrites', 'planned', 'deviceMetrics writing each bucket once a minute (a tumbling window)'),
    input.alertStateReads === 'perBatch'
      ? flip('alertStateReads', 'cached', 'alerts consumer caching rule states (no read per batch)')
      : flip('alertStateReads', 'perBatch', 'alerts consumer reading rule states each batch'),
  ];
}

/** Each alternative alone, then every one that lowers the total applied together (the cheapest value per choice). */
export function alternatives(base: Estimate, design: CostDesign, book: PriceBook): Alternative[] {
  const priced = (name: string, input: CostInput): Alternative => {
    const e = estimate(input, design, book);
    return {
      name,
      input,
      totalUsd: e.totalUsd,
      deltaUsd: e.totalUsd - base.totalUsd,
      perMillionEvents: e.perMillionEvents,
    };
  };
  const each = alternativeInputs(base.input).map(({ name, input }) => priced(name, input));
  const cheaper = each.filter((a) => a.deltaUsd < 0).sort((a, b) => b.deltaUsd - a.deltaUsd);
  if (cheaper.length < 2) return each;
  // Sorted most expensive first, so the cheapest alternative's value of a shared choice is written last and wins.
  const combined: CostInput = { ...base.input };
  for (const a of cheaper) Object.assign(combined, changes(base.input, a.input));
  const count = Object.keys(changes(base.input, combined)).length;
  return [...each, priced(`all ${count} cheaper choices together`, combined)];
}

function changes(from: CostInput, to: CostInput): Partial<CostInput> {
  return Object.fromEntries(Object.entries(to).filter(([k, v]) => from[k as keyof CostInput] !== v));
}
