import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { App, type Environment } from 'aws-cdk-lib';
import { optionalEnv } from '../../shared/config';
import { PROP_CHECKS, type TelemetryEventMeshProps } from './mesh-props';
import { addNagChecks } from './nag';
import { TelemetryEventMeshStack } from './stack';

/**
 * Environment-agnostic unless the CLI knows an account/region: synth needs no credentials and no network. An empty
 * CDK_DEFAULT_ACCOUNT or CDK_DEFAULT_REGION is unset, not an account named "" (which CDK cannot parse).
 */
export function stackEnvironment(env: NodeJS.ProcessEnv = process.env): Environment | undefined {
  const account = optionalEnv('CDK_DEFAULT_ACCOUNT', env);
  const region = optionalEnv('CDK_DEFAULT_REGION', env);
  if (account === undefined && region === undefined) return undefined;
  return { ...(account === undefined ? {} : { account }), ...(region === undefined ? {} : { region }) };
}

/** The `-c name=value` settings (README, "Deploy to AWS"): the construct's props of the same names. */
export type StackSettings = Pick<
  TelemetryEventMeshProps,
  | 'namePrefix'
  | 'stage'
  | 'alarmTopicArn'
  | 'alarmEmail'
  | 'alertEmail'
  | 'iot'
  | 'enhancedFanOut'
  | 'streamCapacity'
  | 'shardCount'
  | 'rolesFile'
  | 'alertRulesFile'
>;

/** How each setting's text becomes the prop's value (context from the command line is always a string). */
const PARSE: Record<keyof StackSettings, (text: string) => unknown> = {
  namePrefix: (s) => s,
  stage: (s) => s,
  alarmTopicArn: (s) => s,
  alarmEmail: (s) => s,
  alertEmail: (s) => s,
  iot: (s) => ({ true: true, false: false })[s] ?? s,
  enhancedFanOut: (s) => ({ true: true, false: false })[s] ?? s,
  streamCapacity: (s) => s,
  shardCount: (s) => (/^\d+$/.test(s) ? Number(s) : s),
  // Relative to where `cdk` runs (the repository, for this app).
  rolesFile: (s) => path.resolve(s),
  alertRulesFile: (s) => path.resolve(s),
};

/** Every `-c` setting, as README.md's table lists them. */
export const SETTINGS = Object.keys(PARSE) as (keyof StackSettings)[];

/**
 * Reads and checks the context settings, so a typo fails synth with the setting's name instead of a deploy that
 * mails nobody, or an alarm action CloudFormation refuses halfway through. The construct checks the combinations
 * (`shardCount` without `provisioned`, the topic's region).
 */
export function stackSettings(app: App): StackSettings {
  const settings: Record<string, unknown> = {};
  for (const [name, parse] of Object.entries(PARSE)) {
    const raw: unknown = app.node.tryGetContext(name);
    if (raw === undefined || raw === '') continue;
    const text = typeof raw === 'string' ? raw.trim() : raw;
    const value = typeof text === 'string' ? parse(text) : text;
    const problem = PROP_CHECKS[name]?.(value);
    if (problem) throw new Error(`-c ${name}=${JSON.stringify(raw)}: ${problem}`);
    settings[name] = value;
  }
  return settings as StackSettings;
}

export function synthesize(env: NodeJS.ProcessEnv = process.env, app = new App()): App {
  const environment = stackEnvironment(env);
  const settings = stackSettings(app);
  new TelemetryEventMeshStack(app, 'TelemetryEventMesh', {
    description: 'TelemetryEventMesh: API Gateway + IoT ingestion -> Kinesis -> DynamoDB',
    ...(environment ? { env: environment } : {}),
    ...settings,
  });
  addNagChecks(app);
  app.synth();
  return app;
}

// `cdk synth` runs this file; a test imports it without synthesizing.
if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) synthesize();
