import { App } from 'aws-cdk-lib';
import { addNagChecks } from './nag';
import { TelemetryEventMeshStack } from './stack';

const app = new App();

// Environment-agnostic unless the CLI knows an account/region: synth needs no credentials and no network.
const account = process.env.CDK_DEFAULT_ACCOUNT;
const region = process.env.CDK_DEFAULT_REGION;
new TelemetryEventMeshStack(app, 'TelemetryEventMesh', {
  description: 'TelemetryEventMesh: API Gateway + IoT ingestion -> Kinesis -> DynamoDB',
  ...(account || region ? { env: { account, region } } : {}),
});

addNagChecks(app);

app.synth();
