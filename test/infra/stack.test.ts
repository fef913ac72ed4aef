import * as fs from 'node:fs';
import * as path from 'node:path';
import { App, CfnElement, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { ITERATOR_AGE_ALARM_MS, QUEUE_AGE_ALARM_SECONDS } from '../../infra/aws/alarms';
import { API_THROTTLING_BURST_LIMIT, API_THROTTLING_RATE_LIMIT } from '../../infra/aws/http-api';
import { REPO_ROOT } from '../../infra/aws/mesh-props';
import { addNagChecks } from '../../infra/aws/nag';
import { TelemetryEventMeshStack } from '../../infra/aws/stack';
import { consumerKey } from '../../infra/aws/stream-consumers';
import {
  type Access,
  type ArchiveName,
  archives,
  authorizer,
  DELIVERY_MAX_RECEIVE_COUNT,
  type EndpointName,
  endpoints,
  type FunctionName,
  functions,
  iotAuthorizer,
  type KeyName,
  keys,
  type QueueName,
  queueConsumers,
  queues,
  type ResourceName,
  routes,
  type StreamConsumerSpec,
  streamConsumers,
  streams,
  tables,
  topicRuleSql,
  topicRules,
  topology,
} from '../../infra/topology';
import { stubRepoRoot } from './stub-root';

// Expectations come from the topology, so changing it changes what is expected of the stack.
// Bundling is skipped (empty bundling-stacks): these tests check the template, not the handler code. NodejsFunction
// still insists that every entry and the lock file exist, so the stack is built against a stand-in repository root
// holding an empty file per topology entry; whether the real entries exist is its own test below.
const stubRoot = stubRepoRoot('infra-test');
const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
const stack = new TelemetryEventMeshStack(app, 'TelemetryEventMesh', { repoRoot: stubRoot });
const template = Template.fromStack(stack);

type Resources = Record<string, { Type: string; Properties: Record<string, unknown>; DeletionPolicy?: string }>;
const resourcesOf = (type: string): Resources => template.findResources(type) as Resources;

const logicalId = (c: IConstruct | undefined): string => {
  const el = c && (CfnElement.isCfnElement(c) ? c : c.node.defaultChild);
  if (!el || !CfnElement.isCfnElement(el)) throw new Error(`no CloudFormation element for ${c?.node.path}`);
  return stack.getLogicalId(el);
};
const fnId = (name: FunctionName): string => logicalId(stack.functions[name]);
const isKey = (name: ResourceName): name is KeyName => Object.hasOwn(keys, name);
const isEndpoint = (name: ResourceName): name is EndpointName => Object.hasOwn(endpoints, name);
const isArchive = (name: ResourceName): name is ArchiveName => Object.hasOwn(archives, name);
const archiveNames = Object.keys(archives) as ArchiveName[];
/** What stands for an archive where a binding names it: its delivery stream (env var, grants, describe). */
const deliveryStreams = Object.fromEntries(
  archiveNames.map((a) => [a, stack.mesh.archives[a].deliveryStream]),
) as Partial<Record<ArchiveName, IConstruct>>;
/** The endpoints by service: the IoT data plane's are looked up at deploy time, the WebSocket management API's not. */
const iotDataEndpoints = (Object.keys(endpoints) as EndpointName[]).filter((n) => endpoints[n].service === 'iot-data');
const wsManagementEndpoints = (Object.keys(endpoints) as EndpointName[]).filter(
  (n) => endpoints[n].service === 'ws-management',
);
/** An endpoint's deploy-time lookup (IoT data plane endpoints only). */
const lookupOf = (name: EndpointName) => {
  const e = stack.mesh.endpoints[name];
  if (e.service !== 'iot-data') throw new Error(`endpoint ${name} is not looked up`);
  return e.lookup;
};
/**
 * A stack resource's logical id; for an endpoint, its lookup's, or the WebSocket API's for its management API; for an
 * archive, its delivery stream's.
 */
const resourceId = (name: ResourceName): string =>
  logicalId(
    isEndpoint(name)
      ? endpoints[name].service === 'iot-data'
        ? lookupOf(name).node.findChild('Resource')
        : stack.mesh.webSocket.api
      : { ...stack.mesh.streams, ...stack.mesh.tables, ...stack.mesh.queues, ...stack.mesh.keys, ...deliveryStreams }[
          name
        ],
  );
const arnOf = (id: string) => ({ 'Fn::GetAtt': [id, 'Arn'] });
/** The topology's consumers by read mode: a registered (pushed) consumer each, or a mapping polling the stream. */
const enhancedConsumers = streamConsumers.filter((c) => c.readMode === 'enhancedFanOut');
const pollingConsumers = streamConsumers.filter((c) => c.readMode === 'polling');
/** The logical id of the registered stream consumer an enhanced fan-out consumer reads through. */
const consumerId = (c: StreamConsumerSpec): string => {
  const consumer = stack.mesh.streamConsumers[consumerKey(c)];
  if (!consumer) throw new Error(`enhanced fan-out consumer ${c.function} has no registered stream consumer`);
  return logicalId(consumer);
};
/** `AWS::Kinesis::StreamConsumer`'s ARN attribute (its Ref is the ARN too, but the mapping takes the attribute). */
const consumerArnOf = (id: string) => ({ 'Fn::GetAtt': [id, 'ConsumerARN'] });
/** What a consumer's mapping reads from: the registered consumer for enhanced fan-out, else the stream itself. */
const mappingSourceOf = (c: StreamConsumerSpec) =>
  c.readMode === 'enhancedFanOut' ? consumerArnOf(consumerId(c)) : arnOf(resourceId(c.stream));
const functionNames = Object.keys(functions) as FunctionName[];
const queueNames = Object.keys(queues) as QueueName[];
const errorSinkQueues = queueNames.filter((q) => queues[q].kind === 'errorSink');
const deliveryQueues = queueNames.filter((q) => queues[q].kind === 'delivery');
/** A delivery queue's dead-letter queue, as the stack built it (each delivery queue must have one). */
const deadLetterQueueOf = (q: QueueName): sqs.Queue => {
  const dlq = stack.mesh.deadLetterQueues[q];
  if (!dlq) throw new Error(`delivery queue ${q} has no dead-letter queue`);
  return dlq;
};
const dlqId = (q: QueueName): string => logicalId(deadLetterQueueOf(q));
/** Written out here rather than taken from the stack: what a delivery queue's redrive is expected to be. */
const MAX_RECEIVE_COUNT = DELIVERY_MAX_RECEIVE_COUNT;
const DEAD_LETTER_RETENTION_SECONDS = 14 * 86_400;
/**
 * An endpoint's URL: `https://` + the address its deploy-time lookup returned; for the WebSocket management API, its
 * stage's callback URL `https://<api id>.execute-api.<region>.<url suffix>/<stage>`.
 */
const endpointUrl = (name: EndpointName) =>
  endpoints[name].service === 'iot-data'
    ? { 'Fn::Join': ['', ['https://', { 'Fn::GetAtt': [resourceId(name), 'endpointAddress'] }]] }
    : {
        'Fn::Join': [
          '',
          [
            'https://',
            { Ref: resourceId(name) },
            '.execute-api.',
            { Ref: 'AWS::Region' },
            '.',
            { Ref: 'AWS::URLSuffix' },
            `/${topology.webSocket.stage}`,
          ],
        ],
      };
/** `arn:<partition>:iot:<region>:<account>:topic/<pattern>`, as the stack renders it (no concrete environment). */
const iotTopicArn = (pattern: string) => ({
  'Fn::Join': [
    '',
    [
      'arn:',
      { Ref: 'AWS::Partition' },
      ':iot:',
      { Ref: 'AWS::Region' },
      ':',
      { Ref: 'AWS::AccountId' },
      `:topic/${pattern}`,
    ],
  ],
});
/**
 * What a binding's env var holds: a key's ARN, an endpoint's URL, else the Ref (stream/table name, queue URL, an
 * archive's delivery stream name).
 */
const envValue = (name: ResourceName) =>
  isKey(name) ? arnOf(resourceId(name)) : isEndpoint(name) ? endpointUrl(name) : { Ref: resourceId(name) };
/** Does the access let a function change the resource's data (sign, for a key; publish, for an endpoint)? */
const writes = (access: Access): boolean => access === 'write' || access === 'readWrite';
/** The iot:Publish topic ARNs a binding allows: an IoT endpoint's topics for `write`/`readWrite`, nothing else. */
const publishArnsOf = (b: { resource: ResourceName; access: Access }): unknown[] => {
  if (!isEndpoint(b.resource) || !writes(b.access)) return [];
  const spec = endpoints[b.resource];
  return spec.service === 'iot-data' ? spec.publishTopics.map(iotTopicArn) : [];
};
/** `arn:<partition>:execute-api:<region>:<account>:<api id>/<stage>/*\/@connections/*`: the stage's connections. */
const wsConnectionsArn = (name: EndpointName) => ({
  'Fn::Join': [
    '',
    [
      'arn:',
      { Ref: 'AWS::Partition' },
      ':execute-api:',
      { Ref: 'AWS::Region' },
      ':',
      { Ref: 'AWS::AccountId' },
      ':',
      { Ref: resourceId(name) },
      `/${topology.webSocket.stage}/*/@connections/*`,
    ],
  ],
});
/** The statements an endpoint binding adds to a role: iot:Publish on its topics, ManageConnections on the stage's. */
const endpointStatementsOf = (b: { resource: ResourceName; access: Access }): Record<string, unknown>[] => {
  if (!isEndpoint(b.resource) || !writes(b.access)) return [];
  if (endpoints[b.resource].service === 'ws-management')
    return [{ Action: 'execute-api:ManageConnections', Effect: 'Allow', Resource: wsConnectionsArn(b.resource) }];
  const arns = publishArnsOf(b);
  return arns.length > 0
    ? [{ Action: 'iot:Publish', Effect: 'Allow', Resource: arns.length === 1 ? arns[0] : arns }]
    : [];
};
/**
 * The one action `describe` (a health check: the resource's status, never its data) grants per kind of resource,
 * written out here rather than taken from the stack; an endpoint has no status to read, so nothing.
 */
const describeActionOf = (name: ResourceName): string | undefined =>
  Object.hasOwn(streams, name)
    ? 'kinesis:DescribeStreamSummary'
    : Object.hasOwn(tables, name)
      ? 'dynamodb:DescribeTable'
      : Object.hasOwn(queues, name)
        ? 'sqs:GetQueueAttributes'
        : isKey(name)
          ? 'kms:DescribeKey'
          : isArchive(name)
            ? 'firehose:DescribeDeliveryStream'
            : undefined;

interface Statement {
  Action: string | string[];
  Resource: unknown;
}
/** The statements of every IAM policy attached to a role (of this test's stack, or of a variant's template). */
const statementsOfRole = (roleId: string, from: Template = template): Statement[] =>
  Object.values(from.findResources('AWS::IAM::Policy') as Resources)
    .filter((p) => JSON.stringify(p.Properties.Roles).includes(`"${roleId}"`))
    .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
const roleIdOf = (name: FunctionName, from: Template = template): string => {
  const fns = from.findResources('AWS::Lambda::Function') as Resources;
  const role = fns[fnId(name)]?.Properties.Role as { 'Fn::GetAtt': [string, string] } | undefined;
  if (!role) throw new Error(`function ${name} has no role in the template`);
  return role['Fn::GetAtt'][0];
};
/** Every `<action> on <resource>` a set of statements allows, one per action and resource (statements are products). */
const grantsOf = (statements: Statement[]): string[] =>
  statements.flatMap((s) =>
    [s.Action].flat().flatMap((a) => [s.Resource].flat().map((r) => `${a} on ${JSON.stringify(r)}`)),
  );
/** A variant of this test's stack, built from another topology against the same stand-in repository. */
const variantTemplate = (t: typeof topology, id: string): Template =>
  Template.fromStack(
    new TelemetryEventMeshStack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), id, {
      topology: t,
      repoRoot: stubRoot,
    }),
  );

