import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { App, type Environment } from 'aws-cdk-lib';
import { optionalEnv } from '../../shared/config';
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

export function synthesize(env: NodeJS.ProcessEnv = process.env, app = new App()): App {
  const environment = stackEnvironment(env);
  new TelemetryEventMeshStack(app, 'TelemetryEventMesh', {
    description: 'TelemetryEventMesh: API Gateway + IoT ingestion -> Kinesis -> DynamoDB',
    ...(environment ? { env: environment } : {}),
  });
  addNagChecks(app);
  app.synth();
  return app;
}

// `cdk synth` runs this file; a test imports it without synthesizing.
if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) synthesize();
