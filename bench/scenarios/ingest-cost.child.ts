/**
 * Step 2, inside a child process with the httpIngest environment, its Kinesis endpoint a server in the parent that
 * answers every PutRecords at once. One invocation at a time (one Lambda container), batches of 100 events of
 * ~300 bytes; CPU from process.cpuUsage over the wall time. Rounds alternate with the baseline: JSON.parse of the
 * body + JSON.stringify of each event, the floor any ingest pays.
 */
import { readFileSync } from 'node:fs';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { childParams, childProgress, childResult } from '../lib/child';
import { batchBody, businessEvent } from '../lib/events';
import { lambdaContext } from '../lib/lambda';
import { summarize } from '../lib/util';

interface Params {
  batch: number;
  roundMs: number;
  rounds: number;
}

const params = childParams<Params>();
const { handler } = await import('../../functions/ingest/http-ingest');
const fixture = JSON.parse(readFileSync('test/events/apigw/post-events.json', 'utf8')) as APIGatewayProxyEvent;

// 20 different bodies, reused: the fixture's caller (a producer allowed order.* and payment.*, its own source).
const bodies = Array.from({ length: 20 }, (_, b) =>
  batchBody(Array.from({ length: params.batch }, (_, i) => businessEvent(b * params.batch + i))),
);
let n = 0;
function nextEvent(): APIGatewayProxyEvent {
  n++;
  return {
    ...fixture,
    body: bodies[n % bodies.length] as string,
    requestContext: { ...fixture.requestContext, requestId: `bench-${n}` },
  };
}

async function ingestOnce(): Promise<number> {
  const t0 = performance.now();
  const result = await handler(nextEvent(), lambdaContext('tem-httpIngest', 10));
  if (result.statusCode !== 202) throw new Error(`ingest answered ${result.statusCode}: ${result.body}`);
  return performance.now() - t0;
}

function floorOnce(): void {
  const parsed = JSON.parse(bodies[n++ % bodies.length] as string) as { events: unknown[] };
  let bytes = 0;
  for (const event of parsed.events) bytes += JSON.stringify(event).length;
  if (bytes === 0) throw new Error('empty');
}

interface Round {
  events: number;
  wallS: number;
  cpuS: number;
}

async function round(work: () => Promise<unknown> | undefined, invocationMs?: number[]): Promise<Round> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let calls = 0;
  while (performance.now() - t0 < params.roundMs) {
    const ms = await work();
    if (invocationMs && typeof ms === 'number') invocationMs.push(ms);
    calls++;
  }
  const wallS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { events: calls * params.batch, wallS, cpuS: (cpu.user + cpu.system) / 1e6 };
}

for (let i = 0; i < 200; i++) await ingestOnce(); // warm: JIT, sockets, SDK
for (let i = 0; i < 200; i++) floorOnce();

const handlerRounds: Round[] = [];
const floorRounds: Round[] = [];
const invocationMs: number[] = [];
for (let r = 0; r < params.rounds; r++) {
  handlerRounds.push(await round(ingestOnce, invocationMs));
  floorRounds.push(await round(async () => floorOnce()));
  const h = handlerRounds.at(-1) as Round;
  childProgress(`ingest cost: round ${r + 1}/${params.rounds}: ${Math.round(h.events / h.cpuS)} events/s per core`);
}

const total = (rounds: Round[]) => {
  const events = rounds.reduce((s, r) => s + r.events, 0);
  const cpuS = rounds.reduce((s, r) => s + r.cpuS, 0);
  const wallS = rounds.reduce((s, r) => s + r.wallS, 0);
  return { events, cpuS, wallS, perCore: events / cpuS, perSecondWall: events / wallS, coresUsed: cpuS / wallS };
};
await childResult({ handler: total(handlerRounds), floor: total(floorRounds), invocationMs: summarize(invocationMs) });
