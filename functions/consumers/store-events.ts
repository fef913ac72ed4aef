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

/**
 * The sequence numbers of the first record of each event id in the batch. Records are written in parallel, so two
 * copies of one id in a batch would race for the conditional put; only the first copy (in stream order) is written,
 * and "the first delivery wins" holds. If that write fails, the batch is retried from it, copies included.
 */
function firstCopies(event: KinesisStreamEvent): Set<string> {
  const seen = new Set<string>();
  const first = new Set<string>();
  for (const record of event.Records) {
    let id: string;
    try {
      id = decodeEnvelope(record.kinesis.data).id;
    } catch {
      first.add(record.kinesis.sequenceNumber); // undecodable: let the record handler fail it
      continue;
    }
    if (!seen.has(id)) first.add(record.kinesis.sequenceNumber);
    seen.add(id);
  }
  return first;
}

/**
 * Stores every event once per id. A record that fails is reported in `batchItemFailures`, so the mapping retries
 * from it (and, bisecting, isolates it until its retries end in the on-failure queue) while the rest go on.
 */
export const lambdaHandler = async (
  event: KinesisStreamEvent,
  context: Context,
): Promise<KinesisStreamBatchResponse> => {
  const first = firstCopies(event);
  const storeRecord = async (record: KinesisStreamRecord): Promise<void> => {
    const envelope = decodeEnvelope(record.kinesis.data);
    if (!first.has(record.kinesis.sequenceNumber)) {
      logger.debug('later copy in the same batch ignored', { id: envelope.id });
      return;
    }
    const stored = await store.putIfAbsent(envelope, expiresAtFor(envelope));
    if (!stored) logger.debug('duplicate event ignored', { id: envelope.id });
  };
  const response = await processPartialResponse(event, storeRecord, processor, { context });
  if (response.batchItemFailures.length > 0)
    logger.warn('records failed', { failed: response.batchItemFailures.length, batch: event.Records.length });
  return response;
};

export const handler = middy(lambdaHandler);
