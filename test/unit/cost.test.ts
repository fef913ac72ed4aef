import { describe, expect, it } from 'vitest';
import pricesDocument from '../../policies/prices.json' with { type: 'json' };
import { alternatives, defaultInput } from '../../shared/domain/cost/alternatives';
import type { CostDesign } from '../../shared/domain/cost/design';
import { estimate, paramsOf } from '../../shared/domain/cost/model';
import { parsePriceBook } from '../../shared/domain/cost/prices';
import { bucketWriteUnits, consumerLoad } from '../../shared/domain/cost/traffic';

/**
 * A hand-computed month at 1,000 events/s from 1,000 devices, 20 % HTTP in requests of 100, priced with
 * policies/prices.json as committed (recompute this by hand when a price or parameter there changes). The design is
 * pinned here, as the topology has it at the time of writing, so a topology change does not move these figures.
 *
 * S = 730 h × 3,600 = 2,628,000 s; 43,800 minutes; 30.4167 days; GB = 2^30 B.
 * HTTP 200 events/s → 2 requests/s; readings 800/s → 800 messages/s; stream 1,000 records/s.
 * On-demand shards: max(4, ceil(2 × 1,000/1,000)) = 4, so 250 records/s per shard.
 * storeEvents (fan-out, cycle 0.1 s): 25 records per invocation → 40/s, ceil(15 + 0.1 × 25) = 18 ms.
 * deviceMetrics (polling, 1 s): 250 per invocation → 4/s, ceil(15 + 0.05 × 250) = 28 ms.
 * alerts (fan-out, 0.1 s): 25 per invocation → 40/s, ceil(20 + 0.05 × 25) = 22 ms.
 * Alert transitions: 800 × S × 50 / 1e6 = 105,120 a month.
 */
const design: CostDesign = {
  memoryMb: {
    apiAuthorizer: 256,
    deviceAuthorizer: 256,
    httpIngest: 512,
  },
  consumers: [
    {
      function: 'storeEvents',
      memoryMb: 512,
      readMode: 'enhancedFanOut',
      batchSize: 500,
      maxBatchingWindowSeconds: 0,
      parallelizationFactor: 1,
    },
    {
      function: 'deviceMetrics',
      memoryMb: 512,
      readMode: 'polling',
      batchSize: 1000,
      maxBatchingWindowSeconds: 1,
      parallelizationFactor: 1,
    },
    {
      function: 'alerts',
      memoryMb: 512,
      readMode: 'enhancedFanOut',
      batchSize: 100,
      maxBatchingWindowSeconds: 0,
      parallelizationFactor: 1,
    },
  ],
  streamCapacity: 'onDemand',
  eventsTableIndexes: 2,
  readingIndexes: 1,
  alertsTableIndexes: 2,
  rulesPerReading: 1,
  actionsPerRule: 1,
  alertRules: 2,
  readingRetentionDays: 30,
  eventRetentionDays: null,
  metricsRetentionDays: 30,
  authEpochCheckSeconds: 5,
  routes: 9,
  logMetricFilters: 1,
  alarms: 22,
};
const book = parsePriceBook(pricesDocument);
// Priced with metric buckets written once a minute and rule states read each batch: the hand computation below
// assumes both.
const input = defaultInput(design, {
  eventsPerSecond: 1000,
  devices: 1000,
  metricsWrites: 'planned',
  alertStateReads: 'perBatch',
});
const e = estimate(input, design, book);

