import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { routes } from '../../infra/topology/routes';
import { encodeCallerContext } from '../../shared/authorizer-context';
import { authenticateCredential, authenticatorFromEnv } from '../../shared/aws/authenticator';
import { credentialFrom, headerValues } from '../../shared/domain/credentials';
import { policyForRoutes } from '../../shared/domain/iam-policy';
import { decide } from '../../shared/domain/permissions';
import { type AuthResult, callerContextOf } from '../../shared/domain/principals';
import type { RouteSpec } from '../../shared/domain/routes';
import { logger } from '../../shared/observability';
import { lambda } from '../commons';

const { authenticator } = authenticatorFromEnv();
const httpRoutes: readonly RouteSpec[] = routes;

// Every value of each credential header (multiValueHeaders): one sent twice is refused, not its last value taken.
const authenticate = (event: APIGatewayRequestAuthorizerEvent): Promise<AuthResult> =>
  authenticateCredential(
    authenticator,
    credentialFrom((name) => headerValues(event, name)),
  );

/**
 * API key or bearer JWT -> principal -> permissions -> an IAM policy covering every route the principal may call.
 * Throwing `Unauthorized` is API Gateway's contract for a 401; a policy without the route gives a 403. The usage key
 * names the principal's rate limits (429 from the gateway over them).
 */
export const lambdaHandler = async (event: APIGatewayRequestAuthorizerEvent): Promise<APIGatewayAuthorizerResult> => {
  const result = await authenticate(event);
  if (!result.ok) {
    // The reason and the key id are safe to log; the presented credential never is.
    logger.info('credential refused', { reason: result.reason, keyId: result.keyId });
    throw new Error('Unauthorized');
  }
  const { principal } = result;
  const allowed = httpRoutes.filter(
    (route) => route.auth !== 'none' && decide(principal.grants, route.permission).allowed,
  );
  logger.info('credential accepted', {
    principalId: principal.principalId,
    credential: principal.credential,
    allowedRoutes: allowed.length,
  });
  return {
    principalId: principal.principalId,
    policyDocument: policyForRoutes(event.methodArn, allowed),
    context: encodeCallerContext(callerContextOf(principal)),
    // apiKeySource AUTHORIZER: API Gateway meters the request against the usage plan of this key (ADR 0013).
    ...(principal.usageKey === undefined ? {} : { usageIdentifierKey: principal.usageKey }),
  };
};

export const handler = lambda(lambdaHandler);
