import * as fs from 'node:fs';
import * as path from 'node:path';
import { App, CfnElement } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { SETTINGS, type StackSettings, stackSettings, synthesize } from '../../infra/aws/app';
import { REPO_ROOT } from '../../infra/aws/mesh-props';
import { TelemetryEventMeshStack } from '../../infra/aws/stack';
import { type FunctionName, functions, type QueueName, queues, streamConsumers, streams } from '../../infra/topology';
import { stubRepoRoot } from './stub-root';

// The stack in three variants, each synthesized once: the defaults (a topic of its own, no e-mail), an existing alarm
// topic with an e-mail subscription, and the alert e-mail path. Built against a stand-in repository root with bundling
// skipped, as in stack.test.ts: these tests check the template.
const stubRoot = stubRepoRoot('observability-test');

const IMPORTED_TOPIC = 'arn:aws:sns:eu-west-1:123456789012:ops-pager';
const ALARM_EMAIL = 'ops@example.com';
const ALERT_EMAIL = 'alerts@example.com';

/** A variant from context, as `cdk synth -c ...` would build it: the settings come from `stackSettings`. */
const variant = (context: Record<string, string>) => {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [], ...context } });
  const stack = new TelemetryEventMeshStack(app, 'TelemetryEventMesh', { repoRoot: stubRoot, ...stackSettings(app) });
  return { stack, template: Template.fromStack(stack) };
};
const base = variant({});
const imported = variant({ alarmTopicArn: IMPORTED_TOPIC, alarmEmail: ALARM_EMAIL });
const alerting = variant({ alertEmail: ALERT_EMAIL });

type Resource = { Type: string; Properties: Record<string, unknown> };
const resources = (template: Template, type: string) => template.findResources(type) as Record<string, Resource>;
/** One resource's properties; a missing one fails the test. */
const propertiesOf = (template: Template, type: string, id: string): Record<string, unknown> => {
  const r = resources(template, type)[id];
  if (!r) throw new Error(`no ${type} ${id}`);
  return r.Properties;
};
/** The logical id a `Fn::GetAtt` or `Ref` value points at. */
const targetOf = (value: unknown): string => {
  const v = value as { 'Fn::GetAtt'?: [string, string]; Ref?: string };
  const id = v['Fn::GetAtt']?.[0] ?? v.Ref;
  if (!id) throw new Error(`not a reference: ${JSON.stringify(value)}`);
  return id;
};
const logicalId = (stack: TelemetryEventMeshStack, c: IConstruct): string => {
  const el = CfnElement.isCfnElement(c) ? c : c.node.defaultChild;
  if (!el || !CfnElement.isCfnElement(el)) throw new Error(`no CloudFormation element for ${c.node.path}`);
  return stack.getLogicalId(el);
};

/** One metric line of a dashboard widget: `[namespace, name, dim, value, ..., {options}]`, tokens as `ref:<id>`. */
interface MetricLine {
  namespace: string;
  name: string;
  dims: Record<string, string>;
  options: { stat?: string; label?: string; expression?: string };
}
/** The dashboard body as JSON: its `Fn::Join` flattened, a Ref as `ref:<id>`, a GetAtt as `getatt:<id>.<attr>`. */
function dashboardOf(template: Template): { widgets: { type: string; properties: Record<string, unknown> }[] } {
  const dashboards = Object.values(resources(template, 'AWS::CloudWatch::Dashboard'));
  expect(dashboards).toHaveLength(1);
  const body = dashboards[0]?.Properties.DashboardBody as { 'Fn::Join': [string, unknown[]] };
  const text = body['Fn::Join'][1]
    .map((part) => {
      if (typeof part === 'string') return part;
      const p = part as { Ref?: string; 'Fn::GetAtt'?: [string, string] };
      if (p.Ref) return `ref:${p.Ref}`;
      if (p['Fn::GetAtt']) return `getatt:${p['Fn::GetAtt'].join('.')}`;
      throw new Error(`unexpected token in the dashboard body: ${JSON.stringify(part)}`);
    })
    .join('');
  return JSON.parse(text);
}
function metricLines(template: Template): MetricLine[] {
  return dashboardOf(template).widgets.flatMap((w) =>
    ((w.properties.metrics as unknown[][] | undefined) ?? []).map((m) => {
      const last = m[m.length - 1];
      const options = (typeof last === 'object' ? last : {}) as MetricLine['options'];
      const [namespace, name, ...rest] = m.filter((x) => typeof x === 'string') as string[];
      const dims: Record<string, string> = {};
      for (let i = 0; i + 1 < rest.length; i += 2) dims[rest[i] as string] = rest[i + 1] as string;
      return { namespace: namespace ?? '', name: name ?? '', dims, options };
    }),
  );
}
const linesOf = (lines: MetricLine[], namespace: string, name: string) =>
  lines.filter((l) => l.namespace === namespace && l.name === name);

