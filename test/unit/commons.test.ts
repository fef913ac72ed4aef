import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { httpLambda, lambda, requestCorrelationId } from '../../functions/commons';
import { functions, routes } from '../../infra/topology';
import { Rejection } from '../../shared/domain/errors';
import { HttpError, json } from '../../shared/http';
import { logger, MetricUnit, metrics } from '../../shared/observability';

const root = path.resolve(import.meta.dirname, '..', '..');
const source = (file: string) => readFileSync(path.join(root, file), 'utf8');
const functionFiles = (dir = 'functions'): string[] =>
  readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? functionFiles(`${dir}/${e.name}`) : e.name.endsWith('.ts') ? [`${dir}/${e.name}`] : [],
  );

describe('every function uses the one middleware chain (functions/commons.ts)', () => {
  const restFunctions = new Set<string>(routes.map((r) => r.function));

  it.each(Object.entries(functions))('%s', (name, spec) => {
    const text = source(spec.entry);
    // The chain's builder, nothing after it: a `.use(...)` appended here would run outside the standard order.
    const exported = [...text.matchAll(/^export const handler = (.*)$/gm)].map((m) => m[1]);
    const builder = restFunctions.has(name) ? 'httpLambda' : 'lambda';
    expect(exported, `${spec.entry}: export const handler = ${builder}(lambdaHandler...)`).toEqual([
      expect.stringMatching(new RegExp(`^${builder}\\(lambdaHandler(, \\{ metrics: true \\})?\\);$`)),
    ]);
    // A function that adds metrics must have them flushed.
    if (/metrics\.addMetric\(/.test(text)) expect(exported[0]).toContain('{ metrics: true }');
  });

  it('no handler file builds a chain of its own (middy or the Powertools middlewares)', () => {
    const own = functionFiles()
      .filter((f) => f !== 'functions/commons.ts')
      .filter((f) => /from '@middy\/core'|@aws-lambda-powertools\/\w+\/middleware/.test(source(f)));
    expect(own).toEqual([]);
  });
});

describe('the chain', () => {
  const context = {
    awsRequestId: 'req-1',
    functionName: 'tem-test',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:eu-west-1:000000000000:function:tem-test',
    memoryLimitInMB: '128',
    getRemainingTimeInMillis: () => 3000,
  } as unknown as Context;
  const apiEvent = (headers: Record<string, string> = {}): APIGatewayProxyEvent =>
    ({
      headers,
      requestContext: { requestId: 'apigw-request-1', authorizer: { principalId: 'svc-a' } },
    }) as unknown as APIGatewayProxyEvent;
  let lines: Record<string, unknown>[];

  beforeEach(() => {
    lines = [];
    const capture = (chunk: string | Uint8Array) => {
      for (const line of String(chunk).split('\n')) if (line.startsWith('{')) lines.push(JSON.parse(line));
      return true;
    };
    vi.spyOn(process.stdout, 'write').mockImplementation(capture);
    vi.spyOn(process.stderr, 'write').mockImplementation(capture);
  });
  afterEach(() => vi.restoreAllMocks());

  it('HTTP: logs carry the Lambda context and the caller’s correlation id, which the answer echoes', async () => {
    const handler = httpLambda(async () => {
      logger.info('inside');
      return json(200, { ok: true });
    });
    const response = await handler(apiEvent({ 'x-correlation-id': 'order-7f3a:retry=2' }), context);
    expect(response.headers).toMatchObject({ 'X-Correlation-Id': 'order-7f3a:retry=2' });
    expect(lines.find((l) => l.message === 'inside')).toMatchObject({
      correlation_id: 'order-7f3a:retry=2',
      function_request_id: 'req-1',
      function_name: 'tem-test',
    });
    // Reset after the invocation: the next one (no header) does not inherit it.
    await httpLambda(async () => {
      logger.info('next');
      return json(200, {});
    })(apiEvent(), context);
    expect(lines.find((l) => l.message === 'next')).toMatchObject({ correlation_id: 'apigw-request-1' });
  });

  it.each([
    ['too long', 'x'.repeat(129)],
    ['a space', 'two words'],
    ['a quote', 'a"b'],
    ['empty', ''],
  ])('an invalid X-Correlation-Id (%s) is ignored: the request id is used, no refusal', async (_why, value) => {
    expect(requestCorrelationId(apiEvent({ 'X-Correlation-Id': value }))).toBe('apigw-request-1');
    const response = await httpLambda(async () => json(202, {}))(apiEvent({ 'X-Correlation-Id': value }), context);
    expect(response.statusCode).toBe(202);
    expect(response.headers).toMatchObject({ 'X-Correlation-Id': 'apigw-request-1' });
  });

  it('HTTP errors still become answers, with the correlation id, logged under it; internals never leak', async () => {
    const refused = await httpLambda(async (): Promise<APIGatewayProxyResult> => {
      throw new Rejection('invalid', 'bad body');
    })(apiEvent({ 'X-Correlation-Id': 'c-1' }), context);
    expect(refused).toMatchObject({ statusCode: 400, headers: { 'X-Correlation-Id': 'c-1' } });
    expect(JSON.parse(refused.body)).toEqual({ message: 'bad body' });
    expect(lines.find((l) => l.message === 'request rejected')).toMatchObject({ correlation_id: 'c-1' });

    const failed = await httpLambda(async (): Promise<APIGatewayProxyResult> => {
      throw new Error('table secret-table unreachable');
    })(apiEvent({ 'X-Correlation-Id': 'c-2' }), context);
    expect(failed).toMatchObject({ statusCode: 500, headers: { 'X-Correlation-Id': 'c-2' } });
    expect(failed.body).not.toContain('secret-table');
    expect(lines.find((l) => l.message === 'unhandled error')).toMatchObject({ correlation_id: 'c-2' });

    const unavailable = await httpLambda(async (): Promise<APIGatewayProxyResult> => {
      throw new HttpError(503, 'try again', {}, { headers: { 'Retry-After': '1' } });
    })(apiEvent(), context);
    expect(unavailable.headers).toMatchObject({ 'Retry-After': '1', 'X-Correlation-Id': 'apigw-request-1' });
  });

  it('metrics are flushed once per invocation, also when it fails; only when asked for', async () => {
    const emf = () => lines.filter((l) => '_aws' in l);
    await lambda(
      async () => {
        metrics.addMetric('UnitTestCount', MetricUnit.Count, 2);
      },
      { metrics: true },
    )({ Records: [] }, context);
    expect(emf()).toEqual([expect.objectContaining({ UnitTestCount: 2 })]);
    await expect(
      lambda(
        async () => {
          metrics.addMetric('UnitTestCount', MetricUnit.Count, 1);
          throw new Error('boom');
        },
        { metrics: true },
      )({ Records: [] }, context),
    ).rejects.toThrow('boom');
    expect(emf()).toHaveLength(2);
    lines = [];
    await lambda(async () => 'no metrics')({}, context);
    expect(emf()).toEqual([]);
  });

  it('a non-API event (a stream batch) gets no invocation-wide correlation id: its records carry their own', async () => {
    expect(requestCorrelationId({ Records: [] })).toBeUndefined();
    await lambda(async () => logger.info('batch'))({ Records: [] }, context);
    expect(lines.find((l) => l.message === 'batch')).not.toHaveProperty('correlation_id');
  });
});