/** The cdk-nag acknowledgements recorded on one construct (not its parents), rule id -> reason. */
const acknowledgementsOf = (c: IConstruct): Record<string, string> =>
  Object.assign(
    {},
    ...c.node.metadata
      .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .map((m) => m.data as Record<string, string>),
  );
/** The acknowledged rule ids of one construct, without the metadata's `Annotation::`-style prefix. */
const acknowledgedIdsOf = (c: IConstruct): string[] =>
  Object.keys(acknowledgementsOf(c)).map((id) => id.slice(id.indexOf('AwsSolutions-')));

describe('Lambda functions', () => {
  it('builds one Node.js 22 arm64 function per topology function (plus the endpoint lookup provider)', () => {
    // CDK's singleton AwsCustomResource provider is the only other function, and only when an endpoint is looked up.
    const provider = iotDataEndpoints.length > 0 ? [logicalId(providerFunction())] : [];
    expect(Object.keys(resourcesOf('AWS::Lambda::Function')).sort()).toEqual(
      [...functionNames.map(fnId), ...provider].sort(),
    );
    for (const name of functionNames) {
      expect(resourcesOf('AWS::Lambda::Function')[fnId(name)]?.Properties, name).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        TracingConfig: { Mode: 'Active' },
        LoggingConfig: { LogFormat: 'JSON', ApplicationLogLevel: 'INFO' },
      });
    }
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
    // `describe` is a level of its own, not a lesser `read`: the resource's status, none of its data.
    type Level = 'describe' | 'read' | 'write';
    const allowed = new Map<string, Set<Level>>([[logGroupId, new Set(['write'])]]);
    const nameOf = new Map<string, ResourceName>();
    const allow = (resource: ResourceName, access: Access) => {
      const set = allowed.get(resourceId(resource)) ?? new Set();
      if (access === 'describe') set.add('describe');
      if (access === 'read' || access === 'readWrite') set.add('read');
      if (access === 'write' || access === 'readWrite') set.add('write');
      allowed.set(resourceId(resource), set);
      nameOf.set(resourceId(resource), resource);
    };
    // Endpoints are no stack resource: their grants are IoT topics, checked below.
    for (const b of spec.bindings) if (!isEndpoint(b.resource)) allow(b.resource, b.access);
    for (const c of streamConsumers.filter((c) => c.function === name)) {
      // An enhanced fan-out mapping only describes and lists the stream (checked exactly below) and subscribes to its
      // registered consumer; a polling one reads the stream.
      allow(c.stream, 'read');
      allow(c.onFailure, 'write');
      if (c.readMode === 'enhancedFanOut') allowed.set(consumerId(c), new Set(['read']));
    }
    // A queue consumer's mapping receives from its queue and deletes what the function finished.
    for (const c of queueConsumers.filter((c) => c.function === name)) allow(c.queue, 'readWrite');

    const referenced = new Set(statements.flatMap((s) => idsIn(s.Resource)));
    expect(referenced).toEqual(new Set(allowed.keys()));
    // Resources that are no stack resource's attribute: X-Ray's * (below), IoT topics and the WebSocket stage's
    // connections of endpoint bindings, in the order of the bindings.
    const publishArns = spec.bindings.flatMap(publishArnsOf);
    const unnamed = statements.filter((s) => idsIn(s.Resource).length === 0 && s.Resource !== '*');
    expect(unnamed).toEqual(spec.bindings.flatMap(endpointStatementsOf));
    expect(statements.flatMap((s) => [s.Action].flat()).filter((a) => a.startsWith('iot:'))).toEqual(
      publishArns.length > 0 ? ['iot:Publish'] : [],
    );
    const managesConnections = spec.bindings.some(
      (b) => isEndpoint(b.resource) && endpoints[b.resource].service === 'ws-management' && writes(b.access),
    );
    expect(statements.flatMap((s) => [s.Action].flat()).filter((a) => a.startsWith('execute-api:'))).toEqual(
      managesConnections ? ['execute-api:ManageConnections'] : [],
    );
    // Actions that read or change data (not metadata such as DescribeTable/GetQueueUrl) stay within the access given;
    // a resource the function may only describe allows that one status action and nothing else, metadata included.
    const readActions =
      /^(dynamodb:(GetItem|BatchGetItem|Query|Scan)|kinesis:(GetRecords|GetShardIterator|SubscribeToShard)|sqs:ReceiveMessage|s3:GetObject)$/;
    const writeActions =
      /^(dynamodb:(PutItem|UpdateItem|DeleteItem|BatchWriteItem)|kinesis:PutRecords?|firehose:PutRecord(Batch)?|sqs:(SendMessage|DeleteMessage)|logs:PutLogEvents|kms:Sign)$/;
    const excess = statements.flatMap((s) =>
      idsIn(s.Resource).flatMap((id) =>
        [s.Action].flat().flatMap((action) => {
          const may = allowed.get(id);
          const name = nameOf.get(id);
          if (readActions.test(action) && !may?.has('read')) return [`${action} on ${id}`];
          if (writeActions.test(action) && !may?.has('write')) return [`${action} on ${id}`];
          const describeOnly = may?.has('describe') && !may.has('read') && !may.has('write');
          if (describeOnly && (!name || action !== describeActionOf(name))) return [`${action} on ${id} (describe)`];
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
});

describe("describe access (health checks: a resource's status, never its data)", () => {
  /** The topology's `describe` bindings, per function: [function, its described resources]. */
  const describers = functionNames.flatMap((fn) => {
    const described = topology.functions[fn].bindings.filter((b) => b.access === 'describe').map((b) => b.resource);
    return described.length > 0 ? [[fn, described] as const] : [];
  });
  /** Data actions, read or write: none may reach a resource bound for `describe` only. */
  const dataActions =
    /^(dynamodb:(GetItem|BatchGetItem|Query|Scan|PutItem|UpdateItem|DeleteItem|BatchWriteItem)|kinesis:(GetRecords|GetShardIterator|SubscribeToShard|PutRecords?)|firehose:PutRecord(Batch)?|s3:(GetObject|ListBucket)|sqs:(ReceiveMessage|SendMessage|DeleteMessage)|kms:(Sign|GetPublicKey)|iot:Publish)$/;
  /** A role's grants beyond its log group and X-Ray (both checked for every function above). */
  const resourceGrantsOf = (fn: FunctionName, from: Template = template): string[] =>
    grantsOf(statementsOfRole(roleIdOf(fn, from), from)).filter((g) => !/^(logs|xray):/.test(g));
  /** Exactly the one status action per described resource, on that resource's ARN (for a table: not its indexes). */
  const expectedGrants = (resources: readonly ResourceName[]): string[] =>
    resources.flatMap((r) => {
      const action = describeActionOf(r);
      return action ? [`${action} on ${JSON.stringify(arnOf(resourceId(r)))}`] : [];
    });

  it('the topology binds healthz to the event stream and the events table for describe', () => {
    expect(describers).toContainEqual(['healthz', expect.arrayContaining(['eventStream', 'eventsTable'])]);
  });

  it.each(describers)('%s: exactly the status action per described resource, no data action', (fn, resources) => {
    const others = topology.functions[fn].bindings.filter((b) => b.access !== 'describe');
    const grants = resourceGrantsOf(fn);
    // A function bound only for describe (healthz) holds nothing else at all.
    if (others.length === 0 && !streamConsumers.some((c) => c.function === fn))
      expect(grants.sort()).toEqual(expectedGrants(resources).sort());
    for (const r of resources) {
      // Any grant naming the resource, its indexes included.
      const onIt = grants.filter((g) => g.includes(`"${resourceId(r)}"`));
      expect(onIt, r).toEqual(expectedGrants([r]));
    }
    expect(
      grants.filter((g) => dataActions.test(g.split(' ')[0] ?? '')),
      fn,
    ).toEqual([]);
  });

  it('healthz: DescribeStreamSummary on the stream, DescribeTable on the events table, no GetRecords/GetItem/Query', () => {
    const [, resources] = describers.find(([fn]) => fn === 'healthz') ?? [];
    const stream = resources?.find((r) => Object.hasOwn(streams, r));
    const table = resources?.find((r) => Object.hasOwn(tables, r));
    if (!stream || !table) throw new Error('healthz describes no stream or no table');
    const grants = resourceGrantsOf('healthz');
    expect(grants).toContain(`kinesis:DescribeStreamSummary on ${JSON.stringify(arnOf(resourceId(stream)))}`);
    expect(grants).toContain(`dynamodb:DescribeTable on ${JSON.stringify(arnOf(resourceId(table)))}`);
    const actions = statementsOfRole(roleIdOf('healthz')).flatMap((s) => [s.Action].flat());
    expect(actions.filter((a) => /^(kinesis:GetRecords|dynamodb:(GetItem|Query))$/.test(a))).toEqual([]);
    expect(actions.filter((a) => /^(kinesis|dynamodb):/.test(a)).sort()).toEqual([
      'dynamodb:DescribeTable',
      'kinesis:DescribeStreamSummary',
    ]);
  });

  it.each(functionNames)('%s: IAM5 for table indexes acknowledged exactly where the role is granted them', (fn) => {
    // `describe` names the table only: its indexes' `<table>/index/*` is neither granted nor acknowledged.
    const indexGrants = grantsOf(statementsOfRole(roleIdOf(fn)))
      .flatMap((g) => [...g.matchAll(/\{"Fn::GetAtt":\["([^"]+)","Arn"\]\},"\/index\/\*"/g)].map((m) => m[1]))
      .map((id) => `AwsSolutions-IAM5[Resource::<${id}.Arn>/index/*]`);
    const indexAcks = acknowledgedIdsOf(stack.functions[fn].role as IConstruct).filter((id) => id.includes('/index/'));
    expect(indexAcks.sort()).toEqual([...new Set(indexGrants)].sort());
  });

  it('describe on a queue, a key, an endpoint and an archive: GetQueueAttributes, DescribeKey, nothing, DescribeDeliveryStream', () => {
    // The topology describes no queue, key, endpoint or archive yet: a variant binds healthz to one of each as well.
    const queue = Object.keys(queues)[0] as QueueName;
    const key = Object.keys(keys)[0] as KeyName;
    const endpoint = Object.keys(endpoints)[0] as EndpointName;
    const [archive] = archiveNames;
    if (!archive) throw new Error('the topology has no archive');
    const extra = [queue, key, endpoint, archive].map((resource, i) => ({
      resource,
      env: `DESCRIBED_${i}`,
      access: 'describe',
    }));
    const variant = {
      ...topology,
      functions: {
        ...topology.functions,
        healthz: { ...topology.functions.healthz, bindings: [...topology.functions.healthz.bindings, ...extra] },
      },
    } as unknown as typeof topology;
    const grants = resourceGrantsOf('healthz', variantTemplate(variant, 'DescribeAll'));
    expect(grants).toContain(`sqs:GetQueueAttributes on ${JSON.stringify(arnOf(resourceId(queue)))}`);
    expect(grants).toContain(`kms:DescribeKey on ${JSON.stringify(arnOf(resourceId(key)))}`);
    // The delivery stream's status, not the bucket: no S3 action at all.
    expect(grants).toContain(`firehose:DescribeDeliveryStream on ${JSON.stringify(arnOf(resourceId(archive)))}`);
    expect(grants.sort()).toEqual(
      expectedGrants([
        ...topology.functions.healthz.bindings.map((b) => b.resource),
        queue,
        key,
        endpoint,
        archive,
      ]).sort(),
    );
  });
});

describe('data plane', () => {
  it('encrypts every stream with the AWS-managed KMS key', () => {
    template.resourceCountIs('AWS::Kinesis::Stream', Object.keys(streams).length);
    for (const [name, spec] of Object.entries(streams)) {
      expect(resourcesOf('AWS::Kinesis::Stream')[resourceId(name as ResourceName)]?.Properties).toEqual({
        ...(spec.capacity === 'onDemand'
          ? { StreamModeDetails: { StreamMode: 'ON_DEMAND' } }
          : { ShardCount: spec.shardCount, StreamModeDetails: { StreamMode: 'PROVISIONED' } }),
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

  it('encrypts every queue and keeps retention/visibility from the topology (plus one DLQ per delivery queue)', () => {
    template.resourceCountIs('AWS::SQS::Queue', queueNames.length + deliveryQueues.length);
    template.allResourcesProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true });
    for (const [name, spec] of Object.entries(queues)) {
      expect(resourcesOf('AWS::SQS::Queue')[resourceId(name as ResourceName)]?.Properties).toMatchObject({
        SqsManagedSseEnabled: true,
        MessageRetentionPeriod: spec.retentionDays * 86_400,
        VisibilityTimeout: spec.visibilityTimeoutSeconds,
      });
    }
  });

  it('every queue, dead-letter queues included, denies requests without TLS', () => {
    const policies = Object.values(resourcesOf('AWS::SQS::QueuePolicy'));
    const queueIds = [...queueNames.map(resourceId), ...deliveryQueues.map(dlqId)];
    for (const id of queueIds) {
      const statements = policies
        .filter((p) => JSON.stringify(p.Properties.Queues) === JSON.stringify([{ Ref: id }]))
        .flatMap((p) => (p.Properties.PolicyDocument as { Statement: unknown[] }).Statement);
      expect(statements, id).toContainEqual({
        Action: 'sqs:*',
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        Effect: 'Deny',
        Principal: { AWS: '*' },
        Resource: arnOf(id),
      });
    }
  });

  it.each(errorSinkQueues)('errorSink queue %s: no redrive (it is the end of the line)', (q) => {
    expect(resourcesOf('AWS::SQS::Queue')[resourceId(q)]?.Properties.RedrivePolicy).toBeUndefined();
    expect(stack.mesh.deadLetterQueues[q]).toBeUndefined();
  });

  it.each(deliveryQueues)(
    `delivery queue %s: redrives to its own dead-letter queue after its maxReceiveCount (default ${MAX_RECEIVE_COUNT})`,
    (q) => {
      const maxReceiveCount = queues[q].maxReceiveCount ?? MAX_RECEIVE_COUNT;
      expect(resourcesOf('AWS::SQS::Queue')[resourceId(q)]?.Properties.RedrivePolicy).toEqual({
        deadLetterTargetArn: arnOf(dlqId(q)),
        maxReceiveCount,
      });
      // A stateful construct id: `<Name>DeadLetter`, which must never change (a new id replaces the queue).
      expect(deadLetterQueueOf(q).node.id).toBe(`${q.charAt(0).toUpperCase()}${q.slice(1)}DeadLetter`);
      // The dead-letter queue: encrypted, 14 days, and itself redriving nowhere.
      const dlq = resourcesOf('AWS::SQS::Queue')[dlqId(q)]?.Properties;
      expect(dlq).toMatchObject({ SqsManagedSseEnabled: true, MessageRetentionPeriod: DEAD_LETTER_RETENTION_SECONDS });
      expect(dlq?.RedrivePolicy).toBeUndefined();
      // Its own: no other queue (of the topology or another delivery queue's) is or redrives to it.
      expect(queueNames.map(resourceId)).not.toContain(dlqId(q));
      const redrivingToIt = Object.values(resourcesOf('AWS::SQS::Queue')).filter(
        (r) =>
          JSON.stringify(r.Properties.RedrivePolicy) ===
          JSON.stringify({ deadLetterTargetArn: arnOf(dlqId(q)), maxReceiveCount }),
      );
      expect(redrivingToIt).toHaveLength(1);
    },
  );

  it('a topology name that a dead-letter queue would take is refused', () => {
    const [q] = deliveryQueues;
    if (!q) throw new Error('the topology has no delivery queue');
    const clash = `${q}DeadLetter`;
    const bad = {
      ...topology,
      queues: { ...topology.queues, [clash]: { ...topology.queues[q], kind: 'errorSink', maxReceiveCount: undefined } },
    } as unknown as typeof topology;
    expect(() => variantTemplate(bad, 'Bad')).toThrow(
      new RegExp(`dead-letter queue names already used by the topology: ${clash}$`),
    );
  });

  it('one event source mapping per stream consumer and per queue consumer, nothing else', () => {
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', streamConsumers.length + queueConsumers.length);
  });

  it.each(queueConsumers.map((c) => [c.function, c.queue, c] as const))(
    'queue consumer %s: exactly its SQS mapping on %s, reporting batch item failures',
    (_fn, _queue, c) => {
      const mappings = Object.values(resourcesOf('AWS::Lambda::EventSourceMapping')).filter(
        (m) => JSON.stringify(m.Properties.FunctionName) === JSON.stringify({ Ref: fnId(c.function) }),
      );
      expect(mappings.map((m) => m.Properties)).toEqual([
        {
          FunctionName: { Ref: fnId(c.function) },
          EventSourceArn: arnOf(resourceId(c.queue)),
          BatchSize: c.batchSize,
          ScalingConfig: { MaximumConcurrency: c.maxConcurrency },
          FunctionResponseTypes: ['ReportBatchItemFailures'],
        },
      ]);
      // Lambda refuses a queue whose messages could reappear while the function still holds them.
      expect(queues[c.queue].visibilityTimeoutSeconds).toBeGreaterThanOrEqual(
        topology.functions[c.function].timeoutSeconds,
      );
      expect(queues[c.queue].kind).toBe('delivery');
    },
  );

  it.each(streamConsumers.map((c) => [c.function, c.readMode, c] as const))(
    'consumer %s (%s): exactly its mapping from the topology, on the consumer or the stream',
    (_name, _mode, c) => {
      const mappings = Object.values(resourcesOf('AWS::Lambda::EventSourceMapping')).filter(
        (m) => JSON.stringify(m.Properties.FunctionName) === JSON.stringify({ Ref: fnId(c.function) }),
      );
      // The whole property set: a window of 0 must be rendered (not left to a default), and nothing else may creep in.
      expect(mappings.map((m) => m.Properties)).toEqual([
        {
          FunctionName: { Ref: fnId(c.function) },
          EventSourceArn: mappingSourceOf(c),
          BatchSize: c.batchSize,
          MaximumBatchingWindowInSeconds: c.maxBatchingWindowSeconds,
          StartingPosition: c.startingPosition,
          ParallelizationFactor: c.parallelizationFactor,
          BisectBatchOnFunctionError: c.bisectBatchOnError,
          MaximumRetryAttempts: c.maxRetryAttempts,
          MaximumRecordAgeInSeconds: c.maxRecordAgeSeconds,
          FunctionResponseTypes: ['ReportBatchItemFailures'],
          DestinationConfig: { OnFailure: { Destination: arnOf(resourceId(c.onFailure)) } },
        },
      ]);
    },
  );
});

describe('stream consumers: enhanced fan-out or polling, per the topology', () => {
  type Consumer = { ConsumerName: string; StreamARN: unknown };
  const consumersIn = (from: Template): Consumer[] =>
    Object.values(from.findResources('AWS::Kinesis::StreamConsumer') as Resources).map(
      (r) => r.Properties as unknown as Consumer,
    );
  /** Written out here rather than taken from the stack: `<stack name>-<function>`, unique per stream and stable. */
  const expectedName = (stackName: string, c: StreamConsumerSpec) => `${stackName}-${c.function}`;
  /** A role's Kinesis grants, `<action> on <resource>`. */
  const kinesisGrantsOf = (fn: FunctionName): string[] =>
    grantsOf(statementsOfRole(roleIdOf(fn))).filter((g) => g.startsWith('kinesis:'));
  const on = (actions: string[], resource: unknown) => actions.map((a) => `${a} on ${JSON.stringify(resource)}`);
  const EFO_CONSUMER_ACTIONS = ['kinesis:SubscribeToShard', 'kinesis:DescribeStreamConsumer'];
  const EFO_STREAM_ACTIONS = ['kinesis:DescribeStream', 'kinesis:DescribeStreamSummary', 'kinesis:ListShards'];

  it('the topology has both kinds (so both branches below are exercised)', () => {
    expect(enhancedConsumers.length).toBeGreaterThan(0);
    expect(pollingConsumers.length).toBeGreaterThan(0);
  });

  it('exactly one registered consumer per enhanced fan-out consumer, on its stream, named after stack and function', () => {
    expect(consumersIn(template).length).toBe(enhancedConsumers.length);
    for (const c of enhancedConsumers) {
      expect(resourcesOf('AWS::Kinesis::StreamConsumer')[consumerId(c)]?.Properties, c.function).toEqual({
        ConsumerName: expectedName(stack.stackName, c),
        StreamARN: arnOf(resourceId(c.stream)),
      });
    }
    // Kinesis: 1..128 of [a-zA-Z0-9_.-], unique per stream.
    for (const { ConsumerName } of consumersIn(template)) expect(ConsumerName).toMatch(/^[a-zA-Z0-9_.-]{1,128}$/);
    const perStream = consumersIn(template).map((r) => `${JSON.stringify(r.StreamARN)} ${r.ConsumerName}`);
    expect(new Set(perStream).size).toBe(perStream.length);
  });

  it.each(pollingConsumers.map((c) => [c.function, c] as const))(
    'polling consumer %s: no registered consumer, the mapping reads the stream',
    (_fn, c) => {
      expect(stack.mesh.streamConsumers[consumerKey(c)]).toBeUndefined();
      expect(
        consumersIn(template).filter((r) => r.ConsumerName === expectedName(stack.stackName, c)),
        c.function,
      ).toEqual([]);
      expect(kinesisGrantsOf(c.function)).toEqual(
        expect.arrayContaining(on(['kinesis:GetRecords', 'kinesis:GetShardIterator'], arnOf(resourceId(c.stream)))),
      );
    },
  );

  it.each(enhancedConsumers.map((c) => [c.function, c] as const))(
    'enhanced fan-out consumer %s: SubscribeToShard/DescribeStreamConsumer on its consumer; the stream only described',
    (_fn, c) => {
      const grants = kinesisGrantsOf(c.function);
      const consumerArn = consumerArnOf(consumerId(c));
      // On the consumer: exactly the two actions, on its own ARN (no stream/* or consumer/* wildcard).
      expect(grants.filter((g) => g.includes(`"${consumerId(c)}"`)).sort()).toEqual(
        on(EFO_CONSUMER_ACTIONS, consumerArn).sort(),
      );
      expect(grants.filter((g) => /^kinesis:(SubscribeToShard|DescribeStreamConsumer) /.test(g))).toEqual(
        on(EFO_CONSUMER_ACTIONS, consumerArn),
      );
      // On the stream: describe and list its shards, nothing that reads records (they are pushed to the consumer).
      const boundToStream = topology.functions[c.function].bindings.some((b) => b.resource === c.stream);
      const onStream = grants.filter((g) => g.includes(`"${resourceId(c.stream)}"`));
      if (!boundToStream) expect(onStream.sort()).toEqual(on(EFO_STREAM_ACTIONS, arnOf(resourceId(c.stream))).sort());
      expect(onStream.filter((g) => /^kinesis:(GetRecords|GetShardIterator|SubscribeToShard) /.test(g))).toEqual([]);
      // The stream's key is AWS-managed: Kinesis decrypts for any authorized reader, so no KMS grant (checked for
      // every function in 'signing keys' too).
      expect(grants.filter((g) => g.startsWith('kms:'))).toEqual([]);
    },
  );

  it("no role holds a grant on another function's registered consumer", () => {
    const ids = enhancedConsumers.map(consumerId);
    for (const fn of functionNames) {
      const own = enhancedConsumers.filter((c) => c.function === fn).map(consumerId);
      const referenced = ids.filter((id) =>
        grantsOf(statementsOfRole(roleIdOf(fn))).some((g) => g.includes(`"${id}"`)),
      );
      expect(referenced, fn).toEqual(own);
    }
  });

  it('read modes follow the topology: swapped modes swap the consumers; names carry the stack name', () => {
    const [efo] = enhancedConsumers;
    const [polled] = pollingConsumers;
    if (!efo || !polled) throw new Error('the topology needs one consumer of each kind');
    const swap = (c: StreamConsumerSpec): StreamConsumerSpec =>
      c === efo
        ? { ...c, readMode: 'polling', latency: 'batch' }
        : c === polled
          ? { ...c, readMode: 'enhancedFanOut', latency: 'realtime', maxBatchingWindowSeconds: 0 }
          : c;
    const swapped = variantTemplate({ ...topology, streamConsumers: streamConsumers.map(swap) }, 'TemSecond');
    const names = consumersIn(swapped).map((r) => r.ConsumerName);
    expect(names.sort()).toEqual(
      streamConsumers
        .map(swap)
        .filter((c) => c.readMode === 'enhancedFanOut')
        .map((c) => expectedName('TemSecond', c))
        .sort(),
    );
    const consumerIdByName = Object.fromEntries(
      Object.entries(swapped.findResources('AWS::Kinesis::StreamConsumer') as Resources).map(([id, r]) => [
        (r.Properties as unknown as Consumer).ConsumerName,
        id,
      ]),
    );
    const sourceOf = (fn: FunctionName) =>
      Object.values(swapped.findResources('AWS::Lambda::EventSourceMapping') as Resources).find(
        (m) => JSON.stringify(m.Properties.FunctionName) === JSON.stringify({ Ref: fnId(fn) }),
      )?.Properties.EventSourceArn;
    expect(sourceOf(efo.function)).toEqual(arnOf(resourceId(efo.stream)));
    const pushedId = consumerIdByName[expectedName('TemSecond', polled)];
    if (!pushedId) throw new Error(`no registered consumer for ${polled.function}`);
    expect(sourceOf(polled.function)).toEqual(consumerArnOf(pushedId));
  });
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
      expect(m?.AuthorizerId).toEqual(isPublic ? undefined : { Ref: logicalId(stack.mesh.authorizer) });
      expect(JSON.stringify(m?.Integration)).toContain(JSON.stringify(arnOf(fnId(r.function))));
    },
  );

  it('authorizes with a REQUEST authorizer whose identity sources and cache TTL come from the topology', () => {
    template.resourceCountIs('AWS::ApiGateway::Authorizer', 1);
    const auth = resourcesOf('AWS::ApiGateway::Authorizer')[logicalId(stack.mesh.authorizer)];
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

  /** Written out here: the public routes known to be public by design, with the reason acknowledged for each. */
  const PUBLIC_REASONS: Record<string, string> = {
    '/.well-known/jwks.json': 'public JWKS: the public keys verifiers need; holds no secret',
    '/openapi.json': "public OpenAPI document: the API's routes, permissions and schemas; holds no secret and no data",
  };
  it('acknowledges cdk-nag APIG4/COG4 as public only on the routes the topology makes public', () => {
    for (const r of routes) {
      const acks = acknowledgementsOf(stack.methods[`${r.method} ${r.path}`] as IConstruct);
      const apig4 = Object.entries(acks).filter(([id]) => id.endsWith('AwsSolutions-APIG4'));
      if ((r as { auth?: string }).auth === 'none') {
        const reason = PUBLIC_REASONS[r.path];
        expect(reason, `${r.path} is public: why?`).toBeDefined();
        expect(apig4.map(([, why]) => why)).toEqual([reason]);
        expect(Object.entries(acks).find(([id]) => id.endsWith('AwsSolutions-COG4'))?.[1]).toBe(reason);
      } else {
        expect(apig4).toEqual([]);
      }
    }
    // Nothing above the methods acknowledges APIG4 for the whole API.
    for (const c of [stack, stack.mesh.api, stack.mesh.api.root]) {
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

  it('stage v1 throttles every method (rate limit and burst from the named constants)', () => {
    expect(API_THROTTLING_BURST_LIMIT).toBeGreaterThanOrEqual(API_THROTTLING_RATE_LIMIT);
    template.hasResourceProperties('AWS::ApiGateway::Stage', {
      StageName: 'v1',
      MethodSettings: [
        Match.objectLike({
          HttpMethod: '*',
          ResourcePath: '/*',
          ThrottlingRateLimit: API_THROTTLING_RATE_LIMIT,
          ThrottlingBurstLimit: API_THROTTLING_BURST_LIMIT,
        }),
      ],
    });
  });
});

describe('signing keys', () => {
  it.each(Object.entries(keys))('%s: asymmetric sign/verify key from the topology, retained', (name, spec) => {
    // The other keys encrypt the SNS topics (test/infra/observability.test.ts).
    const signing = Object.values(resourcesOf('AWS::KMS::Key')).filter((k) => k.Properties.KeyUsage === 'SIGN_VERIFY');
    expect(signing).toHaveLength(Object.keys(keys).length);
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
  /** What a key binding allows: DescribeKey to describe, GetPublicKey to read, plus Sign to sign. */
  const keyActionsFor = (access: Access): string[] =>
    access === 'describe'
      ? ['kms:DescribeKey']
      : writes(access)
        ? ['kms:Sign', 'kms:GetPublicKey']
        : ['kms:GetPublicKey'];
  it.each(keyBindings)('%s -> %s (%s): GetPublicKey, plus Sign only to sign; nothing else', (fn, key, access) => {
    const keyArn = JSON.stringify(arnOf(resourceId(key)));
    const actions = statementsOfRole(roleIdOf(fn))
      .filter((s) => JSON.stringify(s.Resource).includes(keyArn))
      .flatMap((s) => [s.Action].flat());
    expect(new Set(actions)).toEqual(new Set(keyActionsFor(access)));
  });

  it('no function holds a KMS action it is not bound for', () => {
    for (const fn of functionNames) {
      const mayUse = topology.functions[fn].bindings
        .filter((b) => isKey(b.resource))
        .flatMap((b) => keyActionsFor(b.access));
      const kmsActions = statementsOfRole(roleIdOf(fn))
        .flatMap((s) => [s.Action].flat())
        .filter((a) => a.startsWith('kms:'));
      expect(
        kmsActions.filter((a) => !mayUse.includes(a)),
        fn,
      ).toEqual([]);
    }
  });
});

describe('IoT device authorizer', () => {
  it('is an active, unsigned custom authorizer backed by its topology function', () => {
    template.resourceCountIs('AWS::IoT::Authorizer', 1);
    expect(resourcesOf('AWS::IoT::Authorizer')[logicalId(stack.mesh.iotAuthorizer)]?.Properties).toEqual({
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
      SourceArn: arnOf(logicalId(stack.mesh.iotAuthorizer)),
      SourceAccount: { Ref: 'AWS::AccountId' },
    });
    const invokers = Object.values(resourcesOf('AWS::Lambda::Permission')).filter(
      (p) => JSON.stringify(p.Properties.FunctionName) === JSON.stringify(arnOf(fnId(iotAuthorizer.function))),
    );
    expect(invokers.map((p) => p.Properties.SourceArn)).toEqual([arnOf(logicalId(stack.mesh.iotAuthorizer))]);
  });
});

/** CDK's singleton provider function behind every AwsCustomResource of the stack. */
function providerFunction(): IConstruct {
  const provider = stack.node.children.find((c) => c.node.id.startsWith('AWS679f53fac002430cb0da5b7982bd2287'));
  if (!provider) throw new Error('no AwsCustomResource provider function');
  return provider;
}

describe('service endpoints', () => {
  const endpointBindings = functionNames.flatMap((fn) =>
    topology.functions[fn].bindings.filter((b) => isEndpoint(b.resource)).map((b) => [fn, b.env, b] as const),
  );

  it('the topology has both kinds of endpoint (so both branches below are exercised)', () => {
    expect(iotDataEndpoints.length).toBeGreaterThan(0);
    expect(wsManagementEndpoints).toEqual([topology.webSocket.managementEndpoint]);
  });

  it.each(iotDataEndpoints)('%s: looked up at deploy time with iot:DescribeEndpoint (ATS)', (name) => {
    const lookup = resourcesOf('Custom::AWS')[resourceId(name)];
    const call = {
      service: '@aws-sdk/client-iot',
      action: 'DescribeEndpoint',
      parameters: { endpointType: 'iot:Data-ATS' },
      physicalResourceId: { id: `${name}-iot-Data-ATS` },
      outputPaths: ['endpointAddress'],
    };
    expect(JSON.parse(String(lookup?.Properties.Create))).toEqual(call);
    expect(JSON.parse(String(lookup?.Properties.Update))).toEqual(call);
    expect(lookup?.Properties.Delete).toBeUndefined();
    // Never `npm install` the SDK at deploy time: the runtime's SDK v3 has the call.
    expect(lookup?.Properties.InstallLatestAwsSdk).toBe(false);
    expect(lookup?.Properties.ServiceToken).toEqual(arnOf(logicalId(providerFunction())));
    // Its policy: that one action, on * (DescribeEndpoint has no resource-level permissions).
    const policy = resourcesOf('AWS::IAM::Policy')[logicalId(lookupOf(name).node.findChild('CustomResourcePolicy'))];
    expect((policy?.Properties.PolicyDocument as { Statement: unknown } | undefined)?.Statement).toEqual([
      { Action: 'iot:DescribeEndpoint', Effect: 'Allow', Resource: '*' },
    ]);
  });

  it('the lookup provider runs with its own role: its log group (30 days) and the lookups, no managed policy', () => {
    const fnProps = resourcesOf('AWS::Lambda::Function')[logicalId(providerFunction())]?.Properties ?? {};
    const roleId = (fnProps.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    expect(resourcesOf('AWS::IAM::Role')[roleId]?.Properties.ManagedPolicyArns).toBeUndefined();
    const logGroupId = (fnProps.LoggingConfig as { LogGroup: { Ref: string } }).LogGroup.Ref;
    expect(resourcesOf('AWS::Logs::LogGroup')[logGroupId]?.Properties.RetentionInDays).toBe(30);
    // In any order: the role's own policy and one policy per lookup.
    const sorted = (statements: unknown[]) => statements.map((st) => JSON.stringify(st)).sort();
    expect(sorted(statementsOfRole(roleId))).toEqual(
      sorted([
        { Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Effect: 'Allow', Resource: arnOf(logGroupId) },
        ...iotDataEndpoints.map(() => ({ Action: 'iot:DescribeEndpoint', Effect: 'Allow', Resource: '*' })),
      ]),
    );
  });

  it.each(endpointBindings)('%s: env %s carries the looked-up address or the stage URL, https://', (fn, _env, b) => {
    const variables = resourcesOf('AWS::Lambda::Function')[fnId(fn)]?.Properties.Environment as {
      Variables: Record<string, unknown>;
    };
    expect(variables.Variables[b.env]).toEqual(endpointUrl(b.resource as EndpointName));
  });

  it.each(endpointBindings)(
    '%s: %s gives exactly iot:Publish on its topics or ManageConnections on its stage for write, nothing for read',
    (fn, _env, b) => {
      const prefix = endpoints[b.resource as EndpointName].service === 'iot-data' ? 'iot:' : 'execute-api:';
      const onService = statementsOfRole(roleIdOf(fn)).filter((s) =>
        [s.Action].flat().some((a) => a.startsWith(prefix)),
      );
      expect(onService).toEqual(endpointStatementsOf(b));
    },
  );

  it.each(['read', 'describe'] as const)(
    '%s access to an endpoint grants nothing but still carries the URL',
    (access) => {
      const readOnly = {
        ...topology,
        functions: Object.fromEntries(
          Object.entries(topology.functions).map(([n, f]) => [
            n,
            { ...f, bindings: f.bindings.map((b) => (isEndpoint(b.resource) ? { ...b, access } : b)) },
          ]),
        ),
      } as unknown as typeof topology;
      const variant = variantTemplate(readOnly, `Endpoint${access}`);
      const policies = Object.values(variant.findResources('AWS::IAM::Policy')) as Resources[string][];
      const endpointActions = policies
        .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement)
        .flatMap((s) => [s.Action].flat())
        .filter((a) => (a.startsWith('iot:') && a !== 'iot:DescribeEndpoint') || a.startsWith('execute-api:'));
      expect(endpointActions).toEqual([]);
      expect(endpointBindings.length).toBeGreaterThan(0);
      // Logical ids depend on the construct path inside the stack only, so the main stack's helpers apply.
      const variantFunctions = variant.findResources('AWS::Lambda::Function') as Resources;
      for (const [fn, env, b] of endpointBindings) {
        const variables = variantFunctions[fnId(fn)]?.Properties.Environment as { Variables: Record<string, unknown> };
        expect(variables.Variables[env], fn).toEqual(endpointUrl(b.resource as EndpointName));
      }
    },
  );

  it('acknowledges IAM5 only for the exact topic patterns with a wildcard, the stage connections and the lookup policy', () => {
    for (const fn of new Set(endpointBindings.map(([fn]) => fn))) {
      const written = topology.functions[fn].bindings.filter((b) => isEndpoint(b.resource) && writes(b.access));
      const acks = acknowledgedIdsOf(stack.functions[fn].role as IConstruct);
      const wildcardTopics = written.flatMap((b) => {
        const spec = endpoints[b.resource as EndpointName];
        return spec.service === 'iot-data' ? spec.publishTopics.filter((t) => t.includes('*')) : [];
      });
      expect(
        acks.filter((id) => id.includes(':iot:')),
        fn,
      ).toEqual(
        wildcardTopics.map(
          (t) => `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>:topic/${t}]`,
        ),
      );
      const managed = written.filter((b) => endpoints[b.resource as EndpointName].service === 'ws-management');
      expect(
        acks.filter((id) => id.includes(':execute-api:')),
        fn,
      ).toEqual(
        managed.map(
          (b) =>
            `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:` +
            `<${resourceId(b.resource)}>/${topology.webSocket.stage}/*/@connections/*]`,
        ),
      );
    }
    for (const name of iotDataEndpoints) {
      expect(acknowledgedIdsOf(lookupOf(name).node.findChild('CustomResourcePolicy'))).toEqual([
        'AwsSolutions-IAM5[Resource::*]',
      ]);
    }
  });
});

describe('alarms (every failure path ends somewhere visible)', () => {
  type Alarm = Record<string, unknown>;
  const alarms = () => Object.values(resourcesOf('AWS::CloudWatch::Alarm')).map((a) => a.Properties as Alarm);
  const alarmedQueues = errorSinkQueues;
  /** Functions that answer some requests by throwing (the HTTP authorizer's 401): their Errors metric counts answers. */
  const answersByThrowing = functionNames.filter((n) => topology.functions[n].errorsAreAnswers);
  const errorsAlarmed = functionNames.filter((n) => !topology.functions[n].errorsAreAnswers);
  /**
   * Written out here rather than taken from the stack: JSON log lines at ERROR (Powertools' own, and the runtime's
   * `Invoke Error` line for a thrown error, its error under `message`), except the runtime's line for a thrown refusal.
   */
  const ERROR_LINES_BUT_REFUSALS =
    '{ ($.level = "ERROR") && (($.message.errorMessage NOT EXISTS) || ($.message.errorMessage != "Unauthorized")) }';
  const logGroupIdOf = (fn: FunctionName): string => {
    const fnProps = resourcesOf('AWS::Lambda::Function')[fnId(fn)]?.Properties ?? {};
    return (fnProps.LoggingConfig as { LogGroup: { Ref: string } }).LogGroup.Ref;
  };
  type MetricFilter = {
    FilterPattern: string;
    LogGroupName: unknown;
    MetricTransformations: { MetricName: string; MetricNamespace: string; MetricValue: string }[];
  };
  const metricFilters = () =>
    Object.values(resourcesOf('AWS::Logs::MetricFilter')).map((f) => f.Properties as unknown as MetricFilter);
  const failureDestinations = new Set<QueueName>([
    ...streamConsumers.map((c) => c.onFailure),
    ...Object.values(topicRules).map((r) => r.errorQueue),
  ]);

  it('one per errorSink queue, per delivery queue DLQ, per stream consumer, per function, the API and two per archive; ALARM and OK notify', () => {
    // A function's is on Errors or, if it answers by throwing, on its error log lines: one each either way. Which
    // topic they notify: test/infra/observability.test.ts.
    template.resourceCountIs(
      'AWS::CloudWatch::Alarm',
      alarmedQueues.length +
        deliveryQueues.length +
        queueConsumers.length +
        streamConsumers.length +
        functionNames.length +
        1 +
        // Per archive: its delivery's freshness and its failed puts (test/infra/archive.test.ts).
        2 * archiveNames.length,
    );
    for (const a of alarms()) {
      expect(a.AlarmActions).toHaveLength(1);
      expect(a.OKActions).toEqual(a.AlarmActions);
      expect(a.InsufficientDataActions).toBeUndefined();
    }
    // Every failure destination of the topology is among the alarmed queues, or retried by a queue consumer (whose
    // message age and dead-letter queue are alarmed).
    const retried = queueConsumers.map((c) => c.queue);
    expect([...failureDestinations].filter((q) => !alarmedQueues.includes(q) && !retried.includes(q))).toEqual([]);
  });

  it("a backlog alarm for exactly the errorSink queues, the delivery queues' DLQs and the retried queues", () => {
    expect(alarmedQueues.length + deliveryQueues.length).toBe(queueNames.length);
    const backlogAlarms = Object.keys(stack.mesh.alarms).filter((k) => k.startsWith('queueBacklog:'));
    expect(backlogAlarms.sort()).toEqual(
      [
        ...alarmedQueues.map((q) => `queueBacklog:${q}`),
        ...deliveryQueues.map((q) => `queueBacklog:${q}DeadLetter`),
        ...queueConsumers.map((c) => `queueBacklog:${c.queue}`),
      ].sort(),
    );
    const watched = alarms()
      .filter((a) => a.MetricName === 'ApproximateNumberOfMessagesVisible')
      .map((a) => JSON.stringify(a.Dimensions));
    for (const q of deliveryQueues)
      expect(
        watched.filter((d) => d.includes(`"${resourceId(q)}"`)),
        q,
      ).toEqual([]);
  });

  /** [what is alarmed, the queue's logical id]: every errorSink queue and every delivery queue's dead-letter queue. */
  const backlogAlarmed = [
    ...alarmedQueues.map((q) => [`queue ${q}`, q, () => resourceId(q)] as const),
    ...deliveryQueues.map((q) => [`dead-letter queue of ${q}`, q, () => dlqId(q)] as const),
  ];
  it.each(backlogAlarmed)('%s: messages visible >= 1 in one 5-minute datapoint', (_what, _q, id) => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [id(), 'QueueName'] } }],
      Statistic: 'Maximum',
      Period: 300,
      EvaluationPeriods: 1,
      DatapointsToAlarm: 1,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
  });

  it.each(queueConsumers.map((c) => c.queue))('retried queue %s: its oldest message older than the limit', (q) => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateAgeOfOldestMessage',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [resourceId(q), 'QueueName'] } }],
      Statistic: 'Maximum',
      Threshold: QUEUE_AGE_ALARM_SECONDS,
      ComparisonOperator: 'GreaterThanThreshold',
    });
  });

  /** The topology's failure destinations by where they come from, each to be turned into a delivery queue. */
  const failureSources = [
    ['stream consumer on-failure', streamConsumers[0]?.onFailure],
    ['topic rule error queue', Object.values(topicRules)[0]?.errorQueue],
  ] as const;
  it.each(failureSources)('a %s that is a delivery queue is refused (it would go unalarmed)', (_source, q) => {
    if (!q) throw new Error('the topology has no such failure destination');
    // Without a consumer retrying it: a delivery queue nobody reads.
    const bad = {
      ...topology,
      queues: { ...topology.queues, [q]: { ...topology.queues[q], kind: 'delivery' } },
      queueConsumers: topology.queueConsumers.filter((c) => c.queue !== q),
    };
    expect(() => variantTemplate(bad, 'Bad')).toThrow(
      new RegExp(`failure destinations must be alarmed errorSink queues \\(or consumed by a queue consumer\\): ${q}$`),
    );
  });

  it.each(deliveryQueues)('delivery queue %s used as a failure destination, unconsumed, is refused', (q) => {
    const bad = {
      ...topology,
      // Its visibility still covers the consumers' timeouts, so only the queue's kind is wrong.
      queues: { ...topology.queues, [q]: { ...topology.queues[q], visibilityTimeoutSeconds: 900 } },
      streamConsumers: topology.streamConsumers.map((c) => ({ ...c, onFailure: q })),
      queueConsumers: [],
    } as typeof topology;
    expect(() => variantTemplate(bad, 'Bad')).toThrow(
      new RegExp(`failure destinations must be alarmed errorSink queues \\(or consumed by a queue consumer\\): .*${q}`),
    );
  });

  it.each(streamConsumers.map((c) => c.function))('consumer %s: IteratorAge (Maximum) > the limit', (fn) => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Lambda',
      MetricName: 'IteratorAge',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: fnId(fn) } }],
      Statistic: 'Maximum',
      Period: 300,
      EvaluationPeriods: 1,
      Threshold: ITERATOR_AGE_ALARM_MS,
      ComparisonOperator: 'GreaterThanThreshold',
    });
  });

  it.each(errorsAlarmed)('function %s: Errors (Sum) >= 1 over 5 minutes', (fn) => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: fnId(fn) } }],
      Statistic: 'Sum',
      Period: 300,
      EvaluationPeriods: 1,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
  });

  it("the HTTP authorizer answers 401 by throwing: its function's errors are answers", () => {
    expect(answersByThrowing).toContain(authorizer.function);
  });

  it('a metric filter for exactly the functions that answer by throwing', () => {
    expect(metricFilters().map((f) => f.LogGroupName)).toEqual(
      answersByThrowing.map((fn) => ({ Ref: logGroupIdOf(fn) })),
    );
  });

  it.each(answersByThrowing)('function %s: no Errors alarm (it counts refusals)', (fn) => {
    const onErrors = alarms().filter(
      (a) => a.MetricName === 'Errors' && JSON.stringify(a.Dimensions).includes(`{"Ref":"${fnId(fn)}"}`),
    );
    expect(onErrors).toEqual([]);
  });

  it.each(answersByThrowing)(
    "function %s: its own log group's ERROR lines but refusals, Sum >= 1 over 5 minutes",
    (fn) => {
      const metricName = `${fn.charAt(0).toUpperCase()}${fn.slice(1)}ErrorLogLines`;
      const filters = metricFilters().filter(
        (f) => JSON.stringify(f.LogGroupName) === JSON.stringify({ Ref: logGroupIdOf(fn) }),
      );
      expect(filters).toEqual([
        {
          FilterPattern: ERROR_LINES_BUT_REFUSALS,
          LogGroupName: { Ref: logGroupIdOf(fn) },
          MetricTransformations: [{ MetricName: metricName, MetricNamespace: 'TelemetryEventMesh', MetricValue: '1' }],
        },
      ]);
      const onLines = alarms().filter((a) => a.Namespace === 'TelemetryEventMesh' && a.MetricName === metricName);
      expect(onLines).toEqual([
        expect.objectContaining({
          Statistic: 'Sum',
          Period: 300,
          EvaluationPeriods: 1,
          DatapointsToAlarm: 1,
          Threshold: 1,
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
          TreatMissingData: 'notBreaching',
        }),
      ]);
      expect(onLines[0]?.Dimensions).toBeUndefined();
    },
  );

  it("the API stage's 5XXError (Sum) >= 1 over 5 minutes: authorizer crashes and integration failures", () => {
    const stageId = logicalId(stack.mesh.api.deploymentStage);
    const on5xx = alarms().filter((a) => a.MetricName === '5XXError');
    expect(on5xx).toEqual([
      expect.objectContaining({
        Namespace: 'AWS/ApiGateway',
        Dimensions: [
          { Name: 'ApiName', Value: `${topology.service}-api` },
          { Name: 'Stage', Value: { Ref: stageId } },
        ],
        Statistic: 'Sum',
        Period: 300,
        EvaluationPeriods: 1,
        DatapointsToAlarm: 1,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
      }),
    ]);
    expect(resourcesOf('AWS::ApiGateway::Stage')[stageId]?.Properties.StageName).toBe('v1');
  });
});

