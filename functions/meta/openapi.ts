import type { APIGatewayProxyResult } from 'aws-lambda';
import { buildOpenApiDocument } from '../../shared/api/openapi';
import { httpLambda } from '../commons';

// Built once per container: the document depends only on the code deployed, not on the request.
const body = JSON.stringify(buildOpenApiDocument());

/** GET /openapi.json (public): the OpenAPI 3.1 document of this API, as docs/openapi.json holds it. */
export const lambdaHandler = async (): Promise<APIGatewayProxyResult> => ({
  statusCode: 200,
  headers: { 'content-type': 'application/json', 'cache-control': 'public, max-age=300' },
  body,
});

export const handler = httpLambda(lambdaHandler);
