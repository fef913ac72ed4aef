import { z } from 'zod';

/**
 * The price book of `tem cost`: published AWS prices and the model's parameters, kept in one dated file
 * (policies/prices.json). Every key the model reads is named here, so a missing or mistyped entry fails at load with
 * its path rather than as a NaN in a total.
 */
export const PRICE_IDS = [
  'apiGatewayRestRequest',
  'lambdaRequest',
  'lambdaArmGbSecond',
  'iotConnectivityMinute',
  'iotMessage',
  'iotRuleTriggered',
  'iotActionExecuted',
  'kinesisOnDemandStreamHour',
  'kinesisOnDemandIngestGb',
  'kinesisOnDemandRetrievalGb',
  'kinesisOnDemandEfoRetrievalGb',
  'kinesisShardHour',
  'kinesisPutPayloadUnit',
  'kinesisEfoConsumerShardHour',
  'kinesisEfoRetrievalGb',
  'dynamodbWriteRequestUnit',
  'dynamodbReadRequestUnit',
  'dynamodbStorageGbMonth',
  'dynamodbPitrGbMonth',
  'firehoseIngestGb',
  'firehoseFormatConversionGb',
  's3StandardGbMonth',
  's3PutRequest',
  'sqsRequest',
  'cloudwatchLogsIngestGb',
  'cloudwatchLogsStorageGbMonth',
  'cloudwatchCustomMetricMonth',
  'cloudwatchAlarmMonth',
  'cloudwatchDashboardMonth',
  'xrayTraceRecorded',
] as const;
export type PriceId = (typeof PRICE_IDS)[number];

export const PARAMETER_IDS = [
  'hoursPerMonth',
  'readingPayloadBytes',
  'mqttTopicBytes',
  'readingRecordBytes',
  'readingItemBytes',
  'httpEventRecordBytes',
  'httpEventItemBytes',
  'metricsPerReading',
  'invalidReadingShare',
  'alertTransitionsPerMillionReadings',
  'alertStateItemBytes',
  'alertItemBytes',
  'authorizerCacheHitRatio',
  'authorizerCachedMs',
  'authorizerUncachedMs',
  'authorizerReadsPerMiss',
  'authorizerWarmContainers',
  'deviceAuthorizerMs',
  'deviceAuthorizerRefreshSeconds',
  'deviceControlMessagesPerDay',
  'httpIngestBaseMs',
  'httpIngestPerEventMs',
  'storeEventsBaseMs',
  'storeEventsPerRecordMs',
  'deviceMetricsBaseMs',
  'deviceMetricsPerRecordMs',
  'alertsBaseMs',
  'alertsPerRecordMs',
  'wsFanoutBaseMs',
  'wsFanoutPerRecordMs',
  'consumerDefaultBaseMs',
  'consumerDefaultPerRecordMs',
  'enhancedFanOutCycleSeconds',
  'pollingCycleSeconds',
  'metricsItemBaseBytes',
  'metricsIdBytes',
  'metricsWritesPerBucketMinute',
  'registryItemBytes',
  'shardWriteRecordsPerSecond',
  'shardWriteBytesPerSecond',
  'shardReadBytesPerSecond',
  'onDemandMinShards',
  'onDemandPeakHeadroom',
  'provisionedTargetUtilization',
  'kinesisOnDemandRecordRoundingBytes',
  'kinesisPutPayloadUnitBytes',
  'iotMeteringBytes',
  'dynamodbWriteUnitBytes',
  'dynamodbReadUnitBytes',
  'dynamodbItemOverheadBytes',
  'queryReadUnitsPerSecond',
  'storageHorizonMonths',
  'firehoseRecordRoundingBytes',
  'firehoseBufferSeconds',
  'firehosePutMs',
  'parquetBytesRatio',
  'gzipJsonBytesRatio',
  'archiveLineBytes',
  'lambdaLogBytesPerInvocation',
  'apiLogBytesPerRequest',
  'logStoredBytesRatio',
  'logRetentionMonths',
  'emfMetricNames',
  'apiMetricsPerMethod',
  'dashboards',
  'xrayReservoirPerSecond',
  'xraySampledShare',
] as const;
export type ParameterId = (typeof PARAMETER_IDS)[number];

const IsoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'expected a date YYYY-MM-DD');

const TierSchema = z.strictObject({ upTo: z.number().positive().nullable(), usd: z.number().nonnegative() });

export const PriceSchema = z
  .strictObject({
    /** USD per `per` units (the first tier's rate when tiered). */
    usd: z.number().nonnegative(),
    per: z.number().positive(),
    unit: z.string().min(1),
    /** Monthly volume tiers, `upTo` in units (not in `per`), ascending, the last one unbounded. */
    tiers: z.array(TierSchema).min(1).optional(),
    source: z.url({ protocol: /^https$/ }),
    retrievedOn: IsoDate,
    verified: z.boolean(),
    note: z.string().optional(),
  })
  .superRefine((price, ctx) => {
    if (!price.tiers) return;
    const bounds = price.tiers.map((t) => t.upTo);
    if (bounds.at(-1) !== null)
      ctx.addIssue({ code: 'custom', path: ['tiers'], message: 'the last tier needs upTo null' });
    const ascending = bounds.every((b, i) => {
      const previous = i === 0 ? 0 : bounds[i - 1];
      return previous !== null && previous !== undefined && (b === null || b > previous);
    });
    if (!ascending) ctx.addIssue({ code: 'custom', path: ['tiers'], message: 'tier bounds must be ascending numbers' });
    if (price.tiers[0]?.usd !== price.usd)
      ctx.addIssue({ code: 'custom', path: ['usd'], message: 'must equal the first tier' });
  });
export type Price = z.infer<typeof PriceSchema>;

export const ParameterSchema = z.strictObject({
  value: z.number().nonnegative(),
  unit: z.string().min(1),
  basis: z.enum(['measured', 'documented', 'design', 'assumed']),
  source: z.string().min(1),
  verified: z.boolean().optional(),
});
export type Parameter = z.infer<typeof ParameterSchema>;

const shapeOf = <K extends string, S extends z.ZodType>(keys: readonly K[], schema: S) =>
  Object.fromEntries(keys.map((k) => [k, schema])) as Record<K, S>;

export const PriceBookSchema = z.strictObject({
  $comment: z.string().optional(),
  region: z.literal('us-east-1'),
  currency: z.literal('USD'),
  retrievedOn: IsoDate,
  prices: z.strictObject(shapeOf(PRICE_IDS, PriceSchema)),
  parameters: z.strictObject(shapeOf(PARAMETER_IDS, ParameterSchema)),
});
export type PriceBook = z.infer<typeof PriceBookSchema>;

/** The price book, or an error naming every bad field by its path (`prices.kinesisShardHour.usd: ...`). */
export function parsePriceBook(document: unknown, name = 'policies/prices.json'): PriceBook {
  const parsed = PriceBookSchema.safeParse(document);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
  throw new Error(`${name} is invalid:\n- ${problems.join('\n- ')}`);
}

/** The monthly charge for `quantity` units, walking the tiers (each tier's units at its own rate). */
export function charge(price: Price, quantity: number): number {
  if (!price.tiers) return (quantity / price.per) * price.usd;
  let usd = 0;
  let from = 0;
  for (const tier of price.tiers) {
    const to = tier.upTo ?? Number.POSITIVE_INFINITY;
    const inTier = Math.max(0, Math.min(quantity, to) - from);
    usd += (inTier / price.per) * tier.usd;
    if (quantity <= to) break;
    from = to;
  }
  return usd;
}
