import { randomUUID } from 'node:crypto';
import type { Agent } from 'node:http';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import mqtt from 'mqtt';
import { DynamoPrincipalStore } from '../../shared/aws/dynamo-principal-store';
import { registerDevice } from '../../shared/domain/admin';
import { type BenchContext, latencyFigure, limitText, needStack } from '../lib/context';
import { cpuMeter } from '../lib/cpu';
import {
  createRawEventsTable,
  createRawStream,
  type EngineClients,
  engineClients,
  engineFloorProbe,
  runFloorProbe,
} from '../lib/engines';
import { batchBody, businessEvent } from '../lib/events';
import { agent, postEvents, send } from '../lib/http';
import type { Check } from '../lib/report';
import { type BenchStack, stackProcesses, stackStats } from '../lib/stack';
import { errorMessage, pool, progress, round, sleep, summarize, ticker } from '../lib/util';
import { warmUp } from '../lib/warm-up';

/** Request sizes of the paced HTTP producers, in turn: single events and small batches (3.5 events on average). */
const REQUEST_SIZES = [1, 5, 1, 10, 1, 3];
const HTTP_SOURCES = 8;
/**
 * The probe must stay a small part of the load: at most this many sampled events polled at once, and a new sample
 * only while the polls so far are within POLL_BUDGET of the requests sent (samples skipped either way are counted).
 */
const MAX_POLLERS = 4;
const POLL_BUDGET = 0.2;
const FINE_POLL_MS = 3;
const FINE_POLL_UNTIL_MS = 100;
/** Past FINE_POLL_UNTIL_MS, the poll interval is this share of the time elapsed (a relative resolution). */
const COARSE_POLL_SHARE = 0.05;
const POLL_TIMEOUT_MS = 30_000;
const HIGH_TEMPERATURE = 85;

interface Phase {
  rate: number;
  seconds: number;
}

/**
 * Samples the consumers' iterator age (`GET /stats`) twice a second while a phase runs, and keeps the store
 * consumer's count of records processed (how far the pipeline has got).
 */
function iteratorAges(info: BenchStack['info']) {
  const ages: Record<string, number[]> = {};
  let running = true;
  let stored = 0;
  const loop = (async () => {
    while (running) {
      try {
        for (const p of (await stackStats(info)).pollers) {
          if (p.function === 'storeEvents') stored = p.recordsProcessed;
          if (typeof p.iteratorAgeMs === 'number') {
            const list = ages[p.function] ?? [];
            list.push(p.iteratorAgeMs);
            ages[p.function] = list;
          }
        }
      } catch {
        // the control port is busy: skip a sample
      }
      await sleep(500);
    }
  })();
  return {
    stored: () => stored,
    async stop() {
      running = false;
      await loop;
      return Object.fromEntries(Object.entries(ages).map(([fn, v]) => [fn, summarize(v)]));
    },
  };
}

async function queryIds(clients: EngineClients, table: string, source: string, countOnly: boolean) {
  const ids: string[] = [];
  const keys: string[] = [];
  let count = 0;
  let start: Record<string, unknown> | undefined;
  do {
    const page = await clients.dynamo.send(
      new QueryCommand({
        TableName: table,
        IndexName: 'bySource',
        KeyConditionExpression: '#s = :s',
        ExpressionAttributeNames: { '#s': 'source', ...(countOnly ? {} : { '#id': 'id', '#k': 'idempotencyKey' }) },
        ExpressionAttributeValues: { ':s': source },
        ...(countOnly ? { Select: 'COUNT' as const } : { ProjectionExpression: '#id, #k' }),
        ...(start ? { ExclusiveStartKey: start } : {}),
      }),
    );
    count += page.Count ?? 0;
    for (const item of page.Items ?? []) {
      ids.push(String(item.id));
      if (typeof item.idempotencyKey === 'string') keys.push(item.idempotencyKey);
    }
    start = page.LastEvaluatedKey;
  } while (start);
  return { count, ids, keys };
}

