import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy, { type MiddlewareObj, type MiddyfiedHandler } from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { CORRELATION_ID_HEADER, correlationIdFor } from '../shared/domain/correlation';
import { header, httpErrors } from '../shared/http';
import { logger, metrics, tracer } from '../shared/observability';

// Loaded with the tracer only (shared/observability.ts says why): the middleware imports the X-Ray SDK too.
const captureLambdaHandler = tracer
  ? (await import('@aws-lambda-powertools/tracer/middleware')).captureLambdaHandler
  : undefined;

/**
 * The one middleware chain of every function (the Powertools "commons" pattern), so a new function cannot forget a
 * part of it: every `functions/**` handler is `export const handler = lambda(lambdaHandler)` or
 * `httpLambda(lambdaHandler)`, which test/unit/commons.test.ts checks for every function of the topology.
 *
 * Order (middy runs `before` in `use` order, `after` and `onError` in reverse):
 * 1. the logger's Lambda context (request id, cold start, X-Ray trace id) and the request's correlation id: first
 *    in, last out, so every line of the invocation, the error lines of the later middlewares included, carries them;
 * 2. the tracer's handler subsegment, then the annotations (neither where tracing is off: the tracer is not loaded);
 * 3. metrics, when the function reports any: flushed once per invocation, also after an error;
 * 4. HTTP only: the correlation id echoed in the answer, and `httpErrors` last, so it maps an error to an answer
 *    first and every middleware above sees that answer.
 */
export interface ChainOptions {
  /** The function adds metrics (`metrics.addMetric`): flush them as one EMF line per invocation. */
  metrics?: boolean;
}

type LambdaFn<E, R> = (event: E, context: Context) => Promise<R>;
type Request = Parameters<NonNullable<MiddlewareObj['before']>>[0];

interface ApiGatewayLike {
  requestContext?: { requestId?: unknown; authorizer?: { principalId?: unknown } | null } | null;
  headers?: Record<string, string | undefined> | null;
  Records?: unknown;
}

const asApiGateway = (event: unknown): ApiGatewayLike =>
  typeof event === 'object' && event !== null ? (event as ApiGatewayLike) : {};

/**
 * The correlation id of an API Gateway event (REST proxy, REQUEST authorizer, WebSocket route): the caller's
 * `X-Correlation-Id` when valid, else the request id. Other events (stream and queue batches, schedules) carry one
 * per record, which their handlers log per batch.
 */
export function requestCorrelationId(event: unknown): string | undefined {
  const { requestContext, headers } = asApiGateway(event);
  const requestId = requestContext?.requestId;
  if (typeof requestId !== 'string' || requestId === '') return undefined;
  return correlationIdFor(header({ headers: headers ?? {} }, CORRELATION_ID_HEADER), requestId);
}

/** Where the chain keeps the invocation's correlation id for the answer (middy's per-request `internal`). */
const CORRELATION_KEY = 'tem.correlationId';
const internalOf = (request: { internal: object }) => request.internal as Record<string, unknown>;

const correlation: MiddlewareObj = {
  before: (request) => {
    const id = requestCorrelationId(request.event);
    if (id === undefined) return;
    // Powertools' own key name; `resetKeys` (below) removes it after the invocation.
    logger.appendKeys({ correlation_id: id });
    internalOf(request)[CORRELATION_KEY] = id;
  },
};

/** Indexed annotations, few on purpose: how many records a batch holds, who called. `ColdStart`/`Service` are the tracer's. */
const annotations: MiddlewareObj = {
  before: (request) => {
    if (!tracer?.isTracingEnabled()) return;
    const event = asApiGateway(request.event);
    if (Array.isArray(event.Records)) tracer.putAnnotation('records', event.Records.length);
    const principalId = event.requestContext?.authorizer?.principalId;
    if (typeof principalId === 'string') tracer.putAnnotation('principalId', principalId);
  },
};

/**
 * The handler's subsegment. The response is not recorded (`captureResponse: false`): it may hold event data, and a
 * listing would exceed X-Ray's 64 KB segment document. For an HTTP function an error `httpErrors` answered with a
 * 4xx is a handled refusal, not a fault: the subsegment is closed as a success.
 */
function tracing(http: boolean): MiddlewareObj[] {
  if (!tracer || !captureLambdaHandler) return [];
  const capture = captureLambdaHandler(tracer, { captureResponse: false }) as MiddlewareObj;
  if (!http) return [capture, annotations];
  const http5xxOnly: MiddlewareObj = {
    ...capture,
    onError: (request: Request) => {
      const status = (request.response as { statusCode?: unknown } | undefined)?.statusCode;
      const answered = typeof status === 'number' && status < 500;
      return answered ? capture.after?.(request) : capture.onError?.(request);
    },
  };
  return [http5xxOnly, annotations];
}

/** Every API answer, refusals included, names the correlation id it was logged under. */
const echoCorrelationId: MiddlewareObj<APIGatewayProxyEvent, APIGatewayProxyResult> = {
  after: (request) => echo(request),
  onError: (request) => echo(request),
};

function echo(request: { response: APIGatewayProxyResult | null | undefined; internal: object }): void {
  const id = internalOf(request)[CORRELATION_KEY];
  if (request.response && typeof id === 'string')
    request.response.headers = { ...request.response.headers, [CORRELATION_ID_HEADER]: id };
}

function base<E, R>(fn: LambdaFn<E, R>, options: ChainOptions, http: boolean): MiddyfiedHandler<E, R> {
  const chain = middy<E, R>(fn)
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(correlation)
    .use(tracing(http));
  return options.metrics ? chain.use(logMetrics(metrics)) : chain;
}

/** A function invoked by an event source, an authorizer call or a schedule. */
export function lambda<E, R>(fn: LambdaFn<E, R>, options: ChainOptions = {}): MiddyfiedHandler<E, R> {
  return base(fn, options, false);
}

/** A function behind an API Gateway REST route: errors become answers (`httpErrors`), 5xx without internals. */
export function httpLambda(
  fn: LambdaFn<APIGatewayProxyEvent, APIGatewayProxyResult>,
  options: ChainOptions = {},
): MiddyfiedHandler<APIGatewayProxyEvent, APIGatewayProxyResult> {
  return base(fn, options, true).use(echoCorrelationId).use(httpErrors());
}