// [service, item starts with, quantity a month, USD a month]
const expected: [string, string, number, number][] = [
  ['API Gateway', 'REST requests', 5_256_000, 18.396], // 2/s × S; × $3.50/M (first tier)
  // Lambda: requests × $0.20/M; GB-s = invocations × GB × s, × $0.0000133334 (total 2.35M GB-s: first tier)
  ['Lambda', 'apiAuthorizer requests', 5_256_000, 1.0512],
  ['Lambda', 'apiAuthorizer 256 MB', 1392.84, 0.0185713], // 0.99 × 1 ms + 0.01 × ceil(6.09) = 1.06 ms; × 0.25 GB
  ['Lambda', 'httpIngest requests', 5_256_000, 1.0512],
  ['Lambda', 'httpIngest 512 MB', 73_584, 0.981125], // ceil(20 + 0.0759 × 100) = 28 ms × 0.5 GB
  ['Lambda', 'deviceAuthorizer requests', 8_760_000, 1.752], // 1,000 devices × S / 300 s refresh
  ['Lambda', 'deviceAuthorizer 256 MB', 21_900, 0.292001], // 10 ms × 0.25 GB
  ['Lambda', 'storeEvents requests', 105_120_000, 21.024], // 40/s × S
  ['Lambda', 'storeEvents 512 MB', 946_080, 12.6145], // 18 ms × 0.5 GB
  ['Lambda', 'deviceMetrics requests', 10_512_000, 2.1024], // 4/s × S
  ['Lambda', 'deviceMetrics 512 MB', 147_168, 1.96225], // 28 ms × 0.5 GB
  ['Lambda', 'alerts requests', 105_120_000, 21.024],
  ['Lambda', 'alerts 512 MB', 1_156_320, 15.4177], // 22 ms × 0.5 GB
  ['IoT Core', 'connectivity', 43_800_000, 3.504], // 1,000 × 43,800 min × $0.08/M
  ['IoT Core', 'reading messages over Basic Ingest', 2_102_400_000, 0], // 800/s × S, not metered
  ['IoT Core', 'CONNECT and SUBSCRIBE', 60_833.33, 0.0608333], // 1,000 × 2 × 30.4167 days × $1/M
  ['IoT Core', 'alert publish', 210_240, 0.21024], // 105,120 transitions × 2 messages
  ['IoT Core', 'rules triggered', 2_102_400_000, 315.36], // 162 B message = one 5 KB unit; × $0.15/M
  ['IoT Core', 'Kinesis actions', 2_102_400_000, 315.36],
  ['Kinesis', 'on-demand stream', 730, 29.2], // × $0.04
  // 1,000 records/s × S × 1 KB (600 B and 160 B both round up to 1,024 B) / 2^30 = 2,506.256 GB
  ['Kinesis', 'data in', 2506.256, 200.5005], // × $0.08
  ['Kinesis', 'retrieval by 1 polling', 2506.256, 100.2502], // deviceMetrics; × $0.04
  ['Kinesis', 'enhanced fan-out retrieval', 5012.512, 250.6256], // 2 consumers; × $0.05
  // DynamoDB writes × $0.625/M: one write per item of up to 1 KB, repeated for the two indexes (3 copies); a reading
  // is in one index only (the type index is sparse: 2 copies)
  ['DynamoDB', 'business events stored', 1_576_800_000, 985.5], // 200/s × S × 1 × 3
  ['DynamoDB', 'raw readings stored', 4_204_800_000, 2628], // 800/s × S × 1 × 2
  // 48 readings per device-minute; once a minute: ceil((100 + 36 × 48) / 1,024) = 2 WRU; 1,000 × 3 metrics × 43,800
  ['DynamoDB', 'metric buckets', 262_800_000, 164.25],
  ['DynamoDB', 'device registry', 43_800_000, 27.375], // 1,000 × 43,800 × 1 WRU
  ['DynamoDB', 'alert state and alert items', 525_600, 0.3285], // 105,120 × (2 WRU state + 1 WRU alert × 3)
  // 40 batches/s × 20 devices (25 records × 0.8 readings) × 2 rules × 1 RRU (2 KB, strongly consistent); × $0.125/M
  ['DynamoDB', 'alert rule states', 4_204_800_000, 525.6],
  // (5,256,000 × 0.01 × 2 misses + 10 containers / 5 s × S + 8,760,000 × 2) × 0.5 RRU
  ['DynamoDB', 'authorizer reads', 11_440_560, 1.43007],
  ['DynamoDB', 'query API reads', 26_280_000, 3.285], // 10 RRU/s × S
  // events 200/s × 365 days (12 months) × 86,400 × 750 B × 3 + readings 800/s × 30 days × 86,400 × 480 B × 2
  // + buckets 3,000/min × 43,200 min × (100 + 1,728 + 100) B + registry 1,000 × 400 B + states 2,000 × 2,148 B
  // = 16,431,729,496,000 B = 15,303.24 GB
  ['DynamoDB', 'storage', 15_303.24, 3825.81], // × $0.25
  ['DynamoDB', 'point-in-time recovery', 15_303.24, 3060.648], // × $0.20
  ['SQS', 'alerts queue', 105_120, 0.042048], // × $0.40/M
  ['SQS', 'telemetryErrors', 2_102_400, 0.84096], // 0.1 % of the readings
  // (240,024,000 invocations × 1,000 B + 5,256,000 requests × 2,500 B) / 2^30 = 235.777 GB
  ['CloudWatch', 'logs ingested', 235.7773, 117.8887], // × $0.50
  ['CloudWatch', 'logs stored', 35.3666, 1.061], // × 0.15 × 1 month × $0.03
  ['CloudWatch', 'custom metrics', 72, 21.6], // 8 EMF + 9 routes × 7 + 1 log filter; × $0.30
  ['CloudWatch', 'alarms', 22, 2.2], // × $0.10
  ['CloudWatch', 'dashboards', 0, 0],
  // per second: API 1 + 0.05 × 1; deviceAuthorizer 1 + 0.05 × 2.333; consumers 1 + 0.05 × 39 (twice) and 1 + 0.05 × 3
  // = 9.21667/s × S = 24,221,400; × $5/M
  ['X-Ray', 'traces recorded', 24_221_400, 121.107],
];

