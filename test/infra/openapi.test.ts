import * as fs from 'node:fs';
import * as path from 'node:path';
import { App, CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { TelemetryEventMeshStack } from '../../infra/aws/stack';
import { functions, routes } from '../../infra/topology';
import { stubRepoRoot } from './stub-root';

// GET /openapi.json reaches the CDK stack through the topology alone (infra/aws/stack.ts builds every route from it).
// Built as test/infra/stack.test.ts builds it: bundling skipped, against a stand-in root with an empty file per entry.
const stubRoot = stubRepoRoot('openapi-infra');
const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
const stack = new TelemetryEventMeshStack(app, 'TelemetryEventMesh', { repoRoot: stubRoot });
const template = Template.fromStack(stack);

const logicalId = (c: IConstruct | undefined): string => {
  const el = c && (CfnElement.isCfnElement(c) ? c : c.node.defaultChild);
  if (!el || !CfnElement.isCfnElement(el)) throw new Error(`no CloudFormation element for ${c?.node.path}`);
  return stack.getLogicalId(el);
};
type Resource = { Properties: Record<string, unknown> };
const resource = (type: string, id: string) => (template.findResources(type) as Record<string, Resource>)[id];

describe('GET /openapi.json in the CDK stack', () => {
  const route = routes.find((r) => r.path === '/openapi.json');

  it('is a public route of the topology, served by the openApi function', () => {
    expect(route).toMatchObject({ method: 'GET', function: 'openApi', auth: 'none' });
    expect(functions.openApi).toMatchObject({ entry: 'functions/meta/openapi.ts', memoryMb: 128, bindings: [] });
    expect(fs.existsSync(path.join(import.meta.dirname, '..', '..', functions.openApi.entry))).toBe(true);
  });

  it('has a method without authorizer or API key, proxied to the openApi function', () => {
    const method = resource('AWS::ApiGateway::Method', logicalId(stack.methods['GET /openapi.json']));
    expect(method?.Properties).toMatchObject({ HttpMethod: 'GET', AuthorizationType: 'NONE' });
    expect(method?.Properties.AuthorizerId).toBeUndefined();
    expect(method?.Properties.ApiKeyRequired).not.toBe(true);
    const integration = method?.Properties.Integration as { Type: string; Uri: unknown };
    expect(integration.Type).toBe('AWS_PROXY');
    expect(JSON.stringify(integration.Uri)).toContain(logicalId(stack.functions.openApi));
  });

  it('the function gets 128 MB and no resource permission', () => {
    const fn = resource('AWS::Lambda::Function', logicalId(stack.functions.openApi));
    expect(fn?.Properties).toMatchObject({ MemorySize: 128, Timeout: functions.openApi.timeoutSeconds });
    // Nothing of the stack's data: its role's statements name no table, stream, queue or key.
    const role = logicalId(stack.functions.openApi.role);
    const own = Object.values(template.findResources('AWS::IAM::Policy') as Record<string, Resource>).filter((p) =>
      JSON.stringify(p.Properties.Roles).includes(role),
    );
    expect(JSON.stringify(own)).not.toMatch(/dynamodb:|kinesis:|sqs:|kms:|iot:|execute-api:/);
  });
});
