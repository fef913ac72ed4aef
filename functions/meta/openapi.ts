import type { APIGatewayProxyResult } from 'aws-lambda';
import document from '../../docs/openapi.json' with { type: 'json' };
import { httpLambda } from '../commons';

// The committed document, bundled as data: it is generated from the routes and schemas (`npm run openapi`, which a
// drift test keeps current), so the function does not carry the generator, the topology and every schema.
const body = JSON.stringify(document);

/** GET /openapi.json (public): the OpenAPI 3.1 document of this API, as docs/openapi.json holds it. */
export const lambdaHandler = async (): Promise<APIGatewayProxyResult> => ({
  statusCode: 200,
  headers: { 'content-type': 'application/json', 'cache-control': 'public, max-age=300' },
  body,
});

export const handler = httpLambda(lambdaHandler);
