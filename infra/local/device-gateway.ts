import { randomUUID } from 'node:crypto';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { PolicyDocument } from '../../shared/domain/iam-policy';
import { ruleErrorMessage } from '../../shared/domain/topic-rule';
import type { QueueName, StreamName, TopicRuleSpec, Topology } from '../topology';
import { IotBroker, type RuleMessage } from './iot-broker';
import { RuleKinesisAction } from './rule-kinesis-action';

export interface DeviceGatewayDeps {
  topology: Topology;
  kinesis: KinesisClient;
  /** Physical stream names, by topology name. */
  streams: Record<StreamName, string>;
  invoke: (name: string, event: unknown) => Promise<unknown>;
  sendTo: (queue: QueueName) => (body: unknown) => Promise<void>;
  log: (message: string, fields?: Record<string, unknown>) => void;
}

/**
 * IoT Core's part of the stack: the broker with the device authorizer on CONNECT, and the topic rules with their
 * Kinesis actions and error actions, as the CDK stack wires them.
 */
export function localDeviceGateway(deps: DeviceGatewayDeps): {
  broker: IotBroker;
  ruleActions: Record<string, RuleKinesisAction>;
} {
  // The topic rules' Kinesis actions: one record per message, keyed by the rule's partition key expression.
  const ruleActions = Object.fromEntries(
    Object.entries(deps.topology.topicRules).map(([name, rule]) => [
      name,
      new RuleKinesisAction(deps.kinesis, deps.streams[rule.action.kinesis.stream]),
    ]),
  );
  const ruleError = (ruleName: string, rule: TopicRuleSpec, message: RuleMessage, errorMessage: string) => {
    deps.log('topic rule could not act on a message', { rule: ruleName, error: errorMessage });
    const failure = {
      failedAction: 'KinesisAction',
      failedResource: deps.streams[rule.action.kinesis.stream],
      errorMessage,
    };
    deps
      .sendTo(rule.errorQueue)(ruleErrorMessage(ruleName, message, failure))
      .catch((error) => deps.log('rule error action failed', { error: (error as Error).message }));
  };
  const broker = new IotBroker({
    rules: deps.topology.topicRules,
    deliver: (ruleName, rule, record, message) => {
      ruleActions[ruleName]?.send({
        ...record,
        onFailure: (errorMessage) => ruleError(ruleName, rule, message, errorMessage),
      });
    },
    ruleError,
    authenticate: async (clientId, username, password) => {
      // The event IoT Core sends a custom authorizer for an MQTT CONNECT.
      const response = (await deps.invoke(deps.topology.iotAuthorizer.function, {
        signatureVerified: false,
        protocols: ['mqtt'],
        protocolData: {
          mqtt: {
            clientId,
            ...(username === undefined ? {} : { username }),
            ...(password ? { password: password.toString('base64') } : {}),
          },
        },
        connectionMetadata: { id: randomUUID() },
      })) as {
        isAuthenticated?: boolean;
        policyDocuments?: string[];
        refreshAfterInSeconds?: number;
        disconnectAfterInSeconds?: number;
      } | null;
      if (!response?.isAuthenticated) return undefined;
      const statements = (response.policyDocuments ?? []).flatMap(
        (doc) => (JSON.parse(doc) as { Statement: PolicyDocument['Statement'] }).Statement,
      );
      return {
        policy: { Version: '2012-10-17', Statement: statements },
        ...(response.refreshAfterInSeconds === undefined
          ? {}
          : { refreshAfterSeconds: response.refreshAfterInSeconds }),
        ...(response.disconnectAfterInSeconds === undefined
          ? {}
          : { disconnectAfterSeconds: response.disconnectAfterInSeconds }),
      };
    },
    log: deps.log,
  });
  return { broker, ruleActions };
}