describe('cost model: a hand-computed month at 1,000 events/s', () => {
  it('prices every line as computed by hand, in order', () => {
    expect(e.lines.map((l) => [l.service, l.item])).toEqual(
      expected.map(([service], i) => [service, expect.stringContaining(expected[i]?.[1] ?? '')]),
    );
    e.lines.forEach((line, i) => {
      const [, item, quantity, usd] = expected[i] as [string, string, number, number];
      expect(line.quantity, `${item}: quantity`).toBeCloseTo(quantity, quantity > 100 ? -1 : 2);
      expect(line.usd, `${item}: USD`).toBeCloseTo(usd, 3);
    });
  });

  it('adds the lines up to the total, and the total per million events', () => {
    // The sum of the USD column above: 12,799.73; 1,000 × S = 2,628 million events.
    expect(e.totalUsd).toBeCloseTo(12_799.725, 2);
    expect(e.perMillionEvents).toBeCloseTo(12_799.725 / 2628, 5);
    expect(Object.values(e.byService).reduce((a, b) => a + b, 0)).toBeCloseTo(e.totalUsd, 6);
  });

  it('says the topology writes metric buckets more often than the planned once a minute', () => {
    // 250 records per batch, 60 batches a minute per shard: min(48 readings, 60) writes per bucket-minute.
    expect(e.notes.join('\n')).toContain('writes a bucket 48 times a minute');
  });
});

describe('cost model: the alerts state cache (the default)', () => {
  it('prices one shard claim write per alerts batch instead of the state reads', () => {
    const cached = estimate({ ...input, alertStateReads: 'cached' }, design, book);
    const claims = cached.lines.find((l) => l.item.startsWith('alerts shard claims'));
    // 40 batches/s × S = 105,120,000 WRU; × $0.625/M
    expect(claims?.quantity).toBeCloseTo(105_120_000, -1);
    expect(claims?.usd).toBeCloseTo(65.7, 3);
    expect(cached.lines.some((l) => l.item.startsWith('alert rule states'))).toBe(false);
    expect(cached.totalUsd).toBeCloseTo(e.totalUsd - 525.6 + 65.7, 2);
    expect(defaultInput(design, { eventsPerSecond: 1 }).alertStateReads).toBe('cached');
  });
});

