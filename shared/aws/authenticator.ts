import { ConfigError, intEnv, optionalEnv, requireEnv } from '../config';
import type { PresentedCredential } from '../domain/credentials';
import { DecisionCache } from '../domain/decision-cache';
import { type AuthenticatedPrincipal, Authenticator, type AuthFailure, type AuthResult } from '../domain/principals';
import { TokenVerifier, TrustedIssuersSchema } from '../domain/tokens';
import { logger } from '../observability';
import { createDocumentClient } from './clients';
import { DynamoPrincipalStore } from './dynamo-principal-store';
import { signerFromSetting } from './signer';

/**
 * The authenticator of the API's authorizers (HTTP and WebSocket), from their settings, read once at cold start:
 * the principals table, this issuer's public key (from KMS: fetched once, on first use), the trusted issuers, and the
 * decision cache with its revocation-epoch check.
 */
export function authenticatorFromEnv(): { authenticator: Authenticator; store: DynamoPrincipalStore } {
  const store = new DynamoPrincipalStore(createDocumentClient(), requireEnv('PRINCIPALS_TABLE_NAME'));
  const signer = signerFromSetting(requireEnv('TOKEN_SIGNING_KEY'));
  const ownIssuer = { issuer: requireEnv('JWT_ISSUER'), audience: requireEnv('JWT_AUDIENCE') };
  const parsed = TrustedIssuersSchema.safeParse(JSON.parse(requireEnv('JWT_TRUSTED_ISSUERS')));
  if (!parsed.success) throw new ConfigError(`JWT_TRUSTED_ISSUERS is invalid: ${parsed.error.message}`);
  const trustedIssuers = parsed.data;
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
    // Set by the CDK construct to its name prefix; unset (the default mesh, the embedded stack): keys as they are.
    ...usageKeyScopeOf(optionalEnv('USAGE_KEY_SCOPE')),
  });
  return { authenticator, store };
}

const USAGE_KEY_SCOPE = /^[a-z][a-z0-9-]{0,20}$/;

function usageKeyScopeOf(scope: string | undefined): { usageKeyScope?: string } {
  if (scope === undefined) return {};
  if (!USAGE_KEY_SCOPE.test(scope))
    throw new ConfigError(`Setting USAGE_KEY_SCOPE must be a mesh name prefix ([a-z][a-z0-9-]{0,20}), got "${scope}"`);
  return { usageKeyScope: scope };
}

/**
 * A presented credential (or why none could be read) to an authentication result. Any throw but a refusal means the
 * credential could not be checked (the principals table or the key unreachable): not the caller's fault, so it is
 * rethrown as `AuthorizerUnavailable`, which the gateway answers with a 5xx (ADR 0003), never a 401.
 */
export async function authenticateCredential(
  authenticator: Authenticator,
  credential: PresentedCredential | AuthFailure,
): Promise<AuthResult> {
  if (typeof credential === 'string') return { ok: false, reason: credential };
  try {
    return await authenticator.authenticate(credential);
  } catch (error) {
    logger.error('credential could not be checked', { error });
    throw new Error('AuthorizerUnavailable');
  }
}
