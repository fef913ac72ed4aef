import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { stackEnvironment, synthesize } from '../../infra/aws/app';
import type { TelemetryEventMeshStack } from '../../infra/aws/stack';
import { optionalEnv } from '../../shared/config';
import { AUTHORIZER_UNAVAILABLE } from '../../shared/domain/decision-cache';

/**
 * The CDK app as `cdk synth` runs it (real entries, cdk-nag on; bundling skipped), with the environment settings the
 * CLI passes: an empty CDK_DEFAULT_ACCOUNT is how a shell or CI template says "none" and must not fail synth.
 */
const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'tem-app-test-'));
afterAll(() => fs.rmSync(outdir, { recursive: true, force: true }));

function synth(env: NodeJS.ProcessEnv) {
  const dir = fs.mkdtempSync(path.join(outdir, 'out-'));
  const app = synthesize(env, new App({ outdir: dir, context: { 'aws:cdk:bundling-stacks': [] } }));
  const stack = app.node.findChild('TelemetryEventMesh') as TelemetryEventMeshStack;
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as {
    artifacts: Record<string, { environment?: string }>;
  };
  return { stack, environment: manifest.artifacts.TelemetryEventMesh?.environment };
}

describe('empty settings are unset', () => {
  it.each<[string, string | undefined, string | undefined]>([
    ['unset', undefined, undefined],
    ['empty', '', undefined],
    ['blank', ' \t', undefined],
    ['padded', ' eu-west-1 ', 'eu-west-1'],
  ])('optionalEnv: %s', (_name, raw, expected) => {
    expect(optionalEnv('X', raw === undefined ? {} : { X: raw })).toBe(expected);
  });

  it.each<[string, NodeJS.ProcessEnv, ReturnType<typeof stackEnvironment>]>([
    ['nothing set', {}, undefined],
    ['both empty', { CDK_DEFAULT_ACCOUNT: '', CDK_DEFAULT_REGION: '' }, undefined],
    ['empty account, a region', { CDK_DEFAULT_ACCOUNT: '', CDK_DEFAULT_REGION: 'us-east-1' }, { region: 'us-east-1' }],
    [
      'an account, empty region',
      { CDK_DEFAULT_ACCOUNT: '123456789012', CDK_DEFAULT_REGION: ' ' },
      { account: '123456789012' },
    ],
    [
      'both set',
      { CDK_DEFAULT_ACCOUNT: '123456789012', CDK_DEFAULT_REGION: 'eu-west-1' },
      { account: '123456789012', region: 'eu-west-1' },
    ],
  ])('stack environment: %s', (_name, env, expected) => {
    expect(stackEnvironment(env)).toEqual(expected);
  });

  it('synth succeeds with CDK_DEFAULT_ACCOUNT= (as the CLI passes it with a default region)', () => {
    const { environment } = synth({ CDK_DEFAULT_ACCOUNT: '', CDK_DEFAULT_REGION: 'us-east-1' });
    expect(environment).toBe('aws://unknown-account/us-east-1');
  });
});

describe('an authorizer that cannot decide answers 503 with Retry-After', () => {
  const { stack } = synth({});
  const responses = Template.fromStack(stack).findResources('AWS::ApiGateway::GatewayResponse') as Record<
    string,
    { Properties: Record<string, unknown> }
  >;
  const byType = (type: string) => Object.values(responses).filter((r) => r.Properties.ResponseType === type);

  // A thrown error or an invalid result is AUTHORIZER_CONFIGURATION_ERROR; AUTHORIZER_FAILURE covers the rest.
  it.each(['AUTHORIZER_CONFIGURATION_ERROR', 'AUTHORIZER_FAILURE'])('%s', (type) => {
    const [response, ...more] = byType(type);
    expect(more).toEqual([]);
    expect(response?.Properties).toMatchObject({
      StatusCode: String(AUTHORIZER_UNAVAILABLE.statusCode),
      // Gateway response header values are static mapping expressions: a quoted literal.
      ResponseParameters: {
        'gatewayresponse.header.Retry-After': `'${AUTHORIZER_UNAVAILABLE.retryAfterSeconds}'`,
      },
      ResponseTemplates: { 'application/json': JSON.stringify({ message: AUTHORIZER_UNAVAILABLE.message }) },
    });
  });
});
