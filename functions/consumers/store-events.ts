import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import middy from '@middy/core';
import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import { createDocumentClient } from '../../shared/aws/clients';
import { DynamoEventStore } from '../../shared/aws/dynamo-event-store';
import { requireEnv } from '../../shared/config';
import { expiresAtFor } from '../../shared/domain/retention';
import { decodeEnvelope } from '../../shared/domain/stream-records';
import { logger } from '../../shared/observability';

const store = new DynamoEventStore(createDocumentClient(), requireEnv('EVENTS_TABLE_NAME'));
const processor = new BatchProcessor(EventType.KinesisDataStreams);

async function storeRecord(record: KinesisStreamRecord): Promise<void> {
  const event = decodeEnvelope(record.kinesis.data);
  const stored = await store.putIfAbsent(event, expiresAtFor(event));
  if (!stored) logger.debug('duplicate event ignored', { id: event.id });
}

/**
 * Stores every event once per id. A record that fails is reported in `batchItemFailures`, so the mapping retries
 * from it (and, bisecting, isolates it until its retries end in the on-failure queue) while the rest go on.
 */
export const lambdaHandler = async (
  event: KinesisStreamEvent,
  context: Context,
): Promise<KinesisStreamBatchResponse> => {
  const response = await processPartialResponse(event, storeRecord, processor, { context });
  if (response.batchItemFailures.length > 0)
    logger.warn('records failed', { failed: response.batchItemFailures.length, batch: event.Records.length });
  return response;
};

export const handler = middy(lambdaHandler);
