/**
 * CloudWatch Embedded Metric Format, read the way CloudWatch Logs reads it: a log line that is a JSON object with an
 * `_aws` member (`Timestamp` in epoch ms, `CloudWatchMetrics`: directives of `Namespace`, `Dimensions`, `Metrics`).
 * Each metric's values are the root member of the same name: a number or an array of numbers (Powertools groups
 * repeated `addMetric` calls into one). A directive whose dimension values are not strings is invalid as a whole;
 * a metric whose member is missing or not numeric is not extracted. Anything else is only a log line.
 * See https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
 */

export interface EmfMetric {
  namespace: string;
  name: string;
  /** As written (`Count`, `Milliseconds`, ...); `None` when the definition names no unit, as CloudWatch defaults. */
  unit: string;
  values: number[];
  /** The values of every dimension the directive's dimension sets name (one series per distinct combination). */
  dimensions: Record<string, string>;
  timestamp: number;
}

/** CloudWatch takes at most 100 values per metric and 30 dimensions per set. */
const MAX_VALUES = 100;
const MAX_DIMENSIONS = 30;

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function numbers(value: unknown): number[] | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? [value] : undefined;
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_VALUES) return undefined;
  return value.every((v) => typeof v === 'number' && Number.isFinite(v)) ? (value as number[]) : undefined;
}

function dimensionsOf(root: Json, sets: unknown): Record<string, string> | undefined {
  if (!Array.isArray(sets)) return undefined;
  const dimensions: Record<string, string> = {};
  for (const set of sets) {
    if (!Array.isArray(set) || set.length > MAX_DIMENSIONS) return undefined;
    for (const key of set) {
      const value = typeof key === 'string' && Object.hasOwn(root, key) ? root[key] : undefined;
      if (typeof value !== 'string') return undefined;
      dimensions[key] = value;
    }
  }
  return dimensions;
}

/** The metrics one log line carries; none when it is not EMF. Never throws: log lines are any text. */
export function parseEmfLine(line: string): EmfMetric[] {
  const text = line.trim();
  if (!text.startsWith('{') || !text.includes('"_aws"')) return [];
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch {
    return [];
  }
  if (!isObject(root) || !isObject(root._aws)) return [];
  const { Timestamp: timestamp, CloudWatchMetrics: directives } = root._aws;
  if (typeof timestamp !== 'number' || !Array.isArray(directives)) return [];
  const out: EmfMetric[] = [];
  for (const directive of directives) {
    if (!isObject(directive) || typeof directive.Namespace !== 'string' || !Array.isArray(directive.Metrics)) continue;
    const dimensions = dimensionsOf(root, directive.Dimensions);
    if (!dimensions) continue;
    for (const definition of directive.Metrics) {
      if (!isObject(definition) || typeof definition.Name !== 'string' || definition.Name === '') continue;
      const values = Object.hasOwn(root, definition.Name) ? numbers(root[definition.Name]) : undefined;
      if (!values) continue;
      const unit = typeof definition.Unit === 'string' && definition.Unit !== '' ? definition.Unit : 'None';
      out.push({ namespace: directive.Namespace, name: definition.Name, unit, values, dimensions, timestamp });
    }
  }
  return out;
}
