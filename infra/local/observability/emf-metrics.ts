import { type EmfMetric, parseEmfLine } from './emf';
import { isValidLabelName, type Labels, sanitizeName } from './prometheus';
import type { MetricRegistry } from './registry';

/**
 * What the functions report through Powertools Metrics (one EMF line per flush on stdout), as Prometheus metrics:
 * the same numbers CloudWatch extracts in AWS, so the local page and a CloudWatch dashboard agree. Every EMF metric
 * becomes one family, named after it:
 * - a `Count` (or unit-less) metric: a counter `tem_<snake_name>_total`, increased by the sum of its values;
 * - a time (`Milliseconds`, `Seconds`, `Microseconds`): a histogram in seconds, `tem_<snake_name without the unit>_seconds`
 *   (`AcceptedToStoredMs` -> `tem_accepted_to_stored_seconds`), one observation per value;
 * - any other unit: a gauge with the last value.
 * Labels: `function` (the local function that wrote the line) and the EMF dimensions. A `...Rejected` metric also
 * gets `reason` from the line's `status` metadata (the answer's HTTP status, as the ingest handler records it).
 */

const TIME_UNITS: Readonly<Record<string, number>> = { Milliseconds: 1e-3, Seconds: 1, Microseconds: 1e-6 };

/**
 * The refusal kinds behind the statuses shared/http.ts's REJECTION_STATUS answers with (a unit test keeps the two in
 * step). Not imported: that module brings the functions' logger and metrics into the stack process.
 */
export const REJECTION_REASONS: Readonly<Record<string, string>> = {
  '400': 'invalid',
  '403': 'forbidden',
  '404': 'not-found',
  '413': 'too-large',
  '415': 'unsupported-media-type',
};

export function snakeCase(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '_');
}

/** Where an EMF metric goes: the Prometheus family's name and kind. */
export function familyFor(metric: Pick<EmfMetric, 'name' | 'unit'>): {
  name: string;
  kind: 'counter' | 'histogram' | 'gauge';
  scale: number;
} {
  const base = `tem_${sanitizeName(snakeCase(metric.name))}`;
  const scale = TIME_UNITS[metric.unit];
  if (scale !== undefined)
    return {
      name: `${base.replace(/_(ms|milliseconds|seconds|us|microseconds)$/, '')}_seconds`,
      kind: 'histogram',
      scale,
    };
  if (metric.unit === 'Count' || metric.unit === 'None') return { name: `${base}_total`, kind: 'counter', scale: 1 };
  return { name: base, kind: 'gauge', scale: 1 };
}

function labelsFor(functionName: string, metric: EmfMetric, status: unknown): Labels {
  const labels: Record<string, string> = { function: functionName };
  for (const [key, value] of Object.entries(metric.dimensions)) {
    const name = sanitizeName(key, 'label');
    labels[isValidLabelName(name) && name !== 'function' && name !== 'reason' ? name : `dimension_${name}`] = value;
  }
  if (metric.name.endsWith('Rejected') && (typeof status === 'string' || typeof status === 'number'))
    labels.reason = REJECTION_REASONS[String(status)] ?? String(status);
  return labels;
}

/** `status` of an EMF line, read only when a metric needs it (a second parse of a rare line). */
function statusOf(line: string): unknown {
  try {
    return (JSON.parse(line) as { status?: unknown }).status;
  } catch {
    return undefined;
  }
}

export class EmfMetricsSink {
  /** EMF lines seen and metrics taken from them: a line that yields none is still a log line, as in CloudWatch. */
  lines = 0;

  constructor(private readonly registry: MetricRegistry) {}

  /** One function log line. Cheap for what is not EMF: a substring test. */
  line(functionName: string, line: string): void {
    if (!line.includes('"_aws"')) return;
    const metrics = parseEmfLine(line);
    if (metrics.length === 0) return;
    this.lines++;
    let status: unknown;
    if (metrics.some((m) => m.name.endsWith('Rejected'))) status = statusOf(line);
    for (const metric of metrics) this.record(functionName, metric, status);
  }

  private record(functionName: string, metric: EmfMetric, status: unknown): void {
    const { name, kind, scale } = familyFor(metric);
    if (this.registry.conflicts(name, kind)) return;
    const labels = labelsFor(functionName, metric, status);
    const help = `${metric.name} (${metric.unit}, namespace ${metric.namespace}) as the functions report it in CloudWatch EMF`;
    if (kind === 'counter') {
      const counter = this.registry.counter(name, help);
      counter.inc(
        labels,
        metric.values.reduce((a, b) => a + b, 0),
      );
    } else if (kind === 'histogram') {
      const histogram = this.registry.histogram(name, help);
      for (const v of metric.values) histogram.observe(labels, v * scale);
    } else this.registry.gauge(name, help).set(labels, metric.values.at(-1) ?? 0);
  }
}
