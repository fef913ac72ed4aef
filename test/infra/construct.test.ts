import * as fs from 'node:fs';
import * as path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { EmbeddingStack } from '../../examples/embed/app';
import { buildContext } from '../../infra/aws/build-context';
import type { TelemetryEventMeshProps } from '../../infra/aws/mesh-props';
import { TelemetryEventMeshStack } from '../../infra/aws/stack';
import { TelemetryEventMesh } from '../../infra/aws/telemetry-event-mesh';
import { functions, streamConsumers, tables } from '../../infra/topology';
import { roleUsageKey } from '../../shared/domain/rate-limits';
import { stubRepoRoot } from './stub-root';

// The example app (examples/embed/app.ts): two meshes in a stack of a user's own, beside a queue of its own. Built
// against a stand-in repository root with bundling skipped, as in stack.test.ts: these tests check the template.
const stubRoot = stubRepoRoot('construct-test');
const newApp = () => new App({ context: { 'aws:cdk:bundling-stacks': [] } });

const stack = new EmbeddingStack(newApp(), 'Embedding', { repoRoot: stubRoot });
const template = Template.fromStack(stack);
type Resource = { Type: string; Properties?: Record<string, unknown>; DeletionPolicy?: string };
const resources = template.toJSON().Resources as Record<string, Resource>;
const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
/** The logical ids of a mesh's resources of a type (each resource's construct path is under its mesh). */
const idsIn = (mesh: IConstruct, type: string): string[] =>
  mesh.node
    .findAll()
    .filter((c) => (c as { cfnResourceType?: string }).cfnResourceType === type)
    .map((c) => stack.getLogicalId(c as never));

/**
 * Names that are unique per account and region (or per namespace, for metrics): every top-level `...Name` property
 * of every resource, less those scoped to a parent resource (an IAM policy's name is its role's, a stage's its API's).
 */
const PARENT_SCOPED = new Set([
  'AWS::IAM::Policy.PolicyName',
  'AWS::ApiGateway::Stage.StageName',
  'AWS::ApiGatewayV2::Stage.StageName',
  'AWS::ApiGateway::RequestValidator.Name',
  'AWS::ApiGateway::Authorizer.Name',
  'AWS::ApiGatewayV2::Authorizer.Name',
  'AWS::SNS::Topic.DisplayName',
  'AWS::CloudWatch::Alarm.MetricName',
]);
function physicalNames(): string[] {
  const names: string[] = [];
  for (const r of Object.values(resources)) {
    for (const [prop, value] of Object.entries(r.Properties ?? {}))
      if (/Name$/.test(prop) && typeof value === 'string' && !PARENT_SCOPED.has(`${r.Type}.${prop}`))
        names.push(`${r.Type}.${prop}=${value}`);
    // A log metric filter's metric: one name in the namespace, whoever publishes to it.
    if (r.Type === 'AWS::Logs::MetricFilter')
      for (const m of (r.Properties?.MetricTransformations ?? []) as { MetricNamespace: string; MetricName: string }[])
        names.push(`metric ${m.MetricNamespace}/${m.MetricName}`);
  }
  return names;
}

