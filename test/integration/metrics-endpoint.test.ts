import { request } from 'node:http';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { api, eventually, isEmbedded, local } from './support';

interface ParsedFamily {
  name: string;
  help: string;
  type: string;
  metrics: { value?: string; labels?: Record<string, string>; buckets?: Record<string, string> }[];
}
/** A real parser of the Prometheus text format (it throws on a line the format does not allow). */
const parse = createRequire(import.meta.url)('parse-prometheus-text-format') as (text: string) => ParsedFamily[];

async function scrape(): Promise<Map<string, ParsedFamily>> {
  const response = await fetch(local().metrics);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
  return new Map(parse(await response.text()).map((f) => [f.name, f]));
}

const total = (families: Map<string, ParsedFamily>, name: string, labels: Record<string, string> = {}) =>
  (families.get(name)?.metrics ?? [])
    .filter((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))
    .reduce((n, m) => n + Number(m.value), 0);
/** Observations of a histogram with one series: its +Inf bucket (which is its _count). */
const observations = (families: Map<string, ParsedFamily>, name: string) =>
  Number(families.get(name)?.metrics[0]?.buckets?.['+Inf'] ?? 0);

describe.runIf(isEmbedded())('GET /metrics: the local stack in the Prometheus text format', () => {
  it('parses, with HELP and TYPE for every family, the stack parts and the engines polled', async () => {
    const families = await scrape();
    for (const [name, type] of [
      ['tem_http_responses_total', 'COUNTER'],
      ['tem_authorizer_decisions_total', 'COUNTER'],
      ['tem_stream_iterator_age_seconds', 'GAUGE'],
      ['tem_mqtt_connections', 'GAUGE'],
      ['tem_queue_messages', 'GAUGE'],
      ['tem_alerts_open', 'GAUGE'],
      ['tem_function_duration_seconds', 'HISTOGRAM'],
    ] as const) {
      expect(families.get(name)?.type, name).toBe(type);
      expect(families.get(name)?.help, name).not.toBe('');
    }
    // Every consumer's lag, and every error sink and dead-letter queue's depth.
    const consumers = families.get('tem_stream_iterator_age_seconds')?.metrics.map((m) => m.labels?.consumer);
    expect(consumers).toEqual(expect.arrayContaining(['storeEvents', 'alerts', 'deviceMetrics']));
    const queues = families.get('tem_queue_messages')?.metrics.map((m) => m.labels?.queue);
    expect(queues).toEqual(expect.arrayContaining(['eventsDlq', 'telemetryErrors', 'ruleErrorsDeadLetter']));
  });

  it('its counters move when events flow, and the send->stored histogram counts every event stored', async () => {
    const before = await scrape();
    const count = 7;
    const events = Array.from({ length: count }, (_, i) => ({ type: 'metrics.scraped', data: { i } }));
    expect((await api('POST', '/events', { body: { events } })).status).toBe(202);
    expect((await api('POST', '/events', { rawBody: '{"type":' })).status).toBe(400);
    expect((await api('POST', '/events', { key: null, body: events[0] })).status).toBe(401);

    const after = await eventually(
      async () => {
        const now = await scrape();
        const stored =
          observations(now, 'tem_accepted_to_stored_seconds') - observations(before, 'tem_accepted_to_stored_seconds');
        return stored >= count ? now : undefined;
      },
      30_000,
      `${count} more observations of tem_accepted_to_stored_seconds`,
    );
    const delta = (name: string, labels?: Record<string, string>) =>
      total(after, name, labels) - total(before, name, labels);
    expect(delta('tem_events_accepted_total', { function: 'httpIngest' })).toBeGreaterThanOrEqual(count);
    expect(delta('tem_events_rejected_total', { reason: 'invalid' })).toBeGreaterThanOrEqual(1);
    expect(delta('tem_http_responses_total', { status: '202' })).toBeGreaterThanOrEqual(1);
    expect(delta('tem_http_responses_total', { status: '401' })).toBeGreaterThanOrEqual(1);
    expect(delta('tem_authorizer_decisions_total', { decision: 'unauthorized' })).toBeGreaterThanOrEqual(1);
    expect(delta('tem_kinesis_records_put_total')).toBeGreaterThanOrEqual(count);
    expect(delta('tem_stream_records_processed_total', { consumer: 'storeEvents' })).toBeGreaterThanOrEqual(count);
    expect(delta('tem_function_invocations_total', { function: 'httpIngest' })).toBeGreaterThanOrEqual(2);
    // Send -> stored of a local hop: well under the 60 s bucket.
    const buckets = after.get('tem_accepted_to_stored_seconds')?.metrics[0]?.buckets ?? {};
    expect(Number(buckets['60'])).toBe(Number(buckets['+Inf']));
  });

  it('answers loopback host names only (a DNS-rebound page cannot read it)', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${local().metrics}`, { headers: { host: 'rebound.example:80' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(403);
  });
});
