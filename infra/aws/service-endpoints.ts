import { ArnFormat, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import type { EndpointName, EndpointSpec, Topology } from '../topology';
import { build, pascal } from './build';
import type { StageSettings } from './stage';
import type { TemWebSocketApi } from './websocket-api';

/** The IoT data plane: the host name looked up at deploy time and the URL a function's env var carries. */
export interface DeployedIotDataEndpoint {
  /** `spec.service`, here too so that it narrows the endpoint itself. */
  service: 'iot-data';
  spec: Extract<EndpointSpec, { service: 'iot-data' }>;
  /** The custom resource that looks the address up (`iot:DescribeEndpoint`). */
  lookup: cr.AwsCustomResource;
  address: string;
  url: string;
  /** `arn:<partition>:iot:<region>:<account>:topic/<pattern>` per `spec.publishTopics` entry, in the same order. */
  publishTopicArns: string[];
}

/** The WebSocket API's management API: its stage's callback URL, known at synth time (no lookup). */
export interface DeployedWsManagementEndpoint {
  service: 'ws-management';
  spec: Extract<EndpointSpec, { service: 'ws-management' }>;
  /** `https://<api id>.execute-api.<region>.<url suffix>/<stage>`. */
  url: string;
  /** The API whose connections `write` may manage. */
  webSocket: TemWebSocketApi;
}

/** A deployed service endpoint, by service (`spec.service`). */
export type DeployedEndpoint = DeployedIotDataEndpoint | DeployedWsManagementEndpoint;

/**
 * The lookups run in CDK's singleton AwsCustomResource provider function, one per stack whatever the number of meshes
 * in it: its role and log group are the stack's too, made by the first mesh that needs them.
 */
function lookupProvider(stack: Stack, stage: StageSettings): { role: iam.Role; logGroup: logs.LogGroup } {
  const existing = stack.node.tryFindChild('EndpointLookupRole');
  if (existing instanceof iam.Role)
    return { role: existing, logGroup: stack.node.findChild('EndpointLookupLogs') as logs.LogGroup };
  const logGroup = new logs.LogGroup(stack, 'EndpointLookupLogs', {
    retention: stage.logRetention,
    removalPolicy: stage.removalPolicy,
  });
  // Our own role instead of CDK's default (AWSLambdaBasicExecutionRole: logs on every group in the account): it may
  // write to its log group and, through each lookup's policy, make exactly the calls declared below.
  const role = new iam.Role(stack, 'EndpointLookupRole', {
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    description: 'Execution role of the deploy-time endpoint lookups (AwsCustomResource provider)',
  });
  logGroup.grantWrite(role);
  return { role, logGroup };
}

export interface MeshEndpointsProps {
  topology: Topology;
  stage: StageSettings;
  /** The WebSocket API, whose stage URL is the management endpoint. */
  webSocket: TemWebSocketApi;
}

/**
 * The service endpoints the functions are told about. The IoT data plane's is per account and region: looked up at
 * deploy time by one SDK call each. The WebSocket management API's is the mesh's own stage URL.
 */
export class MeshEndpoints extends Construct {
  readonly endpoints: Record<EndpointName, DeployedEndpoint>;

  constructor(scope: Construct, id: string, props: MeshEndpointsProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.endpoints = build(props.topology.endpoints, (name, spec): DeployedEndpoint => {
      switch (spec.service) {
        case 'ws-management':
          // validateTopology: only the WebSocket API's management endpoint has this service.
          return { service: spec.service, spec, url: props.webSocket.callbackUrl, webSocket: props.webSocket };
        case 'iot-data': {
          const provider = lookupProvider(stack, props.stage);
          // The ATS endpoint (Amazon Trust Services certificates); the legacy VeriSign one is not to be used.
          const call: cr.AwsSdkCall = {
            // SDK v3 names (the provider runs the Lambda runtime's SDK v3); IAM action iot:DescribeEndpoint.
            service: '@aws-sdk/client-iot',
            action: 'DescribeEndpoint',
            parameters: { endpointType: 'iot:Data-ATS' },
            physicalResourceId: cr.PhysicalResourceId.of(`${name}-iot-Data-ATS`),
            outputPaths: ['endpointAddress'],
          };
          const lookup = new cr.AwsCustomResource(this, `${pascal(name)}Lookup`, {
            onCreate: call,
            onUpdate: call,
            policy: cr.AwsCustomResourcePolicy.fromSdkCalls({ resources: cr.AwsCustomResourcePolicy.ANY_RESOURCE }),
            role: provider.role,
            logGroup: provider.logGroup,
            // The SDK in the Lambda runtime has DescribeEndpoint: no npm install at deploy time (no network needed).
            installLatestAwsSdk: false,
          });
          const address = lookup.getResponseField('endpointAddress');
          const publishTopicArns = spec.publishTopics.map((topic) =>
            stack.formatArn({
              service: 'iot',
              resource: 'topic',
              resourceName: topic,
              arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
            }),
          );
          return { service: spec.service, spec, lookup, address, url: `https://${address}`, publishTopicArns };
        }
      }
    });
  }
}