describe('CloudWatch dashboard (from the topology)', () => {
  const { stack, template } = base;
  const lines = metricLines(template);
  const fnId = (n: FunctionName) => `ref:${logicalId(stack, stack.functions[n])}`;
  const functionNames = Object.keys(functions) as FunctionName[];

  it("graphs every stream consumer's IteratorAge, one line each", () => {
    const iteratorAge = linesOf(lines, 'AWS/Lambda', 'IteratorAge');
    expect(iteratorAge.map((l) => l.dims.FunctionName).sort()).toEqual(
      streamConsumers.map((c) => fnId(c.function)).sort(),
    );
    for (const l of iteratorAge) expect(l.options.stat).toBe('Maximum');
  });

  it.each(functionNames)('graphs %s: its errors, throttles and duration', (fn) => {
    for (const metric of ['Errors', 'Throttles', 'Duration'])
      expect(
        linesOf(lines, 'AWS/Lambda', metric).filter((l) => l.dims.FunctionName === fnId(fn)),
        `${fn} ${metric}`,
      ).not.toHaveLength(0);
  });

  it('graphs the depth of every errorSink queue and every dead-letter queue', () => {
    const visible = linesOf(lines, 'AWS/SQS', 'ApproximateNumberOfMessagesVisible').map((l) => l.dims.QueueName);
    const failureQueues = [
      ...(Object.keys(queues) as QueueName[])
        .filter((q) => queues[q].kind === 'errorSink')
        .map((q) => stack.mesh.queues[q]),
      ...Object.values(stack.mesh.deadLetterQueues),
    ];
    expect(failureQueues).toHaveLength(4);
    for (const q of failureQueues) expect(visible).toContain(`getatt:${logicalId(stack, q)}.QueueName`);
  });

  it('graphs every EMF metric the handlers emit, with the service dimension their functions run with', () => {
    // The names in the code: a new `addMetric` without a dashboard line fails here.
    const sources = ['functions', 'shared'].flatMap((dir) =>
      fs
        .readdirSync(path.join(REPO_ROOT, dir), { recursive: true, encoding: 'utf8' })
        .filter((f) => f.endsWith('.ts'))
        .map((f) => fs.readFileSync(path.join(REPO_ROOT, dir, f), 'utf8')),
    );
    const emitted = new Set(
      sources.flatMap((src) => [...src.matchAll(/addMetric\(\s*'([A-Za-z]+)'/g)].map((m) => m[1])),
    );
    for (const name of ['EventsAccepted', 'EventsRejected', 'EventsFailed', 'AcceptedToStoredMs', 'ReadingToAlertMs'])
      expect(emitted, name).toContain(name);
    const serviceNames = new Set(
      functionNames.map((n) => {
        const fn = propertiesOf(template, 'AWS::Lambda::Function', logicalId(stack, stack.functions[n]));
        return (fn.Environment as { Variables: Record<string, string> }).Variables.POWERTOOLS_SERVICE_NAME;
      }),
    );
    expect(serviceNames.size).toBeGreaterThan(0);
    for (const name of emitted) {
      const graphed = linesOf(lines, 'TelemetryEventMesh', name ?? '');
      expect(graphed, name).not.toHaveLength(0);
      for (const l of graphed) expect(serviceNames, name).toContain(l.dims.service);
    }
  });

  it.each(['AcceptedToStoredMs', 'ReadingToAlertMs'])('%s: p50 and p99', (name) => {
    expect(
      linesOf(lines, 'TelemetryEventMesh', name)
        .map((l) => l.options.stat)
        .sort(),
    ).toEqual(['p50', 'p99']);
  });

  it('graphs the API (requests, 4xx, 5xx, latency) and every stream (incoming records, write throttles)', () => {
    for (const name of ['Count', '4XXError', '5XXError', 'Latency'])
      expect(linesOf(lines, 'AWS/ApiGateway', name), name).not.toHaveLength(0);
    for (const name of ['IncomingRecords', 'WriteProvisionedThroughputExceeded'])
      expect(
        linesOf(lines, 'AWS/Kinesis', name).map((l) => l.dims.StreamName),
        name,
      ).toEqual(Object.values(stack.mesh.streams).map((s) => `ref:${logicalId(stack, s)}`));
    expect(Object.keys(streams)).toHaveLength(Object.keys(stack.mesh.streams).length);
  });

  it('shows the state of every alarm', () => {
    const status = dashboardOf(template).widgets.filter((w) => w.type === 'alarm');
    expect(status.map((w) => (w.properties.alarms as string[]).length)).toEqual([
      Object.keys(stack.mesh.alarms).length,
    ]);
  });

  it('has a DashboardUrl output naming the dashboard', () => {
    const [dashboardId] = Object.keys(resources(template, 'AWS::CloudWatch::Dashboard'));
    expect(JSON.stringify(template.findOutputs('DashboardUrl'))).toContain(JSON.stringify({ Ref: dashboardId }));
  });
});

describe('alarm notifications', () => {
  const alarmsOf = (template: Template) =>
    Object.values(resources(template, 'AWS::CloudWatch::Alarm')).map((a) => a.Properties);

  it('by default: one encrypted, TLS-only topic of the stack that CloudWatch may publish to; no e-mail', () => {
    const { template } = base;
    const topics = resources(template, 'AWS::SNS::Topic');
    expect(Object.keys(topics)).toHaveLength(1);
    const [topicId, topic] = Object.entries(topics)[0] as [string, Resource];
    const keyId = targetOf(topic.Properties.KmsMasterKeyId);
    // A customer key CloudWatch may use (the AWS-managed alias/aws/sns lets no service publish), rotated.
    const cloudWatchKeys = template.findResources('AWS::KMS::Key', {
      Properties: {
        EnableKeyRotation: true,
        KeyPolicy: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Principal: { Service: 'cloudwatch.amazonaws.com' },
              Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
            }),
          ]),
        },
      },
    });
    expect(Object.keys(cloudWatchKeys)).toEqual([keyId]);
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [{ Ref: topicId }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: 'sns:Publish',
            Condition: Match.objectLike({ StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } }),
          }),
        ]),
      },
    });
    const alarms = alarmsOf(template);
    expect(alarms.length).toBeGreaterThan(20);
    for (const a of alarms) {
      expect(a.AlarmActions, String(a.AlarmDescription)).toEqual([{ Ref: topicId }]);
      expect(a.OKActions, String(a.AlarmDescription)).toEqual([{ Ref: topicId }]);
    }
    template.resourceCountIs('AWS::SNS::Subscription', 0);
    template.resourceCountIs('AWS::Pipes::Pipe', 0);
  });

  it('-c alarmTopicArn: no topic is created, every alarm notifies that ARN; -c alarmEmail subscribes to it', () => {
    const { template } = imported;
    template.resourceCountIs('AWS::SNS::Topic', 0);
    for (const a of alarmsOf(template)) {
      expect(a.AlarmActions).toEqual([IMPORTED_TOPIC]);
      expect(a.OKActions).toEqual([IMPORTED_TOPIC]);
    }
    template.resourceCountIs('AWS::SNS::Subscription', 1);
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: ALARM_EMAIL,
      TopicArn: IMPORTED_TOPIC,
    });
    expect(template.findOutputs('AlarmTopicArn').AlarmTopicArn?.Value).toBe(IMPORTED_TOPIC);
  });
});

