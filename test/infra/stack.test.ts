import { App, CfnElement, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { addNagChecks } from '../../infra/aws/nag';
import { TelemetryEventMeshStack } from '../../infra/aws/stack';
import {
  type Access,
  authorizer,
  type FunctionName,
  functions,
  queues,
  type ResourceName,
  routes,
  streamConsumers,
  streams,
  tables,
  topicRuleSql,
  topicRules,
  topology,
} from '../../infra/topology';

// Expectations come from the topology, so changing it changes what is expected of the stack.
// Bundling is skipped (empty bundling-stacks): these tests check the template, not the handler code.
const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
const stack = new TelemetryEventMeshStack(app, 'TelemetryEventMesh');
const template = Template.fromStack(stack);

type Resources = Record<string, { Type: string; Properties: Record<string, unknown>; DeletionPolicy?: string }>;
const resourcesOf = (type: string): Resources => template.findResources(type) as Resources;

const logicalId = (c: IConstruct | undefined): string => {
  const el = c && (CfnElement.isCfnElement(c) ? c : c.node.defaultChild);
  if (!el || !CfnElement.isCfnElement(el)) throw new Error(`no CloudFormation element for ${c?.node.path}`);
  return stack.getLogicalId(el);
};
const fnId = (name: FunctionName): string => logicalId(stack.functions[name]);
const resourceId = (name: ResourceName): string =>
  logicalId({ ...stack.streams, ...stack.tables, ...stack.queues }[name]);
const arnOf = (id: string) => ({ 'Fn::GetAtt': [id, 'Arn'] });
const functionNames = Object.keys(functions) as FunctionName[];

describe('Lambda functions', () => {
  it('builds one Node.js 22 arm64 function per topology function', () => {
    template.resourceCountIs('AWS::Lambda::Function', functionNames.length);
    template.allResourcesProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      TracingConfig: { Mode: 'Active' },
      LoggingConfig: Match.objectLike({ LogFormat: 'JSON', ApplicationLogLevel: 'INFO' }),
    });
  });

  it.each(functionNames)('%s: memory, timeout and one env var per binding', (name) => {
    const spec = topology.functions[name];
    const variables = Object.fromEntries(spec.bindings.map((b) => [b.env, { Ref: resourceId(b.resource) }]));
    expect(resourcesOf('AWS::Lambda::Function')[fnId(name)]?.Properties).toMatchObject({
      Description: spec.description,
      MemorySize: spec.memoryMb,
      Timeout: spec.timeoutSeconds,
      Environment: {
        Variables: {
          NODE_OPTIONS: '--enable-source-maps',
          POWERTOOLS_SERVICE_NAME: 'tem',
          POWERTOOLS_LOG_LEVEL: 'INFO',
          ...spec.environment,
          ...variables,
        },
      },
    });
  });

  it.each(functionNames)('%s: the role reaches only its log group and the resources the topology gives it', (name) => {
    const spec = topology.functions[name];
    const fnProps = resourcesOf('AWS::Lambda::Function')[fnId(name)]?.Properties ?? {};
    const logGroupId = (fnProps.LoggingConfig as { LogGroup: { Ref: string } }).LogGroup.Ref;
    expect(resourcesOf('AWS::Logs::LogGroup')[logGroupId]?.Properties.RetentionInDays).toBe(30);

    const roleId = (fnProps.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    const role = resourcesOf('AWS::IAM::Role')[roleId];
    expect(role?.Properties.ManagedPolicyArns, 'no AWS-managed policy (logs:* on every group)').toBeUndefined();
    const policies = Object.values(resourcesOf('AWS::IAM::Policy')).filter((p) =>
      JSON.stringify(p.Properties.Roles).includes(`"${roleId}"`),
    );
    const statements = policies.flatMap(
      (p) => (p.Properties.PolicyDocument as { Statement: { Action: string[]; Resource: unknown }[] }).Statement,
    );
    const idsIn = (resource: unknown) =>
      [...JSON.stringify(resource).matchAll(/"Fn::GetAtt":\["([^"]+)"/g)].map((m) => m[1] ?? '');

    // What the topology lets this function do with each resource: its bindings, plus the consumer/destination wiring.
    const allowed = new Map<string, Set<'read' | 'write'>>([[logGroupId, new Set(['write'])]]);
    const allow = (resource: ResourceName, access: Access) => {
      const set = allowed.get(resourceId(resource)) ?? new Set();
      if (access !== 'write') set.add('read');
      if (access !== 'read') set.add('write');
      allowed.set(resourceId(resource), set);
    };
    for (const b of spec.bindings) allow(b.resource, b.access);
    if (spec.async) allow(spec.async.onFailure, 'write');
    for (const c of streamConsumers.filter((c) => c.function === name)) {
      allow(c.stream, 'read');
      allow(c.onFailure, 'write');
    }

    const referenced = new Set(statements.flatMap((s) => idsIn(s.Resource)));
    expect(referenced).toEqual(new Set(allowed.keys()));
    // Actions that read or change data (not metadata such as DescribeTable/GetQueueUrl) stay within the access given.
    const reads =
      /^(dynamodb:(GetItem|BatchGetItem|Query|Scan)|kinesis:(GetRecords|SubscribeToShard)|sqs:ReceiveMessage)$/;
    const writes =
      /^(dynamodb:(PutItem|UpdateItem|DeleteItem|BatchWriteItem)|kinesis:PutRecords?|sqs:(SendMessage|DeleteMessage)|logs:PutLogEvents)$/;
    const excess = statements.flatMap((s) =>
      idsIn(s.Resource).flatMap((id) =>
        [s.Action].flat().flatMap((action) => {
          const may = allowed.get(id);
          if (reads.test(action) && !may?.has('read')) return [`${action} on ${id}`];
          if (writes.test(action) && !may?.has('write')) return [`${action} on ${id}`];
          return [];
        }),
      ),
    );
    expect(excess).toEqual([]);
    // The only statement on * is X-Ray's, which has no resource-level permissions.
    expect(statements.filter((s) => s.Resource === '*').flatMap((s) => s.Action)).toEqual([
      'xray:PutTraceSegments',
      'xray:PutTelemetryRecords',
    ]);
  });

  it('routes failed async invocations to the topology queue', () => {
    const asyncFns = functionNames.flatMap((n) => {
      const a = topology.functions[n].async;
      return a ? [[n, a] as const] : [];
    });
    template.resourceCountIs('AWS::Lambda::EventInvokeConfig', asyncFns.length);
    for (const [name, a] of asyncFns) {
      template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
        FunctionName: { Ref: fnId(name) },
        MaximumRetryAttempts: a.retryAttempts,
        DestinationConfig: { OnFailure: { Destination: arnOf(resourceId(a.onFailure)) } },
      });
    }
  });
});

