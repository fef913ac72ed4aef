import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import type * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import {
  type ArchiveName,
  type ArchiveSpec,
  DELIVERY_MAX_RECEIVE_COUNT,
  deadLetterName,
  type FunctionName,
  type QueueName,
  type Topology,
} from '../topology';
import type { DeployedArchive } from './archive';
import { pascal } from './build';
import { type AlarmThresholds, PROD_ALARM_THRESHOLDS } from './stage';
import type { TemFunction } from './tem-function';
import { NotificationTopic, subscribeEmail } from './topics';

/** A stream consumer falling this far behind (IteratorAge, ms) is alarmed in prod: events reach their tables late. */
export const ITERATOR_AGE_ALARM_MS = PROD_ALARM_THRESHOLDS.iteratorAgeMs;
/** A retried queue (the rule error redrive) still holding a message this long in prod: the cause has lasted minutes. */
export const QUEUE_AGE_ALARM_SECONDS = PROD_ALARM_THRESHOLDS.queueAgeSeconds;

/** Namespace of the metrics this stack's log metric filters publish (the functions' EMF metrics use it too). */
export const METRIC_NAMESPACE = 'TelemetryEventMesh';

/** What API Gateway's Lambda authorizer contract has a function throw to answer 401 (`errorsAreAnswers`). */
export const THROWN_REFUSAL_MESSAGE = 'Unauthorized';

/** The kind of alarm and what it watches, for the operator (and the tests). */
export type AlarmKind =
  | 'queueBacklog'
  | 'iteratorAge'
  | 'functionErrors'
  | 'errorLogLines'
  | 'serverErrors'
  | 'alertEmailFailures'
  | 'deliveryFreshness'
  | 'deliveryFailures';

/**
 * An archive's oldest undelivered record this old (DeliveryToS3.DataFreshness, seconds) is a delivery failing, not
 * one buffering: AWS advises alarming past 15 minutes (Firehose's longest buffer), and at least twice the archive's
 * own buffer interval, which a healthy delivery stays within.
 */
export const archiveFreshnessAlarmSeconds = (spec: ArchiveSpec): number =>
  Math.max(15 * 60, 2 * spec.bufferIntervalSeconds);

/**
 * The log metric filter's metric for a function whose Errors count its answers (`errorsAreAnswers`), before the
 * mesh's prefix (`MeshNames.metric`).
 */
export const errorLogLinesMetricName = (fn: FunctionName): string => `${pascal(fn)}ErrorLogLines`;

/** Where the alarms notify: an existing topic (`alarmTopicArn`) or a topic of the mesh; `alarmEmail`. */
export interface AlarmNotificationSettings {
  alarmTopicArn?: string;
  alarmEmail?: string;
  /** The created topic's display name. */
  displayName: string;
}

/**
 * The topic every alarm sends its ALARM and OK transitions to. An existing one is imported as is (its policy and key
 * must already let CloudWatch publish, see docs/runbooks/alarms.md); otherwise the stack creates one that does.
 */
export function alarmTopic(scope: Construct, settings: AlarmNotificationSettings): sns.ITopic {
  const stack = Stack.of(scope);
  let topic: sns.ITopic;
  if (settings.alarmTopicArn) {
    topic = sns.Topic.fromTopicArn(scope, 'AlarmTopic', settings.alarmTopicArn);
  } else {
    const created = new NotificationTopic(scope, 'AlarmTopic', {
      displayName: settings.displayName,
      purpose: 'ALARM and OK transitions of the stack alarms',
    });
    created.allowServicePublisher(
      'cloudwatch.amazonaws.com',
      stack.formatArn({
        service: 'cloudwatch',
        resource: 'alarm',
        resourceName: '*',
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      }),
      stack.account,
    );
    topic = created.topic;
  }
  if (settings.alarmEmail) subscribeEmail(topic, settings.alarmEmail);
  return topic;
}

/**
 * A stack alarm: one 5-minute datapoint, missing data = not breaching, and both transitions to the topic, so the
 * operator hears when it fires and when it clears. Every alarm of the stack is made here.
 */
export function notifyingAlarm(
  scope: Construct,
  id: string,
  topic: sns.ITopic,
  props: Omit<cloudwatch.AlarmProps, 'evaluationPeriods'>,
): cloudwatch.Alarm {
  const alarm = new cloudwatch.Alarm(scope, id, {
    evaluationPeriods: 1,
    datapointsToAlarm: 1,
    // No data means no messages, no records to read, no invocations: nothing is wrong.
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    ...props,
  });
  const action = new actions.SnsAction(topic);
  alarm.addAlarmAction(action);
  alarm.addOkAction(action);
  return alarm;
}

export interface AlarmSources {
  queues: Record<QueueName, sqs.Queue>;
  deadLetterQueues: Partial<Record<QueueName, sqs.Queue>>;
  functions: Record<FunctionName, TemFunction>;
  api: apigw.RestApi;
  archives: Record<ArchiveName, DeployedArchive>;
}

export interface AlarmOptions {
  /** The stage's. */
  thresholds: AlarmThresholds;
  /** A log metric filter's metric name, with the mesh's prefix (`MeshNames.metric`). */
  metricName: (name: string) => string;
}

/** Alarms are keyed `<kind>:<queue or function name>`; their construct ids `<Name><Kind>Alarm` never change. */
export const alarmKey = (kind: AlarmKind, name: string): string => `${kind}:${name}`;
export const alarmId = (kind: AlarmKind, name: string): string => `${pascal(name)}${pascal(kind)}Alarm`;

/**
 * Every failure path ends somewhere visible (issue 5): an alarm per error queue with a message in it, per stream
 * consumer falling behind, per function erroring, and one on the API's 5xx answers; all notify `topic`.
 */
