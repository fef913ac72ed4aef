/**
 * Writes the cost section of docs/performance.md (between `<!-- cost:start -->` and `<!-- cost:end -->`, before the
 * measured block) from the cost model: `npx tsx scripts/cost-table.ts`. test/unit/cost-doc.test.ts fails while the committed section differs
 * from what this renders, so a change of a price, a parameter or the topology shows up in the doc.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Alternative, alternatives, defaultInput } from '../shared/domain/cost/alternatives';
import type { CostDesign } from '../shared/domain/cost/design';
import { type Estimate, estimate } from '../shared/domain/cost/model';
import { PRICE_IDS, type PriceBook } from '../shared/domain/cost/prices';
import { quantity, rate, usd } from '../shared/domain/cost/render';
import { costContext } from './commands/cost';
import { PERFORMANCE_DOC, replaceBetween } from './docs-tables';

export const COST_START = '<!-- cost:start -->';
export const COST_END = '<!-- cost:end -->';
const MEASURED = '## Measured on the embedded stack';

/** The rates of the table; devices = msg/s; the last column is the target case, device readings only. */
const RATES = [100, 1000, 10_000] as const;
const CLICKSTREAM = 'https://docs.aws.amazon.com/solutions/latest/clickstream-analytics-on-aws/cost.html';

