import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ArnFormat, CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as iot from 'aws-cdk-lib/aws-iot';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as cr from 'aws-cdk-lib/custom-resources';
import type { Construct } from 'constructs';
import { roles as defaultRoles, type RolesDocument } from '../../shared/domain/roles';
import {
  type Access,
  assertValidTopology,
  DELIVERY_MAX_RECEIVE_COUNT,
  deadLetterName,
  topology as defaultTopology,
  type EndpointName,
  type EndpointSpec,
  type FunctionName,
  type KeyName,
  type QueueName,
  type ResourceBinding,
  ruleExpressionSql,
  type StreamName,
  type TableName,
  type Topology,
  topicRuleSql,
} from '../topology';
import { acknowledgeNagFindings } from './nag';
import { buildQueueConsumers } from './queue-consumers';
import { buildSchedules } from './schedules';
import { buildStreamConsumers } from './stream-consumers';
import { TemFunction } from './tem-function';
import { buildUsagePlans, type RoleUsagePlan } from './usage-plans';
import { TemWebSocketApi } from './websocket-api';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface TelemetryEventMeshStackProps extends StackProps {
  /** Defaults to `infra/topology.ts`; tests pass a variant to check that a bad one fails synth. */
  topology?: Topology;
  /** Where `entry` paths and package-lock.json are resolved; defaults to this repository. */
  repoRoot?: string;
  /** The roles whose limits become usage plans; defaults to `policies/roles.json`. */
  roles?: RolesDocument['roles'];
}

const pascal = (name: string): string => name.charAt(0).toUpperCase() + name.slice(1);

/**
 * API Gateway stage throttling for every method (seed: rate limiting), a ceiling against floods before the authorizer
 * and the functions are invoked at all. Steady requests per second and the bucket size for bursts above it; both stay
 * under the account's regional default (10 000 rps / 5 000 burst) so one stack cannot starve the account's other APIs.
 */
export const API_THROTTLING_RATE_LIMIT = 1000;
export const API_THROTTLING_BURST_LIMIT = 2000;

/**
 * A message of a `delivery` queue received this many times without being deleted (its consumer failed on it each
 * time) moves to the queue's own dead-letter queue, which is alarmed like an errorSink queue.
 */

/** A dead-letter queue keeps its messages the SQS maximum, so an operator has time to look and redrive. */
export const DEAD_LETTER_RETENTION_DAYS = 14;

/** The logical name of a delivery queue's dead-letter queue (from the topology): its output key and alarm name. */
export { deadLetterName };

/** A stream consumer falling this far behind (IteratorAge, ms) is alarmed: events reach their tables late. */
export const ITERATOR_AGE_ALARM_MS = 60_000;
/** A retried queue (the rule error redrive) still holding a message this long: the cause has lasted minutes. */
export const QUEUE_AGE_ALARM_SECONDS = 120;

/**
 * What a `describe` binding (health checks: the resource's status, never its data) grants, per kind of resource: one
 * metadata action on that one resource. An endpoint has no status to read: it grants nothing.
 */
const DESCRIBE_ACTIONS = {
  stream: 'kinesis:DescribeStreamSummary',
  table: 'dynamodb:DescribeTable',
  queue: 'sqs:GetQueueAttributes',
  key: 'kms:DescribeKey',
} as const;

/** The kind of alarm and what it watches, for the operator (and the tests). */
export type AlarmKind = 'queueBacklog' | 'iteratorAge' | 'functionErrors' | 'errorLogLines' | 'serverErrors';

/** Namespace of the metrics this stack's log metric filters publish (the functions' EMF metrics use it too). */
export const METRIC_NAMESPACE = 'TelemetryEventMesh';

/** What API Gateway's Lambda authorizer contract has a function throw to answer 401 (`errorsAreAnswers`). */
export const THROWN_REFUSAL_MESSAGE = 'Unauthorized';

/** The IoT data plane: the host name looked up at deploy time and the URL a function's env var carries. */
export interface DeployedIotDataEndpoint {
  /** `spec.service`, here too so that it narrows the endpoint itself. */
  service: 'iot-data';
  spec: Extract<EndpointSpec, { service: 'iot-data' }>;
  /** The custom resource that looks the address up (`iot:DescribeEndpoint`). */
  lookup: cr.AwsCustomResource;
  address: string;
  url: string;
  /** `arn:<partition>:iot:<region>:<account>:topic/<pattern>` per `spec.publishTopics` entry, in the same order. */
  publishTopicArns: string[];
}

/** The WebSocket API's management API: its stage's callback URL, known at synth time (no lookup). */
export interface DeployedWsManagementEndpoint {
  service: 'ws-management';
  spec: Extract<EndpointSpec, { service: 'ws-management' }>;
  /** `https://<api id>.execute-api.<region>.<url suffix>/<stage>`. */
  url: string;
  /** The API whose connections `write` may manage. */
  webSocket: TemWebSocketApi;
}

