import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Hop } from '../../scripts/lib/trace-hops';
import { api, devKey, eventually, isEmbedded, newDevice, publishMqtt, stack, storedBySource } from './support';
import { type CliRun, tem } from './tem-cli';

/**
 * One event followed end to end (ADR 0016): the correlation id of the request reaches every consumer's log line, and
 * `tem trace <eventId>` prints the path from the local stack's function log, a timestamp per hop.
 */
const hopsOf = (run: CliRun) => (run.out.hops ?? []) as Hop[];
const names = (run: CliRun) => hopsOf(run).map((h) => h.hop);

/** `tem trace --json` until the hops include `wanted` (the consumers log a moment after the 202). */
function traceUntil(eventId: string, wanted: string[]): Promise<CliRun> {
  return eventually(
    async () => {
      const run = await tem(['trace', eventId, '--json']);
      return run.code === 0 && wanted.every((w) => names(run).includes(w)) ? run : undefined;
    },
    30_000,
    `tem trace ${eventId} showing ${wanted.join(', ')}`,
  );
}

describe.runIf(isEmbedded())('tem trace: one event, end to end', () => {
  it('an HTTP event: received, accepted, stored, in order, under the caller’s correlation id', async () => {
    const correlationId = `it-trace-${randomUUID()}`;
    const response = await fetch(`${stack().http}/events`, {
      method: 'POST',
      headers: { 'X-API-Key': devKey(), 'content-type': 'application/json', 'X-Correlation-Id': correlationId },
      body: JSON.stringify({ type: 'order.created', data: { orderId: 'o-trace' } }),
    });
    expect(response.status).toBe(202);
    expect(response.headers.get('x-correlation-id')).toBe(correlationId);
    const [eventId] = ((await response.json()) as { ids: string[] }).ids as [string];

    const run = await traceUntil(eventId, ['accepted', 'stored']);
    expect(run.out).toMatchObject({ eventId, correlationId, stored: true, type: 'order.created' });
    const hops = hopsOf(run);
    const at = (name: string) => hops.findIndex((h) => h.hop === name);
    expect(at('received')).toBeLessThan(at('accepted'));
    expect(at('accepted')).toBeLessThan(at('stored'));
    expect(hops[at('accepted')]?.function).toBe('httpIngest');
    expect(hops[at('stored')]?.function).toBe('storeEvents');
    // Times only go forward, and each delta is the gap to the hop before.
    for (const [i, hop] of hops.entries()) {
      expect(hop.sinceFirstMs).toBeGreaterThanOrEqual(i === 0 ? 0 : (hops[i - 1]?.sinceFirstMs ?? 0));
      if (i > 0) expect(hop.sincePreviousMs).toBe(hop.sinceFirstMs - (hops[i - 1]?.sinceFirstMs ?? 0));
    }
    // The stored event carries it too.
    expect((await api('GET', `/events/${eventId}`)).body).toMatchObject({ correlationId });

    // The same for people: one line per hop, the correlation id named.
    const human = await tem(['trace', eventId]);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain(`correlation id ${correlationId}`);
    const lines = human.stdout.split('\n');
    const line = (hop: string) => lines.findIndex((l) => new RegExp(`\\s${hop}\\s+\\w+`).test(l));
    expect(line('accepted')).toBeGreaterThan(0);
    expect(line('stored')).toBeGreaterThan(line('accepted'));
  });

  it('an invalid X-Correlation-Id is ignored, never refused: the request id is used', async () => {
    const response = await fetch(`${stack().http}/events`, {
      method: 'POST',
      headers: { 'X-API-Key': devKey(), 'content-type': 'application/json', 'X-Correlation-Id': 'has spaces "quoted"' },
      body: JSON.stringify({ type: 'order.created', data: {} }),
    });
    expect(response.status).toBe(202);
    expect(response.headers.get('x-correlation-id')).toBe(response.headers.get('x-amzn-requestid'));
  });

  it('an MQTT reading over the threshold: stored, aggregated, alert rules applied, alert raised', async () => {
    const device = await newDevice('trace');
    await publishMqtt(device, `devices/${device.deviceId}/telemetry`, {
      ts: new Date().toISOString(),
      seq: 1,
      metrics: { temperature: 95 },
    });
    const [reading] = await eventually(async () => {
      const items = await storedBySource(device.deviceId);
      return items.length > 0 ? items : undefined;
    });
    const eventId = String(reading?.id);
    const run = await traceUntil(eventId, ['stored', 'metrics aggregated', 'alert raised']);
    // A reading's correlation id is its own event id; the topic rule's receipt time comes from the stored event.
    expect(run.out).toMatchObject({ eventId, correlationId: eventId, type: 'device.telemetry' });
    const hops = hopsOf(run);
    expect(hops[0]?.hop).toMatch(/^(occurred|received)$/);
    const at = (name: string) => hops.findIndex((h) => h.hop === name);
    expect(at('received')).toBeLessThan(at('stored'));
    expect(at('alert rules applied')).toBeLessThan(at('alert raised'));
    expect(hops[at('alert raised')]).toMatchObject({ function: 'alerts' });
    expect(hops[at('alert raised')]?.detail).toContain('high-temperature');
  });

  it('an unknown id: a clear message, exit 1; not an id at all: a usage error, exit 2', async () => {
    const unknown = await tem(['trace', randomUUID()]);
    expect(unknown.code).toBe(1);
    expect(String(unknown.out.error)).toMatch(
      /^Unknown event [0-9a-f-]{36}: not in the function log .* nor in the events table/,
    );
    const bad = await tem(['trace', 'not-an-id']);
    expect(bad.code).toBe(2);
    expect(String(bad.out.error)).toContain('is not an event id');
  });
});
