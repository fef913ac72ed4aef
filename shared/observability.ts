import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { Tracer } from '@aws-lambda-powertools/tracer';

const serviceName = process.env.POWERTOOLS_SERVICE_NAME ?? 'tem';

/** One logger per container, shared by every module of a function (Powertools reads POWERTOOLS_* settings). */
export const logger = new Logger({ serviceName });

/**
 * One metrics buffer per container. Handlers add to it and the `logMetrics` middleware flushes it once per
 * invocation, as one CloudWatch EMF line on stdout (CloudWatch Logs turns it into metrics; locally it lands in the
 * function log). Dimension: `service`.
 *
 * Metric names in use: `EventsAccepted`, `EventsRejected`, `EventsFailed` (httpIngest); `TelemetryStored`,
 * `TelemetryRejected` (storeEvents, which validates device readings); `AlertsRaised`, `AlertsResolved`,
 * `AlertNotificationsFailed`, `ReadingToAlertMs` (alerts); `AcceptedToStoredMs` (storeEvents). See docs/ingestion.md.
 *
 * The local stack runs concurrent invocations of a function in one module instance, so there a flush may carry
 * another invocation's counts (and metadata) too; the sums stay right. In Lambda a container runs one at a time.
 */
export const metrics = new Metrics({ namespace: 'TelemetryEventMesh', serviceName });

/** Powertools' own reading of POWERTOOLS_TRACE_ENABLED: these values switch the tracer off. */
const FALSY = new Set(['false', '0', 'n', 'no', 'off']);

/** Whether this container may trace at all: not when POWERTOOLS_TRACE_ENABLED says off (the local stack says so). */
export const tracingAllowed = !FALSY.has((process.env.POWERTOOLS_TRACE_ENABLED ?? '').trim().toLowerCase());

/**
 * One X-Ray tracer per container (functions/commons.ts opens the handler's segment; shared/aws/clients.ts captures
 * every SDK client). It is on only in Lambda with active tracing: Powertools switches it off outside Lambda (no
 * `AWS_EXECUTION_ENV`). With `POWERTOOLS_TRACE_ENABLED=false`, which the local stack sets, it is not even loaded
 * (`undefined`): the X-Ray SDK enables an async hook with destroy tracking when it loads, which doubled the cost of
 * every promise in every function (measured: 300,000 awaited promises 0.8 s plain, 1.5 s with the tracer loaded,
 * docs/performance.md). Annotations are indexed (and limited): `ColdStart`, `Service`, plus `records` or
 * `principalId` where the event has them; nothing else.
 */
export const tracer: Tracer | undefined = tracingAllowed
  ? new (await import('@aws-lambda-powertools/tracer')).Tracer({ serviceName })
  : undefined;

export { MetricUnit } from '@aws-lambda-powertools/metrics';
