import middy from '@middy/core';
import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { topology } from '../../infra/topology';
import { CLAIM_ANY_SOURCE_PERMISSION, encodeCallerContext } from '../../shared/authorizer-context';
import { createDocumentClient } from '../../shared/aws/clients';
import { DynamoPrincipalStore } from '../../shared/aws/dynamo-principal-store';
import { requireEnv } from '../../shared/config';
import { policyForRoutes } from '../../shared/domain/iam-policy';
import { decide } from '../../shared/domain/permissions';
import { authenticateApiKey } from '../../shared/domain/principals';
import { logger } from '../../shared/observability';

const store = new DynamoPrincipalStore(createDocumentClient(), requireEnv('PRINCIPALS_TABLE_NAME'));
const identityHeader = topology.authorizer.identityHeader.toLowerCase();

function identity(event: APIGatewayRequestAuthorizerEvent): string | undefined {
  for (const [name, value] of Object.entries(event.headers ?? {})) {
    if (name.toLowerCase() === identityHeader && value) return value;
  }
  return undefined;
}

/**
 * API key -> principal -> permissions -> an IAM policy covering every route the principal may call (the decision is
 * cached per key for all routes). Throwing `Unauthorized` is API Gateway's contract for a 401.
 */
export const lambdaHandler = async (event: APIGatewayRequestAuthorizerEvent): Promise<APIGatewayAuthorizerResult> => {
  const result = await authenticateApiKey(identity(event), store, new Date());
  if (!result.ok) {
    // The reason and the key id are safe to log; the presented key never is.
    logger.info('credential refused', { reason: result.reason, keyId: result.keyId });
    throw new Error('Unauthorized');
  }
  const { principal } = result;
  const allowed = topology.routes.filter((route) => decide(principal.grants, route.permission).allowed);
  logger.info('credential accepted', {
    principalId: principal.principalId,
    keyId: principal.keyId,
    allowedRoutes: allowed.length,
  });
  return {
    principalId: principal.principalId,
    policyDocument: policyForRoutes(event.methodArn, allowed),
    context: encodeCallerContext({
      principalId: principal.principalId,
      principalName: principal.name,
      keyId: principal.keyId,
      role: principal.grants.role,
      eventTypes: principal.eventTypes,
      mayClaimAnySource: decide(principal.grants, CLAIM_ANY_SOURCE_PERMISSION).allowed,
    }),
  };
};

export const handler = middy(lambdaHandler);
