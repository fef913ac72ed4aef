import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, CfnElement, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { afterAll, describe, expect, it } from 'vitest';
import { addNagChecks } from '../../infra/aws/nag';
import { REPO_ROOT, TelemetryEventMeshStack } from '../../infra/aws/stack';
import {
  type Access,
  authorizer,
  type FunctionName,
  functions,
  iotAuthorizer,
  type KeyName,
  keys,
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
// Bundling is skipped (empty bundling-stacks): these tests check the template, not the handler code. NodejsFunction
// still insists that every entry and the lock file exist, so the stack is built against a stand-in repository root
// holding an empty file per topology entry; whether the real entries exist is its own test below.
const stubRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'tem-infra-test-'));
fs.writeFileSync(path.join(stubRoot, 'package-lock.json'), '{}');
for (const spec of Object.values(functions)) {
  fs.mkdirSync(path.dirname(path.join(stubRoot, spec.entry)), { recursive: true });
  fs.writeFileSync(path.join(stubRoot, spec.entry), 'export const handler = () => undefined;\n');
}
const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
const stack = new TelemetryEventMeshStack(app, 'TelemetryEventMesh', { repoRoot: stubRoot });
afterAll(() => fs.rmSync(stubRoot, { recursive: true, force: true }));
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
  logicalId({ ...stack.streams, ...stack.tables, ...stack.queues, ...stack.keys }[name]);
const arnOf = (id: string) => ({ 'Fn::GetAtt': [id, 'Arn'] });
const functionNames = Object.keys(functions) as FunctionName[];
const isKey = (name: ResourceName): name is KeyName => Object.hasOwn(keys, name);
/** What a binding's env var holds: a key's ARN, else the Ref (stream/table name, queue URL). */
const envValue = (name: ResourceName) => (isKey(name) ? arnOf(resourceId(name)) : { Ref: resourceId(name) });

interface Statement {
  Action: string | string[];
  Resource: unknown;
}
/** The statements of every IAM policy attached to a role. */
const statementsOfRole = (roleId: string): Statement[] =>
  Object.values(resourcesOf('AWS::IAM::Policy'))
    .filter((p) => JSON.stringify(p.Properties.Roles).includes(`"${roleId}"`))
    .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
const roleIdOf = (name: FunctionName): string => {
  const role = resourcesOf('AWS::Lambda::Function')[fnId(name)]?.Properties.Role as
    | { 'Fn::GetAtt': [string, string] }
    | undefined;
  if (!role) throw new Error(`function ${name} has no role in the template`);
  return role['Fn::GetAtt'][0];
};

