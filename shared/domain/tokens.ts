import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  type JWK,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
} from 'jose';
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
  /** The token expires no later than this (the API key's own expiry): `exp` is the earlier of the two. */
  notAfter?: Date;
}

/** Builds and signs a compact JWS by hand, because the signature may come from KMS rather than a local key. */
export async function issueToken(
  own: OwnIssuer,
  request: IssueRequest,
  now: Date = new Date(),
): Promise<{ token: string; expiresAt: string; expiresIn: number }> {
  const jwk = await own.signer.publicJwk();
  const iat = Math.floor(now.getTime() / 1000);
  // Rounded down: a token must not outlive its key by the fraction of a second.
  const notAfter = request.notAfter === undefined ? undefined : Math.floor(request.notAfter.getTime() / 1000);
  const exp = Math.min(iat + request.ttlSeconds, notAfter ?? Number.POSITIVE_INFINITY);
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
  return {
    token: `${signingInput}.${b64url(signature)}`,
    expiresAt: new Date(exp * 1000).toISOString(),
    expiresIn: exp - iat,
  };
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

function rolesFrom(value: string | string[] | undefined): string[] {
  if (typeof value === 'string') return value.split(/[ ,]+/).filter(Boolean);
  return value ?? [];
}

/** Key ids as api-keys.ts makes them (`tem_<keyId>_<secret>`). */
const KEY_ID = /^[a-z0-9]{16}$/;
/** OpenID Connect: a `sub` is at most 255 ASCII characters; here at most 255 UTF-8 bytes, no control characters. */
const MAX_SUBJECT_BYTES = 255;
// With the `u` flag a surrogate range matches only unpaired surrogates (not text, and not storable as UTF-8).
const NOT_TEXT = /[\p{Cc}\uD800-\uDFFF]/u;

const isStringArray = (value: unknown): value is string[] =>
  Array.isArray(value) && value.every((v) => typeof v === 'string');
const isNumericDate = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

interface CheckedClaims {
  sub: string;
  exp: number;
  roles: string | string[] | undefined;
  key: string | undefined;
}

/**
 * The claims this system uses, each of the type it is used as. jose checks iss, aud, exp, nbf and iat against the
 * options but trusts the rest of a signed payload's shape; a claim of the wrong type (`sub` an object, a non-finite
 * `exp`, roles a number, an own token's `key` that is no key id) is the caller's error, refused like any other bad
 * token, and never reaches the principals table (where it would be a 5xx).
 */
function checkedClaims(payload: JWTPayload, verifier: IssuerVerifier): CheckedClaims | undefined {
  const { sub, exp, nbf, iat, aud } = payload;
  if (typeof sub !== 'string' || sub === '' || Buffer.byteLength(sub, 'utf8') > MAX_SUBJECT_BYTES) return undefined;
  if (NOT_TEXT.test(sub)) return undefined;
  if (!isNumericDate(exp)) return undefined;
  if ((nbf !== undefined && !isNumericDate(nbf)) || (iat !== undefined && !isNumericDate(iat))) return undefined;
  if (typeof aud !== 'string' && !isStringArray(aud)) return undefined;
  const roles = payload[verifier.rolesClaim];
  if (roles !== undefined && typeof roles !== 'string' && !isStringArray(roles)) return undefined;
  // Only this system's tokens are bound to an API key; a trusted issuer's `key` claim means nothing here.
  const key = verifier.own ? payload.key : undefined;
  if (key !== undefined && (typeof key !== 'string' || !KEY_ID.test(key))) return undefined;
  return { sub, exp, roles, key };
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
    let issuer: unknown;
    try {
      // A `kid` that is not a string can match no key: refused before any key set is consulted (or fetched again).
      const { kid } = decodeProtectedHeader(token);
      if (kid !== undefined && typeof kid !== 'string') return { ok: false, reason: 'malformed' };
      issuer = decodeJwt(token).iss;
    } catch {
      return { ok: false, reason: 'malformed' };
    }
    if (typeof issuer !== 'string')
      return { ok: false, reason: issuer === undefined ? 'unknown-issuer' : 'claim-invalid' };
    const verifier = this.verifiers.get(issuer);
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
      const claims = checkedClaims(payload, verifier);
      if (!claims) return { ok: false, reason: 'claim-invalid' };
      return {
        ok: true,
        token: {
          issuer: verifier.issuer,
          subject: claims.sub,
          roles: rolesFrom(claims.roles),
          expiresAt: claims.exp * 1000,
          own: verifier.own,
          ...(claims.key === undefined ? {} : { keyId: claims.key }),
        },
      };
    } catch (error) {
      return { ok: false, reason: reasonOf(error) };
    }
  }
}