describe('IoT topic rules', () => {
  it.each(Object.entries(topicRules))(
    '%s: SQL from the spec, a Kinesis action keyed by the device, SQS error action',
    (name, rule) => {
      const roleId = logicalId(stack.mesh.topicRuleRoles[name]);
      template.hasResourceProperties('AWS::IoT::TopicRule', {
        RuleName: name,
        TopicRulePayload: {
          Sql: topicRuleSql(rule),
          AwsIotSqlVersion: '2016-03-23',
          RuleDisabled: false,
          Actions: [
            {
              Kinesis: {
                StreamName: { Ref: resourceId(rule.action.kinesis.stream) },
                // IoT substitution template: the device id from the topic.
                // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal IoT template, not a JS one
                PartitionKey: '${topic(2)}',
                RoleArn: arnOf(roleId),
              },
            },
          ],
          ErrorAction: {
            Sqs: { QueueUrl: { Ref: resourceId(rule.errorQueue) }, RoleArn: arnOf(roleId), UseBase64: false },
          },
        },
      });
      template.hasResourceProperties('AWS::IAM::Role', {
        AssumeRolePolicyDocument: Match.objectLike({
          Statement: [
            Match.objectLike({
              Principal: { Service: 'iot.amazonaws.com' },
              Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
            }),
          ],
        }),
      });
      // Exactly: put on its stream, send to its error queue; nothing else.
      const statements = statementsOfRole(roleId);
      expect(grantsOf(statements).sort()).toEqual(
        [
          `kinesis:PutRecord on ${JSON.stringify(arnOf(resourceId(rule.action.kinesis.stream)))}`,
          ...grantsOf(statements).filter((g) => g.startsWith('sqs:')),
        ].sort(),
      );
      expect(grantsOf(statements).filter((g) => g.startsWith('sqs:'))).toEqual(
        expect.arrayContaining([`sqs:SendMessage on ${JSON.stringify(arnOf(resourceId(rule.errorQueue)))}`]),
      );
    },
  );

  it('no function runs per device message: no Lambda action, and no function IoT may invoke but its authorizer', () => {
    for (const r of Object.values(resourcesOf('AWS::IoT::TopicRule')))
      expect(JSON.stringify(r.Properties)).not.toContain('Lambda');
    const iotInvokes = Object.values(resourcesOf('AWS::Lambda::Permission')).filter(
      (p) => p.Properties.Principal === 'iot.amazonaws.com',
    );
    expect(iotInvokes.map((p) => p.Properties.FunctionName)).toEqual([arnOf(fnId(topology.iotAuthorizer.function))]);
  });
});

