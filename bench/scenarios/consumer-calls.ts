import { runChild } from '../lib/child';
import { type BenchContext, needStack } from '../lib/context';
import { baseEnv, functionEnv } from '../lib/function-env';
import { progress, round } from '../lib/util';

interface ConsumerResult {
  function: string;
  records: number;
  batches: number;
  batchSize: number;
  failedRecords: number;
  calls: number;
  byOperation: Record<string, number>;
  callsPer1000: number;
  minimumPer1000: number;
  minimumRule: string;
  minimumByCommand?: Record<string, number>;
  ratio: number;
  wallMs: number;
}

/** Where the calls exceed the minimum, by command (when the domain names the minimum's commands). */
function excess(c: ConsumerResult): string {
  if (!c.minimumByCommand) return '';
  const per1000 = (n: number) => round((n * 1000) / c.records);
  const over = Object.entries(c.byOperation)
    .filter(([op, n]) => n > (c.minimumByCommand?.[op] ?? 0))
    .map(
      ([op, n]) =>
        `${op.replace(/^.*Client\./, '').replace(/Command$/, '')} ${per1000(n)} vs ${per1000(c.minimumByCommand?.[op] ?? 0)}`,
    );
  return over.length > 0 ? `; above the minimum: ${over.join(', ')}` : '; at the minimum';
}

/** Step 3: AWS calls per 1,000 records of each stream consumer, against the minimum its design allows. */
export async function consumerCallsStep(ctx: BenchContext): Promise<void> {
  const { info } = needStack(ctx);
  const env = {
    ...baseEnv(),
    ...functionEnv(info, 'storeEvents', { logLevel: ctx.logLevel }),
    ...functionEnv(info, 'deviceMetrics', { logLevel: ctx.logLevel }),
    ...functionEnv(info, 'alerts', { logLevel: ctx.logLevel }),
    AWS_LAMBDA_FUNCTION_NAME: 'tem-bench-consumers',
  };
  progress('step 3 consumer calls: 1,000 telemetry records through storeEvents, deviceMetrics, alerts (in-process)');
  const result = await runChild<{ shape: string; consumers: ConsumerResult[] }>(
    'bench/scenarios/consumer-calls.child.ts',
    env,
    { run: ctx.run, devices: 100, readingsPerDevice: 10, hotDevices: 5 },
  );
  ctx.details.consumerCalls = result;
  for (const c of result.consumers) {
    const ops = Object.entries(c.byOperation)
      .sort((a, b) => b[1] - a[1])
      .map(([op, n]) => `${op.replace(/Client\./, ' ').replace(/Command$/, '')} ${round((n * 1000) / c.records)}`)
      .join(', ');
    ctx.figures.push({
      id: `consumers.${c.function}.calls`,
      step: '3',
      name: `${c.function}: AWS calls per 1,000 records (batches of ${c.batchSize})`,
      value: round(c.callsPer1000),
      unit: 'calls',
      display: `${round(c.callsPer1000)} calls${c.failedRecords > 0 ? ` (${c.failedRecords} records failed)` : ''}`,
      baseline: {
        name: `minimum: ${c.minimumRule}`,
        value: round(c.minimumPer1000),
        unit: 'calls',
      },
      ratio: round(c.ratio, 3),
      better: 'lower',
      limitedBy: `design; per 1,000 records: ${ops}${excess(c)}`,
    });
    if (c.failedRecords > 0)
      ctx.checks.push({
        name: `${c.function} in-process batches`,
        ok: false,
        detail: `${c.failedRecords} records reported failed`,
      });
  }
  ctx.settings.consumerCallsShape = result.shape;
}