/** A deployed service endpoint, by service (`spec.service`). */
export type DeployedEndpoint = DeployedIotDataEndpoint | DeployedWsManagementEndpoint;

/** Builds one construct per entry of a topology record, keeping the record's keys. */
function build<K extends string, S, R>(specs: Readonly<Record<K, S>>, make: (name: K, spec: S) => R): Record<K, R> {
  const out = {} as Record<K, R>;
  for (const [name, spec] of Object.entries(specs) as [K, S][]) out[name] = make(name, spec);
  return out;
}

/** The whole AWS target, derived from the topology: nothing here names a function, route, table or queue. */
export class TelemetryEventMeshStack extends Stack {
  readonly topology: Topology;
  readonly streams: Record<StreamName, kinesis.Stream>;
  readonly tables: Record<TableName, dynamodb.Table>;
  readonly queues: Record<QueueName, sqs.Queue>;
  /** The dead-letter queue of every `delivery` queue (none for an errorSink queue), keyed by the delivery queue. */
  readonly deadLetterQueues: Partial<Record<QueueName, sqs.Queue>>;
  readonly keys: Record<KeyName, kms.Key>;
  readonly endpoints: Record<EndpointName, DeployedEndpoint>;
  readonly functions: Record<FunctionName, TemFunction>;
  /** The registered enhanced fan-out consumers, keyed `<stream>:<function>` (`consumerKey`); none for polling. */
  readonly streamConsumers: Record<string, kinesis.StreamConsumer>;
  readonly api: apigw.RestApi;
  readonly authorizer: apigw.RequestAuthorizer;
  /** The real-time WebSocket API (`topology.webSocket`, ADR 0014). */
  readonly webSocket: TemWebSocketApi;
  /** Per role: its usage plan (throttle and quota from roles.json) and its shared usage key (ADR 0013). */
  readonly usagePlans: Record<string, RoleUsagePlan>;
  /** Every API method, keyed `METHOD /path` as in the topology's routes. */
  readonly methods: Record<string, apigw.Method>;
  readonly iotAuthorizer: iot.CfnAuthorizer;
  readonly topicRules: Record<string, iot.CfnTopicRule>;
  readonly topicRuleRoles: Record<string, iam.Role>;
  /** Every alarm, keyed `<kind>:<queue or function name>`. */
  readonly alarms: Record<string, cloudwatch.Alarm>;

