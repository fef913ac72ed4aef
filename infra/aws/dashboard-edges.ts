import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type { AlertNotifications } from './alert-notifications';
import type { TemWebSocketApi } from './websocket-api';

export const PERIOD = Duration.minutes(1);
export const sum = { period: PERIOD, statistic: cloudwatch.Stats.SUM };
export const max = { period: PERIOD, statistic: cloudwatch.Stats.MAXIMUM };
export const pct = (p: 50 | 99) => ({ period: PERIOD, statistic: cloudwatch.Stats.percentile(p) });

export const graph = (title: string, left: cloudwatch.IMetric[], right: cloudwatch.IMetric[] = [], width = 8) =>
  new cloudwatch.GraphWidget({ title, left, right, width, height: 6 });

export interface EdgeSources {
  /** IoT topic rules' physical names (none without IoT). */
  topicRules: readonly string[];
  iot: boolean;
  webSocket: TemWebSocketApi;
  alarmTopic: sns.ITopic;
  alertNotifications?: AlertNotifications;
}

/** The dashboard's last rows, the mesh's edges: IoT Core, the WebSocket API, the notifications. */
export function edgeRows(s: EdgeSources): cloudwatch.IWidget[][] {
  const rows: cloudwatch.IWidget[][] = [];
  // IoT Core: the topic rules (matches, parse errors, throttling, action failures) and MQTT connections (account-wide).
  const iot = (metricName: string, rule: string, label: string) =>
    new cloudwatch.Metric({ namespace: 'AWS/IoT', metricName, dimensionsMap: { RuleName: rule }, ...sum, label });
  if (s.iot)
    rows.push([
      ...s.topicRules.map((rule) =>
        graph(`IoT rule ${rule}`, [
          iot('TopicMatch', rule, 'messages matched'),
          iot('ParseError', rule, 'parse errors'),
          iot('RuleMessageThrottled', rule, 'throttled'),
          new cloudwatch.SearchExpression({
            expression: `SEARCH('{AWS/IoT,ActionType,RuleName} RuleName="${rule}" MetricName="Failure"', 'Sum', 60)`,
            label: 'action failures',
            period: PERIOD,
          }),
        ]),
      ),
      graph('IoT connections (account)', [
        new cloudwatch.SearchExpression({
          expression:
            'SEARCH(\'{AWS/IoT,Protocol} (MetricName="Connect.Success" OR MetricName="Connect.AuthError" OR ' +
            "MetricName=\"Connect.Throttle\")', 'Sum', 60)",
          period: PERIOD,
        }),
      ]),
    ]);

  // The WebSocket API's stage.
  const ws = s.webSocket.stage;
  rows.push([
    graph('WebSocket connects / messages', [
      ws.metric('ConnectCount', { ...sum, label: 'connects' }),
      ws.metric('MessageCount', { ...sum, label: 'messages' }),
    ]),
    graph('WebSocket errors', [
      ws.metric('ClientError', { ...sum, label: 'client' }),
      ws.metric('ExecutionError', { ...sum, label: 'execution' }),
      ws.metric('IntegrationError', { ...sum, label: 'integration' }),
    ]),
    graph('WebSocket integration latency (ms)', [ws.metric('IntegrationLatency', { ...pct(99), label: 'p99' })]),
  ]);

  // Notifications: the alarm topic and, when enabled, the alert e-mail path.
  const notifications = [
    graph('Alarm notifications', [
      s.alarmTopic.metricNumberOfNotificationsDelivered({ ...sum, label: 'delivered' }),
      s.alarmTopic.metricNumberOfNotificationsFailed({ ...sum, label: 'failed' }),
    ]),
  ];
  const alertEmail = s.alertNotifications;
  if (alertEmail)
    notifications.push(
      graph('Alert e-mail pipe', [
        alertEmail.metricPipe('Invocations', { ...sum, label: 'invocations' }),
        alertEmail.metricPipe('ExecutionFailed', { ...sum, label: 'failed' }),
        alertEmail.metricPipe('TargetStageFailed', { ...sum, label: 'publish failed' }),
      ]),
      graph('Alert e-mails', [
        alertEmail.topic.metricNumberOfMessagesPublished({ ...sum, label: 'published' }),
        alertEmail.topic.metricNumberOfNotificationsDelivered({ ...sum, label: 'delivered' }),
        alertEmail.topic.metricNumberOfNotificationsFailed({ ...sum, label: 'failed' }),
      ]),
    );
  rows.push(notifications);
  return rows;
}
