import type { ChildProcess } from 'node:child_process';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStackInfo } from '../../infra/local/stack';
import { DynamoPrincipalStore } from '../../shared/aws/dynamo-principal-store';
import { createApiKey } from '../../shared/domain/admin';
import { AUTHORIZER_UNAVAILABLE } from '../../shared/domain/decision-cache';
import { startStackProcess, stopStackProcess } from './global-setup';
import { eventually, isEmbedded } from './support';

/**
 * The principals table unreachable (its engine stopped): a principal whose decision an authorizer has cached keeps
 * ingesting; one it has not seen gets 503 + Retry-After, never a 500 or a 401. Stopping an engine reaches everything
 * on a stack, so this runs on a stack of its own (as dlq-replay does).
 */
let child: ChildProcess | undefined;
let info: LocalStackInfo;

beforeAll(async () => {
  if (!isEmbedded()) return;
  const started = await startStackProcess();
  child = started.child;
  info = started.info;
}, 120_000);

afterAll(async () => {
  if (child) await stopStackProcess(child);
}, 30_000);

const control = async (route: string) => {
  const response = await fetch(`${info.control}${route}`, { method: 'POST' });
  if (!response.ok) throw new Error(`control ${route}: ${response.status}`);
};
const store = () =>
  new DynamoPrincipalStore(
    DynamoDBDocumentClient.from(
      new DynamoDBClient({
        region: info.region,
        endpoint: info.endpoints.dynamodb as string,
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      }),
    ),
    info.resources.principalsTable,
  );
const post = async (headers: Record<string, string>) => {
  const response = await fetch(`${info.http}/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ type: 'outage.probe', data: { at: Date.now() } }),
  });
  return { status: response.status, retryAfter: response.headers.get('retry-after'), body: await response.text() };
};

describe.runIf(isEmbedded())('while the principals table is unreachable', () => {
  it('cached principals keep ingesting; uncached ones get 503 with Retry-After until it is back', async () => {
    const principals = store();
    const cached = await createApiKey(principals, {
      name: `cached-${crypto.randomUUID().slice(0, 8)}`,
      role: 'producer',
    });
    const uncached = await createApiKey(principals, {
      name: `fresh-${crypto.randomUUID().slice(0, 8)}`,
      role: 'producer',
    });
    const exchanged = await createApiKey(principals, {
      name: `jwt-${crypto.randomUUID().slice(0, 8)}`,
      role: 'producer',
    });
    const issued = await fetch(`${info.http}/auth/token`, {
      method: 'POST',
      headers: { 'X-API-Key': exchanged.apiKey },
    });
    const { token } = (await issued.json()) as { token: string };
    expect((await post({ 'X-API-Key': cached.apiKey })).status).toBe(202);
    // Neither `uncached` nor the token is used before the outage: no authorizer has their decision.

    await control('/engines/dynamodb/stop');
    try {
      // Over more than one epoch-check interval, so the failing epoch read is exercised, not skipped.
      for (const _ of [1, 2, 3, 4]) {
        expect((await post({ 'X-API-Key': cached.apiKey })).status).toBe(202);
        await new Promise((r) => setTimeout(r, 1_500));
      }
      const unseen: Record<string, string>[] = [{ 'X-API-Key': uncached.apiKey }, { authorization: `Bearer ${token}` }];
      for (const headers of unseen) {
        const refused = await post(headers);
        expect(refused.status).toBe(AUTHORIZER_UNAVAILABLE.statusCode);
        expect(refused.retryAfter).toBe(String(AUTHORIZER_UNAVAILABLE.retryAfterSeconds));
        expect(JSON.parse(refused.body)).toEqual({ message: AUTHORIZER_UNAVAILABLE.message });
      }
      // What needs no table is still answered as usual.
      expect((await post({ 'X-API-Key': 'not-a-key' })).status).toBe(401);
      expect((await post({})).status).toBe(401);
    } finally {
      await control('/engines/dynamodb/start');
    }
    const recovered = await eventually(
      async () => ((await post({ 'X-API-Key': uncached.apiKey })).status === 202 ? true : undefined),
      20_000,
      'the uncached key to be accepted again',
    );
    expect(recovered).toBe(true);
    expect((await post({ authorization: `Bearer ${token}` })).status).toBe(202);
  }, 90_000);
});