/** Function invocations during a phase (`GET /stats`), per unit of load (a request, a reading). */
async function invocationCounter(info: BenchStack['info']) {
  const count = async () => (await stackStats(info)).functions ?? {};
  const before = await count();
  return {
    async per(units: number): Promise<Record<string, number>> {
      const after = await count();
      const out: Record<string, number> = {};
      for (const [fn, f] of Object.entries(after)) {
        const n = f.invocations - (before[fn]?.invocations ?? 0);
        if (n > 0 && units > 0) out[fn] = round(n / units, 2);
      }
      return out;
    },
  };
}

/** Stack-process CPU per unit of load (ms): the cost of the gateway, broker, pollers and function workers. */
function stackCpuMs(cpu: Record<string, number>, seconds: number, units: number): number {
  const stack = Object.entries(cpu).find(([name]) => name.startsWith('tem local'))?.[1] ?? 0;
  return round((stack * seconds * 1000) / Math.max(1, units), 2);
}

function invocationText(per: Record<string, number>, unit: string): string {
  const parts = Object.entries(per)
    .filter(([fn]) => fn !== 'getEvent')
    .sort((a, b) => b[1] - a[1])
    .map(([fn, n]) => `${n} ${fn}`);
  return parts.length > 0 ? `invocations per ${unit}: ${parts.join(', ')}` : '';
}

export interface Drain {
  /** Seconds until every item was there; undefined when it was not. */
  seconds: number | undefined;
  count: number;
  /** The count stopped growing for STALL_S before reaching the target: lost, not late. */
  stalled: boolean;
}

const STALL_S = 20;

/**
 * Waits until the sources hold `expected` items in all: at most `timeoutS`, and no longer than STALL_S without the
 * count growing (the pipeline is no longer catching up: what is missing is lost, not late).
 */
async function waitForCount(
  clients: EngineClients,
  table: string,
  sources: readonly string[],
  expected: number,
  timeoutS: number,
  label: string,
): Promise<Drain> {
  const t0 = performance.now();
  let last = t0;
  let grewAt = t0;
  let previous = -1;
  for (;;) {
    let count = 0;
    await pool(sources, 8, async (s) => {
      const found = (await queryIds(clients, table, s, true)).count;
      count += found;
    });
    const now = performance.now();
    const elapsed = (now - t0) / 1000;
    if (count >= expected) return { seconds: elapsed, count, stalled: false };
    if (count > previous) grewAt = now;
    previous = count;
    if ((now - grewAt) / 1000 > STALL_S) return { seconds: undefined, count, stalled: true };
    if (elapsed > timeoutS) return { seconds: undefined, count, stalled: false };
    if (now - last > 5000) {
      progress(`${label}: ${count}/${expected} stored, waiting`);
      last = now;
    }
    await sleep(500);
  }
}

/**
 * HTTP producers at a steady paced rate (open loop: a request goes at its scheduled time whether or not earlier
 * ones were answered), single events and small batches with their own ids. A bounded sample is polled through
 * `GET /events/{id}` until 200: send→stored is measured from the scheduled send time. At the end, every accepted
 * event must be in the table exactly once.
 */
