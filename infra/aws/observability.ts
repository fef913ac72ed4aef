import type * as apigw from 'aws-cdk-lib/aws-apigateway';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { ArchiveName, FunctionName, QueueName, StreamName, Topology } from '../topology';
import { alarmTopic, buildAlarms } from './alarms';
import { AlertNotifications } from './alert-notifications';
import type { DeployedArchive } from './archive';
import { buildDashboard } from './dashboard';
import type { MeshNames } from './mesh-names';
import type { StageSettings } from './stage';
import type { TemFunction } from './tem-function';
import type { TemWebSocketApi } from './websocket-api';

export interface MeshObservabilityProps {
  topology: Topology;
  names: MeshNames;
  stage: StageSettings;
  alarmTopicArn?: string;
  alarmEmail?: string;
  alertEmail?: string;
  iot: boolean;
  api: apigw.RestApi;
  webSocket: TemWebSocketApi;
  functions: Record<FunctionName, TemFunction>;
  streams: Record<StreamName, kinesis.Stream>;
  streamConsumers: Record<string, kinesis.StreamConsumer>;
  queues: Record<QueueName, sqs.Queue>;
  deadLetterQueues: Partial<Record<QueueName, sqs.Queue>>;
  archives: Record<ArchiveName, DeployedArchive>;
  /** The topic rules' physical names. */
  topicRules: readonly string[];
}

/**
 * Every failure path ends somewhere visible (issue 5): the alarms and the topic they notify, the alert e-mail path
 * (with `alertEmail`, ADR 0015) and the dashboard.
 */
export class MeshObservability extends Construct {
  /** Every alarm, keyed `<kind>:<queue or function name>`; each notifies `alarmTopic` of ALARM and OK. */
  readonly alarms: Record<string, cloudwatch.Alarm>;
  /** The mesh's own topic, or the one `alarmTopicArn` names. */
  readonly alarmTopic: sns.ITopic;
  /** The alert e-mail path (pipe and topic), only with `alertEmail`. */
  readonly alertNotifications?: AlertNotifications;
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: MeshObservabilityProps) {
    super(scope, id);
    const { topology: t, names, stage } = props;
    this.alarmTopic = alarmTopic(this, {
      alarmTopicArn: props.alarmTopicArn,
      alarmEmail: props.alarmEmail,
      displayName: names.display('alarms'),
    });
    this.alarms = buildAlarms(
      this,
      t,
      {
        queues: props.queues,
        deadLetterQueues: props.deadLetterQueues,
        functions: props.functions,
        api: props.api,
        archives: props.archives,
      },
      this.alarmTopic,
      { thresholds: stage.alarms, metricName: (n) => names.metric(n) },
    );
    if (props.alertEmail) {
      // The queue the alert messages go to (ADR 0007), marked in the topology (validateTopology: at most one; the
      // props check: one): the pipe becomes its reader.
      const [queueName] = (Object.keys(t.queues) as QueueName[]).filter((q) => t.queues[q].alertMessages);
      if (!queueName) throw new Error('alertEmail needs a queue marked alertMessages');
      this.alertNotifications = new AlertNotifications(this, 'AlertNotifications', {
        queue: props.queues[queueName],
        queueName,
        email: props.alertEmail,
        alarmTopic: this.alarmTopic,
        alarmScope: this,
        pipeName: names.inStack('alert-email'),
        topicDisplayName: names.display('alerts'),
        logRetention: stage.logRetention,
        logRemovalPolicy: stage.removalPolicy,
      });
      Object.assign(this.alarms, this.alertNotifications.alarms);
    }
    this.dashboard = buildDashboard(this, 'Dashboard', {
      topology: t,
      api: props.api,
      webSocket: props.webSocket,
      functions: props.functions,
      streams: props.streams,
      streamConsumers: props.streamConsumers,
      queues: props.queues,
      deadLetterQueues: props.deadLetterQueues,
      topicRules: props.topicRules,
      iot: props.iot,
      metricName: (n) => names.metric(n),
      alarms: Object.values(this.alarms),
      alarmTopic: this.alarmTopic,
      alertNotifications: this.alertNotifications,
    });
  }
}
