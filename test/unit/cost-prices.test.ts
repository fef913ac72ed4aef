import { describe, expect, it } from 'vitest';
import { topology } from '../../infra/topology';
import { designFromTopology } from '../../infra/topology/cost-design';
import pricesDocument from '../../policies/prices.json' with { type: 'json' };
import { costInputFrom } from '../../scripts/commands/cost';
import { charge, PARAMETER_IDS, PRICE_IDS, parsePriceBook } from '../../shared/domain/cost/prices';

const clone = (): Record<string, unknown> & { prices: Record<string, Record<string, unknown>> } =>
  structuredClone(pricesDocument) as never;
const errorOf = (doc: unknown): string => {
  try {
    parsePriceBook(doc);
  } catch (error) {
    return (error as Error).message;
  }
  return 'no error';
};

describe('policies/prices.json', () => {
  it('loads, dated, with a source and a verified flag on every price', () => {
    const book = parsePriceBook(pricesDocument);
    expect(book.region).toBe('us-east-1');
    expect(Object.keys(book.prices).sort()).toEqual([...PRICE_IDS].sort());
    expect(Object.keys(book.parameters).sort()).toEqual([...PARAMETER_IDS].sort());
    for (const price of Object.values(book.prices))
      expect(price.source).toMatch(/^https:\/\/(aws\.amazon\.com|docs\.aws)/);
  });

  it('names the field of a missing price', () => {
    const doc = clone();
    delete doc.prices.kinesisShardHour;
    expect(errorOf(doc)).toMatch(/prices\.kinesisShardHour: .*expected object/);
  });

  it('names the field of a price that is not a number, and of an unknown key', () => {
    const doc = clone();
    (doc.prices.lambdaRequest as Record<string, unknown>).usd = '0.20';
    (doc.prices.lambdaRequest as Record<string, unknown>).usdPerMillion = 0.2;
    const message = errorOf(doc);
    expect(message).toMatch(/prices\.lambdaRequest\.usd: .*expected number/);
    expect(message).toMatch(/prices\.lambdaRequest: .*usdPerMillion/);
  });

  it('refuses a non-https source, a bad date and a parameter without a basis', () => {
    const doc = clone();
    doc.prices.sqsRequest = { ...doc.prices.sqsRequest, source: 'http://example.com', retrievedOn: '2 Dec 2026' };
    (doc.parameters as Record<string, Record<string, unknown>>).hoursPerMonth = { value: 730, unit: 'h', source: 'x' };
    const message = errorOf(doc);
    expect(message).toMatch(/prices\.sqsRequest\.source/);
    expect(message).toMatch(/prices\.sqsRequest\.retrievedOn: expected a date YYYY-MM-DD/);
    expect(message).toMatch(/parameters\.hoursPerMonth\.basis/);
  });

  it('refuses tiers out of order, without an open last tier, or whose first rate is not the headline rate', () => {
    const doc = clone();
    doc.prices.iotMessage = {
      ...doc.prices.iotMessage,
      usd: 2,
      tiers: [
        { upTo: 5e9, usd: 1 },
        { upTo: 1e9, usd: 0.8 },
      ],
    };
    const message = errorOf(doc);
    expect(message).toContain('prices.iotMessage.tiers: the last tier needs upTo null');
    expect(message).toContain('prices.iotMessage.tiers: tier bounds must be ascending numbers');
    expect(message).toContain('prices.iotMessage.usd: must equal the first tier');
  });

  it('charges tiers in turn: 1.5 billion REST requests', () => {
    const { apiGatewayRestRequest } = parsePriceBook(pricesDocument).prices;
    // 333M × $3.50/M + 667M × $2.80/M + 500M × $2.38/M = 1,165.50 + 1,867.60 + 1,190.00
    expect(charge(apiGatewayRestRequest, 1.5e9)).toBeCloseTo(4223.1, 6);
    expect(charge(apiGatewayRestRequest, 1e6)).toBeCloseTo(3.5, 9);
  });
});

describe('the design comes from the topology', () => {
  const design = designFromTopology(topology, { alertRules: 2, readingRetentionDays: 30, eventRetentionDays: null });

  it('reads each consumer as the topology declares it, and the memory of each function', () => {
    expect(design.consumers.map((c) => [c.function, c.readMode, c.batchSize, c.maxBatchingWindowSeconds])).toEqual(
      topology.streamConsumers.map((c) => [c.function, c.readMode, c.batchSize, c.maxBatchingWindowSeconds]),
    );
    expect(design.memoryMb.httpIngest).toBe(topology.functions.httpIngest.memoryMb);
    expect(design.memoryMb.apiAuthorizer).toBe(topology.functions[topology.authorizer.function].memoryMb);
    expect(design.eventsTableIndexes).toBe(topology.tables.eventsTable.globalIndexes.length);
  });

  it('counts the alarms infra/aws/stack.ts builds', () => {
    const queues = Object.values(topology.queues);
    expect(design.alarms).toBe(
      queues.length +
        topology.streamConsumers.length +
        Object.keys(topology.functions).length +
        1 +
        2 * Object.keys(topology.archives).length,
    );
  });
});

describe('tem cost flags', () => {
  const design = designFromTopology(topology, { alertRules: 2, readingRetentionDays: 30, eventRetentionDays: null });

  it('defaults to the planned design and the topology capacity mode', () => {
    const { input, json } = costInputFrom(['--events-per-second', '500', '--json'], design);
    expect(json).toBe(true);
    expect(input).toMatchObject({ eventsPerSecond: 500, devices: 500, httpShare: 0.2, batch: 100, stage: 'prod' });
    expect(input.kinesis).toBe(design.streamCapacity);
    expect(input.rawReadings).toBe('dynamodb');
  });

  it('refuses what it cannot price, with the usage', () => {
    expect(() => costInputFrom([], design)).toThrow(/--events-per-second is required/);
    expect(() => costInputFrom(['--events-per-second', '10', '--http-share', '1.5'], design)).toThrow(
      /--http-share must be a number from 0 to 1/,
    );
    expect(() => costInputFrom(['--events-per-second', '10', '--raw-readings', 's3'], design)).toThrow(
      /--raw-readings must be one of table, archive, both/,
    );
    expect(() => costInputFrom(['--events-per-second', '10', '--batch', '2.5'], design)).toThrow(/an integer/);
    expect(() => costInputFrom(['--events-per-second', '10', '--bogus', '1'], design)).toThrow(/bogus/);
  });
});
