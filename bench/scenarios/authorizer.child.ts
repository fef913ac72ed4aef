/**
 * Step 1, inside a child process with the apiAuthorizer's environment: the real handler module, in-process, on
 * REQUEST events built from the API Gateway fixture. Each measured call alternates with its baseline call, so both
 * see the same machine at the same moment.
 *
 * - `cached` (the function's own decision cache on, as deployed): handler vs a no-op async call;
 * - `uncached` (AUTH_CACHE_TTL_SECONDS=0, every call looks the credential up): API key vs one GetItem round trip
 *   to the same engine; JWT (ES256) vs one GetItem plus one bare ES256 verify with node:crypto.
 */
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { createDocumentClient } from '../../shared/aws/clients';
import { parseApiKey } from '../../shared/domain/api-keys';
import { childParams, childProgress, childResult } from '../lib/child';
import { lambdaContext, timed } from '../lib/lambda';
import { summarize } from '../lib/util';

interface Params {
  mode: 'cached' | 'uncached';
  apiKey: string;
  jwt: string;
  samples: number;
}

const params = childParams<Params>();
const { handler } = await import('../../functions/authorizers/api-authorizer');

function requestEvent(credential: { apiKey: string } | { bearer: string }): APIGatewayRequestAuthorizerEvent {
  const fixture = JSON.parse(readFileSync('test/events/apigw/post-events.json', 'utf8')) as Record<string, unknown> & {
    headers: Record<string, string>;
    multiValueHeaders: Record<string, string[]>;
    requestContext: Record<string, unknown>;
  };
  const { authorizer: _proxyOnly, ...requestContext } = fixture.requestContext;
  const headers = { ...fixture.headers };
  const multi = { ...fixture.multiValueHeaders };
  delete headers['X-API-Key'];
  delete multi['X-API-Key'];
  if ('apiKey' in credential) {
    headers['X-API-Key'] = credential.apiKey;
    multi['X-API-Key'] = [credential.apiKey];
  } else {
    headers.Authorization = `Bearer ${credential.bearer}`;
    multi.Authorization = [`Bearer ${credential.bearer}`];
  }
  const { body: _body, isBase64Encoded: _b64, ...rest } = fixture;
  return {
    ...rest,
    type: 'REQUEST',
    methodArn: 'arn:aws:execute-api:us-east-1:000000000000:local/v1/POST/events',
    headers,
    multiValueHeaders: multi,
    requestContext,
  } as unknown as APIGatewayRequestAuthorizerEvent;
}

async function decide(event: APIGatewayRequestAuthorizerEvent): Promise<void> {
  const result = (await handler(event, lambdaContext('tem-apiAuthorizer', 5, 256))) as { policyDocument?: unknown };
  if (!result?.policyDocument) throw new Error('authorizer returned no policy');
}

const byKey = requestEvent({ apiKey: params.apiKey });
const byJwt = requestEvent({ bearer: params.jwt });

if (params.mode === 'cached') {
  const noop = async () => {};
  for (let i = 0; i < 100; i++) await decide(byKey); // the first call fills the cache; the rest warm the JIT
  const handlerMs: number[] = [];
  const baselineMs: number[] = [];
  for (let i = 0; i < params.samples; i++) {
    handlerMs.push(await timed(() => decide(byKey)));
    baselineMs.push(await timed(noop));
  }
  childProgress(`authorizer cached: ${params.samples} decisions`);
  await childResult({ cached: summarize(handlerMs), noop: summarize(baselineMs) });
} else {
  const client = createDocumentClient();
  const table = process.env.PRINCIPALS_TABLE_NAME as string;
  const keyId = parseApiKey(params.apiKey)?.keyId;
  const getItem = () => client.send(new GetCommand({ TableName: table, Key: { pk: `KEY#${keyId}` } }));
  // A bare ES256 verify of a token-sized input: what any JWT check must pay besides its lookup.
  const { privateKey, publicKey } = ephemeralP256();
  const input = Buffer.from(params.jwt.split('.').slice(0, 2).join('.'));
  const signature = sign('sha256', input, { key: privateKey, dsaEncoding: 'ieee-p1363' });
  const es256 = () => {
    if (!verify('sha256', input, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature)) throw new Error('bad');
  };
  for (let i = 0; i < 30; i++) {
    await decide(byKey);
    await decide(byJwt);
    await getItem();
  }
  const keyMs: number[] = [];
  const jwtMs: number[] = [];
  const getMs: number[] = [];
  const getVerifyMs: number[] = [];
  let last = performance.now();
  for (let i = 0; i < params.samples; i++) {
    keyMs.push(await timed(() => decide(byKey)));
    getMs.push(await timed(getItem));
    jwtMs.push(await timed(() => decide(byJwt)));
    getVerifyMs.push(
      await timed(async () => {
        es256();
        await getItem();
      }),
    );
    if (performance.now() - last > 4000) {
      childProgress(`authorizer uncached: ${i + 1}/${params.samples} samples`);
      last = performance.now();
    }
  }
  await childResult({
    apiKey: summarize(keyMs),
    getItem: summarize(getMs),
    jwt: summarize(jwtMs),
    getItemPlusEs256: summarize(getVerifyMs),
  });
}

function ephemeralP256() {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' });
}