describe('alert e-mails (ADR 0015)', () => {
  const { stack, template } = alerting;
  const alertNotifications = stack.mesh.alertNotifications;
  if (!alertNotifications) throw new Error('alertEmail built no alert notifications');
  const topicId = logicalId(stack, alertNotifications.topic);
  const alertsQueueId = logicalId(stack, stack.mesh.queues.alerts);

  it('only with -c alertEmail', () => {
    expect(base.stack.mesh.alertNotifications).toBeUndefined();
    expect(imported.stack.mesh.alertNotifications).toBeUndefined();
    template.resourceCountIs('AWS::Pipes::Pipe', 1);
  });

  it('a pipe takes the alerts queue, one message at a time, to the alert topic, which mails the address', () => {
    template.hasResourceProperties('AWS::Pipes::Pipe', {
      Source: { 'Fn::GetAtt': [alertsQueueId, 'Arn'] },
      SourceParameters: { SqsQueueParameters: { BatchSize: 1 } },
      Target: { Ref: topicId },
      TargetParameters: { InputTemplate: Match.stringLikeRegexp('<\\$\\.body\\.alert\\.deviceId>') },
      LogConfiguration: { Level: 'ERROR', CloudwatchLogsLogDestination: Match.anyValue() },
    });
    template.resourceCountIs('AWS::SNS::Subscription', 1);
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: ALERT_EMAIL,
      TopicArn: { Ref: topicId },
    });
    // The alert topic is encrypted and TLS-only too.
    expect(resources(template, 'AWS::SNS::Topic')[topicId]?.Properties.KmsMasterKeyId).toBeDefined();
  });

  it("the pipe's role reads that queue and publishes to that topic, nothing else", () => {
    const pipe = Object.values(resources(template, 'AWS::Pipes::Pipe'))[0] as Resource;
    const roleId = targetOf(pipe.Properties.RoleArn);
    const statements = Object.values(resources(template, 'AWS::IAM::Policy'))
      .filter((p) => JSON.stringify(p.Properties.Roles).includes(roleId))
      .flatMap((p) => (p.Properties.PolicyDocument as { Statement: { Resource: unknown }[] }).Statement);
    const keyId = targetOf(propertiesOf(template, 'AWS::SNS::Topic', topicId).KmsMasterKeyId);
    const logsId = logicalId(stack, alertNotifications.node.findChild('PipeLogs'));
    const allowed = [alertsQueueId, topicId, keyId, logsId].map((id) => new RegExp(`"${id}"`));
    for (const s of statements)
      expect(
        allowed.some((re) => re.test(JSON.stringify(s.Resource))),
        JSON.stringify(s),
      ).toBe(true);
  });

  it("the path's failures are alarmed on the alarm topic: failed pipe executions, failed e-mail deliveries", () => {
    const [alarmTopicId] = Object.keys(resources(template, 'AWS::SNS::Topic')).filter((id) => id !== topicId);
    for (const [namespace, metric] of [
      ['AWS/EventBridge/Pipes', 'ExecutionFailed'],
      ['AWS/SNS', 'NumberOfNotificationsFailed'],
    ])
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: namespace,
        MetricName: metric,
        AlarmActions: [{ Ref: alarmTopicId }],
        OKActions: [{ Ref: alarmTopicId }],
      });
    expect(Object.keys(stack.mesh.alarms)).toHaveLength(Object.keys(base.stack.mesh.alarms).length + 2);
    const pipeLines = metricLines(template).filter((l) => l.namespace === 'AWS/EventBridge/Pipes');
    expect(pipeLines.map((l) => l.name)).toContain('ExecutionFailed');
  });
});

