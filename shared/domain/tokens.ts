import { createLocalJWKSet, createRemoteJWKSet, decodeJwt, type JWK, type JWTVerifyGetKey, jwtVerify } from 'jose';
import { z } from 'zod';

/**
 * JWTs: this system issues short-lived ES256 tokens (POST /auth/token) and accepts tokens of configured trusted
 * issuers. Signing goes through a port so the private key can stay in KMS (AWS) or a local file (`.tem/`).
 */
export interface TokenSigner {
  /** Raw ES256 signature (R || S, 64 bytes) of the JWS signing input. */
  sign(signingInput: Uint8Array): Promise<Uint8Array>;
  /** The public key as a JWK with `kid`, `alg` and `use` set: what GET /.well-known/jwks.json serves. */
  publicJwk(): Promise<JWK & { kid: string }>;
}

export const TrustedIssuerSchema = z.object({
  issuer: z.string().min(1),
  jwksUri: z.url(),
  audience: z.string().min(1),
  algorithms: z
    .array(z.enum(['RS256', 'RS384', 'RS512', 'PS256', 'ES256', 'ES384', 'EdDSA']))
    .min(1)
    .default(['RS256', 'ES256']),
  rolesClaim: z.string().min(1).default('roles'),
  clockToleranceSeconds: z.number().int().min(0).max(300).default(60),
});
export type TrustedIssuer = z.infer<typeof TrustedIssuerSchema>;

export const TrustedIssuersSchema = z.array(TrustedIssuerSchema);

export interface OwnIssuer {
  issuer: string;
  audience: string;
  signer: TokenSigner;
}

const encoder = new TextEncoder();
const b64url = (data: Uint8Array | string) =>
  Buffer.from(typeof data === 'string' ? encoder.encode(data) : data).toString('base64url');

export interface IssueRequest {
  subject: string;
  roles: readonly string[];
  ttlSeconds: number;
  name?: string;
  /** The API key the token was exchanged for: revoking that key revokes the token too. */
  keyId?: string;
}

/** Builds and signs a compact JWS by hand, because the signature may come from KMS rather than a local key. */
export async function issueToken(
  own: OwnIssuer,
  request: IssueRequest,
  now: Date = new Date(),
): Promise<{ token: string; expiresAt: string }> {
  const jwk = await own.signer.publicJwk();
  const iat = Math.floor(now.getTime() / 1000);
  const exp = iat + request.ttlSeconds;
  const header = { alg: 'ES256', typ: 'JWT', kid: jwk.kid };
  const payload = {
    iss: own.issuer,
    aud: own.audience,
    sub: request.subject,
    roles: request.roles,
    ...(request.name ? { name: request.name } : {}),
    ...(request.keyId ? { key: request.keyId } : {}),
    iat,
    nbf: iat,
    exp,
    jti: crypto.randomUUID(),
  };
  const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  const signature = await own.signer.sign(encoder.encode(signingInput));
  return { token: `${signingInput}.${b64url(signature)}`, expiresAt: new Date(exp * 1000).toISOString() };
}

export interface VerifiedToken {
  issuer: string;
  subject: string;
  roles: string[];
  /** Epoch ms: a cached decision must not outlive it. */
  expiresAt: number;
  own: boolean;
  /** For this system's own tokens: the API key they were issued for. */
  keyId?: string;
}

export type TokenFailure =
  | 'malformed'
  | 'unknown-issuer'
  | 'expired'
  | 'bad-signature'
  | 'algorithm-not-allowed'
  | 'claim-invalid'
  | 'no-matching-key';

export type VerifyResult = { ok: true; token: VerifiedToken } | { ok: false; reason: TokenFailure };

interface IssuerVerifier {
  issuer: string;
  audience: string;
  algorithms: string[];
  rolesClaim: string;
  clockToleranceSeconds: number;
  keys: JWTVerifyGetKey;
  own: boolean;
}

function rolesFrom(value: unknown): string[] {
  if (typeof value === 'string') return value.split(/[ ,]+/).filter(Boolean);
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  return [];
}

function reasonOf(error: unknown): TokenFailure {
  const code = (error as { code?: string }).code;
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return 'expired';
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return 'bad-signature';
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return 'algorithm-not-allowed';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      return 'claim-invalid';
    case 'ERR_JWKS_NO_MATCHING_KEY':
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return 'no-matching-key';
    default:
      return 'malformed';
  }
}

/**
 * Verifies tokens of this system and of the trusted issuers. The issuer named in the (unverified) payload only
 * picks which keys, audience and algorithms apply; nothing is believed before the signature checks out.
 */
export class TokenVerifier {
  private readonly verifiers: Map<string, IssuerVerifier>;

  constructor(own: { issuer: string; audience: string; jwk: JWK }, trusted: readonly TrustedIssuer[]) {
    this.verifiers = new Map();
    for (const t of trusted) {
      this.verifiers.set(t.issuer, {
        ...t,
        keys: createRemoteJWKSet(new URL(t.jwksUri), { timeoutDuration: 2000, cooldownDuration: 30_000 }),
        own: false,
      });
    }
    this.verifiers.set(own.issuer, {
      issuer: own.issuer,
      audience: own.audience,
      algorithms: ['ES256'],
      rolesClaim: 'roles',
      clockToleranceSeconds: 30,
      keys: createLocalJWKSet({ keys: [own.jwk] }),
      own: true,
    });
  }

  async verify(token: string, now: Date = new Date()): Promise<VerifyResult> {
    let issuer: string | undefined;
    try {
      issuer = decodeJwt(token).iss;
    } catch {
      return { ok: false, reason: 'malformed' };
    }
    const verifier = issuer === undefined ? undefined : this.verifiers.get(issuer);
    if (!verifier) return { ok: false, reason: 'unknown-issuer' };
    try {
      const { payload } = await jwtVerify(token, verifier.keys, {
        issuer: verifier.issuer,
        audience: verifier.audience,
        algorithms: verifier.algorithms,
        clockTolerance: verifier.clockToleranceSeconds,
        requiredClaims: ['sub', 'exp'],
        currentDate: now,
      });
      return {
        ok: true,
        token: {
          issuer: verifier.issuer,
          subject: payload.sub as string,
          roles: rolesFrom(payload[verifier.rolesClaim]),
          expiresAt: (payload.exp as number) * 1000,
          own: verifier.own,
          ...(verifier.own && typeof payload.key === 'string' ? { keyId: payload.key } : {}),
        },
      };
    } catch (error) {
      return { ok: false, reason: reasonOf(error) };
    }
  }
}
