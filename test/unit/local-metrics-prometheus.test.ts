import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { EmfMetricsSink, familyFor, REJECTION_REASONS, snakeCase } from '../../infra/local/observability/emf-metrics';
import { renderPrometheus } from '../../infra/local/observability/prometheus';
import { MetricRegistry } from '../../infra/local/observability/registry';
import { REJECTION_STATUS } from '../../shared/http';

interface ParsedFamily {
  name: string;
  help: string;
  type: string;
  metrics: {
    value?: string;
    labels?: Record<string, string>;
    buckets?: Record<string, string>;
    count?: string;
    sum?: string;
  }[];
}
/** A real Prometheus text-format parser (no types shipped). */
const parse = createRequire(import.meta.url)('parse-prometheus-text-format') as (text: string) => ParsedFamily[];

const emf = (metrics: { Name: string; Unit?: string }[], root: Record<string, unknown>) =>
  JSON.stringify({
    _aws: {
      Timestamp: Date.now(),
      CloudWatchMetrics: [{ Namespace: 'TelemetryEventMesh', Dimensions: [['service']], Metrics: metrics }],
    },
    service: 'tem',
    ...root,
  });

describe('the Prometheus renderer', () => {
  it('counters, gauges and histograms in the text format a real parser reads back', () => {
    const registry = new MetricRegistry();
    registry.counter('tem_things_total', 'Things').inc({ function: 'a' }, 3);
    registry.counter('tem_things_total', 'Things').inc({ function: 'b' });
    registry.gauge('tem_level', 'Level').set({}, 2.5);
    const h = registry.histogram('tem_wait_seconds', 'Wait', [0.1, 1]);
    for (const v of [0.05, 0.5, 0.7, 3]) h.observe({ function: 'a' }, v);
    const text = renderPrometheus(registry.collect());
    expect(text).toContain('# TYPE tem_things_total counter\n');
    expect(text).toContain('tem_wait_seconds_bucket{function="a",le="+Inf"} 4\n');
    const families = parse(text);
    expect(families.map((f) => [f.name, f.type])).toEqual([
      ['tem_things_total', 'COUNTER'],
      ['tem_level', 'GAUGE'],
      ['tem_wait_seconds', 'HISTOGRAM'],
    ]);
    expect(families[0]?.metrics).toEqual([
      { value: '3', labels: { function: 'a' } },
      { value: '1', labels: { function: 'b' } },
    ]);
    expect(families[1]?.metrics).toEqual([{ value: '2.5' }]);
    // Cumulative buckets, +Inf = count. (This parser folds a labelled histogram's _sum and _count away: read them
    // from the text.)
    expect(families[2]?.metrics[0]?.buckets).toEqual({ '0.1': '1', '1': '3', '+Inf': '4' });
    expect(text).toContain('tem_wait_seconds_count{function="a"} 4\n');
    expect(text).toContain('tem_wait_seconds_sum{function="a"} 4.25\n');
  });

  it('escapes label values and help text (event data may reach a label), and names a parser accepts', () => {
    const registry = new MetricRegistry();
    registry.counter('tem_x_total', 'line one\nback\\slash').inc({ reason: 'a "quoted"\nnew\\line', 'bad-name': 'v' });
    const text = renderPrometheus(registry.collect());
    const [family] = parse(text);
    expect(text).toContain('# HELP tem_x_total line one\\nback\\\\slash\n');
    expect(family?.help).toBe('line one\nback\\slash');
    expect(family?.metrics[0]?.labels).toEqual({ reason: 'a "quoted"\nnew\\line', bad_name: 'v' });
    expect(text.split('\n').filter((l) => l.startsWith('tem_x_total'))).toHaveLength(1);
  });

  it('a family named twice is rendered once; +Inf, -Inf and NaN as the format spells them', () => {
    const text = renderPrometheus([
      { name: 'g', help: 'x', type: 'gauge', samples: [{ labels: { k: '1' }, value: Number.POSITIVE_INFINITY }] },
      { name: 'g', help: 'y', type: 'gauge', samples: [{ labels: {}, value: 1 }] },
      {
        name: 'n',
        help: 'z',
        type: 'gauge',
        samples: [
          { labels: {}, value: Number.NaN },
          { labels: { a: 'b' }, value: Number.NEGATIVE_INFINITY },
        ],
      },
    ]);
    expect(text).toBe('# HELP g x\n# TYPE g gauge\ng{k="1"} +Inf\n# HELP n z\n# TYPE n gauge\nn NaN\nn{a="b"} -Inf\n');
    expect(parse(text)).toHaveLength(2);
  });
});

