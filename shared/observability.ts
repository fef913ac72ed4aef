import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';

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
 * `AlertNotificationsFailed` (alerts). See docs/ingestion.md.
 *
 * The local stack runs concurrent invocations of a function in one module instance, so there a flush may carry
 * another invocation's counts (and metadata) too; the sums stay right. In Lambda a container runs one at a time.
 */
export const metrics = new Metrics({ namespace: 'TelemetryEventMesh', serviceName });

export { MetricUnit } from '@aws-lambda-powertools/metrics';
