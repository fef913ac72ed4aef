import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { cpuMeter } from '../../lib/cpu';
import { batchBody, businessEvent } from '../../lib/events';
import { agent, postEvents } from '../../lib/http';
import { ReadableProbe } from '../../lib/readable-probe';
import { type BenchStack, stackProcesses } from '../../lib/stack';
import { round, sleep, summarize, ticker } from '../../lib/util';
import type { Load } from './deliveries';
import { BATCH, TYPES, typeName, wsStats } from './shape';

/**
 * The stalled subscriber must fill the kernel's socket buffers (~4-6 MB on loopback) and the gateway's 1 MiB before
 * it is closed: it also subscribes to `bench.bulk`, posted only while it is still open (no other subscriber matches
 * it), ~BULK_TARGET_BYTES over the first 60 % of the phase, at most BULK_CAP_BYTES.
 */
const BULK_EVENT_BLOB = 26_000; // random bytes, ~35 KB base64
const BULK_TARGET_BYTES = 9 * 1024 * 1024;
const BULK_CAP_BYTES = 24 * 1024 * 1024;
const BULK_EVERY_MS = 100;

export interface LoadOptions {
  rate: number;
  seconds: number;
  source: string;
  /** Poll a sample of the accepted events through GET /events/{id} (the baseline). */
  pollSample: boolean;
  /** The slow sub-measurement: bulk events for the stalled subscriber until the gateway closes it. */
  bulk?: { closedSlowBefore: number };
}

