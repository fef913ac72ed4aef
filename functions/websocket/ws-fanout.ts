import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { webSocket } from '../../infra/topology/resources';
import { wsDeliveryFromEnv } from '../../shared/aws/ws-delivery-from-env';
import { batchTraces } from '../../shared/domain/correlation';
import type { EventEnvelope } from '../../shared/domain/events';
import { decodeStreamRecord } from '../../shared/domain/stream-records';
import { logger } from '../../shared/observability';
import { lambda } from '../commons';

const delivery = wsDeliveryFromEnv('fanout', webSocket.limits);

/**
 * Pushes the batch's events to the WebSocket connections whose subscriptions match them, in stream order (ADR 0014).
 * Records that are not events (an invalid reading, a poison record) are skipped: the store consumer reports and
 * parks them. Delivery is at most once: only a failure to learn who is connected (the connections table) fails the
 * batch, which the mapping retries while the records are under a minute old.
 */
export const lambdaHandler = async (event: KinesisStreamEvent): Promise<KinesisStreamBatchResponse> => {
  // Decoded only when some connection has a subscription: with nobody watching live a batch costs one GetItem.
  const events: EventEnvelope[] = [];
  const stats = await delivery.deliverEvents(() => {
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
  // The batch's ids only when something was pushed: the events matched against the subscriptions (ADR 0016).
  if (stats.posts > 0 || stats.dropped > 0 || stats.gone > 0) {
    const [first, ...more] = stats.posts > 0 ? batchTraces(events) : [];
    logger.info('WebSocket deliveries', { ...stats, ...first });
    for (const trace of more) logger.info('WebSocket deliveries', { ...trace });
  }
  return { batchItemFailures: [] };
};

export const handler = lambda(lambdaHandler);