  constructor(scope: Construct, id: string, props: TelemetryEventMeshStackProps = {}) {
    super(scope, id, props);
    const t = props.topology ?? defaultTopology;
    assertValidTopology(t);
    const failureDestinations = new Set<QueueName>([
      ...t.streamConsumers.map((c) => c.onFailure),
      ...Object.values(t.topicRules).map((r) => r.errorQueue),
    ]);
    // Only `errorSink` queues are alarmed: a failure landing in a `delivery` queue would go unnoticed, unless the
    // queue's own consumer retries it (its dead-letter queue and its message age are alarmed).
    const retried = new Set(t.queueConsumers.map((c) => c.queue));
    const unalarmedFailure = [...failureDestinations].filter(
      (q) => t.queues[q].kind !== 'errorSink' && !retried.has(q),
    );
    if (unalarmedFailure.length > 0)
      throw new Error(
        `failure destinations must be alarmed errorSink queues (or consumed by a queue consumer): ${unalarmedFailure.join(', ')}`,
      );
    // A delivery queue's dead-letter queue takes `<name>DeadLetter` as its output key: no topology name may take it too.
    const resourceNames = new Set<string>([t.streams, t.tables, t.queues, t.keys, t.endpoints].flatMap(Object.keys));
    const takenDeadLetterNames = (Object.keys(t.queues) as QueueName[])
      .filter((q) => t.queues[q].kind === 'delivery')
      .map(deadLetterName)
      .filter((n) => resourceNames.has(n));
    if (takenDeadLetterNames.length > 0)
      throw new Error(`dead-letter queue names already used by the topology: ${takenDeadLetterNames.join(', ')}`);
    this.topology = t;
    const repoRoot = props.repoRoot ?? REPO_ROOT;

    this.streams = build(t.streams, (name, spec) => {
      return new kinesis.Stream(this, pascal(name), {
        ...(spec.capacity === 'onDemand'
          ? { streamMode: kinesis.StreamMode.ON_DEMAND }
          : { streamMode: kinesis.StreamMode.PROVISIONED, shardCount: spec.shardCount }),
        retentionPeriod: Duration.hours(spec.retentionHours),
        // The AWS-managed key: encrypted at rest without a customer key to rotate and grant (cdk-nag KDS3).
        encryption: kinesis.StreamEncryption.MANAGED,
      });
    });

    this.tables = build(t.tables, (name, spec) => {
      const table = new dynamodb.Table(this, pascal(name), {
        partitionKey: { name: spec.partitionKey, type: dynamodb.AttributeType.STRING },
        sortKey: spec.sortKey ? { name: spec.sortKey, type: dynamodb.AttributeType.STRING } : undefined,
        billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
        encryption: dynamodb.TableEncryption.AWS_MANAGED,
        pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
        timeToLiveAttribute: spec.ttlAttribute,
        // Events and principals outlive a stack: deleting the stack must not delete the data.
        removalPolicy: RemovalPolicy.RETAIN,
      });
      for (const gsi of spec.globalIndexes) {
        table.addGlobalSecondaryIndex({
          indexName: gsi.name,
          partitionKey: { name: gsi.partitionKey, type: dynamodb.AttributeType.STRING },
          sortKey: { name: gsi.sortKey, type: dynamodb.AttributeType.STRING },
          projectionType: dynamodb.ProjectionType.ALL,
        });
      }
      return table;
    });

    // A delivery queue gets a dead-letter queue of its own: a message its consumers keep failing on is parked there
    // (and alarmed) instead of being retried until retention drops it. errorSink queues are the end of the line.
    this.deadLetterQueues = {};
    this.queues = build(t.queues, (name, spec) => {
      let deadLetterQueue: sqs.DeadLetterQueue | undefined;
      if (spec.kind === 'delivery') {
        const dlq = new sqs.Queue(this, pascal(deadLetterName(name)), {
          encryption: sqs.QueueEncryption.SQS_MANAGED,
          enforceSSL: true,
          retentionPeriod: Duration.days(DEAD_LETTER_RETENTION_DAYS),
        });
        this.deadLetterQueues[name] = dlq;
        deadLetterQueue = { queue: dlq, maxReceiveCount: spec.maxReceiveCount ?? DELIVERY_MAX_RECEIVE_COUNT };
      }
      return new sqs.Queue(this, pascal(name), {
        encryption: sqs.QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        retentionPeriod: Duration.days(spec.retentionDays),
        visibilityTimeout: Duration.seconds(spec.visibilityTimeoutSeconds),
        deadLetterQueue,
      });
    });

    this.keys = build(t.keys, (name, spec) => {
      return new kms.Key(this, pascal(name), {
        keySpec: kms.KeySpec[spec.spec],
        keyUsage: kms.KeyUsage.SIGN_VERIFY,
        description: spec.purpose,
        // Tokens signed with it stay verifiable only while the key exists; deleting the stack must not delete it.
        // Asymmetric KMS keys cannot rotate automatically (rotation applies to symmetric keys only).
        removalPolicy: RemovalPolicy.RETAIN,
      });
    });

    // The WebSocket API and its stage come before the functions: their management endpoint is the stage's URL. Its
    // routes come once the functions exist (below), so no resource references one that references it back.
    this.webSocket = new TemWebSocketApi(this, 'WebSocket', { spec: t.webSocket, service: t.service });

    // The IoT data plane's endpoint is per account and region: looked up at deploy time by one SDK call each, made by
    // CDK's singleton AwsCustomResource provider function (shared by every lookup in the stack). The WebSocket
    // management API's is this stack's own stage URL.
    let lookupLogs: logs.LogGroup | undefined;
    let lookupRole: iam.Role | undefined;
    this.endpoints = build(t.endpoints, (name, spec): DeployedEndpoint => {
      switch (spec.service) {
        case 'ws-management': {
          // One WebSocket API per stack: a second management endpoint would have no API of its own.
          if (name !== t.webSocket.managementEndpoint)
            throw new Error(
              `endpoint ${name}: the WebSocket API's management endpoint is ${t.webSocket.managementEndpoint}`,
            );
          return { service: spec.service, spec, url: this.webSocket.callbackUrl, webSocket: this.webSocket };
        }
        case 'iot-data': {
          lookupLogs ??= new logs.LogGroup(this, 'EndpointLookupLogs', { retention: logs.RetentionDays.ONE_MONTH });
          if (!lookupRole) {
            // Our own role instead of CDK's default (AWSLambdaBasicExecutionRole: logs on every group in the
            // account): it may write to its log group and, through each lookup's policy, make exactly the calls
            // declared below.
            lookupRole = new iam.Role(this, 'EndpointLookupRole', {
              assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
              description: 'Execution role of the deploy-time endpoint lookups (AwsCustomResource provider)',
            });
            lookupLogs.grantWrite(lookupRole);
          }
          // The ATS endpoint (Amazon Trust Services certificates); the legacy VeriSign one is not to be used.
          const call: cr.AwsSdkCall = {
            // SDK v3 names (the provider runs the Lambda runtime's SDK v3); IAM action iot:DescribeEndpoint.
            service: '@aws-sdk/client-iot',
            action: 'DescribeEndpoint',
            parameters: { endpointType: 'iot:Data-ATS' },
            physicalResourceId: cr.PhysicalResourceId.of(`${name}-iot-Data-ATS`),
            outputPaths: ['endpointAddress'],
          };
          const lookup = new cr.AwsCustomResource(this, `${pascal(name)}Lookup`, {
            onCreate: call,
            onUpdate: call,
            policy: cr.AwsCustomResourcePolicy.fromSdkCalls({ resources: cr.AwsCustomResourcePolicy.ANY_RESOURCE }),
            role: lookupRole,
            logGroup: lookupLogs,
            // The SDK in the Lambda runtime has DescribeEndpoint: no npm install at deploy time (no network needed).
            installLatestAwsSdk: false,
          });
          const address = lookup.getResponseField('endpointAddress');
          const publishTopicArns = spec.publishTopics.map((topic) =>
            this.formatArn({
              service: 'iot',
              resource: 'topic',
              resourceName: topic,
              arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
            }),
          );
          return { service: spec.service, spec, lookup, address, url: `https://${address}`, publishTopicArns };
        }
      }
    });

    // Names are unique per kind only (the `alerts` function writes the `alerts` queue). Stateful resources keep their
    // plain construct ids, which must never change (a new id replaces the table or queue); a function whose name is
    // taken by one gets a `Function` suffix instead: replacing a function loses nothing.
    const stateful = new Set<string>([
      ...[t.streams, t.tables, t.queues, t.keys, t.endpoints].flatMap(Object.keys),
      ...(Object.keys(this.deadLetterQueues) as QueueName[]).map(deadLetterName),
    ]);
    this.functions = build(t.functions, (name, spec) => {
      const fn = new TemFunction(this, stateful.has(name) ? `${pascal(name)}Function` : pascal(name), {
        spec,
        repoRoot,
        environment: Object.fromEntries(spec.bindings.map((b) => [b.env, this.physicalName(b)])),
      });
      for (const binding of spec.bindings) this.grant(fn, binding);
      return fn;
    });

    this.streamConsumers = buildStreamConsumers(this, t.streamConsumers, {
      streams: this.streams,
      functions: this.functions,
      queues: this.queues,
    });
    buildQueueConsumers(t.queueConsumers, { functions: this.functions, queues: this.queues });
    buildSchedules(this, t.schedules, this.functions);
    this.webSocket.addRoutes(this.functions);

    const http = this.buildApi(t);
    this.api = http.api;
    this.authorizer = http.authorizer;
    this.methods = http.methods;
    // The WebSocket stage logs (access and errors): API Gateway refuses it until the account's CloudWatch Logs role
    // is set, which the REST API's `cloudWatchRole` does (AWS::ApiGateway::Account).
    const apiGatewayAccount = this.api.node.tryFindChild('Account');
    if (!apiGatewayAccount)
      throw new Error("the WebSocket stage's logging needs the REST API's account CloudWatch role");
    this.webSocket.loggingNeeds(apiGatewayAccount);
    this.usagePlans = buildUsagePlans(this, this.api, props.roles ?? defaultRoles, t.service);

    this.alarms = this.buildAlarms(t);

    this.topicRules = {};
    this.topicRuleRoles = {};
    for (const [name, rule] of Object.entries(t.topicRules)) {
      // As aws-solutions-constructs' aws-iot-kinesisstreams: the rule puts each message on the stream itself, so no
      // function runs per message; devices may publish through Basic Ingest ($aws/rules/<name>/...) at no messaging
      // charge. One role, allowed to put on that stream and to send to the error queue, nothing else.
      const stream = this.streams[rule.action.kinesis.stream];
      const errorQueue = this.queues[rule.errorQueue];
      const role = new iam.Role(this, `TopicRule${pascal(name)}Role`, {
        assumedBy: new iam.ServicePrincipal('iot.amazonaws.com', {
          conditions: { StringEquals: { 'aws:SourceAccount': this.account } },
        }),
        description: `Lets IoT rule ${name} put messages on its stream and park failed ones in its error queue`,
      });
      role.addToPolicy(new iam.PolicyStatement({ actions: ['kinesis:PutRecord'], resources: [stream.streamArn] }));
      errorQueue.grantSendMessages(role);
      const cfnRule = new iot.CfnTopicRule(this, `TopicRule${pascal(name)}`, {
        ruleName: name,
        topicRulePayload: {
          sql: topicRuleSql(rule),
          awsIotSqlVersion: '2016-03-23',
          ruleDisabled: false,
          actions: [
            {
              kinesis: {
                streamName: stream.streamName,
                partitionKey: `\${${ruleExpressionSql(rule.action.kinesis.partitionKey)}}`,
                roleArn: role.roleArn,
              },
            },
          ],
          errorAction: { sqs: { queueUrl: errorQueue.queueUrl, roleArn: role.roleArn, useBase64: false } },
        },
      });
      this.topicRules[name] = cfnRule;
      this.topicRuleRoles[name] = role;
    }

    // IoT Core custom authorizer for MQTT CONNECT. A device selects it by name in the MQTT username,
    // `<deviceId>?x-amz-customauthorizer-name=<name>` (e.g. `dev-1?x-amz-customauthorizer-name=TemDeviceAuthorizer`),
    // and sends its device token as the MQTT password. Signing is disabled: devices present no signed token.
    const iotAuthFn = this.functions[t.iotAuthorizer.function];
    this.iotAuthorizer = new iot.CfnAuthorizer(this, 'IotCustomAuthorizer', {
      authorizerName: t.iotAuthorizer.name,
      authorizerFunctionArn: iotAuthFn.functionArn,
      signingDisabled: true,
      status: 'ACTIVE',
      enableCachingForHttp: false,
    });
    // Only this authorizer, in this account, may invoke the function.
    iotAuthFn.addPermission('AllowIotDeviceAuthorizer', {
      principal: new iam.ServicePrincipal('iot.amazonaws.com'),
      action: 'lambda:InvokeFunction',
      sourceArn: this.iotAuthorizer.attrArn,
      sourceAccount: this.account,
    });

    // The operator CLI finds a deployed stack's resources by these output keys.
    new CfnOutput(this, 'HttpApiUrl', { value: this.api.url, description: 'Base URL of the HTTP API (stage v1)' });
    // Where `tem keys create` puts a principal's own usage key (ADR 0013).
    new CfnOutput(this, 'RestApiId', { value: this.api.restApiId, description: 'REST API id (usage plans)' });
    new CfnOutput(this, 'RestApiStage', { value: this.api.deploymentStage.stageName, description: 'its stage' });
    new CfnOutput(this, 'WebSocketUrl', {
      value: this.webSocket.url,
      description: `wss:// URL of the WebSocket API (stage ${t.webSocket.stage})`,
    });
    for (const [name, stream] of Object.entries(this.streams)) {
      new CfnOutput(this, name, { value: stream.streamName, description: name });
    }
    for (const [name, table] of Object.entries(this.tables)) {
      new CfnOutput(this, name, { value: table.tableName, description: name });
    }
    for (const [name, queue] of Object.entries(this.queues)) {
      new CfnOutput(this, name, { value: queue.queueUrl, description: name });
    }
    for (const [name, dlq] of Object.entries(this.deadLetterQueues) as [QueueName, sqs.Queue][]) {
      new CfnOutput(this, deadLetterName(name), {
        value: dlq.queueUrl,
        description: `${deadLetterName(name)}: dead-letter queue of ${name}`,
      });
    }
    for (const [name, key] of Object.entries(this.keys)) {
      new CfnOutput(this, name, { value: key.keyArn, description: name });
    }
    for (const [name, endpoint] of Object.entries(this.endpoints)) {
      new CfnOutput(this, name, { value: endpoint.url, description: name });
    }
    for (const [name, rule] of Object.entries(this.topicRules)) {
      new CfnOutput(this, `IotTopicRule${name}`, { value: rule.ref, description: `IoT topic rule ${name}` });
    }
    new CfnOutput(this, 'IotDeviceAuthorizer', {
      value: this.iotAuthorizer.ref,
      description: 'IoT custom authorizer devices name in their MQTT username',
    });

    acknowledgeNagFindings(this);
  }