describe('data plane', () => {
  it('encrypts every stream with the AWS-managed KMS key', () => {
    template.resourceCountIs('AWS::Kinesis::Stream', Object.keys(streams).length);
    for (const [name, spec] of Object.entries(streams)) {
      expect(resourcesOf('AWS::Kinesis::Stream')[resourceId(name as ResourceName)]?.Properties).toEqual({
        ShardCount: spec.shardCount,
        RetentionPeriodHours: spec.retentionHours,
        StreamEncryption: { EncryptionType: 'KMS', KeyId: 'alias/aws/kinesis' },
      });
    }
  });

  it.each(Object.entries(tables))('table %s: keys, GSIs, TTL, PITR, retained', (name, spec) => {
    const table = resourcesOf('AWS::DynamoDB::Table')[resourceId(name as ResourceName)];
    expect(table?.DeletionPolicy).toBe('Retain');
    expect(table?.Properties).toMatchObject({
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [
        { AttributeName: spec.partitionKey, KeyType: 'HASH' },
        ...(spec.sortKey ? [{ AttributeName: spec.sortKey, KeyType: 'RANGE' }] : []),
      ],
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
    });
    expect(table?.Properties.GlobalSecondaryIndexes ?? []).toEqual(
      spec.globalIndexes.map((g) => ({
        IndexName: g.name,
        KeySchema: [
          { AttributeName: g.partitionKey, KeyType: 'HASH' },
          { AttributeName: g.sortKey, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      })),
    );
    expect(table?.Properties.TimeToLiveSpecification).toEqual(
      spec.ttlAttribute ? { AttributeName: spec.ttlAttribute, Enabled: true } : undefined,
    );
  });

  it('encrypts every queue and keeps retention/visibility from the topology', () => {
    template.resourceCountIs('AWS::SQS::Queue', Object.keys(queues).length);
    template.allResourcesProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true });
    for (const [name, spec] of Object.entries(queues)) {
      expect(resourcesOf('AWS::SQS::Queue')[resourceId(name as ResourceName)]?.Properties).toMatchObject({
        SqsManagedSseEnabled: true,
        MessageRetentionPeriod: spec.retentionDays * 86_400,
        VisibilityTimeout: spec.visibilityTimeoutSeconds,
      });
    }
  });

  it.each(streamConsumers.map((c) => [c.function, c] as const))(
    'consumer %s: event source mapping matches the topology',
    (_name, c) => {
      template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        FunctionName: { Ref: fnId(c.function) },
        EventSourceArn: arnOf(resourceId(c.stream)),
        BatchSize: c.batchSize,
        MaximumBatchingWindowInSeconds: c.maxBatchingWindowSeconds,
        StartingPosition: c.startingPosition,
        ParallelizationFactor: c.parallelizationFactor,
        BisectBatchOnFunctionError: c.bisectBatchOnError,
        MaximumRetryAttempts: c.maxRetryAttempts,
        MaximumRecordAgeInSeconds: c.maxRecordAgeSeconds,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        DestinationConfig: { OnFailure: { Destination: arnOf(resourceId(c.onFailure)) } },
      });
    },
  );
});

