import { App, CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { TelemetryEventMeshStack } from '../../infra/aws/stack';
import { type FunctionName, functions } from '../../infra/topology';
import { stubRepoRoot } from './stub-root';

// As test/infra/stack.test.ts: the template only (no bundling), against a stand-in root with one file per entry.
const stubRoot = stubRepoRoot('tracing-test');
const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
const stack = new TelemetryEventMeshStack(app, 'TelemetryEventMesh', { repoRoot: stubRoot });
const template = Template.fromStack(stack);

type Resources = Record<string, { Properties: Record<string, unknown> }>;
const lambdas = template.findResources('AWS::Lambda::Function') as Resources;
const policies = Object.values(template.findResources('AWS::IAM::Policy') as Resources);
const functionNames = Object.keys(functions) as FunctionName[];

const logicalIdOf = (name: FunctionName): string => {
  const el = stack.functions[name].node.defaultChild;
  if (!CfnElement.isCfnElement(el)) throw new Error(`no CloudFormation element for ${name}`);
  return stack.getLogicalId(el);
};

/** CDK's own deploy-time helper (the singleton provider behind AwsCustomResource lookups): not our code to trace. */
const isCdkProvider = (logicalId: string) => logicalId.startsWith('AWS679f53fac002430cb0da5b7982bd2287');

describe('tracing on every function', () => {
  it('every Lambda function in the template is a topology function, except CDK’s custom-resource provider', () => {
    const ours = new Set(functionNames.map(logicalIdOf));
    const others = Object.keys(lambdas).filter((id) => !ours.has(id));
    expect(others.filter((id) => !isCdkProvider(id))).toEqual([]);
  });

  it.each(functionNames)('%s: X-Ray active tracing and the Powertools tracer settings', (name) => {
    const props = lambdas[logicalIdOf(name)]?.Properties;
    expect(props?.TracingConfig).toEqual({ Mode: 'Active' });
    expect(props?.Environment).toMatchObject({
      // On (as stated, where the local stack states it off), and responses kept out of the segments.
      Variables: {
        POWERTOOLS_SERVICE_NAME: 'tem',
        POWERTOOLS_TRACE_ENABLED: 'true',
        POWERTOOLS_TRACER_CAPTURE_RESPONSE: 'false',
      },
    });
  });

  it.each(functionNames)('%s: its role may send trace segments', (name) => {
    const role = lambdas[logicalIdOf(name)]?.Properties.Role as { 'Fn::GetAtt': [string, string] };
    const roleId = role['Fn::GetAtt'][0];
    const actions = policies
      .filter((p) => JSON.stringify(p.Properties.Roles).includes(`"${roleId}"`))
      .flatMap((p) => (p.Properties.PolicyDocument as { Statement: { Action: string | string[] }[] }).Statement)
      .flatMap((s) => [s.Action].flat());
    expect(actions).toEqual(expect.arrayContaining(['xray:PutTraceSegments', 'xray:PutTelemetryRecords']));
  });
});
