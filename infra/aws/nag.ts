import { type App, Stack, Validations } from 'aws-cdk-lib';
import type { CfnTable } from 'aws-cdk-lib/aws-dynamodb';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import type { ArchiveName, EndpointName, FunctionName, QueueName, TableName } from '../topology';
import type { DeployedArchive } from './archive';
import type { TelemetryEventMesh } from './telemetry-event-mesh';
import type { TemFunction } from './tem-function';

/**
 * Registers the AWS Solutions pack. cdk-nag 3 is a CDK policy-validation plugin: any unacknowledged finding (error or
 * warning) makes the pack's report fail, and a failed report fails `cdk synth`.
 */
export function addNagChecks(app: App): AwsSolutionsChecks {
  const checks = new AwsSolutionsChecks(app, { verbose: true });
  Validations.of(app).addPlugins(checks);
  return checks;
}

/**
 * A CloudFormation value as cdk-nag 3 spells it in a granular finding id (`Resource::<value>`): `Fn::Join` flattened,
 * `Ref` as `<Name>`, `Fn::GetAtt` as `<Id.Attr>`, so `arn:<AWS::Partition>:iot:<AWS::Region>:...` for a partition-
 * and region-agnostic ARN, and the literal ARN when the stack has a concrete environment.
 */
function nagSpelling(value: unknown): string {
  if (typeof value === 'string') return value.replace(/\$\{/g, '<').replace(/\}/g, '>');
  const v = value as { 'Fn::Join'?: [string, unknown[]]; Ref?: string; 'Fn::GetAtt'?: [string, string] };
  if (v['Fn::Join']) return v['Fn::Join'][1].map(nagSpelling).join(v['Fn::Join'][0]);
  if (v.Ref) return `<${v.Ref}>`;
  if (v['Fn::GetAtt']) return `<${v['Fn::GetAtt'][0]}.${v['Fn::GetAtt'][1]}>`;
  return JSON.stringify(value);
}

/** The routes public by design (`auth: 'none'` in the topology), and why each may be. */
export const PUBLIC_ROUTE_REASONS: Readonly<Record<string, string>> = {
  '/.well-known/jwks.json': 'public JWKS: the public keys verifiers need; holds no secret',
  '/openapi.json': "public OpenAPI document: the API's routes, permissions and schemas; holds no secret and no data",
};

/**
 * Every cdk-nag acknowledgement of a mesh, each on the narrowest construct it concerns and, for IAM5, on the exact
 * wildcard finding. Derived from the mesh's topology-built maps, so a new function/queue/table is covered by the same
 * reasoning, and nothing unforeseen is.
 */
