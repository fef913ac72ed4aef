import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type { Construct } from 'constructs';
import type { FunctionName, ScheduleSpec } from '../topology';
import type { TemFunction } from './tem-function';

/** An EventBridge rule per topology schedule, `rate(N minutes)`, invoking its function (two retries, as by default). */
export function buildSchedules(
  scope: Construct,
  specs: readonly ScheduleSpec[],
  functions: Record<FunctionName, TemFunction>,
): Record<string, events.Rule> {
  return Object.fromEntries(
    specs.map((spec) => {
      const id = `${spec.function[0]?.toUpperCase()}${spec.function.slice(1)}Schedule`;
      const rule = new events.Rule(scope, id, {
        description: `${spec.function}: ${spec.purpose}`,
        schedule: events.Schedule.rate(Duration.minutes(spec.rateMinutes)),
        targets: [new targets.LambdaFunction(functions[spec.function], { retryAttempts: 2 })],
      });
      return [spec.function, rule];
    }),
  );
}