describe('context settings', () => {
  it('are read from the context; none given, none set', () => {
    expect(stackSettings(new App())).toEqual({});
    const app = new App({
      context: { alarmTopicArn: IMPORTED_TOPIC, alarmEmail: ALARM_EMAIL, alertEmail: ` ${ALERT_EMAIL} ` },
    });
    expect(stackSettings(app)).toEqual<StackSettings>({
      alarmTopicArn: IMPORTED_TOPIC,
      alarmEmail: ALARM_EMAIL,
      alertEmail: ALERT_EMAIL,
    });
  });

  it.each([
    ['alarmEmail', 'ops', /-c alarmEmail="ops": not an e-mail address/],
    ['alarmEmail', 'ops@example.com,dev@example.com', /-c alarmEmail=.*: not an e-mail address/],
    ['alertEmail', 'alerts@localhost', /-c alertEmail="alerts@localhost": not an e-mail address/],
    ['alarmTopicArn', 'arn:aws:sqs:eu-west-1:123456789012:ops', /-c alarmTopicArn=.*: not an SNS topic ARN/],
    ['alarmTopicArn', 'ops-pager', /-c alarmTopicArn="ops-pager": not an SNS topic ARN/],
    ['alarmTopicArn', 'arn:aws:sns:eu-west-1:1234:ops', /-c alarmTopicArn=.*: not an SNS topic ARN/],
  ])('a bad %s (%s) fails synth, naming the setting', (name, value, message) => {
    expect(() => synthesize({}, new App({ context: { [name]: value } }))).toThrow(message);
  });

  it('are typed as the props: booleans, a shard count, paths from where cdk runs', () => {
    const app = new App({
      context: {
        namePrefix: 'orders',
        stage: 'dev',
        iot: 'false',
        enhancedFanOut: 'true',
        streamCapacity: 'provisioned',
        shardCount: '4',
        alertRulesFile: 'examples/embed/alert-rules.json',
      },
    });
    expect(stackSettings(app)).toEqual<StackSettings>({
      namePrefix: 'orders',
      stage: 'dev',
      iot: false,
      enhancedFanOut: true,
      streamCapacity: 'provisioned',
      shardCount: 4,
      alertRulesFile: path.resolve('examples/embed/alert-rules.json'),
    });
  });

  it.each([
    ['iot', 'maybe', /-c iot="maybe": not true or false/],
    ['shardCount', 'four', /-c shardCount="four": not a whole number of shards/],
    ['stage', 'staging', /-c stage="staging": not dev or prod/],
    ['namePrefix', 'Orders', /-c namePrefix="Orders": not a lower-case letter/],
  ])('a bad %s (%s) fails synth, naming the setting', (name, value, message) => {
    expect(() => stackSettings(new App({ context: { [name]: value } }))).toThrow(message);
  });

  it('README.md documents every setting in one table', () => {
    const readme = fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
    const documented = [...readme.matchAll(/^\| `([A-Za-z]+)` +\|/gm)].map((m) => m[1]);
    for (const name of SETTINGS) expect(documented, name).toContain(name);
  });

  it("an alarm topic outside the stack's region fails synth", () => {
    expect(() =>
      synthesize({ CDK_DEFAULT_REGION: 'us-east-1' }, new App({ context: { alarmTopicArn: IMPORTED_TOPIC } })),
    ).toThrow(/alarmTopicArn=.*must be in the stack's region us-east-1/);
  });
});

describe('cdk-nag', () => {
  it.each([
    ['an imported alarm topic', imported],
    ['the alert e-mail path', alerting],
  ])('AwsSolutions: no unacknowledged finding with %s', (_what, { stack }) => {
    const report = new AwsSolutionsChecks(undefined, { verbose: false }).validateScope(stack);
    expect(
      report.violations.map(
        (v) => `${v.severity} ${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`,
      ),
    ).toEqual([]);
  });
});
