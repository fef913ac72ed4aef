import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { describe, expect, it } from 'vitest';
import { parseEmfLine } from '../../infra/local/observability/emf';

/** A line exactly as a function writes it: Powertools' own serialisation (what `logMetrics` prints per flush). */
function powertoolsLine(add: (m: Metrics) => void): string {
  const metrics = new Metrics({ namespace: 'TelemetryEventMesh', serviceName: 'tem' });
  add(metrics);
  return JSON.stringify(metrics.serializeMetrics());
}

const line = (root: Record<string, unknown>) =>
  JSON.stringify({
    _aws: {
      Timestamp: 1_700_000_000_000,
      CloudWatchMetrics: [{ Namespace: 'NS', Dimensions: [['service']], Metrics: [{ Name: 'M', Unit: 'Count' }] }],
    },
    service: 'tem',
    ...root,
  });

describe('the EMF parser reads a line as CloudWatch does', () => {
  it('a Powertools flush: each metric with its unit, namespace, dimensions and value', () => {
    const text = powertoolsLine((m) => {
      m.addMetric('EventsAccepted', MetricUnit.Count, 20);
      m.addMetric('EventsFailed', MetricUnit.Count, 1);
    });
    const metrics = parseEmfLine(text);
    expect(metrics.map((m) => [m.name, m.unit, m.values])).toEqual([
      ['EventsAccepted', 'Count', [20]],
      ['EventsFailed', 'Count', [1]],
    ]);
    expect(metrics[0]).toMatchObject({ namespace: 'TelemetryEventMesh', dimensions: { service: 'tem' } });
    expect(metrics[0]?.timestamp).toBeGreaterThan(0);
  });

  it('repeated values of one metric, which Powertools groups into an array, are every value', () => {
    const text = powertoolsLine((m) => {
      for (const ms of [12, 30, 7]) m.addMetric('AcceptedToStoredMs', MetricUnit.Milliseconds, ms);
    });
    expect(text).toContain('"AcceptedToStoredMs":[12,30,7]');
    expect(parseEmfLine(text)).toMatchObject([
      { name: 'AcceptedToStoredMs', unit: 'Milliseconds', values: [12, 30, 7] },
    ]);
  });

  it('metadata is not a metric, and a dimension set names the dimensions of the series', () => {
    const text = powertoolsLine((m) => {
      m.addDimension('route', 'events');
      m.addMetadata('traceId', 'abc');
      m.addMetric('EventsRejected', MetricUnit.Count, 2);
    });
    const [metric] = parseEmfLine(text);
    expect(metric?.dimensions).toEqual({ service: 'tem', route: 'events' });
    expect(parseEmfLine(text)).toHaveLength(1);
  });

  it('every directive counts, and a definition without a unit is `None`', () => {
    const text = JSON.stringify({
      _aws: {
        Timestamp: 1,
        CloudWatchMetrics: [
          { Namespace: 'A', Dimensions: [], Metrics: [{ Name: 'X' }] },
          { Namespace: 'B', Dimensions: [['d']], Metrics: [{ Name: 'Y', Unit: 'Bytes' }] },
        ],
      },
      X: 1,
      Y: [2, 3],
      d: 'v',
    });
    expect(parseEmfLine(text)).toMatchObject([
      { namespace: 'A', name: 'X', unit: 'None', values: [1], dimensions: {} },
      { namespace: 'B', name: 'Y', unit: 'Bytes', values: [2, 3], dimensions: { d: 'v' } },
    ]);
  });

  it('what CloudWatch would not extract is not extracted', () => {
    // Not EMF at all: a log line, plain text, JSON without `_aws`, or text before the JSON.
    for (const text of ['', 'hello "_aws"', '{"level":"INFO","_aws":1}', '{"message":"x"}', `prefix ${line({ M: 1 })}`])
      expect(parseEmfLine(text)).toEqual([]);
    // No timestamp, or no directives: not EMF.
    expect(parseEmfLine(JSON.stringify({ _aws: { CloudWatchMetrics: [] }, M: 1 }))).toEqual([]);
    expect(parseEmfLine(JSON.stringify({ _aws: { Timestamp: 1 }, M: 1 }))).toEqual([]);
    // The metric's member missing, or not numbers.
    expect(parseEmfLine(line({}))).toEqual([]);
    expect(parseEmfLine(line({ M: '5' }))).toEqual([]);
    expect(parseEmfLine(line({ M: [1, 'x'] }))).toEqual([]);
    expect(parseEmfLine(line({ M: [] }))).toEqual([]);
    expect(parseEmfLine(line({ M: Array.from({ length: 101 }, () => 1) }))).toEqual([]);
    // A dimension whose value is not a string, or missing: the directive is invalid.
    expect(parseEmfLine(line({ M: 1, service: 5 }))).toEqual([]);
    expect(parseEmfLine(line({ M: 1, service: undefined }))).toEqual([]);
    // Valid, for contrast.
    expect(parseEmfLine(line({ M: 1 }))).toHaveLength(1);
  });

  it('a hostile line never throws', () => {
    for (const text of ['{"_aws":', '{"_aws":{"Timestamp":1,"CloudWatchMetrics":[null,1,{"Metrics":[null]}]}}'])
      expect(() => parseEmfLine(text)).not.toThrow();
    const proto =
      '{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[],"Metrics":[{"Name":"__proto__"}]}]},"__proto__":3}';
    expect(parseEmfLine(proto)).toMatchObject([{ name: '__proto__', values: [3] }]);
  });
});
