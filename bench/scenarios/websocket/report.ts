import type { BenchContext } from '../../lib/context';
import { latencyFigure, latencyText, limitText } from '../../lib/context';
import type { Check } from '../../lib/report';
import { round, type Summary } from '../../lib/util';
import { type deliveryFigures, type drainDeliveries, stacked } from './deliveries';
import type { runLoad } from './load';
import { SUBSCRIBERS, TYPES } from './shape';

type LoadResult = Awaited<ReturnType<typeof runLoad>>;
type Figures = ReturnType<typeof deliveryFigures>;
type DrainResult = Awaited<ReturnType<typeof drainDeliveries>>;
interface SeqResult {
  seqGaps: number;
  seqOutOfOrder: number;
}

/** What the two phases measured, as the step's figures and checks read them. */
export interface WebSocketOutcome {
  rate: number;
  m: LoadResult;
  mf: Figures;
  mainDrain: DrainResult;
  mainResult: SeqResult & { fanoutInvocations: number; postsPerEvent: number };
  echoMs: Summary;
  s: LoadResult;
  sf: Figures;
  slowDrain: DrainResult;
  slowResult: SeqResult;
  closedSlow: number;
  /** The close the stalled subscriber saw once it read again, if any. */
  slowClosed: { code: number } | undefined;
}

/** The step's figures (delivery latency with and without a stalled subscriber) and its exactly-once checks. */
export function websocketVerdicts(ctx: BenchContext, o: WebSocketOutcome): Check[] {
  const { rate, m, mf, mainDrain, mainResult, echoMs, s, sf, slowDrain, slowResult, closedSlow, slowClosed } = o;
  const checks: Check[] = [];
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
  const exactly = (name: string, f: typeof mf, drain: typeof mainDrain, seqGaps: number, outOfOrder: number): Check => {
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
  const slowDetail = `closedSlow +${closedSlow}${s.bulk?.closedAtS !== undefined ? ` ${s.bulk.closedAtS} s into the phase` : ''} after ${s.bulk?.mb} MB of bulk events; the client saw ${slowClosed ? `close ${slowClosed.code}` : 'no close'}; the others' p99 ${sf.acceptedToDeliveredMs.p99} ms beside ${mf.acceptedToDeliveredMs.p99} ms without it`;
  if (closedSlow > 0 && slowClosed)
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
  return checks;
}
