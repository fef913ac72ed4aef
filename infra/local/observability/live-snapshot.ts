import type { HistogramSample, MetricFamily, ScalarSample } from './prometheus';

/**
 * What the dashboard page shows, derived from the very families `GET /metrics` renders: the page and a Prometheus
 * scrape can never disagree. Pure: cumulative totals are read from families, rates are differences of two readings.
 */

export interface ConsumerTotals {
  consumer: string;
  readMode: string;
  processed: number;
  discarded: number;
  iteratorAgeSeconds: number;
  enabled: boolean;
}

export interface Totals {
  at: number;
  responses: Record<string, number>;
  accepted: number;
  rejected: Record<string, number>;
  failed: number;
  authorizer: Record<string, number>;
  streamRecords: number;
  consumers: ConsumerTotals[];
  stored: number;
  storedLatency: readonly (readonly [number, number])[];
  alertsRaised: number;
  alertLatency: readonly (readonly [number, number])[];
  devicesOnline: number;
  webSocketConnections: number;
  mqttRefused: number;
  engines: { service: string; up: boolean }[];
}

const scalars = (families: readonly MetricFamily[], name: string): readonly ScalarSample[] => {
  const f = families.find((x) => x.name === name);
  return f && f.type !== 'histogram' ? f.samples : [];
};
const sum = (samples: readonly ScalarSample[]) => samples.reduce((n, s) => n + s.value, 0);
const byLabel = (samples: readonly ScalarSample[], label: string) => {
  const out: Record<string, number> = {};
  for (const s of samples) {
    const key = s.labels[label] ?? '';
    out[key] = (out[key] ?? 0) + s.value;
  }
  return out;
};

/** A histogram's series merged into one (buckets added bound by bound). */
function merged(families: readonly MetricFamily[], name: string): { buckets: [number, number][]; count: number } {
  const f = families.find((x) => x.name === name);
  const samples: readonly HistogramSample[] = f?.type === 'histogram' ? f.samples : [];
  const buckets = new Map<number, number>();
  let count = 0;
  for (const s of samples) {
    count += s.count;
    for (const [le, n] of s.buckets) buckets.set(le, (buckets.get(le) ?? 0) + n);
  }
  return { buckets: [...buckets].sort((a, b) => a[0] - b[0]), count };
}

export function readTotals(families: readonly MetricFamily[], at: number): Totals {
  const stored = merged(families, 'tem_accepted_to_stored_seconds');
  const alerts = merged(families, 'tem_reading_to_alert_seconds');
  const age = scalars(families, 'tem_stream_iterator_age_seconds');
  const enabled = scalars(families, 'tem_stream_consumer_enabled');
  const processed = scalars(families, 'tem_stream_records_processed_total');
  const discarded = scalars(families, 'tem_stream_records_discarded_total');
  const consumers = processed.map((p) => {
    const consumer = p.labels.consumer ?? '';
    const of = (samples: readonly ScalarSample[]) => samples.find((s) => s.labels.consumer === consumer)?.value ?? 0;
    return {
      consumer,
      readMode: p.labels.read_mode ?? '',
      processed: p.value,
      discarded: of(discarded),
      iteratorAgeSeconds: of(age),
      enabled: of(enabled) === 1,
    };
  });
  return {
    at,
    responses: byLabel(scalars(families, 'tem_http_responses_total'), 'status'),
    accepted: sum(scalars(families, 'tem_events_accepted_total')),
    rejected: byLabel(scalars(families, 'tem_events_rejected_total'), 'reason'),
    failed: sum(scalars(families, 'tem_events_failed_total')),
    authorizer: byLabel(scalars(families, 'tem_authorizer_decisions_total'), 'decision'),
    streamRecords: sum(scalars(families, 'tem_kinesis_records_put_total')),
    consumers,
    stored: stored.count,
    storedLatency: [...stored.buckets, [Number.POSITIVE_INFINITY, stored.count]],
    alertsRaised: sum(scalars(families, 'tem_alerts_raised_total')),
    alertLatency: [...alerts.buckets, [Number.POSITIVE_INFINITY, alerts.count]],
    devicesOnline: sum(scalars(families, 'tem_mqtt_connections')),
    webSocketConnections: sum(scalars(families, 'tem_websocket_connections')),
    mqttRefused: sum(scalars(families, 'tem_mqtt_connections_refused_total')),
    engines: scalars(families, 'tem_engine_up').map((s) => ({ service: s.labels.service ?? '', up: s.value === 1 })),
  };
}