describe('EMF metrics become Prometheus families', () => {
  it('names: counters `_total`, times as `_seconds` histograms, other units as gauges', () => {
    expect(snakeCase('AcceptedToStoredMs')).toBe('accepted_to_stored_ms');
    expect(snakeCase('EventsDLQDepth')).toBe('events_dlq_depth');
    expect(familyFor({ name: 'AcceptedToStoredMs', unit: 'Milliseconds' })).toEqual({
      name: 'tem_accepted_to_stored_seconds',
      kind: 'histogram',
      scale: 0.001,
    });
    expect(familyFor({ name: 'ReadingToAlertMs', unit: 'Milliseconds' }).name).toBe('tem_reading_to_alert_seconds');
    expect(familyFor({ name: 'EventsAccepted', unit: 'Count' }).name).toBe('tem_events_accepted_total');
    expect(familyFor({ name: 'QueueBytes', unit: 'Bytes' })).toMatchObject({ name: 'tem_queue_bytes', kind: 'gauge' });
  });

  it('what the lines report is what the families hold: sums of counts, one observation per latency value', () => {
    const registry = new MetricRegistry();
    const sink = new EmfMetricsSink(registry);
    sink.line('httpIngest', emf([{ Name: 'EventsAccepted', Unit: 'Count' }], { EventsAccepted: 20 }));
    sink.line('httpIngest', emf([{ Name: 'EventsAccepted', Unit: 'Count' }], { EventsAccepted: [1, 2] }));
    sink.line('httpIngest', emf([{ Name: 'EventsRejected', Unit: 'Count' }], { EventsRejected: 3, status: '400' }));
    sink.line(
      'storeEvents',
      emf([{ Name: 'AcceptedToStoredMs', Unit: 'Milliseconds' }], { AcceptedToStoredMs: [40, 120, 9000] }),
    );
    sink.line('storeEvents', '{"level":"INFO","message":"batch stored"}');
    sink.line('storeEvents', 'not json at all "_aws"');
    const text = renderPrometheus(registry.collect());
    const families = parse(text);
    const byName = new Map(families.map((f) => [f.name, f]));
    expect(byName.get('tem_events_accepted_total')?.metrics).toEqual([
      { value: '23', labels: { function: 'httpIngest', service: 'tem' } },
    ]);
    expect(byName.get('tem_events_rejected_total')?.metrics).toEqual([
      { value: '3', labels: { function: 'httpIngest', service: 'tem', reason: 'invalid' } },
    ]);
    expect(byName.get('tem_accepted_to_stored_seconds')?.metrics[0]?.buckets).toMatchObject({
      '0.05': '1',
      '0.25': '2',
      '10': '3',
      '+Inf': '3',
    });
    expect(text).toMatch(/^tem_accepted_to_stored_seconds_sum\{function="storeEvents",service="tem"\} 9\.16\d*$/m);
    expect(sink.lines).toBe(4);
  });

  it('the rejection reasons are the kinds behind REJECTION_STATUS', () => {
    const inverse = Object.fromEntries(
      Object.entries(REJECTION_STATUS).map(([kind, status]) => [String(status), kind]),
    );
    expect(REJECTION_REASONS).toEqual(inverse);
  });
});
