import { RemovalPolicy } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';

/** `dev`: a stack to try things in, deleted without a trace. `prod`: one whose data and logs outlive it. */
export const STAGES = ['dev', 'prod'] as const;
export type Stage = (typeof STAGES)[number];

/** When an alarm fires: how far behind, how old, how many errors in its 5-minute period. */
export interface AlarmThresholds {
  /** A stream consumer this far behind (IteratorAge, ms): events reach their tables late. */
  iteratorAgeMs: number;
  /** A retried queue (the rule error redrive) still holding a message this long: the cause has lasted minutes. */
  queueAgeSeconds: number;
  /** Function errors (or error log lines) in one period. */
  functionErrors: number;
  /** The HTTP API's 5xx answers in one period. */
  serverErrors: number;
}

/** What the stage decides for every resource of the mesh that keeps data, and for its alarms. */
export interface StageSettings {
  stage: Stage;
  /** Tables, the stream, the signing key and every log group. Queues are deleted with the stack in both stages. */
  removalPolicy: RemovalPolicy;
  logRetention: logs.RetentionDays;
  /** DynamoDB point-in-time recovery (35 days of restores) on every table. */
  pointInTimeRecovery: boolean;
  /** DynamoDB deletion protection: deleting the table (or the stack with it) needs it switched off first. */
  deletionProtection: boolean;
  alarms: AlarmThresholds;
}

/** Production: the first failure is worth a look. */
export const PROD_ALARM_THRESHOLDS: AlarmThresholds = {
  iteratorAgeMs: 60_000,
  queueAgeSeconds: 120,
  functionErrors: 1,
  serverErrors: 1,
};

/**
 * A development stack is broken on purpose now and then: it alarms on a failure that lasts, not on each one. A message
 * in an error sink alarms in both stages (someone has to look at it either way).
 */
export const DEV_ALARM_THRESHOLDS: AlarmThresholds = {
  iteratorAgeMs: 300_000,
  queueAgeSeconds: 600,
  functionErrors: 5,
  serverErrors: 5,
};

export function stageSettings(stage: Stage): StageSettings {
  return stage === 'prod'
    ? {
        stage,
        removalPolicy: RemovalPolicy.RETAIN,
        logRetention: logs.RetentionDays.ONE_MONTH,
        pointInTimeRecovery: true,
        deletionProtection: true,
        alarms: PROD_ALARM_THRESHOLDS,
      }
    : {
        stage,
        removalPolicy: RemovalPolicy.DESTROY,
        logRetention: logs.RetentionDays.ONE_WEEK,
        pointInTimeRecovery: false,
        deletionProtection: false,
        alarms: DEV_ALARM_THRESHOLDS,
      };
}