export function buildAlarms(
  scope: Construct,
  t: Topology,
  sources: AlarmSources,
  topic: sns.ITopic,
  options: AlarmOptions,
): Record<string, cloudwatch.Alarm> {
  const alarms: Record<string, cloudwatch.Alarm> = {};
  const period = Duration.minutes(5);
  const { thresholds } = options;
  const add = (kind: AlarmKind, name: string, props: Omit<cloudwatch.AlarmProps, 'evaluationPeriods'>) => {
    alarms[alarmKey(kind, name)] = notifyingAlarm(scope, alarmId(kind, name), topic, props);
  };
  // Error sinks only: a message in one needs a person. A delivery queue's backlog is normal output, not an incident.
  for (const [name, queue] of Object.entries(sources.queues) as [QueueName, sqs.Queue][]) {
    if (t.queues[name].kind !== 'errorSink') continue;
    add('queueBacklog', name, {
      alarmDescription: `${name} holds failed messages (${t.queues[name].purpose}): look, fix, replay`,
      metric: queue.metricApproximateNumberOfMessagesVisible({ period, statistic: cloudwatch.Stats.MAXIMUM }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
  }
  // A delivery queue's dead-letter queue is an error sink too: its consumers failed on a message repeatedly.
  for (const [name, dlq] of Object.entries(sources.deadLetterQueues) as [QueueName, sqs.Queue][]) {
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
      alarmDescription: `${c.function} has not cleared ${c.queue} for ${thresholds.queueAgeSeconds} s: ${t.queues[c.queue].purpose}`,
      metric: sources.queues[c.queue].metricApproximateAgeOfOldestMessage({
        period,
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
      threshold: thresholds.queueAgeSeconds,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    });
  }
  for (const c of t.streamConsumers) {
    add('iteratorAge', c.function, {
      alarmDescription: `${c.function} is more than ${thresholds.iteratorAgeMs} ms behind ${c.stream}`,
      metric: sources.functions[c.function].metric('IteratorAge', { period, statistic: cloudwatch.Stats.MAXIMUM }),
      threshold: thresholds.iteratorAgeMs,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    });
  }
  for (const [name, fn] of Object.entries(sources.functions) as [FunctionName, TemFunction][]) {
    if (t.functions[name].errorsAreAnswers) {
      // Its Errors metric counts the refusals it must throw (every bad credential from the internet): an alarm on it
      // would be noise hiding real failures. Its JSON log lines at ERROR are watched instead: Powertools' own
      // (refusals are logged at INFO) and the runtime's `Invoke Error` line for a thrown error (an unhandled one
      // included), less the one each refusal writes (`message.errorMessage` = the refusal). A timeout or an
      // out-of-memory kill writes no ERROR line; like any authorizer crash, API Gateway answers it with a 500, which
      // the stage's 5XXError alarm below covers.
      const filter = new logs.MetricFilter(scope, `${pascal(name)}ErrorLogLinesFilter`, {
        logGroup: fn.logGroup,
        filterPattern: logs.FilterPattern.all(
          logs.FilterPattern.stringValue('$.level', '=', 'ERROR'),
          logs.FilterPattern.any(
            logs.FilterPattern.notExists('$.message.errorMessage'),
            logs.FilterPattern.stringValue('$.message.errorMessage', '!=', THROWN_REFUSAL_MESSAGE),
          ),
        ),
        metricNamespace: METRIC_NAMESPACE,
        metricName: options.metricName(errorLogLinesMetricName(name)),
        metricValue: '1',
      });
      add('errorLogLines', name, {
        alarmDescription: `${name} logged errors (its thrown ${THROWN_REFUSAL_MESSAGE} answers are not counted)`,
        metric: filter.metric({ period, statistic: cloudwatch.Stats.SUM }),
        threshold: thresholds.functionErrors,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      });
      continue;
    }
    add('functionErrors', name, {
      alarmDescription: `${name} returned or threw errors`,
      metric: fn.metricErrors({ period, statistic: cloudwatch.Stats.SUM }),
      threshold: thresholds.functionErrors,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
  }
  // API Gateway answers an authorizer crash (a throw other than the refusal, a timeout) or an integration failure
  // with a 5xx: the honest signal for what the error-log filter above cannot see.
  const api = sources.api;
  add('serverErrors', 'api', {
    alarmDescription: `${api.restApiName} stage ${api.deploymentStage.stageName} answered with 5xx errors`,
    metric: api.deploymentStage.metricServerError({ period, statistic: cloudwatch.Stats.SUM }),
    threshold: thresholds.serverErrors,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
  });
  // A raw archive whose delivery falls behind or fails: Firehose retries S3 for up to a day, then the records are
  // lost to the archive (the events table still has those it keeps too).
  for (const [name, archive] of Object.entries(sources.archives) as [ArchiveName, DeployedArchive][]) {
    const seconds = archiveFreshnessAlarmSeconds(archive.spec);
    add('deliveryFreshness', name, {
      alarmDescription: `${name}: records wait more than ${seconds} s for delivery to S3 (see its delivery error log)`,
      metric: archive.deliveryStream.metric('DeliveryToS3.DataFreshness', {
        period,
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
      threshold: seconds,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    });
    // The share of S3 puts that succeeded: below 1, some failed (retried, but a bucket or role problem is behind it).
    add('deliveryFailures', name, {
      alarmDescription: `${name}: Firehose failed to put objects to its bucket (see its delivery error log)`,
      metric: archive.deliveryStream.metric('DeliveryToS3.Success', { period, statistic: cloudwatch.Stats.AVERAGE }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
    });
  }
  return alarms;
}
