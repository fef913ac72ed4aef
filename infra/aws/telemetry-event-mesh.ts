import { Stack, Token } from 'aws-cdk-lib';
import type * as apigw from 'aws-cdk-lib/aws-apigateway';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as iot from 'aws-cdk-lib/aws-iot';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import {
  type ArchiveName,
  assertValidTopology,
  topology as defaultTopology,
  type EndpointName,
  type FunctionName,
  type KeyName,
  type QueueName,
  type StreamName,
  type TableName,
  type Topology,
} from '../topology';
import type { AlertNotifications } from './alert-notifications';
import { type DeployedArchive, MeshArchives } from './archive';
import { buildContext } from './build-context';
import { MeshDeviceGateway } from './device-gateway';
import { MeshStreams } from './event-stream';
import { MeshHttpApi } from './http-api';
import { groupsOnly } from './logical-ids';
import { MeshFunctions } from './mesh-functions';
import { MeshNames } from './mesh-names';
import { addMeshOutputs } from './mesh-outputs';
import {
  deployedTopology,
  type MeshSettings,
  meshSettings,
  REPO_ROOT,
  type TelemetryEventMeshProps,
} from './mesh-props';
import { acknowledgeNagFindings } from './nag';
import { MeshObservability } from './observability';
import { type DeployedEndpoint, MeshEndpoints } from './service-endpoints';
import { type StageSettings, stageSettings } from './stage';
import { MeshStorage } from './storage';
import type { TemFunction } from './tem-function';
import { buildUsagePlans, type RoleUsagePlan } from './usage-plans';
import { TemWebSocketApi } from './websocket-api';

/**
 * The whole AWS target as one construct, derived from the topology (nothing here names a function, route, table or
 * queue): put it into any stack, as often as there are name prefixes. It is made of parts with one concern each:
 * storage (tables, queues, keys), the raw archives (S3 through Firehose, for Athena), the stream and its consumers,
 * the service endpoints, the functions, the HTTP API, the WebSocket API, the device gateway (IoT) and observability
 * (alarms, alert e-mails, dashboard). cdk-nag's acknowledgements come with it (`addNagChecks` on the app runs the
 * checks).
 */
export class TelemetryEventMesh extends Construct {
  /** The topology as deployed (`deployedTopology`: this mesh's stream capacity, read modes, IoT). */
  readonly topology: Topology;
  readonly settings: MeshSettings;
  readonly names: MeshNames;
  readonly stage: StageSettings;

  readonly storage: MeshStorage;
  /** The raw archives and their Glue database. */
  readonly archiving: MeshArchives;
  readonly eventStream: MeshStreams;
  readonly http: MeshHttpApi;
  /** Only with `iot` on. */
  readonly devices?: MeshDeviceGateway;
  readonly observability: MeshObservability;

