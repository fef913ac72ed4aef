import { randomUUID } from 'node:crypto';
import type { Agent } from 'node:http';
import { type BenchContext, needStack } from '../../lib/context';
import { cpuMeter } from '../../lib/cpu';
import { type EngineClients, runFloorProbe } from '../../lib/engines';
import { batchBody, businessEvent } from '../../lib/events';
import { agent, postEvents } from '../../lib/http';
import { ReadableProbe } from '../../lib/readable-probe';
import { stackProcesses } from '../../lib/stack';
import { progress, round, sleep, summarize, ticker } from '../../lib/util';
import { invocationCounter, iteratorAges } from './stack-meters';
import { queryIds, waitForCount } from './stored-count';

/** Request sizes of the paced HTTP producers, in turn: single events and small batches (3.5 events on average). */
const REQUEST_SIZES = [1, 5, 1, 10, 1, 3];
const HTTP_SOURCES = 8;

export interface Phase {
  rate: number;
  seconds: number;
}

/**
 * HTTP producers at a steady paced rate (open loop: a request goes at its scheduled time whether or not earlier
 * ones were answered), single events and small batches with their own ids. A bounded sample is polled through
 * `GET /events/{id}` until 200: send→stored is measured from the scheduled send time. At the end, every accepted
 * event must be in the table exactly once.
 */
export async function httpPhase(ctx: BenchContext, clients: EngineClients, phase: Phase, probe: () => Promise<number>) {
  const { info } = needStack(ctx);
  const table = info.resources.eventsTable;
  const sources = Array.from({ length: HTTP_SOURCES }, (_, k) => `lat-${ctx.run}-http${phase.rate}-${k}`);
  // send→stored: from the scheduled send time to the first 200.
  const readable = new ReadableProbe(phase.rate, info);
  const postAgent: Agent = agent(64);
  const total = phase.rate * phase.seconds;
  const sentKeys = new Set<string>();
  const accepted = new Set<string>();
  const postMs: number[] = [];
  const inFlight = new Set<Promise<void>>();
  let requests = 0;
  let refused = 0;
  let lateMs = 0;

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
          readable.offer(first + i, id, scheduledAt, requests);
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
      `${label}: ${next}/${total} sent, ${accepted.size} accepted, ${inFlight.size} requests in flight, ${readable.latencyMs.length} samples stored (p50 ${summarize(readable.latencyMs).p50} ms), ${readable.polls} polls`,
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
  await readable.settle();
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
  readable.destroy();
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
    storedMs: summarize(readable.latencyMs),
    shedEvents: shed,
    acceptedPerSecond: round(accepted.size / loadS),
    sample: {
      every: readable.every,
      stored: readable.latencyMs.length,
      skipped: readable.skipped,
      timeouts: readable.timeouts,
      polls: readable.polls,
    },
    pollRttMs: summarize(readable.pollRttMs),
    pollsPerSecond: round(readable.polls / loadS),
    pollsShareOfRequests: round(readable.polls / Math.max(1, requests), 3),
    floorMs: summarize(floorSamples),
    iteratorAgeMs: iteratorAge,
    cpu,
    drain,
    exactlyOnce: { missing: missing.length, duplicates, foreign, storedUnacknowledged },
  };
}
