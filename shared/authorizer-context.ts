import { z } from 'zod';

/**
 * What the authorizer hands to the functions behind it. API Gateway carries context values as strings, so both
 * sides go through this one codec.
 */
export interface CallerContext {
  principalId: string;
  principalName: string;
  /** How the caller authenticated: token issuance is only for API-key callers (a token must not mint tokens). */
  credentialType: 'api-key' | 'jwt';
  /** The API key's id, or `-` for a token. */
  keyId: string;
  role: string;
  /** Event-type patterns the caller may emit: enforced by the ingest function, which sees the body. */
  eventTypes: string[];
  mayClaimAnySource: boolean;
  /** Epoch ms at which the presented credential stops being valid (an API key's expiry, a token's `exp`), if ever. */
  credentialExpiresAt?: number;
}

/** Permission that lets a principal set `source` to something other than its own name. */
export const CLAIM_ANY_SOURCE_PERMISSION = 'events.post.any_source';

export function encodeCallerContext(caller: CallerContext): Record<string, string> {
  return {
    principalName: caller.principalName,
    credentialType: caller.credentialType,
    keyId: caller.keyId,
    role: caller.role,
    eventTypes: JSON.stringify(caller.eventTypes),
    mayClaimAnySource: String(caller.mayClaimAnySource),
    ...(caller.credentialExpiresAt === undefined
      ? {}
      : { credentialExpiresAt: new Date(caller.credentialExpiresAt).toISOString() }),
  };
}

const Encoded = z.object({
  principalId: z.string().min(1),
  principalName: z.string().min(1),
  credentialType: z.enum(['api-key', 'jwt']),
  keyId: z.string().min(1),
  role: z.string().min(1),
  eventTypes: z.string(),
  mayClaimAnySource: z.union([z.literal('true'), z.literal('false'), z.boolean()]),
  credentialExpiresAt: z.iso.datetime().optional(),
});

/** Fails loudly: a request without a valid authorizer context is a wiring bug, not a client error. */
export function decodeCallerContext(authorizer: unknown): CallerContext {
  const raw = Encoded.parse(authorizer);
  return {
    principalId: raw.principalId,
    principalName: raw.principalName,
    credentialType: raw.credentialType,
    keyId: raw.keyId,
    role: raw.role,
    eventTypes: z.array(z.string()).parse(JSON.parse(raw.eventTypes)),
    mayClaimAnySource: raw.mayClaimAnySource === true || raw.mayClaimAnySource === 'true',
    ...(raw.credentialExpiresAt === undefined ? {} : { credentialExpiresAt: Date.parse(raw.credentialExpiresAt) }),
  };
}
