import { randomBytes } from 'node:crypto';
import os from 'node:os';
import WebSocket from 'ws';
import { DynamoPrincipalStore } from '../../shared/aws/dynamo-principal-store';
import { createApiKey, LOCAL_USAGE_KEYS } from '../../shared/domain/admin';
import { type BenchContext, latencyFigure, latencyText, limitText, needStack } from '../lib/context';
import { cpuMeter } from '../lib/cpu';
import { engineClients } from '../lib/engines';
import { batchBody, businessEvent } from '../lib/events';
import { agent, postEvents, send } from '../lib/http';
import type { Check } from '../lib/report';
import { type BenchStack, type StackStats, stackProcesses, stackStats } from '../lib/stack';
import { percentile, pool, progress, round, type Summary, sleep, summarize, ticker } from '../lib/util';
import { warmUp } from '../lib/warm-up';

/**
 * Step 8: live delivery over the WebSocket API (issue 12), end to end on the embedded stack. 100 subscribers, each
 * subscribed to one of 10 event types (`bench.t0`..`bench.t9`, so each event goes to ~10 of them), and producers
 * posting those types open loop in requests of 10 events (the HTTP path's cheap shape: the latency step's mix of
 * single events and small batches overloads the gateway at 1,000 events/s on 2 cores). Measured per delivery:
 * accepted (the POST's 202 read) → frame received, and scheduled send → received; every (event, matching
 * subscriber) pair must arrive once, numbered without gaps per stream. Baseline, same events, same run:
 * accepted → readable through `GET /events/{id}` (the storage path off the same stream), sampled and polled as the
 * latency step polls. Then the same load with one more subscriber that stops reading: the others' figures beside the
 * first phase's, and the stalled one must be closed by the gateway (`webSocket.closedSlow`).
 */

const SUBSCRIBERS = 100;
const TYPES = 10;
const BATCH = 10;
/** `connectionsPerPrincipal` is 20: 10 reader keys of 10 connections each, one subscriber of each type per key. */
const PER_KEY = 10;
const SLOW = SUBSCRIBERS; // the stalled subscriber's index
const KEY_STRIDE = 128; // delivered-pair key: n * KEY_STRIDE + subscriber
/** Baseline probe, as in the latency step: a bounded sample of the events polled until readable. */
const MAX_POLLERS = 4;
const POLL_BUDGET = 0.2;
const FINE_POLL_MS = 3;
const FINE_POLL_UNTIL_MS = 100;
const COARSE_POLL_SHARE = 0.05;
const POLL_TIMEOUT_MS = 30_000;
/** After the load: deliveries still arriving are waited for, at most this long, and no longer than STALL_MS idle. */
const DRAIN_MS = 30_000;
const STALL_MS = 5_000;
/**
 * The stalled subscriber must fill the kernel's socket buffers (~4-6 MB on loopback) and the gateway's 1 MiB before
 * it is closed: it also subscribes to `bench.bulk`, posted only while it is still open (no other subscriber matches
 * it), ~BULK_TARGET_BYTES over the first 60 % of the phase, at most BULK_CAP_BYTES.
 */
const BULK_EVENT_BLOB = 26_000; // random bytes, ~35 KB base64
const BULK_TARGET_BYTES = 9 * 1024 * 1024;
const BULK_CAP_BYTES = 24 * 1024 * 1024;
const BULK_EVERY_MS = 100;

const typeName = (t: number) => `bench.t${t}`;
const typeOfSubscriber = (i: number) => i % TYPES;

interface WsStats {
  connections: number;
  posts: number;
  postsGone: number;
  closedSlow: number;
}
type Stats = StackStats & { webSocket?: WsStats };
const wsStats = async (info: BenchStack['info']) => (await stackStats(info)) as Stats;

/** One measured load: what was sent, what was accepted when, and every delivery seen. */
class Load {
  readonly acceptedAt: Float64Array;
  readonly scheduledAt: Float64Array;
  readonly typeOf: Uint8Array;
  readonly ids: (string | undefined)[];
  readonly delivered = new Map<number, number>();
  received = 0;
  duplicates = 0;
  foreign = 0;
  slowReceived = 0;
  constructor(
    readonly name: string,
    readonly total: number,
  ) {
    this.acceptedAt = new Float64Array(total).fill(Number.NaN);
    this.scheduledAt = new Float64Array(total).fill(Number.NaN);
    this.typeOf = new Uint8Array(total);
    this.ids = new Array(total);
  }