function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [header, ...rows].map((r) => r.map((c) => c.replace(/\|/g, '\\|')));
  const widths = header.map((_, i) => Math.max(3, ...all.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]) => `| ${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  const [head = [], ...body] = all;
  return [line(head), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...body.map(line)].join('\n');
}

const SERVICES: readonly [string, readonly string[]][] = [
  ['API Gateway', ['API Gateway']],
  ['Lambda', ['Lambda']],
  ['IoT Core', ['IoT Core']],
  ['Kinesis', ['Kinesis']],
  ['DynamoDB', ['DynamoDB']],
  ['Firehose + S3', ['Firehose', 'S3']],
  ['SQS', ['SQS']],
  ['CloudWatch + X-Ray', ['CloudWatch', 'X-Ray']],
];
const serviceUsd = (e: Estimate, names: readonly string[]) => names.reduce((s, n) => s + (e.byService[n] ?? 0), 0);
const storageUsd = (e: Estimate) =>
  e.lines
    .filter((l) => l.priceId === 'dynamodbStorageGbMonth' || l.priceId === 'dynamodbPitrGbMonth')
    .reduce((s, l) => s + l.usd, 0);
const pct = (part: number, whole: number) => `${whole > 0 ? Math.round((100 * part) / whole) : 0} %`;

/** The ingestion part, comparable to Clickstream's ingestion module: the front doors, their functions, the stream. */
function ingestionUsd(e: Estimate): number {
  const front = /^(apiAuthorizer|httpIngest|deviceAuthorizer) /;
  return e.lines
    .filter((l) => ['API Gateway', 'IoT Core', 'Kinesis'].includes(l.service) || front.test(l.item))
    .reduce((s, l) => s + l.usd, 0);
}

export function renderCostSection(book: PriceBook, design: CostDesign): string {
  const cases = [
    ...RATES.map((n) => ({ label: quantity(n), input: defaultInput(design, { eventsPerSecond: n }) })),
    { label: '10,000 readings only', input: defaultInput(design, { eventsPerSecond: 10_000, httpShare: 0 }) },
  ];
  const estimates = cases.map((c) => estimate(c.input, design, book));
  const at1000 = estimates[1] as Estimate;
  const alts = estimates.map((e) => alternatives(e, design, book));
  const unverified = PRICE_IDS.filter((id) => !book.prices[id].verified);
  const target = estimates[3] as Estimate;
  const targetAlts = alts[3] as Alternative[];
  const best = targetAlts.at(-1) as Alternative;
  const findAlt = (list: readonly Alternative[], start: string) => list.find((a) => a.name.startsWith(start));
  const tabled = findAlt(targetAlts, 'raw readings in the events table and the archive');
  const where = {
    dynamodb: 'raw readings stored in the events table like every event',
    firehose: 'raw readings in the raw archive only (S3 through Firehose, each store batch packed into one record)',
    both: 'raw readings in the events table and in the raw archive (S3 through Firehose)',
  }[target.input.rawReadings];
  const costTable = markdownTable(
    ['msg/s', 'devices', 'USD/month', 'per million events', ...SERVICES.map(([s]) => s)],
    estimates.map((e, i) => [
      cases[i]?.label ?? '',
      quantity(e.input.devices),
      usd(e.totalUsd),
      usd(e.perMillionEvents),
      ...SERVICES.map(([, names]) => usd(serviceUsd(e, names))),
    ]),
  );
  const choiceTable = markdownTable(
    [
      'choice (one change from the priced design; the last row: every cheaper one together)',
      ...cases.map((c) => c.label),
    ],
    (alts[0] ?? []).map((a, row) => [
      a.name.replace(/^all \d+ cheaper/, 'all cheaper'),
      ...alts.map((list, i) => {
        const alt = list[row];
        const base = estimates[i] as Estimate;
        return alt
          ? `${usd(alt.perMillionEvents)} (${alt.deltaUsd >= 0 ? '+' : ''}${pct(alt.deltaUsd, base.totalUsd)})`
          : '';
      }),
    ]),
  );
  const top = [...target.lines].sort((a, b) => b.usd - a.usd).slice(0, 8);
  const topTable = markdownTable(
    ['line (10,000 readings/s, priced design)', 'quantity/month', 'USD/month', 'per million readings'],
    top.map((l) => [
      `${l.service}: ${l.item}`,
      `${quantity(l.quantity)} ${l.unit}`,
      usd(l.usd),
      usd(l.usd / (target.eventsPerMonth / 1e6)),
    ]),
  );
  const dm = design.consumers.find((c) => c.function === 'deviceMetrics');
  const prices = book.prices;
  return [
    '## What it costs in AWS, by the model',
    '',
    wrap(
      'Generated by `npx tsx scripts/cost-table.ts` from the cost model (`tem cost`, `shared/domain/cost/`), the ' +
        `prices in [\`policies/prices.json\`](../policies/prices.json) (us-east-1, retrieved ${book.retrievedOn}) and ` +
        '[`infra/topology.ts`](../infra/topology.ts); test/unit/cost-doc.test.ts fails when this section and the model ' +
        'disagree. `tem cost --events-per-second N` prints every line with its quantity, unit and unit price. Not a ' +
        'bill: a month is 730 hours (30.42 days), free tiers are not applied, data transfer and KMS requests are not ' +
        `modelled, and ${unverified.length} of the ${PRICE_IDS.length} prices were not seen on a stored AWS page ` +
        '(`verified: false` in the file: the well-known published rates; check them before budgeting).',
    ),
    '',
    wrap(
      'The design priced is the one issue 9 builds: readings over Basic Ingest, a topic rule with one Kinesis action ' +
        `per message and no function per message; Kinesis ${design.streamCapacity === 'onDemand' ? 'on-demand' : 'provisioned'} ` +
        "as the topology declares it; the stream consumers with the topology's read modes, batch sizes and windows; " +
        `metric buckets written about once per device, metric and minute; ${where}, as policies/storage.json ` +
        'says (ADR 0018); business events in the events table. Devices = ' +
        'msg/s, HTTP events are 20 % of the messages in requests of 100, ' +
        `${book.parameters.metricsPerReading.value} metrics per reading, ${design.alertRules} alert rules; every other ` +
        'parameter and its source is in the data file.',
    ),
    '',
    costTable,
    '',
    ...(design.eventRetentionDays === null
      ? [
          wrap(
            'Business events are kept forever (`policies/retention.json`), so their storage is priced as it stands ' +
              `after ${book.parameters.storageHorizonMonths.value} months, and it keeps growing: at 1,000 msg/s, ` +
              `storage and point-in-time recovery are ${pct(storageUsd(at1000), serviceUsd(at1000, ['DynamoDB']))} of ` +
              'the DynamoDB column.',
          ),
          '',
        ]
      : []),
    '### The design choices that move it',
    '',
    'USD per million events, and the change of the monthly total:',
    '',
    choiceTable,
    '',
    bullet(
      `**Basic Ingest vs the plain topic.** Through the broker every reading is also a metered message ` +
        `(${rate(prices.iotMessage.usd)} per million at first, tiered); Basic Ingest (\`$aws/rules/<rule>/...\`) ` +
        `leaves the rule triggered and its one action (${rate(prices.iotRuleTriggered.usd)} + ` +
        `${rate(prices.iotActionExecuted.usd)} per million), then the largest per-reading charge of IoT Core.`,
    ),
    bullet(
      '**Batching at the device and at the client.** Ten readings per MQTT message divide rules, actions and ' +
        'stream records by ten (IoT meters in 5 KB units, on-demand Kinesis in 1 KB, so a ~160 B reading pays for ' +
        'far more than it uses); HTTP clients sending one event per request pay API Gateway, the authorizer and ' +
        'httpIngest per event.',
    ),
    bullet(
      '**Provisioned vs on-demand Kinesis.** On-demand bills every record as at least 1 KB on the way in and again ' +
        `for each reader (${target.traffic.enhancedReaders} enhanced fan-out consumers, ` +
        `${target.traffic.pollingReaders} polling); provisioned bills shard hours, 25 KB PUT units and ` +
        'consumer-shard hours, so small readings cost far less there, at the price of sizing the shards.',
    ),
    bullet(
      `**Raw readings in the events table vs the archive.** A reading in the table is ${1 + design.readingIndexes} ` +
        `writes (the table and the index that holds readings, projection ALL) and ${design.readingRetentionDays ?? 'unlimited'} ` +
        'days of storage with point-in-time recovery; in the archive it is its share of one packed Firehose record ' +
        '(Firehose bills each record as at least 5 KB: reading the stream itself, it would bill every ~465 B ' +
        'reading as 5 KB) and of gzipped S3 objects. The price is the query API: archived readings are queried with ' +
        'Athena, not `GET /events` (ADR 0018).',
    ),
    ...(dm
      ? [
          bullet(
            `**Metric buckets about once a minute.** With the topology's ${dm.readMode} window of ` +
              `${dm.maxBatchingWindowSeconds} s and batches of ${dm.batchSize}, a bucket is written as often as ` +
              "batches bring one of its device's readings: about once a minute per shard up to 10,000 readings a " +
              'minute per shard, more often beyond (a batch holds at most 10,000 records). A Lambda tumbling window ' +
              'would write each bucket once a minute at any rate, at the price of state carried between invocations ' +
              '(1 MB per shard); the row "deviceMetrics writing each bucket once a minute" prices the difference.',
          ),
        ]
      : []),
    '',
    '### Against the target',
    '',
    wrap(
      `At 10,000 device readings/s from 10,000 devices, the priced design comes to ${usd(target.perMillionEvents)} ` +
        `per million readings (${usd(target.totalUsd)} a month); the issue's target is at most $1.00. ` +
        (tabled ? `With raw readings kept in the events table too it would be ${usd(tabled.perMillionEvents)}; ` : '') +
        `with every cheaper choice of the table together, ${usd(best.perMillionEvents)}. What dominates the priced ` +
        'design there:',
    ),
    '',
    topTable,
    '',
    wrap(
      `Reference point: AWS's [Clickstream Analytics on AWS](${CLICKSTREAM}) publishes ~$1,108/month for its ` +
        'ingestion module at 1,000 requests/s (load balancer $396, ECS on EC2 $122, Kinesis on-demand $576, S3 $14). ' +
        'The ingestion part priced here at 1,000 msg/s (API Gateway, the authorizers and httpIngest, IoT Core, ' +
        `Kinesis) is ${usd(ingestionUsd(at1000))} a month; the whole system at that rate, storage and consumers ` +
        `included, ${usd(at1000.totalUsd)}.`,
    ),
  ].join('\n');
}

/** A paragraph wrapped at the docs' 116 columns (links and code spans stay whole). */
function wrap(text: string, indent = ''): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > 116 - indent.length) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines.map((l, i) => (i === 0 ? l : `${indent}${l}`)).join('\n');
}

const bullet = (text: string): string => `- ${wrap(text, '  ')}`;

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { book, design } = costContext();
  let doc = readFileSync(PERFORMANCE_DOC, 'utf8');
  // A new section goes before the measured block: the benchmark block stays last on the page (its writer's rule).
  if (!doc.includes(COST_START)) {
    const at = doc.indexOf(MEASURED);
    if (at < 0) throw new Error(`${PERFORMANCE_DOC}: no "${MEASURED}" heading to put the cost section before`);
    doc = `${doc.slice(0, at)}${COST_START}\n${COST_END}\n\n${doc.slice(at)}`;
  }
  const next = replaceBetween(doc, COST_START, COST_END, renderCostSection(book, design));
  if (next !== doc) writeFileSync(PERFORMANCE_DOC, next);
  console.log(`${next === doc ? 'unchanged' : 'wrote'} ${path.relative(process.cwd(), PERFORMANCE_DOC)}`);
}