describe('outputs', () => {
  it('exposes the API URL, every stream/table/queue/key/endpoint/archive under its logical name, topic rules, IoT authorizer', () => {
    const outputs = template.findOutputs('*');
    expect(outputs.HttpApiUrl).toBeDefined();
    // Where `tem keys create` registers a principal's own usage key against a deployed stack.
    const [restApiId] = Object.keys(resourcesOf('AWS::ApiGateway::RestApi'));
    expect(outputs.RestApiId).toMatchObject({ Value: { Ref: restApiId } });
    expect(outputs.RestApiStage?.Value).toBeDefined();
    for (const name of [...Object.keys(streams), ...Object.keys(tables), ...Object.keys(queues)]) {
      expect(outputs[name], name).toMatchObject({
        Description: name,
        Value: { Ref: resourceId(name as ResourceName) },
      });
    }
    for (const q of deliveryQueues) {
      expect(outputs[`${q}DeadLetter`], q).toMatchObject({ Value: { Ref: dlqId(q) } });
    }
    for (const name of Object.keys(keys)) {
      expect(outputs[name], name).toMatchObject({ Description: name, Value: arnOf(resourceId(name as KeyName)) });
    }
    for (const name of Object.keys(endpoints) as EndpointName[]) {
      expect(outputs[name], name).toMatchObject({ Description: name, Value: endpointUrl(name) });
    }
    // An archive under its name is its delivery stream (what its env var carries); its bucket and table beside it.
    for (const name of archiveNames) {
      const archive = stack.mesh.archives[name];
      expect(outputs[name], name).toMatchObject({ Value: { Ref: resourceId(name) } });
      expect(outputs[`${name}Bucket`], name).toMatchObject({ Value: { Ref: logicalId(archive.bucket) } });
      expect(outputs[`${name}Database`], name).toMatchObject({ Value: 'telemetry_event_mesh' });
      expect(outputs[`${name}Table`], name).toMatchObject({
        Value: name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`),
      });
    }
    // Ref of an AWS::IoT::Authorizer is its name.
    expect(outputs.IotDeviceAuthorizer?.Value).toEqual({ Ref: logicalId(stack.mesh.iotAuthorizer) });
    expect(resourcesOf('AWS::IoT::Authorizer')[logicalId(stack.mesh.iotAuthorizer)]?.Properties.AuthorizerName).toBe(
      iotAuthorizer.name,
    );
    for (const name of Object.keys(topicRules)) {
      expect(outputs[`IotTopicRule${name}`]?.Value).toEqual({ Ref: logicalId(stack.mesh.topicRules[name]) });
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

  it('acknowledges SQS3 (no DLQ) on errorSink queues and dead-letter queues only, never on a delivery queue', () => {
    for (const q of errorSinkQueues) {
      expect(acknowledgedIdsOf(stack.mesh.queues[q]), q).toEqual(['AwsSolutions-SQS3']);
      expect(Object.values(acknowledgementsOf(stack.mesh.queues[q]))[0], q).toMatch(
        /^These queues are the dead-letter \/ error destinations themselves/,
      );
    }
    for (const q of deliveryQueues) {
      // It has a DLQ now: SQS3 passes on its own, so an acknowledgement would only hide a regression.
      expect(acknowledgedIdsOf(stack.mesh.queues[q]), q).toEqual([]);
      expect(acknowledgedIdsOf(deadLetterQueueOf(q)), q).toEqual(['AwsSolutions-SQS3']);
      expect(Object.values(acknowledgementsOf(deadLetterQueueOf(q)))[0], q).toContain(`delivery queue ${q}`);
    }
    // Nothing above the queues acknowledges SQS3 for all of them.
    for (let c: IConstruct | undefined = stack; c; c = c.node.scope) {
      expect(acknowledgedIdsOf(c).filter((id) => id.startsWith('AwsSolutions-SQS3'))).toEqual([]);
    }
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