  record(subscriber: number, n: number, at: number, type: string): void {
    if (subscriber === SLOW) {
      this.slowReceived++;
      return;
    }
    if (!Number.isInteger(n) || n < 0 || n >= this.total || type !== typeName(this.typeOf[n] as number)) {
      this.foreign++;
      return;
    }
    if (typeOfSubscriber(subscriber) !== this.typeOf[n]) {
      this.foreign++;
      return;
    }
    const key = n * KEY_STRIDE + subscriber;
    if (this.delivered.has(key)) {
      this.duplicates++;
      return;
    }
    this.delivered.set(key, at);
    this.received++;
  }
}

interface Subscriber {
  index: number;
  socket: WebSocket;
  /** Per stream: the seq the next event should carry (numbers count events, not frames). */
  nextSeq: Map<string, number>;
  gaps: number;
  outOfOrder: number;
  dropped: string[];
  errors: string[];
  closed?: { code: number; reason: string };
  waiting?: { id: string; resolve: (reply: Record<string, unknown>) => void };
  onPong?: (at: number) => void;
}

function assertLoopback(urls: readonly (string | undefined)[]): void {
  for (const url of urls) {
    if (url === undefined) continue;
    const host = new URL(url).hostname;
    if (!['127.0.0.1', 'localhost', '[::1]', '::1'].includes(host))
      throw new Error(`the websocket step talks to loopback only; ${url} is not`);
  }
}

function connectSubscriber(
  url: string,
  key: string,
  index: number,
  loads: Map<string, Load>,
  /** Every socket opened, to be closed at the end whatever happens. */
  all: Subscriber[],
): Promise<Subscriber> {
  const socket = new WebSocket(url, [], {
    headers: { 'x-api-key': key },
    handshakeTimeout: 15_000,
    perMessageDeflate: false,
  });
  const sub: Subscriber = { index, socket, nextSeq: new Map(), gaps: 0, outOfOrder: 0, dropped: [], errors: [] };
  all.push(sub);
  socket.on('message', (data) => {
    const at = performance.now();
    let m: Record<string, unknown>;
    try {
      m = JSON.parse(data.toString()) as Record<string, unknown>;
    } catch {
      sub.errors.push('a frame that is not JSON');
      return;
    }
    switch (m.type) {
      case 'events': {
        const items = (m.events ?? []) as {
          event?: { type?: string; data?: { bench?: { phase?: string; n?: number } } };
        }[];
        const stream = String(m.stream);
        const seq = Number(m.seq);
        const expected = sub.nextSeq.get(stream) ?? 1;
        if (seq > expected) sub.gaps += seq - expected;
        else if (seq < expected) sub.outOfOrder++;
        sub.nextSeq.set(stream, Math.max(expected, seq + items.length));
        for (const item of items) {
          const bench = item.event?.data?.bench;
          const load = bench?.phase ? loads.get(bench.phase) : undefined;
          if (load) load.record(index, Number(bench?.n), at, String(item.event?.type));
        }
        return;
      }
      case 'pong':
        sub.onPong?.(at);
        return;
      case 'dropped':
        sub.dropped.push(String(m.reason));
        return;
      default:
        if (sub.waiting && (m.type === 'error' || m.id === sub.waiting.id)) {
          sub.waiting.resolve(m);
          sub.waiting = undefined;
        } else if (m.type === 'error') sub.errors.push(String(m.message));
    }
  });
  socket.on('close', (code, reason) => {
    sub.closed = { code, reason: reason.toString() };
  });
  return new Promise((resolve, reject) => {
    socket.once('open', () => {
      socket.on('error', (error) => sub.errors.push(error.message));
      resolve(sub);
    });
    socket.once('unexpected-response', (_req, res) =>
      reject(new Error(`WebSocket connect refused: HTTP ${res.statusCode}`)),
    );
    socket.once('error', reject);
  });
}

