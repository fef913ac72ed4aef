import middy from '@middy/core';
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { topology } from '../../infra/topology';
import { wsDeliveryFromEnv } from '../../shared/aws/ws-delivery-from-env';
import type { EventEnvelope } from '../../shared/domain/events';
import { decodeStreamRecord } from '../../shared/domain/stream-records';
import { logger } from '../../shared/observability';

const delivery = wsDeliveryFromEnv('fanout', topology.webSocket.limits);

/**
 * Pushes the batch's events to the WebSocket connections whose subscriptions match them, in stream order (ADR 0014).
 * Records that are not events (an invalid reading, a poison record) are skipped: the store consumer reports and
 * parks them. Delivery is at most once: only a failure to learn who is connected (the connections table) fails the
 * batch, which the mapping retries while the records are under a minute old.
 */
export const lambdaHandler = async (event: KinesisStreamEvent): Promise<KinesisStreamBatchResponse> => {
  // Decoded only when some connection has a subscription: with nobody watching live a batch costs one GetItem.
  const stats = await delivery.deliverEvents(() => {
    const events: EventEnvelope[] = [];
    for (const record of event.Records) {
      try {
        const decoded = decodeStreamRecord(record.kinesis.data);
        if (decoded.kind === 'event') events.push(decoded.envelope);
      } catch {
        // not an event: the store consumer parks it
      }
    }
    return events;
  });
  if (stats.posts > 0 || stats.dropped > 0 || stats.gone > 0) logger.info('WebSocket deliveries', { ...stats });
  return { batchItemFailures: [] };
};

export const handler = middy(lambdaHandler);
