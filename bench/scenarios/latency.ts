import { type BenchContext, latencyFigure, limitText, needStack } from '../lib/context';
import { createRawEventsTable, createRawStream, engineClients, engineFloorProbe } from '../lib/engines';
import { PROBE_DEFAULTS } from '../lib/readable-probe';
import { errorMessage, progress, round } from '../lib/util';
import { warmUp } from '../lib/warm-up';
import { httpPhase, type Phase } from './latency/http-phase';
import { mqttPhase, registerDevices } from './latency/mqtt-phase';
import { invocationText, stackCpuMs } from './latency/stack-meters';
import { drainCheck, drainText } from './latency/stored-count';

/** Step 6: latency at a sustained rate, HTTP send→stored and MQTT reading→alert, at 100/s and 1,000/s. */
export async function latencyStep(ctx: BenchContext): Promise<void> {
  const { info } = needStack(ctx);
  const phases: Phase[] = ctx.quick
    ? [
        { rate: 100, seconds: 3 },
        { rate: 1000, seconds: 3 },
      ]
    : [
        { rate: 100, seconds: 10 },
        { rate: 1000, seconds: 60 },
      ];
  const deviceCount = ctx.quick ? 20 : 200;
  const clients = engineClients(info, 8);
  const floorStream = `tem-bench-floor-${ctx.run}`;
  const floorTable = `tem-bench-floor-events-${ctx.run}`;
  await createRawStream(clients, floorStream, 1);
  await createRawEventsTable(clients, floorTable);
  const probe = engineFloorProbe(clients, floorStream, floorTable, `floor-${ctx.run}`);
  const results: Record<string, unknown> = {};
  const floorName = 'engine floor, side by side: PutRecords → GetShardIterator → GetRecords → PutItem → GetItem';

  await warmUp(info, 2, `lat-${ctx.run}-warm`);
  for (const phase of phases) {
    progress(`step 6 HTTP ${phase.rate}/s for ${phase.seconds} s (open loop, single events and small batches)`);
    const h = await httpPhase(ctx, clients, phase, probe);
    results[`http${phase.rate}`] = h;
    ctx.checks.push(
      drainCheck(
        `step 6 HTTP ${phase.rate}/s: every accepted event stored exactly once`,
        h.drain,
        h.exactlyOnce.missing,
        h.exactlyOnce.duplicates + h.exactlyOnce.foreign,
        `${h.accepted} accepted of ${h.events - h.shedEvents} sent (${h.shedEvents} shed, ${h.refused} requests refused), ${h.exactlyOnce.missing} missing, ${h.exactlyOnce.duplicates} duplicated, ${h.exactlyOnce.foreign} unknown keys, ${h.exactlyOnce.storedUnacknowledged} stored though not acknowledged; ${drainText(h.drain)}`,
      ),
    );
    const age = (h.iteratorAgeMs as Record<string, { p50: number; max: number }>).storeEvents;
    ctx.figures.push(
      latencyFigure(
        {
          id: `latency.http${phase.rate}.stored`,
          step: '6',
          name: `HTTP send→stored at ${phase.rate} events/s (GET /events/{id} until 200)`,
          limitedBy: `${h.shedEvents > 0 ? `OVERLOADED: offered ${phase.rate}/s, accepted ${h.acceptedPerSecond}/s (${h.shedEvents} events shed past 2 s of backlog); ` : ''}${invocationText(h.perRequest, `request of ${round(h.accepted / Math.max(1, h.requests), 2)} events`)}, stack CPU ${stackCpuMs(h.cpu, h.loadS, h.requests)} ms per request; ${limitText(h.cpu, `the hand-offs: POST answered p50 ${h.postAnsweredMs.p50} ms, p99 ${h.postAnsweredMs.p99} ms; store consumer iterator age p50 ${age ? `${age.p50} ms, max ${age.max} ms` : 'n/a'}; ${drainText(h.drain)}`)}`,
        },
        h.storedMs,
        { name: floorName, summary: h.floorMs },
        true,
        `1 in ${h.sample.every} of ${h.accepted} events sampled, ${h.sample.skipped} skipped, ${h.sample.timeouts} timed out; resolution ${PROBE_DEFAULTS.finePollMs} ms + GET p50 ${h.pollRttMs.p50} ms, 5 % of the elapsed time past ${PROBE_DEFAULTS.finePollUntilMs} ms; polls ${Math.round(h.pollsShareOfRequests * 100)} % of requests`,
      ),
    );
  }

  progress(`step 6 MQTT: registering ${deviceCount * phases.length} devices`);
  for (const phase of phases) {
    const devices = await registerDevices(ctx, `lat-${ctx.run}-dev${phase.rate}`, deviceCount);
    progress(`step 6 MQTT ${phase.rate}/s for ${phase.seconds} s from ${deviceCount} devices (one hot reading each)`);
    const m = await mqttPhase(ctx, clients, phase, devices, probe).catch((error: unknown) => {
      throw new Error(`MQTT phase at ${phase.rate}/s: ${errorMessage(error)}`);
    });
    results[`mqtt${phase.rate}`] = m;
    const a = m.alerts;
    ctx.checks.push(
      drainCheck(
        `step 6 MQTT ${phase.rate}/s: every expected alert arrived exactly once`,
        m.drain,
        a.raisedMissing + a.resolvedMissing,
        a.raisedDuplicates + a.resolvedDuplicates,
        `${m.devices} devices: alert.raised ${a.raisedMissing} missing, ${a.raisedDuplicates} duplicated; alert.resolved ${a.resolvedMissing} missing, ${a.resolvedDuplicates} duplicated`,
      ),
      drainCheck(
        `step 6 MQTT ${phase.rate}/s: every reading stored`,
        m.drain,
        Math.max(0, m.acked - m.storedReadings),
        m.publishErrors + Math.max(0, m.storedReadings - m.acked),
        `${m.readings} published, ${m.acked} acked, ${m.publishErrors} publish errors, ${m.storedReadings} stored; ${drainText(m.drain)}`,
      ),
    );
    const age = (m.iteratorAgeMs as Record<string, { p50: number; max: number }>).alerts;
    ctx.figures.push(
      latencyFigure(
        {
          id: `latency.mqtt${phase.rate}.alert`,
          step: '6',
          name: `MQTT reading→alert at ${phase.rate} readings/s (${m.devices} devices, publish → devices/<id>/alerts)`,
          limitedBy: `${m.shedReadings > 0 ? `OVERLOADED: offered ${phase.rate}/s, stored ${m.storedPerSecondDuringLoad}/s during the load (${m.shedReadings} normal readings shed past ${ctx.quick ? 0.5 : 2} s of backlog); ` : ''}${invocationText(m.perReading, 'reading')}, stack CPU ${stackCpuMs(m.cpu, m.loadS, m.acked - m.warmUpReadings)} ms per reading; ${limitText(m.cpu, `the telemetry path: the topic rule's Kinesis action (no function per message; readings validated in the consumers' batches); alerts consumer iterator age p50 ${age ? `${age.p50} ms, max ${age.max} ms` : 'n/a'}; readings ${drainText(m.drain)}`)}`,
        },
        m.alertMs,
        { name: floorName, summary: m.floorMs },
        true,
        'from the scheduled publish of the hot reading to its alert.raised on devices/<id>/alerts',
      ),
    );
  }
  ctx.details.latency = results;
}
