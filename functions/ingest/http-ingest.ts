import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { decodeCallerContext } from '../../shared/authorizer-context';
import { createIngestKinesisClient } from '../../shared/aws/clients';
import { KinesisPublisher } from '../../shared/aws/kinesis-publisher';
import { requireEnv } from '../../shared/config';
import { CORRELATION_ID_HEADER, correlationIdFor } from '../../shared/domain/correlation';
import { Rejection } from '../../shared/domain/errors';
import { parseBody, publishAll, toStreamRecord, validateEvents } from '../../shared/domain/ingest';
import { HttpError, header, json, REJECTION_STATUS } from '../../shared/http';
import { logger, MetricUnit, metrics } from '../../shared/observability';
import { httpLambda } from '../commons';

const publisher = new KinesisPublisher(createIngestKinesisClient(), requireEnv('EVENT_STREAM_NAME'));
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * The `Retry-After` of a 503 from the stream: the function already retried for its whole time budget, so the stream
 * is throttling or away for longer than a blip; a second before the producer resends the failed events (docs/ingestion.md).
 */
export const STREAM_UNAVAILABLE_RETRY_AFTER_SECONDS = 1;

/**
 * POST /events: 202 only once Kinesis acknowledged every record; 503 naming the ids that are not in.
 *
 * Metrics (flushed per invocation by `logMetrics`): `EventsAccepted` = events in the stream, `EventsRejected` =
 * events of a refused request (4xx; 1 when the body could not be read into events), `EventsFailed` = events the
 * stream did not take (503).
 */
export const lambdaHandler = async (event: APIGatewayProxyEvent, context: Context): Promise<APIGatewayProxyResult> => {
  const caller = decodeCallerContext(event.requestContext.authorizer);
  metrics.addMetadata('traceId', event.requestContext.requestId);
  let count = 1;
  try {
    const raw = event.body ?? '';
    const body = event.isBase64Encoded ? Buffer.from(raw, 'base64').toString('utf8') : raw;
    const items = parseBody(body, header(event, 'content-type'));
    count = items.length;
    const envelopes = validateEvents(items, {
      principalId: caller.principalId,
      principalName: caller.principalName,
      traceId: event.requestContext.requestId,
      correlationId: correlationIdFor(header(event, CORRELATION_ID_HEADER), event.requestContext.requestId),
      receivedAt: new Date(),
      eventTypes: caller.eventTypes,
      mayClaimAnySource: caller.mayClaimAnySource,
    });
    const report = await publishAll(publisher, envelopes.map(toStreamRecord), {
      remainingMs: () => context.getRemainingTimeInMillis(),
      sleep,
    });
    if (report.accepted.length > 0) metrics.addMetric('EventsAccepted', MetricUnit.Count, report.accepted.length);
    if (report.failed.length > 0) {
      metrics.addMetric('EventsFailed', MetricUnit.Count, report.failed.length);
      logger.warn('events not accepted by the stream', { accepted: report.accepted.length, failed: report.failed });
      const failedIds = new Set(report.failed.map((f) => f.id));
      throw new HttpError(
        503,
        'Some events were not accepted; retry those listed in "failed"',
        {
          accepted: report.accepted,
          failed: report.failed.map((f) => f.id),
          // Positions in the request: how a producer finds which of its events to resend, whatever their ids.
          failedIndexes: envelopes.flatMap((e, index) => (failedIds.has(e.id) ? [index] : [])),
        },
        { headers: { 'Retry-After': String(STREAM_UNAVAILABLE_RETRY_AFTER_SECONDS) } },
      );
    }
    // The ids (at most 500) let one event be followed from here (`tem trace`); the line has the correlation id.
    logger.info('events accepted', {
      count: report.accepted.length,
      principalId: caller.principalId,
      eventIds: report.accepted,
    });
    return json(202, { accepted: report.accepted.length, ids: report.accepted });
  } catch (error) {
    if (error instanceof Rejection) {
      metrics.addMetadata('status', String(REJECTION_STATUS[error.kind]));
      metrics.addMetric('EventsRejected', MetricUnit.Count, count);
    }
    throw error;
  }
};

export const handler = httpLambda(lambdaHandler, { metrics: true });