describe('two meshes in one stack (examples/embed/app.ts)', () => {
  it('fixes no physical name twice', () => {
    const names = physicalNames();
    // Each mesh's fixed names: APIs, usage plans and keys, consumers, metrics; the IoT names for fleet alone.
    expect(names.length).toBeGreaterThan(20);
    expect(names.filter((n, i) => names.indexOf(n) !== i)).toEqual([]);
    for (const expected of [
      'AWS::ApiGateway::RestApi.Name=orders-api',
      'AWS::ApiGateway::RestApi.Name=fleet-api',
      'AWS::ApiGatewayV2::Api.Name=fleet-ws',
      'AWS::ApiGateway::UsagePlan.UsagePlanName=orders-role-producer',
      'AWS::IoT::Authorizer.AuthorizerName=fleet-TemDeviceAuthorizer',
      'AWS::IoT::TopicRule.RuleName=fleet_deviceTelemetry',
      'AWS::Kinesis::StreamConsumer.ConsumerName=Embedding-fleet-storeEvents',
      'metric TelemetryEventMesh/orders-ApiAuthorizerErrorLogLines',
    ])
      expect(names).toContain(expected);
  });

  // API Gateway refuses a second API key with a value it already has in the account and region: each mesh's role
  // keys are scoped by its name prefix, and its authorizer is told the prefix to return the same values.
  it("the role usage keys' values differ between the meshes, and each authorizer returns its mesh's", () => {
    const values = ofType('AWS::ApiGateway::ApiKey').map(([, r]) => r.Properties?.Value);
    expect(values.length).toBeGreaterThan(2);
    expect(new Set(values).size).toBe(values.length);
    const scopeOf = (r: Resource) =>
      (r.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables?.USAGE_KEY_SCOPE;
    for (const prefix of ['orders', 'fleet']) {
      expect(values).toContain(roleUsageKey('producer', prefix));
      const authorizers = ofType('AWS::Lambda::Function').filter(
        ([id]) => id.toLowerCase().startsWith(prefix) && id.includes('ApiAuthorizer'),
      );
      expect(authorizers.map(([, r]) => scopeOf(r))).toEqual([prefix]);
    }
  });

  it('cdk-nag AwsSolutions: no unacknowledged finding for either mesh or the stack', () => {
    const report = new AwsSolutionsChecks(undefined, { verbose: false }).validateScope(stack);
    expect(
      report.violations.map(
        (v) => `${v.severity} ${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`,
      ),
    ).toEqual([]);
  });

  it("keeps the stack's own queue, and stays under CloudFormation's 500 resources", () => {
    expect(stack.inbox.node.scope).toBe(stack);
    expect(Object.keys(resources).length).toBeLessThanOrEqual(500);
  });

  it("shares what is one per stack or account: API Gateway's logging role, the lookup provider", () => {
    expect(ofType('AWS::ApiGateway::Account')).toHaveLength(1);
    expect(
      ofType('AWS::Lambda::Function').filter(([id]) => id.startsWith('AWS679f53fac002430cb0da5b7982bd2287')),
    ).toHaveLength(1);
    expect(
      Object.keys(resources).filter((id) => id.startsWith('EndpointLookupRole') && !id.includes('Policy')),
    ).toHaveLength(1);
  });

  it('stage prod: tables retained, with point-in-time recovery and deletion protection; dev: none of it', () => {
    const fleet = idsIn(stack.fleet, 'AWS::DynamoDB::Table');
    const orders = idsIn(stack.orders, 'AWS::DynamoDB::Table');
    expect(fleet).toHaveLength(Object.keys(tables).length);
    expect(orders).toHaveLength(Object.keys(tables).length);
    for (const id of fleet) {
      expect(resources[id]?.DeletionPolicy, id).toBe('Retain');
      expect(resources[id]?.Properties).toMatchObject({
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        DeletionProtectionEnabled: true,
      });
    }
    for (const id of orders) {
      expect(resources[id]?.DeletionPolicy, id).toBe('Delete');
      expect(resources[id]?.Properties).toMatchObject({
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: false },
        DeletionProtectionEnabled: false,
      });
    }
    // The stream, the signing keys and every log group; the topics' keys encrypt nothing kept and go in both stages.
    const kept = (mesh: TelemetryEventMesh) => [
      ...idsIn(mesh, 'AWS::Kinesis::Stream'),
      ...Object.values(mesh.keys).map((k) => stack.getLogicalId(k.node.defaultChild as never)),
      ...idsIn(mesh, 'AWS::Logs::LogGroup'),
    ];
    expect(new Set(kept(stack.fleet).map((id) => resources[id]?.DeletionPolicy))).toEqual(new Set(['Retain']));
    expect(new Set(kept(stack.orders).map((id) => resources[id]?.DeletionPolicy))).toEqual(new Set(['Delete']));
    const retention = (mesh: TelemetryEventMesh) =>
      new Set(idsIn(mesh, 'AWS::Logs::LogGroup').map((id) => resources[id]?.Properties?.RetentionInDays));
    expect(retention(stack.fleet)).toEqual(new Set([30]));
    expect(retention(stack.orders)).toEqual(new Set([7]));
  });

  it('stage dev alarms on failures that last: higher thresholds than prod', () => {
    const threshold = (mesh: TelemetryEventMesh) =>
      resources[stack.getLogicalId(mesh.alarms['functionErrors:httpIngest']?.node.defaultChild as never)]?.Properties
        ?.Threshold;
    expect(threshold(stack.fleet)).toBe(1);
    expect(threshold(stack.orders)).toBe(5);
  });

  it('iot: false builds no IoT resource at all; the other mesh has its own', () => {
    const iot = Object.entries(resources).filter(([, r]) => r.Type.startsWith('AWS::IoT::'));
    expect(iot.map(([, r]) => r.Type).sort()).toEqual(['AWS::IoT::Authorizer', 'AWS::IoT::TopicRule']);
    const orders = new Set(stack.orders.node.findAll().map((c) => (c as { cfnResourceType?: string }).cfnResourceType));
    expect([...orders].filter((t) => t?.startsWith('AWS::IoT::'))).toEqual([]);
    expect(stack.orders.iotAuthorizer).toBeUndefined();
    expect(stack.orders.topicRules).toEqual({});
    // No IoT invoke permission on the device authorizer, no IoT rule role.
    const orderPermissions = idsIn(stack.orders, 'AWS::Lambda::Permission').map((id) => resources[id]?.Properties);
    expect(orderPermissions.filter((p) => p?.Principal === 'iot.amazonaws.com')).toEqual([]);
  });

  it('enhancedFanOut: false registers no stream consumer: every consumer polls', () => {
    expect(idsIn(stack.orders, 'AWS::Kinesis::StreamConsumer')).toEqual([]);
    expect(stack.orders.topology.streamConsumers.map((c) => c.readMode)).toEqual(streamConsumers.map(() => 'polling'));
    const mappings = idsIn(stack.orders, 'AWS::Lambda::EventSourceMapping').map(
      (id) => resources[id]?.Properties?.EventSourceArn,
    );
    const [stream] = idsIn(stack.orders, 'AWS::Kinesis::Stream');
    expect(
      mappings.filter((arn) => JSON.stringify(arn) === JSON.stringify({ 'Fn::GetAtt': [stream, 'Arn'] })),
    ).toHaveLength(streamConsumers.length);
    expect(idsIn(stack.fleet, 'AWS::Kinesis::StreamConsumer')).toHaveLength(
      streamConsumers.filter((c) => c.readMode === 'enhancedFanOut').length,
    );
  });

  it('streamCapacity provisioned with shardCount: the stream has those shards', () => {
    const [fleetStream] = idsIn(stack.fleet, 'AWS::Kinesis::Stream');
    expect(resources[fleetStream ?? '']?.Properties).toMatchObject({
      ShardCount: 2,
      StreamModeDetails: { StreamMode: 'PROVISIONED' },
    });
    const [ordersStream] = idsIn(stack.orders, 'AWS::Kinesis::Stream');
    expect(resources[ordersStream ?? '']?.Properties).toMatchObject({ StreamModeDetails: { StreamMode: 'ON_DEMAND' } });
  });

  it('a mesh with its own alert rules file is bundled from a build context holding it; the other from the sources', () => {
    expect(stack.orders.settings.policyFiles).toBeUndefined();
    const files = stack.fleet.settings.policyFiles;
    expect(files?.alertRules).toBe(path.resolve('examples/embed/alert-rules.json'));
    const context = buildContext(stubRoot, files ?? { roles: '', alertRules: '' });
    expect(fs.readFileSync(path.join(context, 'policies', 'alert-rules.json'), 'utf8')).toBe(
      fs.readFileSync(files?.alertRules ?? '', 'utf8'),
    );
    expect(fs.existsSync(path.join(context, functions.alerts.entry))).toBe(true);
    // The same sources and files: the same directory (and so the same bundles) on every synth.
    expect(buildContext(stubRoot, files ?? { roles: '', alertRules: '' })).toBe(context);
  });
});

