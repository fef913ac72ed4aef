import { Duration, type RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as pipes from 'aws-cdk-lib/aws-pipes';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { type AlarmKind, alarmId, alarmKey, notifyingAlarm } from './alarms';
import { NotificationTopic, subscribeEmail } from './topics';

/**
 * The e-mail a raised or resolved alert becomes (ADR 0015). The queue message body is the alert message JSON
 * (`{"type","alert":{...}}`), which the pipe parses, so its fields can be named; the whole body follows for the rest
 * (a resolve's time and value).
 */
export const ALERT_EMAIL_TEMPLATE = [
  '<$.body.type> <$.body.alert.severity>: device <$.body.alert.deviceId>, rule <$.body.alert.ruleId>',
  '<$.body.alert.metric> = <$.body.alert.value> (<$.body.alert.comparison> <$.body.alert.threshold>), raised at <$.body.alert.raisedAt>',
  'alert id <$.body.alert.alertId>, reading <$.body.alert.eventId>',
  '',
  '<$.body>',
].join('\n');

/** EventBridge Pipes accepts names of 1..64 characters from this set. */
const PIPE_NAME = /^[.\-_A-Za-z0-9]{1,64}$/;

export interface AlertNotificationsProps {
  /** The `alerts` delivery queue: from now on read by the pipe (ADR 0015). */
  queue: sqs.IQueue;
  queueName: string;
  /** Who is mailed each alert. */
  email: string;
  /** Where the path's own failures are alarmed. */
  alarmTopic: sns.ITopic;
  /** Where those alarms are made: beside the mesh's other alarms (their construct ids never change). */
  alarmScope: Construct;
  /** The pipe's name (`<stack>-alert-email`, with the mesh's prefix) and the topic's display name. */
  pipeName: string;
  topicDisplayName: string;
  logRetention: logs.RetentionDays;
  logRemovalPolicy: RemovalPolicy;
}

/**
 * Alerts by e-mail without a function (ADR 0015): an EventBridge Pipe takes each message of the alerts queue and
 * publishes it to an SNS topic, which mails it. The topic is the fan-out point: other alert consumers subscribe to it
 * (SQS, HTTPS, Lambda) instead of reading the queue, which the pipe now drains. A message the pipe fails to publish
 * stays in the queue, is retried after the visibility timeout and, after maxReceiveCount receives, lands in the
 * queue's dead-letter queue (alarmed); failed executions and failed e-mail deliveries are alarmed here too.
 */
export class AlertNotifications extends Construct {
  readonly topic: sns.Topic;
  readonly pipe: pipes.CfnPipe;
  readonly pipeName: string;
  readonly alarms: Record<string, cloudwatch.Alarm> = {};

  constructor(scope: Construct, id: string, props: AlertNotificationsProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const notificationTopic = new NotificationTopic(this, 'Topic', {
      displayName: props.topicDisplayName,
      purpose: `raised and resolved device alerts from the ${props.queueName} queue`,
    });
    this.topic = notificationTopic.topic;
    subscribeEmail(this.topic, props.email);

    const role = new iam.Role(this, 'PipeRole', {
      assumedBy: new iam.ServicePrincipal('pipes.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
      description: `Lets the alert e-mail pipe read ${props.queueName}, publish to its topic and write its error log`,
    });
    props.queue.grantConsumeMessages(role);
    notificationTopic.allowRolePublisher(role);
    // ERROR only, without execution data: why an execution failed, not the alerts themselves.
    const logGroup = new logs.LogGroup(this, 'PipeLogs', {
      retention: props.logRetention,
      removalPolicy: props.logRemovalPolicy,
    });
    logGroup.grantWrite(role);

    this.pipeName = props.pipeName;
    if (!Token.isUnresolved(this.pipeName) && !PIPE_NAME.test(this.pipeName))
      throw new Error(
        `pipe name ${this.pipeName} is not 1..64 characters of [A-Za-z0-9._-] (shorten the stack name or namePrefix)`,
      );
    this.pipe = new pipes.CfnPipe(this, 'Pipe', {
      name: this.pipeName,
      description: `Alerts from ${props.queueName} to the alert e-mail topic (ADR 0015)`,
      roleArn: role.roleArn,
      source: props.queue.queueArn,
      // One message per execution: a failed publish retries that alert alone, never re-mails a batch's others.
      sourceParameters: { sqsQueueParameters: { batchSize: 1 } },
      target: this.topic.topicArn,
      targetParameters: { inputTemplate: ALERT_EMAIL_TEMPLATE },
      logConfiguration: { level: 'ERROR', cloudwatchLogsLogDestination: { logGroupArn: logGroup.logGroupArn } },
    });
    // The pipe validates its role on creation: the policy must exist first.
    this.pipe.node.addDependency(role);

    const period = Duration.minutes(5);
    const kind: AlarmKind = 'alertEmailFailures';
    const add = (name: string, alarmProps: Omit<cloudwatch.AlarmProps, 'evaluationPeriods'>) => {
      this.alarms[alarmKey(kind, name)] = notifyingAlarm(
        props.alarmScope,
        alarmId(kind, name),
        props.alarmTopic,
        alarmProps,
      );
    };
    add('alertEmailPipe', {
      alarmDescription: `The alert e-mail pipe failed to publish ${props.queueName} messages (retried; see its log group)`,
      metric: this.metricPipe('ExecutionFailed', { period, statistic: cloudwatch.Stats.SUM }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
    add('alertEmailTopic', {
      alarmDescription: 'SNS failed to deliver alert e-mails (a bouncing or refusing address)',
      metric: this.topic.metricNumberOfNotificationsFailed({ period, statistic: cloudwatch.Stats.SUM }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
  }

  /** A metric of the pipe (`AWS/EventBridge/Pipes`, dimension PipeName). */
  metricPipe(metricName: string, options: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: 'AWS/EventBridge/Pipes',
      metricName,
      dimensionsMap: { PipeName: this.pipeName },
      ...options,
    });
  }
}
