import middy from '@middy/core';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { httpErrors, json } from '../../shared/http';

const startedAt = new Date().toISOString();

export const lambdaHandler = async (): Promise<APIGatewayProxyResult> =>
  json(200, {
    status: 'ok',
    service: 'telemetry-event-mesh',
    node: process.version,
    region: process.env.AWS_REGION ?? 'unknown',
    coldStartAt: startedAt,
  });

export const handler = middy(lambdaHandler).use(httpErrors());
