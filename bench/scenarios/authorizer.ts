import { runChild } from '../lib/child';
import { type BenchContext, latencyFigure, needStack } from '../lib/context';
import { baseEnv, functionEnv } from '../lib/function-env';
import { progress, type Summary } from '../lib/util';

/** Step 1: authorizer decisions, the real handler in-process (two child processes: cache on, cache off). */
export async function authorizerStep(ctx: BenchContext): Promise<void> {
  const { info } = needStack(ctx);
  const token = await fetch(`${info.http}/auth/token`, { method: 'POST', headers: { 'X-API-Key': info.devApiKey } });
  if (token.status !== 200) throw new Error(`POST /auth/token answered ${token.status}`);
  const jwt = ((await token.json()) as { token: string }).token;
  const samples = ctx.quick ? 150 : 1000;
  const script = 'bench/scenarios/authorizer.child.ts';
  const env = (overrides: Record<string, string>) => ({
    ...baseEnv(),
    ...functionEnv(info, 'apiAuthorizer', { logLevel: ctx.logLevel, overrides }),
  });
  progress(`step 1 authorizer: ${samples * 4} cached decisions vs a no-op`);
  const cached = await runChild<{ cached: Summary; noop: Summary }>(script, env({}), {
    mode: 'cached',
    apiKey: info.devApiKey,
    jwt,
    samples: samples * 4,
  });
  progress(`step 1 authorizer: ${samples} uncached API-key and ${samples} JWT decisions vs GetItem`);
  const uncached = await runChild<{ apiKey: Summary; getItem: Summary; jwt: Summary; getItemPlusEs256: Summary }>(
    script,
    env({ AUTH_CACHE_TTL_SECONDS: '0' }),
    { mode: 'uncached', apiKey: info.devApiKey, jwt, samples },
  );
  ctx.details.authorizer = { cached, uncached };
  ctx.figures.push(
    latencyFigure(
      {
        id: 'authorizer.cached',
        step: '1',
        name: 'authorizer decision, cached (API key)',
        limitedBy:
          'CPU, by design: SHA-256 of the credential, a map lookup and the IAM policy for every allowed route, no I/O (an epoch GetItem every 5 s shows at p99)',
      },
      cached.cached,
      { name: 'a no-op async call', summary: cached.noop },
    ),
    latencyFigure(
      {
        id: 'authorizer.uncached',
        step: '1',
        name: 'authorizer decision, uncached (API key lookup)',
        limitedBy: `engine round trips: two GetItem in sequence (the key, then its principal), ~${Math.round(uncached.getItem.p50 * 100) / 100} ms each on this engine`,
      },
      uncached.apiKey,
      { name: 'one GetItem round trip, same engine', summary: uncached.getItem },
    ),
    latencyFigure(
      {
        id: 'authorizer.jwt',
        step: '1',
        name: 'authorizer decision, JWT (ES256, uncached)',
        limitedBy:
          'ES256 verify (jose) plus two GetItem in sequence (the API key the token was issued for, then the principal)',
      },
      uncached.jwt,
      { name: 'one GetItem + one bare ES256 verify (node:crypto)', summary: uncached.getItemPlusEs256 },
    ),
  );
}
