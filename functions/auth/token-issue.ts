import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { decodeCallerContext } from '../../shared/authorizer-context';
import { signerFromSetting } from '../../shared/aws/signer';
import { intEnv, requireEnv } from '../../shared/config';
import { Rejection } from '../../shared/domain/errors';
import { issueToken } from '../../shared/domain/tokens';
import { json } from '../../shared/http';
import { logger } from '../../shared/observability';
import { httpLambda } from '../commons';

const own = {
  issuer: requireEnv('JWT_ISSUER'),
  audience: requireEnv('JWT_AUDIENCE'),
  signer: signerFromSetting(requireEnv('TOKEN_SIGNING_KEY')),
};
const ttlSeconds = intEnv('JWT_TTL_SECONDS', 900);

/**
 * POST /auth/token: a caller authenticated by API key gets a short-lived JWT for the same principal. The token
 * carries the principal id as `sub`; its current role and overrides are applied again on every use. It expires at
 * the key's own expiry when that comes first (the authorizer refuses it from then on anyway: this tells the client).
 */
export const lambdaHandler = async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
  const caller = decodeCallerContext(event.requestContext.authorizer);
  // A token must not mint tokens: that would extend a credential past its lifetime without bound.
  if (caller.credentialType !== 'api-key') throw new Rejection('forbidden', 'Tokens are issued only for API keys');
  const { token, expiresAt, expiresIn } = await issueToken(own, {
    subject: caller.principalId,
    roles: caller.role.split(',').filter(Boolean),
    name: caller.principalName,
    keyId: caller.keyId,
    ttlSeconds,
    ...(caller.credentialExpiresAt === undefined ? {} : { notAfter: new Date(caller.credentialExpiresAt) }),
  });
  logger.info('token issued', { principalId: caller.principalId, keyId: caller.keyId, expiresAt });
  return json(200, { token, tokenType: 'Bearer', expiresIn, expiresAt });
};

export const handler = httpLambda(lambdaHandler);
