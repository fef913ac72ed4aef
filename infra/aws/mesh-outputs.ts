import { CfnOutput, Stack } from 'aws-cdk-lib';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { deadLetterName, type QueueName } from '../topology';
import { pascal } from './build';
import type { TelemetryEventMesh } from './telemetry-event-mesh';

/** `rawArchive` -> `rawArchiveBucket`, `rawArchiveDatabase`, `rawArchiveTable`: an archive's outputs beside its own. */
export const archiveOutputKey = (archive: string, part: 'bucket' | 'database' | 'table'): string =>
  `${archive}${pascal(part)}`;

/**
 * The operator CLI finds a deployed stack's resources by these output keys (`tem state --from-stack`): every stream,
 * table, queue, key and endpoint under its topology name, every archive's delivery stream under its topology name
 * (what a binding's env var carries) with its bucket, Glue database and table beside it (`archiveOutputKey`), the
 * APIs, the IoT names, the dashboard and the topics. In the app's stack the keys are exactly these; a mesh embedded in
 * another stack has them under its construct path.
 */
export function addMeshOutputs(mesh: TelemetryEventMesh): void {
  const region = Stack.of(mesh).region;
  new CfnOutput(mesh, 'HttpApiUrl', { value: mesh.api.url, description: 'Base URL of the HTTP API (stage v1)' });
  // Where `tem keys create` puts a principal's own usage key (ADR 0013).
  new CfnOutput(mesh, 'RestApiId', { value: mesh.api.restApiId, description: 'REST API id (usage plans)' });
  new CfnOutput(mesh, 'RestApiStage', { value: mesh.api.deploymentStage.stageName, description: 'its stage' });
  // Its usage plans are `<prefix>-role-<role>`, its usage keys' values scoped by it.
  new CfnOutput(mesh, 'NamePrefix', { value: mesh.names.prefix, description: 'name prefix (usage plans and keys)' });
  new CfnOutput(mesh, 'WebSocketUrl', {
    value: mesh.webSocket.url,
    description: `wss:// URL of the WebSocket API (stage ${mesh.topology.webSocket.stage})`,
  });
  for (const [name, stream] of Object.entries(mesh.streams))
    new CfnOutput(mesh, name, { value: stream.streamName, description: name });
  for (const [name, table] of Object.entries(mesh.tables))
    new CfnOutput(mesh, name, { value: table.tableName, description: name });
  for (const [name, queue] of Object.entries(mesh.queues))
    new CfnOutput(mesh, name, { value: queue.queueUrl, description: name });
  for (const [name, dlq] of Object.entries(mesh.deadLetterQueues) as [QueueName, sqs.Queue][])
    new CfnOutput(mesh, deadLetterName(name), {
      value: dlq.queueUrl,
      description: `${deadLetterName(name)}: dead-letter queue of ${name}`,
    });
  for (const [name, key] of Object.entries(mesh.keys))
    new CfnOutput(mesh, name, { value: key.keyArn, description: name });
  for (const [name, endpoint] of Object.entries(mesh.endpoints))
    new CfnOutput(mesh, name, { value: endpoint.url, description: name });
  for (const [name, archive] of Object.entries(mesh.archives)) {
    new CfnOutput(mesh, name, {
      value: archive.deliveryStream.deliveryStreamName,
      description: `${name}: its Firehose delivery stream`,
    });
    new CfnOutput(mesh, archiveOutputKey(name, 'bucket'), {
      value: archive.bucket.bucketName,
      description: `${name}: its S3 bucket`,
    });
    new CfnOutput(mesh, archiveOutputKey(name, 'database'), {
      value: mesh.archiving.databaseName,
      description: `${name}: the Glue database of its table`,
    });
    new CfnOutput(mesh, archiveOutputKey(name, 'table'), {
      value: archive.tableName,
      description: `${name}: its Glue table, for Athena`,
    });
  }
  for (const [name, rule] of Object.entries(mesh.topicRules))
    new CfnOutput(mesh, `IotTopicRule${name}`, { value: rule.ref, description: `IoT topic rule ${name}` });
  if (mesh.iotAuthorizer)
    new CfnOutput(mesh, 'IotDeviceAuthorizer', {
      value: mesh.iotAuthorizer.ref,
      description: 'IoT custom authorizer devices name in their MQTT username',
    });
  new CfnOutput(mesh, 'DashboardUrl', {
    value: `https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}#dashboards/dashboard/${mesh.dashboard.dashboardName}`,
    description: 'CloudWatch dashboard of the pipeline',
  });
  new CfnOutput(mesh, 'AlarmTopicArn', { value: mesh.alarmTopic.topicArn, description: 'Where every alarm notifies' });
  if (mesh.alertNotifications)
    new CfnOutput(mesh, 'AlertTopicArn', {
      value: mesh.alertNotifications.topic.topicArn,
      description: 'Raised and resolved alerts (ADR 0015): subscribe other alert consumers here',
    });
}
