import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as iot from 'aws-cdk-lib/aws-iot';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import {
  type FunctionName,
  type QueueName,
  ruleExpressionSql,
  type StreamName,
  type Topology,
  topicRuleSql,
} from '../topology';
import { pascal } from './build';
import type { MeshNames } from './mesh-names';
import type { TemFunction } from './tem-function';

export interface MeshDeviceGatewayProps {
  topology: Topology;
  names: MeshNames;
  functions: Record<FunctionName, TemFunction>;
  streams: Record<StreamName, kinesis.Stream>;
  queues: Record<QueueName, sqs.Queue>;
}

/**
 * Devices over MQTT (IoT Core): the custom authorizer that checks a device's credential at CONNECT, and the topic
 * rules that put each reading on the stream. No function runs per message.
 */
export class MeshDeviceGateway extends Construct {
  readonly authorizer: iot.CfnAuthorizer;
  /** The topic rules and their roles, keyed by the topology's rule name (the physical name may carry the prefix). */
  readonly topicRules: Record<string, iot.CfnTopicRule> = {};
  readonly topicRuleRoles: Record<string, iam.Role> = {};

  constructor(scope: Construct, id: string, props: MeshDeviceGatewayProps) {
    super(scope, id);
    const { topology: t, names } = props;
    const account = Stack.of(this).account;

    for (const [name, rule] of Object.entries(t.topicRules)) {
      // As aws-solutions-constructs' aws-iot-kinesisstreams: the rule puts each message on the stream itself, so no
      // function runs per message; devices may publish through Basic Ingest ($aws/rules/<name>/...) at no messaging
      // charge. One role, allowed to put on that stream and to send to the error queue, nothing else.
      const stream = props.streams[rule.action.kinesis.stream];
      const errorQueue = props.queues[rule.errorQueue];
      const role = new iam.Role(this, `TopicRule${pascal(name)}Role`, {
        assumedBy: new iam.ServicePrincipal('iot.amazonaws.com', {
          conditions: { StringEquals: { 'aws:SourceAccount': account } },
        }),
        description: `Lets IoT rule ${names.topicRule(name)} put messages on its stream and park failed ones in its error queue`,
      });
      role.addToPolicy(new iam.PolicyStatement({ actions: ['kinesis:PutRecord'], resources: [stream.streamArn] }));
      errorQueue.grantSendMessages(role);
      this.topicRules[name] = new iot.CfnTopicRule(this, `TopicRule${pascal(name)}`, {
        ruleName: names.topicRule(name),
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
      this.topicRuleRoles[name] = role;
    }

    // IoT Core custom authorizer for MQTT CONNECT. A device selects it by name in the MQTT username,
    // `<deviceId>?x-amz-customauthorizer-name=<name>` (e.g. `dev-1?x-amz-customauthorizer-name=TemDeviceAuthorizer`),
    // and sends its device token as the MQTT password. Signing is disabled: devices present no signed token.
    const authFn = props.functions[t.iotAuthorizer.function];
    this.authorizer = new iot.CfnAuthorizer(this, 'IotCustomAuthorizer', {
      authorizerName: names.iotAuthorizer(t.iotAuthorizer.name),
      authorizerFunctionArn: authFn.functionArn,
      signingDisabled: true,
      status: 'ACTIVE',
      enableCachingForHttp: false,
    });
    // Only this authorizer, in this account, may invoke the function.
    authFn.addPermission('AllowIotDeviceAuthorizer', {
      principal: new iam.ServicePrincipal('iot.amazonaws.com'),
      action: 'lambda:InvokeFunction',
      sourceArn: this.authorizer.attrArn,
      sourceAccount: account,
    });
  }
}