/** The cdk-nag acknowledgements recorded on one construct (not its parents), rule id -> reason. */
const acknowledgementsOf = (c: IConstruct): Record<string, string> =>
  Object.assign(
    {},
    ...c.node.metadata
      .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .map((m) => m.data as Record<string, string>),
  );

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

  it.each(functionNames)('%s: memory, timeout, its settings and one env var per binding', (name) => {
    const spec = topology.functions[name];
    const variables = Object.fromEntries(spec.bindings.map((b) => [b.env, envValue(b.resource)]));
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

    const roleId = roleIdOf(name);
    const role = resourcesOf('AWS::IAM::Role')[roleId];
    expect(role?.Properties.ManagedPolicyArns, 'no AWS-managed policy (logs:* on every group)').toBeUndefined();
    const statements = statementsOfRole(roleId);
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
      /^(dynamodb:(PutItem|UpdateItem|DeleteItem|BatchWriteItem)|kinesis:PutRecords?|sqs:(SendMessage|DeleteMessage)|logs:PutLogEvents|kms:Sign)$/;
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
    '%s: authorization from the topology, Lambda proxy to its function',
    (key, r) => {
      const m = methodsInTemplate().get(key);
      const isPublic = (r as { auth?: string }).auth === 'none';
      expect(m).toMatchObject({
        AuthorizationType: isPublic ? 'NONE' : 'CUSTOM',
        Integration: { Type: 'AWS_PROXY' },
      });
      expect(m?.AuthorizerId).toEqual(isPublic ? undefined : { Ref: logicalId(stack.authorizer) });
      expect(JSON.stringify(m?.Integration)).toContain(JSON.stringify(arnOf(fnId(r.function))));
    },
  );

  it('authorizes with a REQUEST authorizer whose identity sources and cache TTL come from the topology', () => {
    template.resourceCountIs('AWS::ApiGateway::Authorizer', 1);
    const auth = resourcesOf('AWS::ApiGateway::Authorizer')[logicalId(stack.authorizer)];
    expect(auth?.Properties.Type).toBe('REQUEST');
    expect(auth?.Properties.AuthorizerResultTtlInSeconds).toBe(authorizer.resultTtlSeconds);
    // None declared: the property is left out (API Gateway then calls the authorizer for every request).
    expect(auth?.Properties.IdentitySource).toEqual(
      authorizer.identitySources.length > 0
        ? authorizer.identitySources.map((h) => `method.request.header.${h}`).join(',')
        : undefined,
    );
    expect(JSON.stringify(auth?.Properties.AuthorizerUri)).toContain(JSON.stringify(arnOf(fnId(authorizer.function))));
    // Callers send one of several credential headers; requiring any of them would 401 the callers using another.
    if (authorizer.credentialHeaders.length > 1) {
      const required = String(auth?.Properties.IdentitySource ?? '').toLowerCase();
      const blocking = authorizer.credentialHeaders.filter((h) => required.includes(`.header.${h.toLowerCase()}`));
      expect(blocking).toEqual([]);
    }
  });

  it('acknowledges cdk-nag APIG4/COG4 as public only on the routes the topology makes public', () => {
    for (const r of routes) {
      const acks = acknowledgementsOf(stack.methods[`${r.method} ${r.path}`] as IConstruct);
      const apig4 = Object.entries(acks).filter(([id]) => id.endsWith('AwsSolutions-APIG4'));
      if ((r as { auth?: string }).auth === 'none') {
        const reason = 'public JWKS: the public keys verifiers need; holds no secret';
        expect(apig4.map(([, why]) => why)).toEqual([reason]);
        expect(Object.entries(acks).find(([id]) => id.endsWith('AwsSolutions-COG4'))?.[1]).toBe(reason);
      } else {
        expect(apig4).toEqual([]);
      }
    }
    // Nothing above the methods acknowledges APIG4 for the whole API.
    for (const c of [stack, stack.api, stack.api.root]) {
      expect(Object.keys(acknowledgementsOf(c)).filter((id) => id.endsWith('APIG4'))).toEqual([]);
    }
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

describe('signing keys', () => {
  it.each(Object.entries(keys))('%s: asymmetric sign/verify key from the topology, retained', (name, spec) => {
    template.resourceCountIs('AWS::KMS::Key', Object.keys(keys).length);
    const key = resourcesOf('AWS::KMS::Key')[resourceId(name as KeyName)];
    expect(key?.DeletionPolicy).toBe('Retain');
    expect(key?.Properties).toMatchObject({
      KeySpec: spec.spec,
      KeyUsage: 'SIGN_VERIFY',
      Description: spec.purpose,
    });
    expect(key?.Properties.EnableKeyRotation).toBeUndefined();
  });

  const keyBindings = functionNames.flatMap((fn) =>
    topology.functions[fn].bindings.filter((b) => isKey(b.resource)).map((b) => [fn, b.resource, b.access] as const),
  );
  it.each(keyBindings)('%s -> %s (%s): GetPublicKey, plus Sign only to sign; nothing else', (fn, key, access) => {
    const keyArn = JSON.stringify(arnOf(resourceId(key)));
    const actions = statementsOfRole(roleIdOf(fn))
      .filter((s) => JSON.stringify(s.Resource).includes(keyArn))
      .flatMap((s) => [s.Action].flat());
    expect(new Set(actions)).toEqual(
      new Set(access === 'read' ? ['kms:GetPublicKey'] : ['kms:Sign', 'kms:GetPublicKey']),
    );
  });

  it('no function holds a KMS action it is not bound for', () => {
    for (const fn of functionNames) {
      const bound = topology.functions[fn].bindings.some((b) => isKey(b.resource));
      const kmsActions = statementsOfRole(roleIdOf(fn))
        .flatMap((s) => [s.Action].flat())
        .filter((a) => a.startsWith('kms:'));
      expect(
        kmsActions.filter((a) => !bound || !['kms:Sign', 'kms:GetPublicKey'].includes(a)),
        fn,
      ).toEqual([]);
    }
  });
});

describe('IoT device authorizer', () => {
  it('is an active, unsigned custom authorizer backed by its topology function', () => {
    template.resourceCountIs('AWS::IoT::Authorizer', 1);
    expect(resourcesOf('AWS::IoT::Authorizer')[logicalId(stack.iotAuthorizer)]?.Properties).toEqual({
      AuthorizerName: iotAuthorizer.name,
      AuthorizerFunctionArn: arnOf(fnId(iotAuthorizer.function)),
      SigningDisabled: true,
      Status: 'ACTIVE',
      EnableCachingForHttp: false,
    });
  });

  it('only that authorizer may invoke the function (as iot.amazonaws.com)', () => {
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: arnOf(fnId(iotAuthorizer.function)),
      Principal: 'iot.amazonaws.com',
      SourceArn: arnOf(logicalId(stack.iotAuthorizer)),
      SourceAccount: { Ref: 'AWS::AccountId' },
    });
    const invokers = Object.values(resourcesOf('AWS::Lambda::Permission')).filter(
      (p) => JSON.stringify(p.Properties.FunctionName) === JSON.stringify(arnOf(fnId(iotAuthorizer.function))),
    );
    expect(invokers.map((p) => p.Properties.SourceArn)).toEqual([arnOf(logicalId(stack.iotAuthorizer))]);
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
  it('exposes the API URL, every stream/table/queue/key under its logical name, topic rules, IoT authorizer', () => {
    const outputs = template.findOutputs('*');
    expect(outputs.HttpApiUrl).toBeDefined();
    for (const name of [...Object.keys(streams), ...Object.keys(tables), ...Object.keys(queues)]) {
      expect(outputs[name], name).toMatchObject({
        Description: name,
        Value: { Ref: resourceId(name as ResourceName) },
      });
    }
    for (const name of Object.keys(keys)) {
      expect(outputs[name], name).toMatchObject({ Description: name, Value: arnOf(resourceId(name as KeyName)) });
    }
    // Ref of an AWS::IoT::Authorizer is its name.
    expect(outputs.IotDeviceAuthorizer?.Value).toEqual({ Ref: logicalId(stack.iotAuthorizer) });
    expect(resourcesOf('AWS::IoT::Authorizer')[logicalId(stack.iotAuthorizer)]?.Properties.AuthorizerName).toBe(
      iotAuthorizer.name,
    );
    for (const name of Object.keys(topicRules)) {
      expect(outputs[`IotTopicRule${name}`]?.Value).toEqual({ Ref: logicalId(stack.topicRules[name]) });
    }
  });
});

describe('guards', () => {
  it('every topology function has its handler entry in the repository (cdk synth bundles it)', () => {
    const missing = functionNames
      .map((n) => topology.functions[n].entry)
      .filter((entry) => !fs.existsSync(path.join(REPO_ROOT, entry)));
    expect(missing).toEqual([]);
  });

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