async function httpPhase(ctx: BenchContext, clients: EngineClients, phase: Phase, probe: () => Promise<number>) {
  const { info } = needStack(ctx);
  const table = info.resources.eventsTable;
  const sources = Array.from({ length: HTTP_SOURCES }, (_, k) => `lat-${ctx.run}-http${phase.rate}-${k}`);
  // ~5 samples a second whatever the rate (5% at 100/s, 0.5% at 1,000/s): the poller cap then rarely binds.
  const sampleEvery = Math.max(1, Math.round(phase.rate / 5));
  const postAgent: Agent = agent(64);
  const pollAgent: Agent = agent(MAX_POLLERS);
  const total = phase.rate * phase.seconds;
  const sentKeys = new Set<string>();
  const accepted = new Set<string>();
  const postMs: number[] = [];
  const storedMs: number[] = [];
  const pollRttMs: number[] = [];
  const inFlight = new Set<Promise<void>>();
  let requests = 0;
  let refused = 0;
  let polls = 0;
  let pollers = 0;
  let skipped = 0;
  let timeouts = 0;
  let lateMs = 0;

  const poll = async (id: string, scheduledAt: number) => {
    pollers++;
    try {
      for (;;) {
        const t = performance.now();
        const answer = await send(pollAgent, `${info.http}/events/${id}`, 'GET', { 'X-API-Key': info.devApiKey });
        polls++;
        const now = performance.now();
        pollRttMs.push(now - t);
        if (answer.status === 200) {
          storedMs.push(now - scheduledAt);
          return;
        }
        const elapsed = now - scheduledAt;
        if (elapsed > POLL_TIMEOUT_MS) {
          // Not stored in 30 s: slower than any stored sample (∞), so the percentiles are not flattered by it.
          storedMs.push(Number.POSITIVE_INFINITY);
          timeouts++;
          return;
        }
        await sleep(elapsed < FINE_POLL_UNTIL_MS ? FINE_POLL_MS : elapsed * COARSE_POLL_SHARE);
      }
    } catch {
      timeouts++;
    } finally {
      pollers--;
    }
  };

  // Open loop, but not unbounded: past 2 s of load waiting for answers the stack has fallen behind; what would be
  // sent beyond that is shed (counted, not sent), so an overloaded phase still ends on time.
  const maxQueuedEvents = Math.max(200, phase.rate * 2);
  let queuedEvents = 0;
  let shed = 0;
  const fire = (first: number, size: number, scheduledAt: number) => {
    // Shed whatever the request's size (checking room for this request would favour the small ones).
    if (queuedEvents >= maxQueuedEvents) {
      shed += size;
      return;
    }
    queuedEvents += size;
    const events = Array.from({ length: size }, (_, i) =>
      businessEvent(first + i, { id: randomUUID(), source: sources[(first + i) % sources.length] }),
    );
    for (const e of events) sentKeys.add(e.id as string);
    const body = size === 1 ? JSON.stringify(events[0]) : batchBody(events);
    requests++;
    const work = postEvents(postAgent, info.http, info.devApiKey, body)
      .then((answer) => {
        postMs.push(performance.now() - scheduledAt);
        if (answer.status !== 202) refused++;
        for (const id of answer.ids) accepted.add(id);
        // A 202 names the stored ids in request order (ADR 0011: the id is derived from the producer's key).
        if (answer.status !== 202 || answer.ids.length !== size) return;
        answer.ids.forEach((id, i) => {
          if ((first + i) % sampleEvery !== 0) return;
          if (pollers >= MAX_POLLERS || polls > POLL_BUDGET * requests + 20) skipped++;
          else void poll(id, scheduledAt);
        });
      })
      .catch(() => {
        refused++;
      })
      .finally(() => {
        queuedEvents -= size;
        inFlight.delete(work);
      });
    inFlight.add(work);
  };

  const procs = stackProcesses(info);
  const invocations = await invocationCounter(info);
  const meter = cpuMeter(procs);
  const floor = runFloorProbe(probe, 200);
  const ages = iteratorAges(info);
  const label = `step 6 HTTP ${phase.rate}/s`;
  const t0 = performance.now() + 20;
  let next = 0;
  let r = 0;
  const stop = ticker(
    5000,
    () =>
      `${label}: ${next}/${total} sent, ${accepted.size} accepted, ${inFlight.size} requests in flight, ${storedMs.length} samples stored (p50 ${summarize(storedMs).p50} ms), ${polls} polls`,
  );
  while (next < total) {
    const now = performance.now();
    for (;;) {
      const scheduledAt = t0 + (next * 1000) / phase.rate;
      if (next >= total || scheduledAt > now) break;
      lateMs = Math.max(lateMs, now - scheduledAt);
      const size = Math.min(REQUEST_SIZES[r++ % REQUEST_SIZES.length] as number, total - next);
      fire(next, size, scheduledAt);
      next += size;
    }
    await sleep(1);
  }
  const loadS = (performance.now() - t0) / 1000;
  const cpu = meter.read();
  await Promise.allSettled([...inFlight]);
  while (pollers > 0) await sleep(20);
  stop();
  const floorSamples = floor.samples;
  await floor.stop();
  const iteratorAge = await ages.stop();

  progress(`${label}: ${accepted.size} accepted; checking every one is stored once`);
  const drain = await waitForCount(clients, table, sources, accepted.size, ctx.quick ? 45 : 90, label);
  // The table is keyed by id, so an id is there once or not at all; a duplicate would be one event stored under
  // two ids: its producer key (kept as `idempotencyKey`) twice.
  const stored = new Set<string>();
  const keyCount = new Map<string, number>();
  for (const source of sources) {
    const page = await queryIds(clients, table, source, false);
    for (const id of page.ids) stored.add(id);
    for (const key of page.keys) keyCount.set(key, (keyCount.get(key) ?? 0) + 1);
  }
  const missing = [...accepted].filter((id) => !stored.has(id));
  const duplicates = [...keyCount.values()].filter((k) => k > 1).length;
  const foreign = [...keyCount.keys()].filter((key) => !sentKeys.has(key)).length;
  const storedUnacknowledged = [...stored].filter((id) => !accepted.has(id)).length;
  postAgent.destroy();
  pollAgent.destroy();
  const perRequest = await invocations.per(requests);
  return {
    perRequest,
    rate: phase.rate,
    seconds: phase.seconds,
    loadS,
    maxSchedulerLagMs: round(lateMs),
    requests,
    refused,
    events: total,
    accepted: accepted.size,
    postAnsweredMs: summarize(postMs),
    storedMs: summarize(storedMs),
    shedEvents: shed,
    acceptedPerSecond: round(accepted.size / loadS),
    sample: { every: sampleEvery, stored: storedMs.length, skipped, timeouts, polls },
    pollRttMs: summarize(pollRttMs),
    pollsPerSecond: round(polls / loadS),
    pollsShareOfRequests: round(polls / Math.max(1, requests), 3),
    floorMs: summarize(floorSamples),
    iteratorAgeMs: iteratorAge,
    cpu,
    drain,
    exactlyOnce: { missing: missing.length, duplicates, foreign, storedUnacknowledged },
  };
}

