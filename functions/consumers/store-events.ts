import middy from '@middy/core';
import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { createDocumentClient } from '../../shared/aws/clients';
import { DynamoEventStore } from '../../shared/aws/dynamo-event-store';
import { requireEnv } from '../../shared/config';
import { planStoreBatch } from '../../shared/domain/store-batch';
import { logger } from '../../shared/observability';

const store = new DynamoEventStore(createDocumentClient(), requireEnv('EVENTS_TABLE_NAME'));
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
/**
 * How long one invocation keeps retrying writes a busy table did not take (unprocessed items, throttling; a table out
 * of reach gets a few attempts only, see the store): a longer problem is the mapping's to retry (ADR 0005). It also
 * keeps the last attempt (the client's 5 s request timeout) well inside the function's timeout.
 */
const RETRY_WINDOW_MS = 5000;
const CALL_TIMEOUT_MS = 5000;
const REPORT_MARGIN_MS = 1000;

/**
 * Stores every event of the batch: one item per id, 25 per BatchWriteItem call. A record is reported in
 * `batchItemFailures` only when its item was not written (its write kept failing for the whole time budget), or when
 * it is not an event at all (the mapping then bisects and retries it until its retries end in the on-failure queue),
 * so the mapping retries from the first such record and nothing after it is skipped.
 */
export const lambdaHandler = async (
  event: KinesisStreamEvent,
  context: Context,
): Promise<KinesisStreamBatchResponse> => {
  const plan = planStoreBatch(event.Records);
  for (const poison of plan.undecodable)
    logger.error('record is not an event', { sequenceNumber: poison.sequenceNumber, reason: poison.reason });
  const retryUntil = Math.min(
    Date.now() + RETRY_WINDOW_MS,
    Date.now() + context.getRemainingTimeInMillis() - CALL_TIMEOUT_MS - REPORT_MARGIN_MS,
  );
  const { unwritten } = await store.putAll(plan.entries, { retryUntil, sleep });
  const failed = plan.failedSequenceNumbers(unwritten);
  if (unwritten.length > 0)
    logger.warn('events not stored within the time budget', { unwritten: unwritten.length, batch: plan.size });
  logger.debug('batch stored', { records: plan.size, written: plan.entries.length - unwritten.length });
  return { batchItemFailures: failed.map((itemIdentifier) => ({ itemIdentifier })) };
};

export const handler = middy(lambdaHandler);
