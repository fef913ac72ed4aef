import { DynamoPrincipalStore } from '../../shared/aws/dynamo-principal-store';
import { createApiKey, LOCAL_USAGE_KEYS } from '../../shared/domain/admin';
import { type BenchContext, latencyText, needStack } from '../lib/context';
import { engineClients } from '../lib/engines';
import type { Check } from '../lib/report';
import { pool, progress, round, sleep } from '../lib/util';
import { warmUp } from '../lib/warm-up';
import { deliveryFigures, drainDeliveries, gapsOf, Load, stacked } from './websocket/deliveries';
import { runLoad } from './websocket/load';
import { websocketVerdicts } from './websocket/report';
import { BATCH, PER_KEY, SLOW, SUBSCRIBERS, TYPES, typeName, typeOfSubscriber, wsStats } from './websocket/shape';
import { assertLoopback, connectSubscriber, pinger, type Subscriber, subscribe } from './websocket/subscribers';

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

    checks.push(
      ...websocketVerdicts(ctx, {
        rate,
        m,
        mf,
        mainDrain,
        mainResult,
        echoMs,
        s,
        sf,
        slowDrain,
        slowResult,
        closedSlow,
        slowClosed: slow.closed,
      }),
    );
  } finally {
    ctx.details.websocket = results;
    ctx.checks.push(...checks);
    for (const sub of sockets) sub.socket.terminate();
  }
}
