import type { PolicyDocument } from './iam-policy';

export const DEVICE_PUBLISH_PERMISSION = 'devices.mqtt.telemetry_publish';
export const DEVICE_SUBSCRIBE_PERMISSION = 'devices.mqtt.alerts_subscribe';

/** The topic rule that takes device readings to the event stream (its name is part of the Basic Ingest topic). */
export const TELEMETRY_RULE = 'deviceTelemetry';
/** IoT Basic Ingest: a topic that goes straight to the named rule, past the message broker. */
export const BASIC_INGEST_PREFIX = '$aws/rules/';

export const telemetryTopic = (deviceId: string) => `devices/${deviceId}/telemetry`;
/** The same rule through Basic Ingest: no broker fan-out and no IoT messaging charge, otherwise identical. */
export const basicIngestTelemetryTopic = (deviceId: string) =>
  `${BASIC_INGEST_PREFIX}${TELEMETRY_RULE}/${telemetryTopic(deviceId)}`;
export const alertsTopic = (deviceId: string) => `devices/${deviceId}/alerts`;

/**
 * The IoT policy a device gets: connect only as its own client id, publish only its telemetry (on the plain topic or
 * through Basic Ingest), subscribe to and receive only its alerts; each grant only if the permission policy allows it.
 */
export function devicePolicy(
  arnPrefix: string,
  deviceId: string,
  allowed: { publish: boolean; subscribe: boolean },
): PolicyDocument {
  const statements: PolicyDocument['Statement'] = [
    { Effect: 'Allow', Action: 'iot:Connect', Resource: `${arnPrefix}:client/${deviceId}` },
  ];
  if (allowed.publish)
    statements.push({
      Effect: 'Allow',
      Action: 'iot:Publish',
      Resource: [
        `${arnPrefix}:topic/${telemetryTopic(deviceId)}`,
        `${arnPrefix}:topic/${basicIngestTelemetryTopic(deviceId)}`,
      ],
    });
  if (allowed.subscribe) {
    statements.push({
      Effect: 'Allow',
      Action: 'iot:Subscribe',
      Resource: `${arnPrefix}:topicfilter/${alertsTopic(deviceId)}`,
    });
    statements.push({
      Effect: 'Allow',
      Action: 'iot:Receive',
      Resource: `${arnPrefix}:topic/${alertsTopic(deviceId)}`,
    });
  }
  return { Version: '2012-10-17', Statement: statements };
}

/** MQTT usernames may carry `?x-amz-customauthorizer-name=...` to pick the authorizer: the device id is before it. */
export function deviceIdFromUsername(username: string): string {
  const q = username.indexOf('?');
  return q >= 0 ? username.slice(0, q) : username;
}