/** Open-loop producers at `rate` in requests of BATCH events, measured against `load`. */
export async function runLoad(info: BenchStack['info'], load: Load, o: LoadOptions) {
  const postAgent = agent(32);
  // Baseline, as in the latency step: accepted→readable through GET /events/{id}, from the POST's 202.
  const readable = new ReadableProbe(o.rate, info);
  const intervalMs = (BATCH * 1000) / o.rate;
  const postMs: number[] = [];
  const inFlight = new Set<Promise<void>>();
  let requests = 0;
  let refusedRequests = 0;
  let refusedEvents = 0;
  let lateMs = 0;
  const maxQueuedEvents = Math.max(200, o.rate * 2);
  let queuedEvents = 0;
  let shed = 0;

  const fire = (first: number, size: number, scheduledAt: number) => {
    if (queuedEvents >= maxQueuedEvents) {
      shed += size;
      return;
    }
    queuedEvents += size;
    const events = Array.from({ length: size }, (_, i) => {
      const n = first + i;
      const t = Math.floor(Math.random() * TYPES);
      load.typeOf[n] = t;
      load.scheduledAt[n] = scheduledAt;
      const e = businessEvent(n, { type: typeName(t), source: o.source });
      return { ...e, data: { ...e.data, bench: { phase: load.name, n, sentAt: Date.now() } } };
    });
    requests++;
    const work = postEvents(postAgent, info.http, info.devApiKey, batchBody(events))
      .then((answer) => {
        const now = performance.now();
        postMs.push(now - scheduledAt);
        if (answer.status !== 202 || answer.ids.length !== size) {
          refusedRequests++;
          refusedEvents += size;
          return;
        }
        answer.ids.forEach((id, i) => {
          const n = first + i;
          load.acceptedAt[n] = now;
          load.ids[n] = id;
          if (o.pollSample) readable.offer(n, id, now, requests);
        });
      })
      .catch(() => {
        refusedRequests++;
        refusedEvents += size;
      })
      .finally(() => {
        queuedEvents -= size;
        inFlight.delete(work);
      });
    inFlight.add(work);
  };

  // The stalled subscriber's feed: bulk events every BULK_EVERY_MS until the gateway has closed it.
  const bulk = { requests: 0, bytes: 0, refused: 0, closedAtS: undefined as number | undefined, closedSlow: 0 };
  const blob = randomBytes(BULK_EVENT_BLOB).toString('base64');
  const bulkTicks = (0.6 * o.seconds * 1000) / BULK_EVERY_MS;
  const bulkPerTick = Math.max(1, Math.round(BULK_TARGET_BYTES / bulkTicks / blob.length));
  let bulkOn = o.bulk !== undefined;
  let watching = o.bulk !== undefined;
  const t0 = performance.now() + 20;
  const watcher = (async () => {
    while (watching) {
      try {
        const closed = ((await wsStats(info)).webSocket?.closedSlow ?? 0) - (o.bulk?.closedSlowBefore ?? 0);
        if (closed > 0 && bulk.closedAtS === undefined) {
          bulk.closedAtS = round((performance.now() - t0) / 1000);
          bulk.closedSlow = closed;
          bulkOn = false;
        }
      } catch {
        // the control port is busy: skip a sample
      }
      await sleep(500);
    }
  })();
  const fireBulk = (k: number) => {
    if (!bulkOn || bulk.bytes >= BULK_CAP_BYTES) return;
    const events = Array.from({ length: bulkPerTick }, (_, i) => ({
      type: 'bench.bulk',
      source: o.source,
      data: { bench: { phase: 'bulk', n: k * bulkPerTick + i, sentAt: Date.now() }, blob },
    }));
    const body = batchBody(events);
    bulk.requests++;
    bulk.bytes += Buffer.byteLength(body);
    const work = postEvents(postAgent, info.http, info.devApiKey, body)
      .then((answer) => {
        if (answer.status !== 202) bulk.refused++;
      })
      .catch(() => {
        bulk.refused++;
      })
      .finally(() => inFlight.delete(work));
    inFlight.add(work);
  };

  const procs = stackProcesses(info);
  const meter = cpuMeter(procs);
  const before = await wsStats(info);
  const stop = ticker(
    5000,
    () =>
      `step 8 ${load.name} ${o.rate}/s: ${Math.min(next, load.total)}/${load.total} sent, ${load.received} deliveries, ${inFlight.size} requests in flight${o.bulk ? `, bulk ${round(bulk.bytes / 1048576)} MB${bulk.closedAtS !== undefined ? ` (stalled one closed at ${bulk.closedAtS} s)` : ''}` : ''}`,
  );
  let next = 0;
  let r = 0;
  let b = 0;
  while (next < load.total) {
    const now = performance.now();
    for (;;) {
      const scheduledAt = t0 + r * intervalMs;
      if (next >= load.total || scheduledAt > now) break;
      lateMs = Math.max(lateMs, now - scheduledAt);
      const size = Math.min(BATCH, load.total - next);
      fire(next, size, scheduledAt);
      next += size;
      r++;
    }
    while (o.bulk && t0 + b * BULK_EVERY_MS <= now && next < load.total) fireBulk(b++);
    await sleep(1);
  }
  const loadS = (performance.now() - t0) / 1000;
  const cpu = meter.read();
  const loadAverage = round(os.loadavg()[0] ?? 0, 2);
  await Promise.allSettled([...inFlight]);
  await readable.settle();
  watching = false;
  await watcher;
  stop();
  postAgent.destroy();
  readable.destroy();
  return {
    before,
    loadS,
    cpu,
    loadAverage,
    requests,
    refusedRequests,
    refusedEvents,
    shedEvents: shed,
    maxSchedulerLagMs: round(lateMs),
    postAnsweredMs: summarize(postMs),
    readableMs: summarize(readable.latencyMs),
    sample: {
      every: readable.every,
      polled: readable.latencyMs.length,
      skipped: readable.skipped,
      timeouts: readable.timeouts,
      polls: readable.polls,
    },
    pollRttMs: summarize(readable.pollRttMs),
    bulk: o.bulk ? { ...bulk, mb: round(bulk.bytes / 1048576), eventsPerRequest: bulkPerTick } : undefined,
  };
}