interface Device {
  deviceId: string;
  token: string;
}

/**
 * Devices over MQTT, each its own connection (client id = username = device id, password = its token), subscribed
 * to its own alerts topic, publishing normal readings at a paced rate that sums to the target, and once a reading
 * over the high-temperature threshold: reading→alert from the scheduled publish to the alert message's arrival.
 * Every device must get its `alert.raised` (and, with the next normal reading, its `alert.resolved`) exactly once,
 * and every reading must be stored.
 */
async function mqttPhase(
  ctx: BenchContext,
  clients: EngineClients,
  phase: Phase,
  devices: Device[],
  probe: () => Promise<number>,
) {
  const { info } = needStack(ctx);
  const n = devices.length;
  const perDevice = Math.max(4, Math.floor((phase.rate * phase.seconds) / n));
  const total = perDevice * n;
  const label = `step 6 MQTT ${phase.rate}/s`;
  const raised = devices.map(() => [] as number[]);
  const resolved = devices.map(() => [] as number[]);
  const hotAt: number[] = devices.map(() => Number.NaN);
  const acked = devices.map(() => 0);
  let publishErrors = 0;
  progress(`${label}: connecting ${n} devices`);
  const connections: mqtt.MqttClient[] = new Array(n);
  await pool(
    devices.map((d, i) => ({ d, i })),
    20,
    async ({ d, i }) => {
      const client = await mqtt.connectAsync(info.mqtt, {
        clientId: d.deviceId,
        username: d.deviceId,
        password: d.token,
        reconnectPeriod: 0,
        connectTimeout: 15_000,
      });
      client.on('error', () => {
        publishErrors++;
      });
      client.on('message', (_topic, payload) => {
        const now = performance.now();
        try {
          const message = JSON.parse(payload.toString('utf8')) as { type?: string; alert?: { ruleId?: string } };
          if (message.alert?.ruleId !== 'high-temperature') return;
          if (message.type === 'alert.raised') raised[i]?.push(now);
          if (message.type === 'alert.resolved') resolved[i]?.push(now);
        } catch {
          // not an alert message
        }
      });
      await client.subscribeAsync(`devices/${d.deviceId}/alerts`, { qos: 1 });
      connections[i] = client;
    },
  );
  // Warm-up, not measured: one normal reading per device (seq 0), so the consumers' containers are up.
  const publish = (d: number, seq: number, temperature: number) =>
    connections[d]?.publish(
      `devices/${devices[d]?.deviceId}/telemetry`,
      JSON.stringify({ metrics: { temperature, humidity: 40 }, seq }),
      { qos: 1 },
      (error) => {
        if (error) publishErrors++;
        else acked[d] = (acked[d] ?? 0) + 1;
      },
    );
  for (let d = 0; d < n; d++) publish(d, 0, 21.5);
  const warmDeadline = performance.now() + 30_000;
  while (acked.reduce((s, v) => s + v, 0) + publishErrors < n && performance.now() < warmDeadline) await sleep(50);
  await sleep(1500);
  // Each device's hot reading: spread over 10%..80% of the phase, never its last reading (a resolve follows).
  const hotIndex = devices.map((_, d) => Math.min(perDevice - 2, Math.floor((0.1 + (0.7 * d) / n) * perDevice)));

  const procs = stackProcesses(info);
  const invocations = await invocationCounter(info);
  const meter = cpuMeter(procs);
  const floor = runFloorProbe(probe, 200);
  const ages = iteratorAges(info);
  // As for HTTP: once the pipeline is 2 s of load behind (readings acked by the broker, not yet stored), normal
  // readings are shed (not published, counted); the hot ones, and the readings resolving them, always go.
  await sleep(600);
  const storedAtStart = ages.stored();
  const ackedAtStart = acked.reduce((s, v) => s + v, 0);
  const maxBacklog = Math.max(100, phase.rate * (ctx.quick ? 0.5 : 2));
  let shed = 0;
  const t0 = performance.now() + 20;
  let next = 0;
  const stop = ticker(5000, () => {
    const alerts = raised.filter((r) => r.length > 0).length;
    return `${label}: ${next}/${total} scheduled, ${shed} shed, ${acked.reduce((s, v) => s + v, 0)} acked, ${alerts}/${n} alerts received`;
  });
  while (next < total) {
    const now = performance.now();
    for (;;) {
      const scheduledAt = t0 + (next * 1000) / phase.rate;
      if (next >= total || scheduledAt > now) break;
      const d = next % n;
      const j = Math.floor(next / n);
      const hot = j === hotIndex[d];
      next++;
      const backlog = acked.reduce((s, v) => s + v, 0) - ackedAtStart - (ages.stored() - storedAtStart);
      // The hot reading and the one after it (which resolves its alert) are never shed.
      const resolving = j === (hotIndex[d] ?? -1) + 1;
      if (!hot && !resolving && backlog > maxBacklog) {
        shed++;
        continue;
      }
      if (hot) hotAt[d] = scheduledAt;
      publish(d, j + 1, hot ? HIGH_TEMPERATURE : 21.5);
    }
    await sleep(1);
  }
  const loadS = (performance.now() - t0) / 1000;
  const cpu = meter.read();
  const storedDuringLoad = ages.stored() - storedAtStart;
  const allAcked = () => acked.reduce((s, v) => s + v, 0) + publishErrors >= total - shed + n;
  const ackDeadline = performance.now() + 30_000;
  while (performance.now() < ackDeadline && !allAcked()) await sleep(100);
  const ackedTotal = acked.reduce((s, v) => s + v, 0);
  // Then every reading stored (the telemetry path may hold a backlog), then the alerts the last readings owe.
  progress(`${label}: ${ackedTotal} readings acked; waiting for every one to be stored`);
  const table = info.resources.eventsTable;
  const drain = await waitForCount(
    clients,
    table,
    devices.map((d) => d.deviceId),
    ackedTotal,
    ctx.quick ? 45 : 90,
    label,
  );
  const alertsDone = () => raised.every((r) => r.length > 0) && resolved.every((r) => r.length > 0);
  const alertDeadline = performance.now() + 15_000;
  while (performance.now() < alertDeadline && !alertsDone()) await sleep(100);
  await sleep(2000); // a late duplicate would arrive now
  stop();
  const floorSamples = floor.samples;
  await floor.stop();
  const iteratorAge = await ages.stop();
  await Promise.allSettled(connections.map((c) => c?.endAsync()));
  // An alert that never arrived is slower than any that did: ∞, so the percentiles are not flattered by it.
  const perReading = await invocations.per(acked.reduce((s, v) => s + v, 0) - ackedAtStart);
  const latencies = raised.map((r, d) =>
    r.length > 0 ? (r[0] as number) - (hotAt[d] as number) : Number.POSITIVE_INFINITY,
  );
  let storedReadings = 0;
  await pool(devices, 8, async (d) => {
    const found = (await queryIds(clients, table, d.deviceId, true)).count;
    storedReadings += found;
  });
  return {
    perReading,
    rate: phase.rate,
    seconds: phase.seconds,
    devices: n,
    loadS,
    readings: total - shed + n,
    warmUpReadings: n,
    shedReadings: shed,
    storedPerSecondDuringLoad: round(storedDuringLoad / loadS),
    acked: ackedTotal,
    publishErrors,
    storedReadings,
    drain,
    alertMs: summarize(latencies),
    alerts: {
      raisedMissing: raised.filter((r) => r.length === 0).length,
      raisedDuplicates: raised.filter((r) => r.length > 1).length,
      resolvedMissing: resolved.filter((r) => r.length === 0).length,
      resolvedDuplicates: resolved.filter((r) => r.length > 1).length,
    },
    floorMs: summarize(floorSamples),
    iteratorAgeMs: iteratorAge,
    cpu,
  };
}