describe('HTTP API', () => {
  /** METHOD /full/path of every API Gateway method in the template, rebuilt from the resources' PathParts. */
  function methodsInTemplate(): Map<string, Record<string, unknown>> {
    const apiResources = resourcesOf('AWS::ApiGateway::Resource');
    const pathOf = (ref: unknown): string => {
      const id = (ref as { Ref?: string }).Ref;
      const r = id ? apiResources[id] : undefined;
      return r ? `${pathOf(r.Properties.ParentId)}/${r.Properties.PathPart}` : '';
    };
    return new Map(
      Object.values(resourcesOf('AWS::ApiGateway::Method')).map((m) => [
        `${m.Properties.HttpMethod} ${pathOf(m.Properties.ResourceId) || '/'}`,
        m.Properties,
      ]),
    );
  }

  it('has exactly one method per topology route', () => {
    expect([...methodsInTemplate().keys()].sort()).toEqual(routes.map((r) => `${r.method} ${r.path}`).sort());
  });

  it.each(routes.map((r) => [`${r.method} ${r.path}`, r] as const))(
    '%s: CUSTOM authorizer, Lambda proxy to its function',
    (key, r) => {
      const m = methodsInTemplate().get(key);
      expect(m).toMatchObject({
        AuthorizationType: 'CUSTOM',
        AuthorizerId: { Ref: logicalId(stack.authorizer) },
        Integration: { Type: 'AWS_PROXY' },
      });
      expect(JSON.stringify(m?.Integration)).toContain(JSON.stringify(arnOf(fnId(r.function))));
    },
  );

  it('authorizes with a REQUEST authorizer keyed and cached on the identity header', () => {
    template.resourceCountIs('AWS::ApiGateway::Authorizer', 1);
    template.hasResourceProperties('AWS::ApiGateway::Authorizer', {
      Type: 'REQUEST',
      IdentitySource: `method.request.header.${authorizer.identityHeader}`,
      AuthorizerResultTtlInSeconds: authorizer.resultTtlSeconds,
    });
    const auth = resourcesOf('AWS::ApiGateway::Authorizer')[logicalId(stack.authorizer)];
    expect(JSON.stringify(auth?.Properties.AuthorizerUri)).toContain(JSON.stringify(arnOf(fnId(authorizer.function))));
    // The documented contract: clients send X-API-Key.
    expect(auth?.Properties.IdentitySource).toBe('method.request.header.X-API-Key');
  });

  it.each([
    ['UNAUTHORIZED', '401', 'Unauthorized'],
    ['ACCESS_DENIED', '403', 'Forbidden'],
    ['MISSING_AUTHENTICATION_TOKEN', '404', 'Not Found'],
    ['DEFAULT_5XX', undefined, 'Internal server error'],
  ])('gateway response %s', (type, status, message) => {
    template.hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
      ResponseType: type,
      StatusCode: status ?? Match.absent(),
      ResponseTemplates: { 'application/json': JSON.stringify({ message }) },
    });
  });

  it('stage v1 logs access and execution, traces and emits metrics', () => {
    template.hasResourceProperties('AWS::ApiGateway::Stage', {
      StageName: 'v1',
      TracingEnabled: true,
      AccessLogSetting: Match.objectLike({ DestinationArn: Match.anyValue(), Format: Match.anyValue() }),
      MethodSettings: [
        Match.objectLike({ LoggingLevel: 'INFO', MetricsEnabled: true, DataTraceEnabled: false, HttpMethod: '*' }),
      ],
    });
  });
});

