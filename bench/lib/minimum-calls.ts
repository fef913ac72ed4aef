import type { KinesisStreamEvent } from 'aws-lambda';
import { alertRules } from '../../shared/domain/alert-rules';
import { alertBatchShape, minimumAlertCalls, positionOf, type RuleState, toReading } from '../../shared/domain/alerts';
import { minimumCalls, type Reading, readingFromEvent } from '../../shared/domain/device-metrics';
import { planStoreBatch } from '../../shared/domain/store-batch';
import { decodeStreamRecord } from '../../shared/domain/stream-records';

/** The event a record holds, or undefined for a reading that fails validation (it costs no consumer call). */
function eventOf(data: string) {
  const decoded = decodeStreamRecord(data);
  return decoded.kind === 'event' ? decoded.envelope : undefined;
}

/** A batch's records as the store consumer's batch pass decodes them (the bench sends no poison records). */
const decodedRecords = (batch: KinesisStreamEvent) =>
  batch.Records.map((r) => ({ sequenceNumber: r.kinesis.sequenceNumber, decoded: decodeStreamRecord(r.kinesis.data) }));

/**
 * The fewest AWS calls each consumer's design allows for the batches it is handed (the denominator of "calls per
 * 1,000 records vs the minimum"), from the domain's own pure functions, batch by batch as the mapping hands them.
 */
export interface Minimum {
  total: number;
  /** Same keys as `awsCallCounts()` where the domain names them. */
  byCommand?: Record<string, number>;
  rule: string;
}

/** Store: each batch's distinct event ids (`planStoreBatch`) in BatchWriteItem calls of 25. */
export function storeMinimum(batches: readonly KinesisStreamEvent[]): Minimum {
  const total = batches.reduce((n, b) => n + Math.ceil(planStoreBatch(decodedRecords(b)).entries.length / 25), 0);
  return {
    total,
    byCommand: { 'DynamoDBClient.BatchWriteItemCommand': total },
    rule: 'ceil(ids/25) BatchWriteItem per batch',
  };
}

/** Device metrics: `minimumCalls` of shared/domain/device-metrics (a write per bucket touched, one per device). */
export function deviceMetricsMinimum(batches: readonly KinesisStreamEvent[]): Minimum {
  let total = 0;
  for (const batch of batches) {
    const readings: Reading[] = [];
    for (const record of batch.Records) {
      const event = eventOf(record.kinesis.data);
      const outcome = event ? readingFromEvent(event) : undefined;
      if (outcome?.kind === 'reading') readings.push(outcome.reading);
    }
    total += minimumCalls(readings);
  }
  return { total, rule: '`minimumCalls`: one write per (device, metric, minute) bucket + one per device' };
}

/** Alerts: `minimumAlertCalls` of the batches' shapes (`alertBatchShape`), states carried from batch to batch. */
export function alertsMinimum(batches: readonly KinesisStreamEvent[]): Minimum {
  let states = new Map<string, RuleState>();
  // The consumer keeps states between batches of a shard (one container per shard at best).
  const cached = new Set<string>();
  const shapes = [];
  for (const batch of batches) {
    const readings = batch.Records.flatMap((record) => {
      const event = eventOf(record.kinesis.data);
      if (!event) return [];
      const outcome = toReading(event, positionOf(record.eventID, record.kinesis.sequenceNumber));
      return 'reading' in outcome ? [outcome.reading] : [];
    });
    const next = alertBatchShape(alertRules, readings, states, cached);
    shapes.push(next.shape);
    states = next.states;
  }
  const calls = minimumAlertCalls(shapes);
  return {
    total: calls.total,
    byCommand: calls.byCommand,
    rule: '`minimumAlertCalls`: BatchGetItem of the states, a write per changed state and alert, marks, notifications',
  };
}