async function registerDevices(ctx: BenchContext, prefix: string, count: number): Promise<Device[]> {
  const { info } = needStack(ctx);
  const store = new DynamoPrincipalStore(engineClients(info, 16).dynamo, info.resources.principalsTable);
  const devices: Device[] = new Array(count);
  await pool(
    Array.from({ length: count }, (_, i) => i),
    16,
    async (i) => {
      const { deviceId, token } = await registerDevice(store, `${prefix}-${i}`);
      devices[i] = { deviceId, token };
    },
  );
  return devices;
}

function drainText(drain: Drain): string {
  if (drain.seconds !== undefined) return `all stored ${round(drain.seconds)} s after the load`;
  return drain.stalled ? `storing stopped at ${drain.count}` : `still draining at the deadline (${drain.count} stored)`;
}

/**
 * Nothing missing: ok. Missing while the backlog was still draining at the deadline: not verified (reported, not a
 * failure: late is not lost). Missing after the drain ended or stalled, or anything duplicated: a failure.
 */
function drainCheck(name: string, drain: Drain, missing: number, wrong: number, detail: string): Check {
  if (wrong > 0 || (missing > 0 && (drain.stalled || drain.seconds !== undefined))) return { name, ok: false, detail };
  if (missing > 0) return { name, ok: false, unverified: true, detail: `${detail} (not verified: still draining)` };
  return { name, ok: true, detail };
}

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
        `1 in ${h.sample.every} of ${h.accepted} events sampled, ${h.sample.skipped} skipped, ${h.sample.timeouts} timed out; resolution ${FINE_POLL_MS} ms + GET p50 ${h.pollRttMs.p50} ms, 5 % of the elapsed time past ${FINE_POLL_UNTIL_MS} ms; polls ${Math.round(h.pollsShareOfRequests * 100)} % of requests`,
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
