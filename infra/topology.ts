/**
 * The one description of the system. Both targets are built from it:
 * - `infra/aws/` turns it into a CDK stack (`cdk synth` / `cdk deploy`);
 * - `infra/local/` turns it into the embedded local stack (`npm start`).
 *
 * Pure data plus small pure helpers: no CDK or AWS SDK imports here, so handlers
 * (the authorizer builds its IAM policy from `routes`) and tests can import it too.
 */

import { queueConsumers, schedules, streamConsumers } from './topology/consumers';
import { functions } from './topology/functions';
import { archives, endpoints, keys, queues, streams, tables, webSocket } from './topology/resources';
import { authorizer, iotAuthorizer, routes } from './topology/routes';
import type { FunctionName, FunctionSpec, RouteSpec } from './topology/specs';
import { topicRules } from './topology/topic-rules';
import { assertValidTopology as assertValid, validateTopology as validate } from './topology/validate';

export { queueConsumers, schedules, streamConsumers } from './topology/consumers';
export { functions } from './topology/functions';
export { archives, endpoints, keys, queues, streams, tables, webSocket } from './topology/resources';
export { authorizer, iotAuthorizer, routes } from './topology/routes';
export * from './topology/specs';
export { mqttTopicMatches, ruleExpressionSql, topicRuleSql, topicRules } from './topology/topic-rules';

export const topology = {
  service: 'tem',
  functions: functions as Readonly<Record<FunctionName, FunctionSpec>>,
  routes: routes as readonly RouteSpec[],
  authorizer,
  streams,
  tables,
  queues,
  archives,
  streamConsumers,
  queueConsumers,
  schedules,
  topicRules,
  iotAuthorizer,
  keys,
  endpoints,
  webSocket,
} as const;

export type Topology = typeof topology;

/**
 * Checks the description for mistakes a type cannot catch. Both targets call it before building anything, so a bad
 * topology fails `cdk synth` and `npm start` with the same message.
 */
export function validateTopology(t: Topology = topology): string[] {
  return validate(t);
}

export function assertValidTopology(t: Topology = topology): void {
  assertValid(t);
}