describe('cost model: the design choices', () => {
  const byName = (start: string) => alternatives(e, design, book).find((a) => a.name.startsWith(start));

  it('provisioned Kinesis: ceil(1,000 records/s ÷ 1,000 ÷ 0.8) = 2 shards instead of per-GB billing', () => {
    const p = estimate({ ...input, kinesis: 'provisioned' }, design, book);
    expect(p.traffic.shards).toBe(2);
    // 2 × 730 × $0.015 + 2,628M PUT units × $0.014/M + 2 consumers × 2 shards × 730 × $0.015
    // + 2 × 248,000 B/s × S / 2^30 GB × $0.013 = 21.90 + 36.792 + 43.80 + 15.78 = 118.27
    expect(p.byService.Kinesis).toBeCloseTo(21.9 + 36.792 + 43.8 + (2 * 248_000 * 2_628_000 * 0.013) / 2 ** 30, 2);
  });

  it('the plain topic meters every reading message at $1 per million (first billion), then $0.80', () => {
    const b = estimate({ ...input, ingestTopic: 'brokerTopic' }, design, book);
    // 2,102,400,000 + 271,073 other messages: 1e9 × $1/M + 1,102,671,073 × $0.80/M = 1,882.14
    expect((b.byService['IoT Core'] ?? 0) - (e.byService['IoT Core'] ?? 0)).toBeCloseTo(
      1000 + 1_102.6711 * 0.8 - 0.271073,
      2,
    );
  });

  it('every cheaper choice together costs less than any one alone', () => {
    const all = alternatives(e, design, book);
    const combined = all.at(-1);
    expect(combined?.name).toMatch(/^all \d cheaper choices together$/);
    for (const a of all.slice(0, -1)) expect(combined?.totalUsd).toBeLessThanOrEqual(a.totalUsd + 1e-6);
    expect(byName('raw readings in the archive only')?.deltaUsd).toBeLessThan(0);
  });
});

describe('cost model: batches and buckets', () => {
  const p = paramsOf(book);

  it('prices a consumer the price book has no figures for with the consumer defaults, and its own memory', () => {
    const spec = {
      function: 'auditTrail',
      memoryMb: 1024,
      readMode: 'polling' as const,
      batchSize: 100,
      maxBatchingWindowSeconds: 1,
      parallelizationFactor: 1,
    };
    const c = consumerLoad(spec, 400, 4, p);
    // 100 records/s per shard × 1 s = 100 per invocation: ceil(20 + 0.1 × 100) = 30 ms.
    expect(c.billedMs).toBe(Math.ceil(p.consumerDefaultBaseMs + p.consumerDefaultPerRecordMs * 100));
    expect(c.memoryMb).toBe(1024);
    const known = consumerLoad({ ...spec, function: 'storeEvents' }, 400, 4, p);
    expect(known.billedMs).toBe(Math.ceil(p.storeEventsBaseMs + p.storeEventsPerRecordMs * 100));
  });

  it('a batching window longer than the poll interval fills the batch for the whole window', () => {
    const c = consumerLoad(
      {
        function: 'deviceMetrics',
        memoryMb: 512,
        readMode: 'polling',
        batchSize: 10_000,
        maxBatchingWindowSeconds: 5,
        parallelizationFactor: 1,
      },
      1000,
      4,
      p,
    );
    // 250 records/s per shard × 5 s = 1,250 per invocation; 1,000 records/s ÷ 1,250 = 0.8 invocations/s
    expect(c.recordsPerInvocation).toBe(1250);
    expect(c.invocationsPerSecond).toBeCloseTo(0.8, 9);
    expect(c.batchesPerLaneMinute).toBeCloseTo(12, 9);
  });

  it('a bucket written per reading pays for the ids it has gathered so far', () => {
    // 48 writes in the minute, the k-th holds k ids: ceil((100 + 36k) / 1,024) = 1 for k ≤ 25, 2 for k = 26..48
    expect(bucketWriteUnits(48, 48, p)).toBeCloseTo((25 * 1 + 23 * 2) / 48, 9);
    // once a minute with all 48 ids: ceil(1,828 / 1,024) = 2
    expect(bucketWriteUnits(1, 48, p)).toBe(2);
  });
});