async function subscribe(sub: Subscriber, id: string, filter: Record<string, unknown>): Promise<void> {
  const reply = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer to subscribe ${id} in 10 s`)), 10_000);
    sub.waiting = {
      id,
      resolve: (r) => {
        clearTimeout(timer);
        resolve(r);
      },
    };
    sub.socket.send(JSON.stringify({ action: 'subscribe', id, filter }));
  });
  if (reply.type !== 'subscribed') throw new Error(`subscribe ${id}: ${JSON.stringify(reply)}`);
}

/** `{action:"ping"}` → `pong` round trips on one connection, one at a time, every 100 ms (the gateway's echo). */
function pinger(sub: Subscriber) {
  const rtt: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running && sub.socket.readyState === WebSocket.OPEN) {
      const t = performance.now();
      const answered = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 5000);
        sub.onPong = (at) => {
          clearTimeout(timer);
          rtt.push(at - t);
          resolve(true);
        };
        sub.socket.send(JSON.stringify({ action: 'ping' }));
      });
      if (!answered) rtt.push(Number.POSITIVE_INFINITY);
      await sleep(100);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return summarize(rtt);
    },
  };
}

interface LoadOptions {
  rate: number;
  seconds: number;
  source: string;
  /** Poll a sample of the accepted events through GET /events/{id} (the baseline). */
  pollSample: boolean;
  /** The slow sub-measurement: bulk events for the stalled subscriber until the gateway closes it. */
  bulk?: { closedSlowBefore: number };
}

/** Open-loop producers at `rate` in requests of BATCH events, measured against `load`. */
async function runLoad(info: BenchStack['info'], load: Load, o: LoadOptions) {
  const postAgent = agent(32);
  const pollAgent = agent(MAX_POLLERS);
  const intervalMs = (BATCH * 1000) / o.rate;
  const sampleEvery = Math.max(1, Math.round(o.rate / 5));
  const postMs: number[] = [];
  const readableMs: number[] = [];
  const pollRttMs: number[] = [];
  const inFlight = new Set<Promise<void>>();
  let requests = 0;
  let refusedRequests = 0;
  let refusedEvents = 0;
  let polls = 0;
  let pollers = 0;
  let skipped = 0;
  let timeouts = 0;
  let lateMs = 0;
  const maxQueuedEvents = Math.max(200, o.rate * 2);
  let queuedEvents = 0;
  let shed = 0;

  const poll = async (id: string, acceptedAt: number) => {
    pollers++;
    try {
      for (;;) {
        const t = performance.now();
        const answer = await send(pollAgent, `${info.http}/events/${id}`, 'GET', { 'X-API-Key': info.devApiKey });
        polls++;
        const now = performance.now();
        pollRttMs.push(now - t);
        if (answer.status === 200) {
          readableMs.push(now - acceptedAt);
          return;
        }
        const elapsed = now - acceptedAt;
        if (elapsed > POLL_TIMEOUT_MS) {
          readableMs.push(Number.POSITIVE_INFINITY);
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
          if (!o.pollSample || n % sampleEvery !== 0) return;
          if (pollers >= MAX_POLLERS || polls > POLL_BUDGET * requests + 20) skipped++;
          else void poll(id, now);
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
  while (pollers > 0) await sleep(20);
  watching = false;
  await watcher;
  stop();
  postAgent.destroy();
  pollAgent.destroy();
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
    readableMs: summarize(readableMs),
    sample: { every: sampleEvery, polled: readableMs.length, skipped, timeouts, polls },
    pollRttMs: summarize(pollRttMs),
    bulk: o.bulk ? { ...bulk, mb: round(bulk.bytes / 1048576), eventsPerRequest: bulkPerTick } : undefined,
  };
}

/** Waits until `expected` deliveries are in, at most DRAIN_MS and no longer than STALL_MS without one more. */
async function drainDeliveries(load: Load, expected: number) {
  const t0 = performance.now();
  let grewAt = t0;
  let last = -1;
  for (;;) {
    const now = performance.now();
    if (load.received >= expected) return { seconds: round((now - t0) / 1000), complete: true, stalled: false };
    if (load.received > last) grewAt = now;
    last = load.received;
    if (now - grewAt > STALL_MS) return { seconds: undefined, complete: false, stalled: true };
    if (now - t0 > DRAIN_MS) return { seconds: undefined, complete: false, stalled: false };
    await sleep(100);
  }
}

const withP95 = (values: number[]): Summary & { p95: number } => {
  const sorted = [...values].sort((a, b) => a - b);
  return { ...summarize(sorted), p95: round(percentile(sorted, 95)) };
};

/** Every (accepted event, matching subscriber) pair: its latencies, ∞ when it never arrived. */
function deliveryFigures(load: Load, subscribers: readonly Subscriber[]) {
  const byType = Array.from({ length: TYPES }, () => [] as number[]);
  for (const s of subscribers) if (s.index !== SLOW) byType[typeOfSubscriber(s.index)]?.push(s.index);
  const accepted: number[] = [];
  const sent: number[] = [];
  let expected = 0;
  let acceptedEvents = 0;
  let beforeAnswer = 0;
  for (let n = 0; n < load.total; n++) {
    const acceptedAt = load.acceptedAt[n] as number;
    if (Number.isNaN(acceptedAt)) continue;
    acceptedEvents++;
    for (const sub of byType[load.typeOf[n] as number] ?? []) {
      expected++;
      const at = load.delivered.get(n * KEY_STRIDE + sub);
      if (at === undefined) {
        accepted.push(Number.POSITIVE_INFINITY);
        sent.push(Number.POSITIVE_INFINITY);
        continue;
      }
      if (at < acceptedAt) beforeAnswer++;
      accepted.push(at - acceptedAt);
      sent.push(at - (load.scheduledAt[n] as number));
    }
  }
  // Deliveries of events whose POST was not answered 202 (a refused or failed request that got through anyway).
  let deliveredUnaccepted = 0;
  for (const key of load.delivered.keys())
    if (Number.isNaN(load.acceptedAt[Math.floor(key / KEY_STRIDE)] as number)) deliveredUnaccepted++;
  return {
    acceptedEvents,
    expected,
    received: load.received,
    missing: accepted.filter((v) => v === Number.POSITIVE_INFINITY).length,
    duplicates: load.duplicates,
    foreign: load.foreign,
    deliveredUnaccepted,
    deliveredBeforeTheAnswerWasRead: beforeAnswer,
    acceptedToDeliveredMs: withP95(accepted),
    sendToDeliveredMs: withP95(sent),
  };
}

function gapsOf(subscribers: readonly Subscriber[]) {
  return {
    gaps: subscribers.filter((s) => s.index !== SLOW).reduce((n, s) => n + s.gaps, 0),
    outOfOrder: subscribers.filter((s) => s.index !== SLOW).reduce((n, s) => n + s.outOfOrder, 0),
  };
}

const stacked = (s: Summary & { p95: number }) =>
  `p50 ${s.p50} ms · p95 ${s.p95} ms · p99 ${s.p99} ms · max ${s.max} ms`;

export async function websocketStep(ctx: BenchContext): Promise<void> {
  const { info } = needStack(ctx);
  const url = info.webSocket;
  if (!url) throw new Error('the stack has no WebSocket endpoint (info.webSocket)');
  assertLoopback([info.http, info.control, url]);
  const rate = ctx.quick ? 200 : 1000;
  const seconds = ctx.quick ? 5 : 20;
  const source = `ws-${ctx.run}`;
  const loads = new Map<string, Load>();

  const sockets: Subscriber[] = [];
  const results: Record<string, unknown> = { rate, seconds, subscribers: SUBSCRIBERS, types: TYPES, batch: BATCH };
  const checks: Check[] = [];
  try {
    progress(`step 8: ${SUBSCRIBERS / PER_KEY + 1} reader keys, ${SUBSCRIBERS} subscribers on ${url}`);
    const store = new DynamoPrincipalStore(engineClients(info, 8).dynamo, info.resources.principalsTable);
    const keys: string[] = [];
    for (let k = 0; k <= SUBSCRIBERS / PER_KEY; k++) {
      const issued = await createApiKey(
        store,
        { name: `wsbench-${ctx.run}-${k}`, role: 'reader' },
        new Date(),
        LOCAL_USAGE_KEYS,
      );
      keys.push(issued.apiKey);
    }
    const subscribers: Subscriber[] = new Array(SUBSCRIBERS);
    const tConnect = performance.now();
    await pool(
      Array.from({ length: SUBSCRIBERS }, (_, i) => i),
      10,
      async (i) => {
        const sub = await connectSubscriber(url, keys[Math.floor(i / PER_KEY)] as string, i, loads, sockets);
        await subscribe(sub, `s${i}`, { type: typeName(typeOfSubscriber(i)) });
        subscribers[i] = sub;
      },
    );
    results.connectSeconds = round((performance.now() - tConnect) / 1000);
    const extraKey = keys[SUBSCRIBERS / PER_KEY] as string;
    const echo = await connectSubscriber(url, extraKey, SLOW + 1, loads, sockets);
    progress(`step 8: ${SUBSCRIBERS} subscribers connected and subscribed in ${results.connectSeconds} s`);

    // Not measured: the HTTP path's containers, then the fan-out's (its first deliveries are its cold start).
    await warmUp(info, 2, `${source}-warm`);
    const warm = new Load('warm', Math.min(rate, 200) * 2);
    loads.set('warm', warm);
    await runLoad(info, warm, { rate: Math.min(rate, 200), seconds: 2, source, pollSample: false });
    await drainDeliveries(warm, deliveryFigures(warm, subscribers).expected);
    progress(`step 8 warm-up: ${warm.received} deliveries`);

    // Phase 1: the target load.
    progress(
      `step 8: ${rate} events/s for ${seconds} s to ${SUBSCRIBERS} subscribers (open loop, ${BATCH} events a request)`,
    );
    const main = new Load('main', rate * seconds);
    loads.set('main', main);
    const gaps0 = gapsOf(subscribers);
    const ping = pinger(echo);
    const m = await runLoad(info, main, { rate, seconds, source, pollSample: true });
    const echoMs = await ping.stop();
    const mainExpected = deliveryFigures(main, subscribers).expected;
    const mainDrain = await drainDeliveries(main, mainExpected);
    const mf = deliveryFigures(main, subscribers);
    const gaps1 = gapsOf(subscribers);
    const after1 = await wsStats(info);
    const fanout1 = (after1.functions?.wsFanout?.invocations ?? 0) - (m.before.functions?.wsFanout?.invocations ?? 0);
    const posts1 = (after1.webSocket?.posts ?? 0) - (m.before.webSocket?.posts ?? 0);
    const { before: _before1, ...mRest } = m;
    const mainResult = {
      ...mf,
      ...mRest,
      drain: mainDrain,
      seqGaps: gaps1.gaps - gaps0.gaps,
      seqOutOfOrder: gaps1.outOfOrder - gaps0.outOfOrder,
      echoRoundTripMs: echoMs,
      fanoutInvocations: fanout1,
      managementPosts: posts1,
      postsPerEvent: round(posts1 / Math.max(1, mf.acceptedEvents), 3),
      dropped: subscribers.reduce((n, s) => n + s.dropped.length, 0),
      closedSubscribers: subscribers.filter((s) => s.closed).length,
    };
    results.main = mainResult;
    progress(
      `step 8 ${rate}/s: accepted→delivered ${stacked(mf.acceptedToDeliveredMs)}; ${mf.received}/${mf.expected} deliveries, ${mf.missing} missing, ${mf.duplicates} dupes, ${mainResult.seqGaps} seq gaps; baseline accepted→readable ${latencyText(m.readableMs, true)}; echo ${latencyText(echoMs)}`,
    );

    // Phase 2: the same load with one more subscriber that stops reading.
    progress(`step 8: the same load with a subscriber that stops reading (bulk events for it until it is closed)`);
    const slow = await connectSubscriber(url, extraKey, SLOW, loads, sockets);
    await subscribe(slow, 'stalled', { type: [typeName(0), 'bench.bulk'] });
    slow.socket.pause();
    (slow.socket as unknown as { _socket: { pause(): void } })._socket.pause();
    const slowLoad = new Load('slow', rate * seconds);
    loads.set('slow', slowLoad);
    const closedSlowBefore = (await wsStats(info)).webSocket?.closedSlow ?? 0;
    const gaps2 = gapsOf(subscribers);
    const s = await runLoad(info, slowLoad, { rate, seconds, source, pollSample: false, bulk: { closedSlowBefore } });
    const slowExpected = deliveryFigures(slowLoad, subscribers).expected;
    const slowDrain = await drainDeliveries(slowLoad, slowExpected);
    const sf = deliveryFigures(slowLoad, subscribers);
    const gaps3 = gapsOf(subscribers);
    const after2 = await wsStats(info);
    const closedSlow = (after2.webSocket?.closedSlow ?? 0) - closedSlowBefore;
    // Seen by the client once it reads again: 1008 from the gateway, or 1006 when the close frame sat behind data.
    slow.socket.resume();
    (slow.socket as unknown as { _socket: { resume(): void } })._socket.resume();
    const closeDeadline = performance.now() + 15_000;
    while (!slow.closed && performance.now() < closeDeadline) await sleep(100);
    const { before: _before2, ...sRest } = s;
    const slowResult = {
      ...sf,
      ...sRest,
      drain: slowDrain,
      seqGaps: gaps3.gaps - gaps2.gaps,
      seqOutOfOrder: gaps3.outOfOrder - gaps2.outOfOrder,
      stalled: {
        closedSlow,
        closedAtSecond: s.bulk?.closedAtS,
        clientSawClose: slow.closed,
        receivedBeforeClose: slowLoad.slowReceived,
        bulkMb: s.bulk?.mb,
        bulkRequests: s.bulk?.requests,
      },
      dropped: subscribers.reduce((n, x) => n + x.dropped.length, 0) - mainResult.dropped,
    };
    results.slow = slowResult;
    progress(
      `step 8 with a stalled subscriber: others accepted→delivered ${stacked(sf.acceptedToDeliveredMs)}; ${sf.received}/${sf.expected}, ${sf.missing} missing; stalled one closed: closedSlow +${closedSlow} at ${s.bulk?.closedAtS ?? 'n/a'} s after ${s.bulk?.mb} MB of bulk, client saw ${slow.closed ? slow.closed.code : 'no close'}`,
    );

    // Figures and checks.
    const target = (p99: number) => `target p99 < 100 ms: ${p99 < 100 ? 'met' : 'NOT met'}`;
    const overload = (x: typeof m, acceptedEvents: number) =>
      x.shedEvents > 0 || x.refusedEvents > 0
        ? `OVERLOADED: offered ${rate}/s, accepted ${round(acceptedEvents / x.loadS)}/s (${x.shedEvents} events shed past 2 s of backlog, ${x.refusedEvents} refused); `
        : '';
    ctx.figures.push(
      latencyFigure(
        {
          id: `websocket.delivered${rate}`,
          step: '8',
          name: `WebSocket accepted→delivered at ${rate} events/s, ${SUBSCRIBERS} subscribers (each event to ~${SUBSCRIBERS / TYPES}; POST 202 → frame received)`,
          limitedBy: `${target(mf.acceptedToDeliveredMs.p99)}; ${overload(m, mf.acceptedEvents)}POST answered p50 ${m.postAnsweredMs.p50} ms, p99 ${m.postAnsweredMs.p99} ms; ${mainResult.fanoutInvocations} wsFanout invocations (${round(mf.acceptedEvents / Math.max(1, mainResult.fanoutInvocations), 3)} events each), ${mainResult.postsPerEvent} management posts per event; ping→pong echo on the same gateway ${latencyText(echoMs)}; ${limitText(m.cpu, 'the fan-out: one invocation at a time per shard, its posts to every matching connection')}`,
        },
        mf.acceptedToDeliveredMs,
        {
          name: 'accepted→readable: GET /events/{id} until 200, a sample of the same events (the storage path off the same stream; an upper bound by one poll)',
          summary: m.readableMs,
        },
        true,
        `p95 ${mf.acceptedToDeliveredMs.p95} ms; send→delivered ${stacked(mf.sendToDeliveredMs)}; ${mf.received} of ${mf.expected} deliveries, ${mf.missing} missing, ${mf.duplicates} duplicated, ${mainResult.seqGaps} seq gaps; baseline: 1 in ${m.sample.every} polled, ${m.sample.skipped} skipped, GET p50 ${m.pollRttMs.p50} ms`,
      ),
      latencyFigure(
        {
          id: `websocket.slow${rate}`,
          step: '8',
          name: `WebSocket accepted→delivered at ${rate} events/s with one more subscriber that stopped reading (the other ${SUBSCRIBERS})`,
          limitedBy: `${target(sf.acceptedToDeliveredMs.p99)}; ${overload(s, sf.acceptedEvents)}the stalled one ${closedSlow > 0 ? `closed by the gateway (closedSlow +${closedSlow}) ${s.bulk?.closedAtS ?? '?'} s in` : 'NOT closed'}, after ${s.bulk?.mb} MB of bench.bulk posted for it alone (extra load on the stack in this phase); POST answered p50 ${s.postAnsweredMs.p50} ms, p99 ${s.postAnsweredMs.p99} ms; ${limitText(s.cpu, 'the fan-out')}`,
        },
        sf.acceptedToDeliveredMs,
        { name: 'the same load without it (the figure above, same run)', summary: mf.acceptedToDeliveredMs },
        true,
        `p95 ${sf.acceptedToDeliveredMs.p95} ms; ${sf.received} of ${sf.expected} deliveries, ${sf.missing} missing, ${sf.duplicates} duplicated, ${slowResult.seqGaps} seq gaps`,
      ),
    );
    const exactly = (
      name: string,
      f: typeof mf,
      drain: typeof mainDrain,
      seqGaps: number,
      outOfOrder: number,
    ): Check => {
      const detail = `${f.acceptedEvents} events accepted, ${f.expected} deliveries expected, ${f.received} received: ${f.missing} missing, ${f.duplicates} duplicated, ${f.foreign} not matching the filter, ${seqGaps} seq gaps, ${outOfOrder} out of order`;
      // Wrong deliveries fail; missing ones fail once deliveries stopped coming, and are not verified while they
      // were still arriving at the deadline (late is not lost).
      if (f.duplicates + f.foreign + outOfOrder > 0) return { name, ok: false, detail };
      if (f.missing === 0 && seqGaps === 0) return { name, ok: true, detail };
      if (drain.stalled || drain.complete) return { name, ok: false, detail };
      return { name, ok: false, unverified: true, detail: `${detail} (still arriving at the deadline)` };
    };
    checks.push(
      exactly(
        `step 8 WebSocket ${rate}/s: every matching subscriber got each accepted event once, seq without gaps`,
        mf,
        mainDrain,
        mainResult.seqGaps,
        mainResult.seqOutOfOrder,
      ),
      exactly(
        `step 8 WebSocket ${rate}/s with a stalled subscriber: the others got every event once`,
        sf,
        slowDrain,
        slowResult.seqGaps,
        slowResult.seqOutOfOrder,
      ),
    );
    const slowDetail = `closedSlow +${closedSlow}${s.bulk?.closedAtS !== undefined ? ` ${s.bulk.closedAtS} s into the phase` : ''} after ${s.bulk?.mb} MB of bulk events; the client saw ${slow.closed ? `close ${slow.closed.code}` : 'no close'}; the others' p99 ${sf.acceptedToDeliveredMs.p99} ms beside ${mf.acceptedToDeliveredMs.p99} ms without it`;
    if (closedSlow > 0 && slow.closed)
      checks.push({
        name: 'step 8 WebSocket: a subscriber that stops reading is closed by the gateway',
        ok: true,
        detail: slowDetail,
      });
    else
      checks.push({
        name: 'step 8 WebSocket: a subscriber that stops reading is closed by the gateway',
        ok: false,
        ...(ctx.quick ? { unverified: true } : {}),
        detail: `${slowDetail}${ctx.quick ? ' (quick run: too little data to fill the buffers)' : ''}`,
      });
  } finally {
    ctx.details.websocket = results;
    ctx.checks.push(...checks);
    for (const sub of sockets) sub.socket.terminate();
  }
}
