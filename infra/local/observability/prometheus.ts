/**
 * The Prometheus text exposition format (version 0.0.4): what `GET /metrics` answers, so a user's own Prometheus or
 * Grafana can scrape the local stack. Pure: families in, text out.
 * See https://prometheus.io/docs/instrumenting/exposition_formats/
 */

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export type Labels = Readonly<Record<string, string>>;

export interface ScalarSample {
  labels: Labels;
  value: number;
}

export interface HistogramSample {
  labels: Labels;
  /** Upper bounds in ascending order with the cumulative count of observations at or below each. */
  buckets: readonly (readonly [number, number])[];
  sum: number;
  count: number;
}

export type MetricFamily =
  | { name: string; help: string; type: 'counter' | 'gauge'; samples: readonly ScalarSample[] }
  | { name: string; help: string; type: 'histogram'; samples: readonly HistogramSample[] };

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A name Prometheus accepts: anything else becomes `_`, and a leading digit gets a `_` before it. */
export function sanitizeName(name: string, kind: 'metric' | 'label' = 'metric'): string {
  const cleaned = name.replace(kind === 'metric' ? /[^a-zA-Z0-9_:]/g : /[^a-zA-Z0-9_]/g, '_');
  return /^[0-9]/.test(cleaned) || cleaned === '' ? `_${cleaned}` : cleaned;
}

const escapeHelp = (text: string) => text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
const escapeLabelValue = (text: string) => text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}

function labelText(labels: Labels, extra?: [string, string]): string {
  const pairs = Object.entries(labels).map(([k, v]) => `${sanitizeName(k, 'label')}="${escapeLabelValue(v)}"`);
  if (extra) pairs.push(`${extra[0]}="${escapeLabelValue(extra[1])}"`);
  return pairs.length > 0 ? `{${pairs.join(',')}}` : '';
}

/** The exposition text of the families; a family named twice keeps its first occurrence (names are unique). */
export function renderPrometheus(families: readonly MetricFamily[]): string {
  const lines: string[] = [];
  const seen = new Set<string>();
  for (const family of families) {
    if (!METRIC_NAME.test(family.name) || seen.has(family.name)) continue;
    seen.add(family.name);
    lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`, `# TYPE ${family.name} ${family.type}`);
    if (family.type !== 'histogram') {
      for (const s of family.samples) lines.push(`${family.name}${labelText(s.labels)} ${formatValue(s.value)}`);
      continue;
    }
    for (const s of family.samples) {
      for (const [le, count] of s.buckets)
        lines.push(`${family.name}_bucket${labelText(s.labels, ['le', formatValue(le)])} ${count}`);
      lines.push(`${family.name}_bucket${labelText(s.labels, ['le', '+Inf'])} ${s.count}`);
      lines.push(`${family.name}_sum${labelText(s.labels)} ${formatValue(s.sum)}`);
      lines.push(`${family.name}_count${labelText(s.labels)} ${s.count}`);
    }
  }
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}

export const isValidLabelName = (name: string) => LABEL_NAME.test(name) && name !== 'le' && !name.startsWith('__');
