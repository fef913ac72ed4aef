import { Agent as HttpAgent } from 'node:http';
import { Agent } from 'node:https';
import {
  ApiGatewayManagementApiClient,
  type ServiceInputTypes as WsInput,
  type ServiceOutputTypes as WsOutput,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { FirehoseClient } from '@aws-sdk/client-firehose';
import { IoTDataPlaneClient } from '@aws-sdk/client-iot-data-plane';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { MetadataBearer, MiddlewareStack } from '@smithy/types';
import { tracer } from '../observability';
import { callCounter } from './call-counter';

/**
 * SDK clients, created once per container (module scope) and reused by every invocation.
 *
 * Endpoints are never set here: the SDK reads `AWS_ENDPOINT_URL_<SERVICE>` itself, which is how the local stack
 * points the same code at its emulators.
 */
function requestHandler(
  timeouts: { connectionMs: number; requestMs: number } = { connectionMs: 2000, requestMs: 5000 },
): NodeHttpHandler {
  return new NodeHttpHandler({
    connectionTimeout: timeouts.connectionMs,
    requestTimeout: timeouts.requestMs,
    httpAgent: new HttpAgent({ keepAlive: true, maxSockets: 50 }),
    httpsAgent: new Agent({ keepAlive: true, maxSockets: 50 }),
  });
}

/**
 * The Kinesis client defaults to an HTTP/2 handler (needed only for SubscribeToShard); PutRecords/GetRecords work
 * over HTTP/1.1 in AWS, and the local engines speak nothing else on their plain port.
 */
/**
 * Every client counts its calls (`call-counter.ts`) and, in Lambda with tracing on, records each call as an X-Ray
 * subsegment (service, operation, table or stream, retries, errors). Off (or not loaded), the client stays as it is.
 */
function counted<I extends object, O extends MetadataBearer, C extends { middlewareStack: MiddlewareStack<I, O> }>(
  client: C,
): C {
  client.middlewareStack.use(callCounter<I, O>());
  return tracer ? tracer.captureAWSv3Client(client) : client;
}

export function createKinesisClient(): KinesisClient {
  return counted(new KinesisClient({ requestHandler: requestHandler(), maxAttempts: 3 }));
}

/**
 * For the ingest functions, which answer a caller within their time budget: one attempt per call with short
 * timeouts, because `publishAll` retries the failed records itself and knows how much time is left.
 */
export function createIngestKinesisClient(): KinesisClient {
  return counted(
    new KinesisClient({ requestHandler: requestHandler({ connectionMs: 1000, requestMs: 2000 }), maxAttempts: 1 }),
  );
}

export function createDynamoClient(): DynamoDBClient {
  return counted(new DynamoDBClient({ requestHandler: requestHandler(), maxAttempts: 3 }));
}

export function createDocumentClient(): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(createDynamoClient(), {
    marshallOptions: { removeUndefinedValues: true },
  });
}

export function createFirehoseClient(): FirehoseClient {
  return counted(new FirehoseClient({ requestHandler: requestHandler(), maxAttempts: 3 }));
}

export function createSqsClient(): SQSClient {
  return counted(new SQSClient({ requestHandler: requestHandler(), maxAttempts: 3 }));
}

/**
 * The IoT data plane endpoint is per account (`https://<id>-ats.iot.<region>.amazonaws.com`): it comes from the
 * function's settings (looked up at deploy time in AWS, the local stack's own data plane locally).
 */
export function createIotDataClient(endpoint: string): IoTDataPlaneClient {
  return counted(new IoTDataPlaneClient({ endpoint, requestHandler: requestHandler(), maxAttempts: 3 }));
}

/**
 * The WebSocket API's management API (`https://<api>.execute-api.<region>.amazonaws.com/<stage>`, from the function's
 * settings). One attempt per post with a short timeout: live delivery is at most once, and a slow post must not hold
 * up the others (ADR 0014).
 */
export function createWsManagementClient(endpoint: string): ApiGatewayManagementApiClient {
  return counted<WsInput, WsOutput, ApiGatewayManagementApiClient>(
    new ApiGatewayManagementApiClient({
      endpoint,
      requestHandler: requestHandler({ connectionMs: 1000, requestMs: 2000 }),
      maxAttempts: 1,
    }),
  );
}