const perSecond = (now: number, before: number, seconds: number) => Math.max(0, now - before) / seconds;
function rateMap(now: Record<string, number>, before: Record<string, number>, seconds: number) {
  return Object.fromEntries(Object.entries(now).map(([k, v]) => [k, perSecond(v, before[k] ?? 0, seconds)]));
}

/**
 * Prometheus' `histogram_quantile` over what was observed between two readings (linear within a bucket; the
 * highest finite bound when it falls in +Inf); undefined when nothing was.
 */
export function quantile(
  q: number,
  now: readonly (readonly [number, number])[],
  before: readonly (readonly [number, number])[],
): number | undefined {
  const counts = now.map(([le, n]) => [le, n - (before.find(([b]) => b === le)?.[1] ?? 0)] as const);
  const total = counts.at(-1)?.[1] ?? 0;
  if (total <= 0) return undefined;
  const rank = q * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const [le, n] of counts) {
    if (n >= rank) {
      if (le === Number.POSITIVE_INFINITY) return lowerBound;
      return lowerBound + ((le - lowerBound) * (rank - lowerCount)) / Math.max(1, n - lowerCount);
    }
    lowerBound = le;
    lowerCount = n;
  }
  return lowerBound;
}

export interface Rates {
  requests: number;
  responses: Record<string, number>;
  accepted: number;
  rejected: Record<string, number>;
  failed: number;
  authorizer: Record<string, number>;
  streamRecords: number;
  stored: number;
  alertsRaised: number;
  consumers: Record<string, number>;
}

export function ratesBetween(now: Totals, before: Totals): Rates {
  const seconds = Math.max(0.001, (now.at - before.at) / 1000);
  const responses = rateMap(now.responses, before.responses, seconds);
  return {
    requests: Object.values(responses).reduce((a, b) => a + b, 0),
    responses,
    accepted: perSecond(now.accepted, before.accepted, seconds),
    rejected: rateMap(now.rejected, before.rejected, seconds),
    failed: perSecond(now.failed, before.failed, seconds),
    authorizer: rateMap(now.authorizer, before.authorizer, seconds),
    streamRecords: perSecond(now.streamRecords, before.streamRecords, seconds),
    stored: perSecond(now.stored, before.stored, seconds),
    alertsRaised: perSecond(now.alertsRaised, before.alertsRaised, seconds),
    consumers: Object.fromEntries(
      now.consumers.map((c) => [
        c.consumer,
        perSecond(c.processed, before.consumers.find((b) => b.consumer === c.consumer)?.processed ?? 0, seconds),
      ]),
    ),
  };
}

/** One point of the page's charts (a second). */
export interface ChartPoint {
  t: number;
  requests: number;
  accepted: number;
  rejected: number;
  streamRecords: number;
  stored: number;
  maxLagSeconds: number;
  storedP99Ms: number | null;
}

export function chartPoint(rates: Rates, now: Totals, windowStart: Totals): ChartPoint {
  const p99 = quantile(0.99, now.storedLatency, windowStart.storedLatency);
  return {
    t: Math.round(now.at / 1000),
    requests: rates.requests,
    accepted: rates.accepted,
    rejected: Object.values(rates.rejected).reduce((a, b) => a + b, 0),
    streamRecords: rates.streamRecords,
    stored: rates.stored,
    maxLagSeconds: Math.max(0, ...now.consumers.map((c) => c.iteratorAgeSeconds)),
    storedP99Ms: p99 === undefined ? null : Math.round(p99 * 1000),
  };
}