describe('props are checked at synth, naming the prop', () => {
  const mesh = (props: TelemetryEventMeshProps) => () =>
    new TelemetryEventMesh(new Stack(newApp(), 'S', { env: { region: 'eu-west-1' } }), 'M', {
      repoRoot: stubRoot,
      ...props,
    });
  it.each<[string, TelemetryEventMeshProps, RegExp]>([
    ['an upper-case prefix', { namePrefix: 'Orders' }, /namePrefix="Orders": not a lower-case letter, then up to 20/],
    ['a prefix starting with a digit', { namePrefix: '1st' }, /namePrefix="1st"/],
    ['a prefix of 22 characters', { namePrefix: `a${'b'.repeat(21)}` }, /namePrefix="abbb/],
    ['an unknown stage', { stage: 'qa' as never }, /stage="qa": not dev or prod/],
    [
      'provisioned without shards',
      { streamCapacity: 'provisioned' },
      /shardCount: required with streamCapacity provisioned/,
    ],
    ['shards without provisioned', { shardCount: 4 }, /shardCount=4: only for streamCapacity provisioned/],
    [
      'a fractional shard count',
      { streamCapacity: 'provisioned', shardCount: 1.5 },
      /shardCount=1.5: not a whole number/,
    ],
    [
      'an unknown capacity mode',
      { streamCapacity: 'auto' as never },
      /streamCapacity="auto": not onDemand or provisioned/,
    ],
    ['a non-boolean iot', { iot: 'no' as never }, /iot="no": not true or false/],
    ['a bad e-mail', { alarmEmail: 'ops' }, /alarmEmail="ops": not an e-mail address/],
    [
      'a queue ARN as alarm topic',
      { alarmTopicArn: 'arn:aws:sqs:eu-west-1:123456789012:q' },
      /alarmTopicArn=.*not an SNS topic ARN/,
    ],
    [
      "a topic in another region than the stack's",
      { alarmTopicArn: 'arn:aws:sns:us-east-1:123456789012:ops' },
      /alarmTopicArn=.*must be in the stack's region eu-west-1/,
    ],
    ['a missing roles file', { rolesFile: '/nonexistent/roles.json' }, /rolesFile="\/nonexistent\/roles.json": ENOENT/],
  ])('%s', (_what, props, message) => {
    expect(mesh(props)).toThrow(message);
  });

  it('a roles or alert rules file the functions would refuse at cold start fails synth', () => {
    const bad = path.join(stubRoot, 'bad-rules.json');
    fs.writeFileSync(bad, JSON.stringify({ rules: [{ id: 'X', metric: 'temperature' }] }));
    expect(mesh({ alertRulesFile: bad })).toThrow(/alertRulesFile=".*bad-rules.json": not a valid document/);
    expect(mesh({ rolesFile: bad })).toThrow(/rolesFile=".*bad-rules.json": not a valid document/);
  });

  it('the defaults are the stack this repository deploys: prefix tem, prod, IoT, enhanced fan-out', () => {
    const app = newApp();
    const m = new TelemetryEventMesh(new Stack(app, 'S'), 'M', { repoRoot: stubRoot });
    expect(m.settings).toMatchObject({ namePrefix: 'tem', stage: 'prod', iot: true, enhancedFanOut: true });
    expect(m.settings.policyFiles).toBeUndefined();
  });
});

describe("the app's stack keeps the logical ids it had before the mesh was a construct", () => {
  // Taken from the template as synthesized before the split: a changed id would replace a table or queue, or fail
  // the deploy on a fixed name (IoT rule and authorizer, usage plan keys).
  const app = new TelemetryEventMeshStack(newApp(), 'TelemetryEventMesh', { repoRoot: stubRoot });
  const ids = new Set(Object.keys(Template.fromStack(app).toJSON().Resources));
  it.each([
    'EventStream271A91DB',
    'EventsTableD24865E5',
    'PrincipalsTable168F11AB',
    'AlertsTable0BD1EA13',
    'ConnectionsTable8000B8A1',
    'Alerts91F83244',
    'AlertsDeadLetter581E133F',
    'RuleErrors5B59A54D',
    'EventsDlqACDA5DFF',
    'TokenSigningKeyBF1D9E0A',
    'TopicRuleDeviceTelemetry',
    'IotCustomAuthorizer',
    'AlarmTopicC2164170',
    'UsagePlanAdminUsagePlanKeyResourceTelemetryEventMeshUsageKeyAdminShared3E06BBF8AC0AF14B',
    'WebSocketApi273F6915',
  ])('%s', (id) => {
    expect(ids.has(id)).toBe(true);
  });
});