describe('IoT topic rules', () => {
  it.each(Object.entries(topicRules))('%s: SQL from the spec, Lambda action, SQS error action', (name, rule) => {
    template.hasResourceProperties('AWS::IoT::TopicRule', {
      RuleName: name,
      TopicRulePayload: {
        Sql: topicRuleSql(rule),
        AwsIotSqlVersion: '2016-03-23',
        RuleDisabled: false,
        Actions: [{ Lambda: { FunctionArn: arnOf(fnId(rule.function)) } }],
        ErrorAction: {
          Sqs: { QueueUrl: { Ref: resourceId(rule.errorQueue) }, RoleArn: Match.anyValue(), UseBase64: false },
        },
      },
    });
    const ruleId = logicalId(stack.topicRules[name]);
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: arnOf(fnId(rule.function)),
      Principal: 'iot.amazonaws.com',
      SourceArn: arnOf(ruleId),
    });
    const roleId = logicalId(stack.topicRuleRoles[name]);
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: Match.objectLike({
        Statement: [Match.objectLike({ Principal: { Service: 'iot.amazonaws.com' } })],
      }),
    });
    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: roleId }],
      PolicyDocument: {
        Statement: [
          Match.objectLike({
            Action: Match.arrayWith(['sqs:SendMessage']),
            Resource: arnOf(resourceId(rule.errorQueue)),
          }),
        ],
      },
    });
  });
});

describe('outputs', () => {
  it('exposes the API URL, every stream/table/queue under its logical name and every topic rule', () => {
    const outputs = template.findOutputs('*');
    expect(outputs.HttpApiUrl).toBeDefined();
    for (const name of [...Object.keys(streams), ...Object.keys(tables), ...Object.keys(queues)]) {
      expect(outputs[name], name).toMatchObject({
        Description: name,
        Value: { Ref: resourceId(name as ResourceName) },
      });
    }
    for (const name of Object.keys(topicRules)) {
      expect(outputs[`IotTopicRule${name}`]?.Value).toEqual({ Ref: logicalId(stack.topicRules[name]) });
    }
  });
});

describe('guards', () => {
  it('cdk-nag AwsSolutions: no unacknowledged finding (errors or warnings)', () => {
    const report = new AwsSolutionsChecks(undefined, { verbose: false }).validateScope(stack);
    const findings = report.violations.map(
      (v) => `${v.severity} ${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`,
    );
    expect(findings).toEqual([]);
  });

  it('cdk-nag is wired to fail synthesis on a finding', () => {
    const probe = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    new sqs.Queue(new Stack(probe, 'Probe'), 'NoDlqNoSsl');
    addNagChecks(probe);
    expect(() => probe.synth()).toThrow(/AwsSolutions-SQS3/);
  });

  it('a topology that fails validation fails synth with its problems listed', () => {
    const bad = {
      ...topology,
      routes: [...topology.routes, { method: 'GET', path: '/nope', permission: 'x.get.nope', function: 'ghost' }],
    } as unknown as typeof topology;
    expect(() => new TelemetryEventMeshStack(new App(), 'Bad', { topology: bad })).toThrow(
      /Invalid topology:[\s\S]*unknown function ghost/,
    );
  });
});
