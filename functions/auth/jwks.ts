import type { APIGatewayProxyResult } from 'aws-lambda';
import { signerFromSetting } from '../../shared/aws/signer';
import { requireEnv } from '../../shared/config';
import { json } from '../../shared/http';
import { httpLambda } from '../commons';

const signer = signerFromSetting(requireEnv('TOKEN_SIGNING_KEY'));

/** GET /.well-known/jwks.json (public): the key set other services verify our tokens with. */
export const lambdaHandler = async (): Promise<APIGatewayProxyResult> =>
  json(200, { keys: [await signer.publicJwk()] }, { 'cache-control': 'public, max-age=300' });

export const handler = httpLambda(lambdaHandler);
