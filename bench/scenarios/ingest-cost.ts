import { runChild } from '../lib/child';
import type { BenchContext } from '../lib/context';
import { startFakeKinesis } from '../lib/fake-kinesis';
import { baseEnv, functionEnv } from '../lib/function-env';
import { ratioOf } from '../lib/report';
import { progress, round, type Summary } from '../lib/util';

interface Total {
  events: number;
  cpuS: number;
  wallS: number;
  perCore: number;
  perSecondWall: number;
  coresUsed: number;
}

/** Step 2: the ingest handler's own CPU per event, against a Kinesis that answers at once. */
export async function ingestCostStep(ctx: BenchContext): Promise<void> {
  const fake = await startFakeKinesis();
  try {
    const batch = 100;
    const rounds = ctx.quick ? 2 : 3;
    const roundMs = ctx.quick ? 1000 : 2500;
    progress(
      `step 2 ingest cost: ${rounds} rounds of ${roundMs} ms handler + ${roundMs} ms JSON floor, batches of ${batch}`,
    );
    // No stack needed: names are only names here (the handler reads EVENT_STREAM_NAME; nothing else is called).
    const info = {
      region: 'us-east-1',
      endpoints: { kinesis: fake.url, dynamodb: 'http://127.0.0.1:9', sqs: 'http://127.0.0.1:9' },
      resources: { eventStream: 'tem-event-stream' } as Record<string, string>,
    } as Parameters<typeof functionEnv>[0];
    const result = await runChild<{ handler: Total; floor: Total; invocationMs: Summary }>(
      'bench/scenarios/ingest-cost.child.ts',
      { ...baseEnv(), ...functionEnv(info, 'httpIngest', { logLevel: ctx.logLevel }) },
      { batch, rounds, roundMs },
    );
    ctx.details.ingestCost = { ...result, fakeKinesis: { calls: fake.calls(), records: fake.records() } };
    const { handler, floor } = result;
    ctx.figures.push({
      id: 'ingest.cpu',
      step: '2',
      name: `ingest handler own cost (batches of ${batch} × ~300 B)`,
      value: round(handler.perCore),
      unit: 'events/s per core',
      display: `${round(handler.perCore).toLocaleString('en-US')} events/s per core (${round(result.invocationMs.p50)} ms per batch)`,
      baseline: {
        name: 'JSON.parse of the body + JSON.stringify of each event',
        value: round(floor.perCore),
        unit: 'events/s per core',
      },
      ratio: ratioOf(handler.perCore, floor.perCore),
      better: 'higher',
      limitedBy:
        'CPU in the handler: zod validation of each event and its data limits, the stored-item size check, SigV4 signing and the SDK round trip, log and EMF lines',
    });
  } finally {
    await fake.close();
  }
}
