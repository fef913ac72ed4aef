import middy from '@middy/core';
import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { topology } from '../../infra/topology';
import { encodeCallerContext } from '../../shared/authorizer-context';
import { createDocumentClient } from '../../shared/aws/clients';
import { DynamoPrincipalStore } from '../../shared/aws/dynamo-principal-store';
import { signerFromSetting } from '../../shared/aws/signer';
import { ConfigError, intEnv, requireEnv } from '../../shared/config';
import { credentialFrom, headerValues } from '../../shared/domain/credentials';
import { DecisionCache } from '../../shared/domain/decision-cache';
import { policyForRoutes } from '../../shared/domain/iam-policy';
import { decide } from '../../shared/domain/permissions';
import {
  type AuthenticatedPrincipal,
  Authenticator,
  type AuthResult,
  callerContextOf,
} from '../../shared/domain/principals';
import { TokenVerifier, TrustedIssuersSchema } from '../../shared/domain/tokens';
import { logger } from '../../shared/observability';

const store = new DynamoPrincipalStore(createDocumentClient(), requireEnv('PRINCIPALS_TABLE_NAME'));
const signer = signerFromSetting(requireEnv('TOKEN_SIGNING_KEY'));
const ownIssuer = { issuer: requireEnv('JWT_ISSUER'), audience: requireEnv('JWT_AUDIENCE') };
const trustedIssuers = (() => {
  const parsed = TrustedIssuersSchema.safeParse(JSON.parse(requireEnv('JWT_TRUSTED_ISSUERS')));
  if (!parsed.success) throw new ConfigError(`JWT_TRUSTED_ISSUERS is invalid: ${parsed.error.message}`);
  return parsed.data;
})();
// The own public key may come from KMS: fetched once, on first use.
let verifier: Promise<TokenVerifier> | undefined;
const tokenVerifier = () => {
  verifier ??= signer.publicJwk().then((jwk) => new TokenVerifier({ ...ownIssuer, jwk }, trustedIssuers));
  verifier.catch(() => {
    verifier = undefined;
  });
  return verifier;
};
const authenticator = new Authenticator({
  store,
  verifier: tokenVerifier,
  cache: new DecisionCache<AuthenticatedPrincipal>({
    ttlMs: intEnv('AUTH_CACHE_TTL_SECONDS', 300) * 1000,
    epochCheckMs: intEnv('AUTH_EPOCH_CHECK_SECONDS', 5) * 1000,
    readEpoch: () => store.getAuthEpoch(),
  }),
});

async function authenticate(event: APIGatewayRequestAuthorizerEvent): Promise<AuthResult> {
  // Every value of each credential header (multiValueHeaders): one sent twice is refused, not its last value taken.
  const credential = credentialFrom((name) => headerValues(event, name));
  if (typeof credential === 'string') return { ok: false, reason: credential };
  try {
    return await authenticator.authenticate(credential);
  } catch (error) {
    // Not the caller's fault: any throw but `Unauthorized` is the gateway's 503 + Retry-After (ADR 0003).
    logger.error('credential could not be checked', { error });
    throw new Error('AuthorizerUnavailable');
  }
}

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
  const allowed = topology.routes.filter(
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

export const handler = middy(lambdaHandler);