export function acknowledgeNagFindings(mesh: TelemetryEventMesh): void {
  const t = mesh.topology;
  const stack = Stack.of(mesh);

  // SQS3 (no DLQ) is acknowledged only where the queue *is* the dead-letter / error destination. A `delivery` queue is
  // not: it has its own dead-letter queue (built by the stack), so the rule passes on it and needs no acknowledgement.
  for (const [name, queue] of Object.entries(mesh.queues) as [QueueName, Queue][]) {
    if (t.queues[name].kind !== 'errorSink') continue;
    Validations.of(queue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'These queues are the dead-letter / error destinations themselves (stream consumer on-failure, async invoke ' +
        'on-failure, rejected telemetry, IoT rule error action); a DLQ of a DLQ would only hide failures.',
    });
  }
  for (const [name, dlq] of Object.entries(mesh.deadLetterQueues) as [QueueName, Queue][]) {
    Validations.of(dlq).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        `The dead-letter queue of the delivery queue ${name} (maxReceiveCount ` +
        `${mesh.queues[name].deadLetterQueue?.maxReceiveCount}), alarmed on any visible message; a DLQ of a DLQ ` +
        'would only hide failures.',
    });
  }

  // Point-in-time recovery is the prod stage's; a dev mesh is deleted with its data by design (its stage).
  if (!mesh.stage.pointInTimeRecovery)
    for (const table of Object.values(mesh.tables))
      Validations.of(table).acknowledge({
        id: 'AwsSolutions-DDB3',
        reason:
          `Stage ${mesh.stage.stage}: a mesh to try things in, deleted with its data (removal policy Destroy); ` +
          'stage prod has point-in-time recovery on every table.',
      });

  for (const [name, fn] of Object.entries(mesh.functions) as [FunctionName, TemFunction][]) {
    Validations.of(fn).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'The project is pinned to Node.js 22 (nodejs22.x, esbuild target node22, local stack and CI on the same ' +
        'major); moving to a newer runtime is a deliberate upgrade, not a synth-time default.',
    });
    const role = fn.role;
    if (!role) throw new Error(`function ${name} has no role`);
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Active X-Ray tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level ' +
        'permissions, so CDK grants them on *. Every other statement of the role names a specific resource.',
    });
    // grantReadData/grantWriteData cover the table's GSIs through <table>/index/*; `describe` names the table only.
    const indexed = new Set(
      t.functions[name].bindings
        .filter((b) => b.access !== 'describe')
        .map((b) => b.resource)
        .filter((r): r is TableName => r in t.tables)
        .filter((r) => t.tables[r].globalIndexes.length > 0),
    );
    // An archive's `read`: s3:GetObject on its objects, which only a wildcard under its data prefix can name.
    for (const b of t.functions[name].bindings) {
      if (!(b.resource in t.archives) || (b.access !== 'read' && b.access !== 'readWrite')) continue;
      const { bucket, layout, spec } = mesh.archives[b.resource as ArchiveName];
      Validations.of(role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${nagSpelling(stack.resolve(bucket.arnForObjects(`${layout.fixed}*`)))}]`,
        reason:
          `${name} reads the ${b.resource} archive: s3:GetObject only, on the objects under its data prefix ` +
          `${layout.fixed} (${spec.prefix}), whose keys Firehose makes; not its error records.`,
      });
    }
    for (const tableName of indexed) {
      const cfnTable = mesh.tables[tableName].node.defaultChild as CfnTable;
      const logicalId = Stack.of(cfnTable).getLogicalId(cfnTable);
      Validations.of(role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${logicalId}.Arn>/index/*]`,
        reason: `${name} is bound to ${tableName}; its global secondary indexes (${t.tables[tableName].globalIndexes
          .map((i) => i.name)
          .join(', ')}) are addressed only as ${tableName}/index/*, scoped to that one table.`,
      });
    }
  }

  // Endpoint `write` grants name a wildcard resource by nature, acknowledged per function on the exact ARN, so a
  // broader one stays a finding. iot:Publish is granted per topic pattern of the topology, and a pattern with `*` (one
  // topic per device) is a wildcard; execute-api:ManageConnections names every connection of the one stage.
  for (const [name, fn] of Object.entries(mesh.functions) as [FunctionName, TemFunction][]) {
    for (const b of t.functions[name].bindings) {
      if (!(b.resource in t.endpoints) || (b.access !== 'write' && b.access !== 'readWrite')) continue;
      const endpoint = mesh.endpoints[b.resource as EndpointName];
      if (endpoint.service === 'ws-management') {
        const { webSocket } = endpoint;
        Validations.of(fn.role as IConstruct).acknowledge({
          id: `AwsSolutions-IAM5[Resource::${nagSpelling(stack.resolve(webSocket.connectionsArn))}]`,
          reason:
            `${name} delivers to WebSocket clients through ${b.resource}: execute-api:ManageConnections only, on the ` +
            `connections of this one API's stage ${webSocket.stage.stageName}. Connection ids are made by API Gateway ` +
            'at $connect, so they can only be named by *; the method * covers exactly PostToConnection (POST), ' +
            'GetConnection (GET) and DeleteConnection (DELETE).',
        });
        continue;
      }
      for (const [i, topic] of endpoint.spec.publishTopics.entries()) {
        if (!topic.includes('*')) continue;
        const arn = nagSpelling(stack.resolve(endpoint.publishTopicArns[i]));
        Validations.of(fn.role as IConstruct).acknowledge({
          id: `AwsSolutions-IAM5[Resource::${arn}]`,
          reason:
            `${name} may publish (iot:Publish only, no subscribe/receive) to the MQTT topic pattern ${topic} that ` +
            `the topology declares for ${b.resource}: one topic per device, the * standing for the device id.`,
        });
      }
    }
  }

  // The raw archives: S1 (no server access logs) on each archive's bucket, so another bucket stays a finding; and
  // IAM5 for the delivery role's object permissions, which can only name Firehose's keys (the hour, a random suffix)
  // by prefix: the data prefix and the error prefix, each up to its first expression, acknowledged on the exact ARN so
  // a broader one (the whole bucket) stays a finding.
  for (const [name, archive] of Object.entries(mesh.archives) as [ArchiveName, DeployedArchive][]) {
    const { spec, bucket, deliveryStream } = archive;
    Validations.of(bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        `No server access logs for the ${name} bucket: only its delivery stream's role writes it, and it is read by ` +
        'IAM principals through Athena, whose requests CloudTrail records (S3 data events, an account-level trail ' +
        'decision like the web ACL). A log bucket per mesh would also put two meshes in one stack (examples/embed) ' +
        "over CloudFormation's 500 resources.",
    });
    for (const prefix of deliveryStream.prefixes)
      Validations.of(deliveryStream.role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${nagSpelling(stack.resolve(bucket.arnForObjects(`${prefix}*`)))}]`,
        reason:
          `The ${name} delivery stream writes its objects under ${prefix} (prefix ${spec.prefix}, error prefix ` +
          `${spec.errorPrefix}), with keys Firehose makes (the hour, the stream name, a random suffix) that only a ` +
          'wildcard can name. The actions are the ones the Firehose guide lists for an S3 destination; none deletes.',
      });
  }

  // The deploy-time endpoint lookups: one SDK call each, made by CDK's singleton AwsCustomResource provider.
  for (const [name, endpoint] of Object.entries(mesh.endpoints)) {
    if (endpoint.service !== 'iot-data') continue;
    Validations.of(endpoint.lookup.node.findChild('CustomResourcePolicy')).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        `Looks up ${name} at deploy time with iot:DescribeEndpoint, which supports no resource-level permissions ` +
        '(the IAM service authorization reference lists no resource type for it), so it can only be granted on *. ' +
        'The policy holds that one read-only action.',
    });
  }

  const api = mesh.api;
  // Per method, not on the API: the reason differs between authorized and public routes.
  for (const route of t.routes) {
    const method = mesh.methods[`${route.method} ${route.path}`];
    if (!method) throw new Error(`route ${route.method} ${route.path} has no method`);
    if (route.auth === 'none') {
      // Only these are known to be public by design: another public route stays unacknowledged (and fails synth)
      // until someone writes down why it may be.
      const reason = PUBLIC_ROUTE_REASONS[route.path];
      if (!reason) continue;
      Validations.of(method).acknowledge({ id: 'AwsSolutions-APIG4', reason }, { id: 'AwsSolutions-COG4', reason });
    } else {
      Validations.of(method).acknowledge({
        id: 'AwsSolutions-COG4',
        reason:
          'Callers are services and devices identified by an API key or a JWT, not Cognito users: the method uses ' +
          'the Lambda REQUEST authorizer, which maps the credential to a principal and returns an IAM policy for the ' +
          'routes it may call.',
      });
    }
  }
  Validations.of(api).acknowledge({
    id: 'AwsSolutions-APIG2',
    reason:
      'A request validator checks the declared request parameters; bodies are validated by the handlers with the ' +
      'shared event schema (also used by the local stack), which rejects with the per-event reason an API Gateway ' +
      'model could not give.',
  });
  Validations.of(api.deploymentStage).acknowledge({
    id: 'AwsSolutions-APIG3',
    reason:
      'No WAF web ACL yet: callers of every route but the public ones (JWKS, OpenAPI) must present a credential accepted by the ' +
      'REQUEST authorizer (which caches its decisions per credential), and API Gateway stage throttling applies. ' +
      'A web ACL is an account-level cost/ops decision outside this stack.',
  });
  // API Gateway runs a WebSocket API's authorizer on `$connect` only, and refuses one on any other route: the other
  // routes' messages travel on a connection the authorizer accepted (with the permission the topology requires).
  // Acknowledged per route other than $connect, so a $connect without its authorizer stays a finding.
  const ws = mesh.webSocket;
  for (const [key, route] of Object.entries(ws.routes)) {
    if (key === '$connect') continue;
    Validations.of(route).acknowledge({
      id: 'AwsSolutions-APIG4',
      reason:
        `WebSocket route ${key}: API Gateway allows an authorizer on $connect only; every ${key} belongs to a ` +
        `connection that $connect's REQUEST authorizer (${t.webSocket.authorizer}) accepted with the permission ` +
        `${t.webSocket.permission}.`,
    });
  }

  const cloudWatchRole = api.node.tryFindChild('CloudWatchRole');
  if (cloudWatchRole) {
    Validations.of(cloudWatchRole).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
      reason:
        'The account-level role API Gateway uses for execution logging (required by APIG6); the AWS-managed policy ' +
        'is the documented one for it and API Gateway, not our code, writes with it.',
    });
  }
}
