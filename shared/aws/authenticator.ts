import { ConfigError, intEnv, requireEnv } from '../config';
import { DecisionCache } from '../domain/decision-cache';
import { type AuthenticatedPrincipal, Authenticator } from '../domain/principals';
import { TokenVerifier, TrustedIssuersSchema } from '../domain/tokens';
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
  });
  return { authenticator, store };
}