  readonly streams: Record<StreamName, kinesis.Stream>;
  readonly tables: Record<TableName, dynamodb.Table>;
  readonly queues: Record<QueueName, sqs.Queue>;
  /** The dead-letter queue of every `delivery` queue (none for an errorSink queue), keyed by the delivery queue. */
  readonly deadLetterQueues: Partial<Record<QueueName, sqs.Queue>>;
  readonly keys: Record<KeyName, kms.Key>;
  /** Per raw archive: its bucket, delivery stream and Glue table (ADR 0018). */
  readonly archives: Record<ArchiveName, DeployedArchive>;
  readonly endpoints: Record<EndpointName, DeployedEndpoint>;
  readonly functions: Record<FunctionName, TemFunction>;
  /** The registered enhanced fan-out consumers, keyed `<stream>:<function>` (`consumerKey`); none for polling. */
  readonly streamConsumers: Record<string, kinesis.StreamConsumer>;
  readonly api: apigw.RestApi;
  readonly authorizer: apigw.RequestAuthorizer;
  /** Every API method, keyed `METHOD /path` as in the topology's routes. */
  readonly methods: Record<string, apigw.Method>;
  /** Per role: its usage plan (throttle and quota from the roles file) and its shared usage key (ADR 0013). */
  readonly usagePlans: Record<string, RoleUsagePlan>;
  /** The real-time WebSocket API (`topology.webSocket`, ADR 0014). */
  readonly webSocket: TemWebSocketApi;
  readonly iotAuthorizer?: iot.CfnAuthorizer;
  /** Keyed by the topology's rule name; none without IoT. */
  readonly topicRules: Record<string, iot.CfnTopicRule>;
  readonly topicRuleRoles: Record<string, iam.Role>;
  /** Every alarm, keyed `<kind>:<queue or function name>`; each notifies `alarmTopic` of ALARM and OK. */
  readonly alarms: Record<string, cloudwatch.Alarm>;
  readonly alarmTopic: sns.ITopic;
  readonly alertNotifications?: AlertNotifications;
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: TelemetryEventMeshProps = {}) {
    super(scope, id);
    groupsOnly(this);
    const declared = props.topology ?? defaultTopology;
    assertValidTopology(declared);
    const stack = Stack.of(this);
    const settings = meshSettings(props, declared, Token.isUnresolved(stack.region) ? undefined : stack.region);
    const t = deployedTopology(declared, settings);
    this.topology = t;
    this.settings = settings;
    this.names = new MeshNames(settings.namePrefix, declared.service, stack.stackName);
    this.stage = stageSettings(settings.stage);
    const { names, stage } = this;
    const part = <T extends Construct>(c: T): T => groupsOnly(c);

    this.storage = part(new MeshStorage(this, 'Storage', { topology: t, stage }));
    this.archiving = part(
      new MeshArchives(this, 'Archives', { topology: t, stage, databaseName: names.glueDatabase() }),
    );
    this.archives = this.archiving.archives;
    this.eventStream = part(
      new MeshStreams(this, 'Streams', { topology: t, stage, consumerName: (f) => names.inStack(f) }),
    );
    this.tables = this.storage.tables;
    this.queues = this.storage.queues;
    this.deadLetterQueues = this.storage.deadLetterQueues;
    this.keys = this.storage.keys;
    this.streams = this.eventStream.streams;

    // The WebSocket API and its stage come before the functions: their management endpoint is the stage's URL. Its
    // routes come once the functions exist (below), so no resource references one that references it back.
    this.webSocket = new TemWebSocketApi(this, 'WebSocket', {
      spec: t.webSocket,
      apiName: names.dashed('ws'),
      logRetention: stage.logRetention,
      logRemovalPolicy: stage.removalPolicy,
    });
    this.endpoints = part(
      new MeshEndpoints(this, 'Endpoints', { topology: t, stage, webSocket: this.webSocket }),
    ).endpoints;

    const repoRoot = props.repoRoot ?? REPO_ROOT;
    this.functions = part(
      new MeshFunctions(this, 'Functions', {
        topology: t,
        resources: { ...this.storage, streams: this.streams, endpoints: this.endpoints, archives: this.archives },
        repoRoot: settings.policyFiles ? buildContext(repoRoot, settings.policyFiles) : repoRoot,
        stage,
        serviceName: names.service,
      }),
    ).functions;
    this.eventStream.addConsumers(this.functions, this.queues);
    this.streamConsumers = this.eventStream.streamConsumers;
    this.webSocket.addRoutes(this.functions);

    this.http = part(
      new MeshHttpApi(this, 'HttpApi', {
        topology: t,
        functions: this.functions,
        apiName: names.dashed('api'),
        stage,
      }),
    );
    this.api = this.http.api;
    this.authorizer = this.http.authorizer;
    this.methods = this.http.methods;
    // Beside the API, not in it: API Gateway refuses a second association of a key with its plan, so the ids CDK
    // derives from the keys' paths must not change (in the app's stack they are those of the stack before the split).
    this.usagePlans = buildUsagePlans(this, this.api, settings.roles, names.prefix);
    // The WebSocket stage logs (access and errors): API Gateway refuses it until the account's CloudWatch Logs role
    // is set (AWS::ApiGateway::Account).
    this.webSocket.loggingNeeds(this.http.accountLogging);

    if (settings.iot) {
      this.devices = part(
        new MeshDeviceGateway(this, 'DeviceGateway', {
          topology: t,
          names,
          functions: this.functions,
          streams: this.streams,
          queues: this.queues,
        }),
      );
      this.iotAuthorizer = this.devices.authorizer;
    }
    this.topicRules = this.devices?.topicRules ?? {};
    this.topicRuleRoles = this.devices?.topicRuleRoles ?? {};

    this.observability = part(
      new MeshObservability(this, 'Observability', {
        topology: t,
        names,
        stage,
        alarmTopicArn: settings.alarmTopicArn,
        alarmEmail: settings.alarmEmail,
        alertEmail: settings.alertEmail,
        iot: settings.iot,
        api: this.api,
        webSocket: this.webSocket,
        functions: this.functions,
        streams: this.streams,
        streamConsumers: this.streamConsumers,
        queues: this.queues,
        deadLetterQueues: this.deadLetterQueues,
        archives: this.archives,
        topicRules: Object.keys(this.topicRules).map((r) => names.topicRule(r)),
      }),
    );
    this.alarms = this.observability.alarms;
    this.alarmTopic = this.observability.alarmTopic;
    this.alertNotifications = this.observability.alertNotifications;
    this.dashboard = this.observability.dashboard;

    addMeshOutputs(this);
    acknowledgeNagFindings(this);
  }
}
