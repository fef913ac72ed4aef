import middy from '@middy/core';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { signerFromSetting } from '../../shared/aws/signer';
import { requireEnv } from '../../shared/config';
import { httpErrors, json } from '../../shared/http';

const signer = signerFromSetting(requireEnv('TOKEN_SIGNING_KEY'));

/** GET /.well-known/jwks.json (public): the key set other services verify our tokens with. */
export const lambdaHandler = async (): Promise<APIGatewayProxyResult> =>
  json(200, { keys: [await signer.publicJwk()] }, { 'cache-control': 'public, max-age=300' });

export const handler = middy(lambdaHandler).use(httpErrors());