  private buildApi(t: Topology): {
    api: apigw.RestApi;
    authorizer: apigw.RequestAuthorizer;
    methods: Record<string, apigw.Method>;
  } {
    const accessLogs = new logs.LogGroup(this, 'ApiAccessLogs', { retention: logs.RetentionDays.ONE_MONTH });
    const api = new apigw.RestApi(this, 'Api', {
      restApiName: `${t.service}-api`,
      description: 'TelemetryEventMesh HTTP ingestion and query API',
      // Execution logging (cdk-nag APIG6) needs the account-level API Gateway CloudWatch role; without it the stage
      // deployment fails in an account that never set one. CDK retains the role when the stack is deleted.
      cloudWatchRole: true,
      // Usage plans meter the key the authorizer returns as usageIdentifierKey, never a caller's header (ADR 0013).
      apiKeySourceType: apigw.ApiKeySourceType.AUTHORIZER,
      deployOptions: {
        stageName: 'v1',
        accessLogDestination: new apigw.LogGroupLogDestination(accessLogs),
        accessLogFormat: apigw.AccessLogFormat.jsonWithStandardFields(),
        loggingLevel: apigw.MethodLoggingLevel.INFO,
        // Request/response bodies would put event payloads and API keys into the logs.
        dataTraceEnabled: false,
        metricsEnabled: true,
        tracingEnabled: true,
        throttlingRateLimit: API_THROTTLING_RATE_LIMIT,
        throttlingBurstLimit: API_THROTTLING_BURST_LIMIT,
      },
    });

    // API Gateway calls the authorizer only when *every* identity source is present, and caches only when some are
    // declared. Callers send an API key or a bearer token, so the topology declares none and turns API Gateway's
    // cache off (CDK accepts no identity source only with a TTL of 0); the function caches decisions itself.
    const authorizer = new apigw.RequestAuthorizer(this, 'HttpAuthorizer', {
      handler: this.functions[t.authorizer.function],
      identitySources: t.authorizer.identitySources.map((h) => apigw.IdentitySource.header(h)),
      resultsCacheTtl: Duration.seconds(t.authorizer.resultTtlSeconds),
    });
    if (t.authorizer.identitySources.length === 0) {
      // CDK would render IdentitySource: ''; leave the optional property out instead.
      (authorizer.node.defaultChild as apigw.CfnAuthorizer).identitySource = undefined;
    }

    // Only path parameters are declared: a missing API key must reach the authorizer (401), not the validator (400).
    const validator = api.addRequestValidator('ParameterValidator', {
      requestValidatorName: 'parameters',
      validateRequestParameters: true,
      validateRequestBody: false,
    });

    const methods: Record<string, apigw.Method> = {};
    for (const route of t.routes) {
      const resource = api.root.resourceForPath(route.path);
      const pathParams = [...route.path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      const integration = new apigw.LambdaIntegration(this.functions[route.function], { proxy: true });
      methods[`${route.method} ${route.path}`] = resource.addMethod(route.method, integration, {
        // `auth: 'none'` marks the few public routes (the JWKS); every other route goes through the authorizer.
        // Authorized routes need a usage key (from the authorizer): each request counts against its usage plan.
        ...(route.auth === 'none'
          ? { authorizationType: apigw.AuthorizationType.NONE }
          : { authorizer, authorizationType: apigw.AuthorizationType.CUSTOM, apiKeyRequired: true }),
        requestValidator: validator,
        requestParameters: Object.fromEntries(pathParams.map((p) => [`method.request.path.${p}`, true])),
      });
    }

    const json = (message: string) => ({ 'application/json': JSON.stringify({ message }) });
    api.addGatewayResponse('Unauthorized', {
      type: apigw.ResponseType.UNAUTHORIZED,
      statusCode: '401',
      templates: json('Unauthorized'),
    });
    api.addGatewayResponse('AccessDenied', {
      type: apigw.ResponseType.ACCESS_DENIED,
      statusCode: '403',
      templates: json('Forbidden'),
    });
    // API Gateway answers an unknown route with 403 "Missing Authentication Token"; the contract says 404.
    api.addGatewayResponse('NotFound', {
      type: apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN,
      statusCode: '404',
      templates: json('Not Found'),
    });
    api.addGatewayResponse('Default5xx', {
      type: apigw.ResponseType.DEFAULT_5XX,
      templates: json('Internal server error'),
    });
    // An authorizer that cannot decide (principals table down, timeout) is a 503 to retry, not a 500: the answer of
    // AUTHORIZER_UNAVAILABLE in shared/domain/decision-cache.ts, which the local gateway gives too.
    for (const type of [apigw.ResponseType.AUTHORIZER_CONFIGURATION_ERROR, apigw.ResponseType.AUTHORIZER_FAILURE])
      api.addGatewayResponse(`AuthorizerUnavailable${type.responseType}`, {
        type,
        statusCode: '503',
        responseHeaders: { 'Retry-After': "'5'" },
        templates: json('Service Unavailable'),
      });

    return { api, authorizer, methods };
  }

  /**
   * Every failure path ends somewhere visible (issue 5): an alarm per error queue with a message in it, per stream
   * consumer falling behind, per function erroring, and one on the API's 5xx answers. The alarms have no actions:
   * whether they page, mail or open a ticket is the operator's choice (add an SNS topic action per account), not this
   * stack's.
   */
  private buildAlarms(t: Topology): Record<string, cloudwatch.Alarm> {
    const alarms: Record<string, cloudwatch.Alarm> = {};
    const period = Duration.minutes(5);
    const add = (kind: AlarmKind, name: string, props: Omit<cloudwatch.AlarmProps, 'evaluationPeriods'>) => {
      alarms[`${kind}:${name}`] = new cloudwatch.Alarm(this, `${pascal(name)}${pascal(kind)}Alarm`, {
        evaluationPeriods: 1,
        datapointsToAlarm: 1,
        // No data means no messages, no records to read, no invocations: nothing is wrong.
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        ...props,
      });
    };
    // Error sinks only: a message in one needs a person. A delivery queue's backlog is normal output, not an incident.
    for (const [name, queue] of Object.entries(this.queues) as [QueueName, sqs.Queue][]) {
      if (t.queues[name].kind !== 'errorSink') continue;
      add('queueBacklog', name, {
        alarmDescription: `${name} holds failed messages (${t.queues[name].purpose}): look, fix, replay`,
        metric: queue.metricApproximateNumberOfMessagesVisible({ period, statistic: cloudwatch.Stats.MAXIMUM }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      });
    }
    // A delivery queue's dead-letter queue is an error sink too: its consumers failed on a message repeatedly.
    for (const [name, dlq] of Object.entries(this.deadLetterQueues) as [QueueName, sqs.Queue][]) {
      add('queueBacklog', deadLetterName(name), {
        alarmDescription:
          `${deadLetterName(name)} holds ${name} messages its consumers failed on ` +
          `${t.queues[name].maxReceiveCount ?? DELIVERY_MAX_RECEIVE_COUNT} ` +
          `times (${t.queues[name].purpose}): look, fix, redrive`,
        metric: dlq.metricApproximateNumberOfMessagesVisible({ period, statistic: cloudwatch.Stats.MAXIMUM }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      });
    }
    // A queue whose consumer retries failures (the rule error redrive): messages that stay are an outage going on.
    for (const c of t.queueConsumers) {
      add('queueBacklog', c.queue, {
        alarmDescription: `${c.function} has not cleared ${c.queue} for ${QUEUE_AGE_ALARM_SECONDS} s: ${t.queues[c.queue].purpose}`,
        metric: this.queues[c.queue].metricApproximateAgeOfOldestMessage({
          period,
          statistic: cloudwatch.Stats.MAXIMUM,
        }),
        threshold: QUEUE_AGE_ALARM_SECONDS,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      });
    }
    for (const c of t.streamConsumers) {
      add('iteratorAge', c.function, {
        alarmDescription: `${c.function} is more than ${ITERATOR_AGE_ALARM_MS} ms behind ${c.stream}`,
        metric: this.functions[c.function].metric('IteratorAge', { period, statistic: cloudwatch.Stats.MAXIMUM }),
        threshold: ITERATOR_AGE_ALARM_MS,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      });
    }
    for (const [name, fn] of Object.entries(this.functions) as [FunctionName, TemFunction][]) {
      if (t.functions[name].errorsAreAnswers) {
        // Its Errors metric counts the refusals it must throw (every bad credential from the internet): an alarm on it
        // would be noise hiding real failures. Its JSON log lines at ERROR are watched instead: Powertools' own
        // (refusals are logged at INFO) and the runtime's `Invoke Error` line for a thrown error (an unhandled one
        // included), less the one each refusal writes (`message.errorMessage` = the refusal). A timeout or an
        // out-of-memory kill writes no ERROR line; like any authorizer crash, API Gateway answers it with a 500, which
        // the stage's 5XXError alarm below covers.
        const filter = new logs.MetricFilter(this, `${pascal(name)}ErrorLogLinesFilter`, {
          logGroup: fn.logGroup,
          filterPattern: logs.FilterPattern.all(
            logs.FilterPattern.stringValue('$.level', '=', 'ERROR'),
            logs.FilterPattern.any(
              logs.FilterPattern.notExists('$.message.errorMessage'),
              logs.FilterPattern.stringValue('$.message.errorMessage', '!=', THROWN_REFUSAL_MESSAGE),
            ),
          ),
          metricNamespace: METRIC_NAMESPACE,
          metricName: `${pascal(name)}ErrorLogLines`,
          metricValue: '1',
        });
        add('errorLogLines', name, {
          alarmDescription: `${name} logged errors (its thrown ${THROWN_REFUSAL_MESSAGE} answers are not counted)`,
          metric: filter.metric({ period, statistic: cloudwatch.Stats.SUM }),
          threshold: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        });
        continue;
      }
      add('functionErrors', name, {
        alarmDescription: `${name} returned or threw errors`,
        metric: fn.metricErrors({ period, statistic: cloudwatch.Stats.SUM }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      });
    }
    // API Gateway answers an authorizer crash (a throw other than the refusal, a timeout) or an integration failure
    // with a 5xx: the honest signal for what the error-log filter above cannot see.
    add('serverErrors', 'api', {
      alarmDescription: `${this.api.restApiName} stage ${this.api.deploymentStage.stageName} answered with 5xx errors`,
      metric: this.api.deploymentStage.metricServerError({ period, statistic: cloudwatch.Stats.SUM }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
    return alarms;
  }

  private resource(name: ResourceBinding['resource']) {
    if (name in this.streams) return { kind: 'stream', stream: this.streams[name as StreamName] } as const;
    if (name in this.tables) return { kind: 'table', table: this.tables[name as TableName] } as const;
    if (name in this.queues) return { kind: 'queue', queue: this.queues[name as QueueName] } as const;
    if (name in this.keys) return { kind: 'key', key: this.keys[name as KeyName] } as const;
    if (name in this.endpoints) return { kind: 'endpoint', endpoint: this.endpoints[name as EndpointName] } as const;
    throw new Error(`topology binds unknown resource ${name}`);
  }

  /**
   * What a binding's env var carries: the name (stream, table), URL (queue, endpoint) or ARN (key) the SDK call needs.
   */
  private physicalName(binding: ResourceBinding): string {
    const r = this.resource(binding.resource);
    switch (r.kind) {
      case 'stream':
        return r.stream.streamName;
      case 'table':
        return r.table.tableName;
      case 'queue':
        return r.queue.queueUrl;
      case 'key':
        return r.key.keyArn;
      case 'endpoint':
        return r.endpoint.url;
    }
  }

  private grant(fn: TemFunction, binding: ResourceBinding): void {
    const r = this.resource(binding.resource);
    if (binding.access === 'describe') {
      this.grantDescribe(fn, r);
      return;
    }
    // `describe` is handled above and implies neither: only read, write and readWrite reach here.
    const access: Exclude<Access, 'describe'> = binding.access;
    const can = (level: 'read' | 'write') => access === level || access === 'readWrite';
    switch (r.kind) {
      case 'stream':
        if (can('read')) r.stream.grantRead(fn);
        if (can('write')) r.stream.grantWrite(fn);
        break;
      case 'table':
        if (can('read')) r.table.grantReadData(fn);
        if (can('write')) r.table.grantWriteData(fn);
        break;
      case 'queue':
        if (can('read')) r.queue.grantConsumeMessages(fn);
        if (can('write')) r.queue.grantSendMessages(fn);
        break;
      case 'key':
        // A signing key: `read` fetches the public key (verifiers, JWKS); signing also needs it (the issuer publishes
        // the key id). Nothing broader: the key never encrypts or decrypts.
        if (can('write')) r.key.grant(fn, 'kms:Sign', 'kms:GetPublicKey');
        else r.key.grant(fn, 'kms:GetPublicKey');
        break;
      case 'endpoint': {
        // Nothing to `read` at either endpoint (retained messages and shadows are out of scope; a connection's status
        // is part of managing it), so `read` grants nothing.
        if (!can('write')) break;
        const endpoint = r.endpoint;
        switch (endpoint.service) {
          case 'iot-data':
            // `write` publishes to the declared topics and nothing else.
            fn.addToRolePolicy(
              new iam.PolicyStatement({ actions: ['iot:Publish'], resources: endpoint.publishTopicArns }),
            );
            break;
          case 'ws-management':
            // `write` posts to, reads and closes this API stage's connections, none of another API or stage.
            endpoint.webSocket.grantManageConnections(fn);
            break;
        }
        break;
      }
    }
  }

  /**
   * The resource's status and nothing else: exactly one metadata action on that one resource, never its data (no
   * GetRecords, GetItem, Query, ReceiveMessage, Sign...) and, for a table, not its indexes.
   */
  private grantDescribe(fn: TemFunction, r: ReturnType<TelemetryEventMeshStack['resource']>): void {
    const target = (() => {
      switch (r.kind) {
        case 'stream':
          return { action: DESCRIBE_ACTIONS.stream, arn: r.stream.streamArn };
        case 'table':
          return { action: DESCRIBE_ACTIONS.table, arn: r.table.tableArn };
        case 'queue':
          return { action: DESCRIBE_ACTIONS.queue, arn: r.queue.queueArn };
        case 'key':
          return { action: DESCRIBE_ACTIONS.key, arn: r.key.keyArn };
        case 'endpoint':
          // The endpoint's address is all there is to know about it, and the env var already carries it.
          return undefined;
      }
    })();
    if (target) fn.addToRolePolicy(new iam.PolicyStatement({ actions: [target.action], resources: [target.arn] }));
  }
}
