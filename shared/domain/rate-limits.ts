import { createHash } from 'node:crypto';
import { z } from 'zod';

/**
 * Per-producer rate limits (ADR 0013). Pure data and pure functions: no I/O, no AWS.
 *
 * A principal's limits come from its role (`policies/roles.json`, `limits`) unless the principal overrides some of
 * them. Both targets enforce them per usage key, the value the HTTP authorizer returns as `usageIdentifierKey`:
 * API Gateway through a usage plan per tier (CDK), the local gateway with a token bucket per key. A tier is a set of
 * numbers: a role's (`role-<name>`) or a per-principal override's (`custom-r<rate>-b<burst>[-q<quota>]`).
 */

/**
 * The stage-wide throttle (infra/aws/stack.ts): a usage plan above it would be a number nobody gets. The limits of
 * a role or principal are validated against it.
 */
export const MAX_RATE_PER_SECOND = 1000;
export const MAX_BURST = 2000;
/** API Gateway's quota limit is an integer; a day of MAX_RATE_PER_SECOND is far beyond any producer. */
export const MAX_DAILY_QUOTA = 100_000_000;

export const RateLimitsSchema = z
  .object({
    /**
     * Steady requests per second (the bucket's refill). At least 1, so a refused request may always retry after
     * one second (`Retry-After: 1`, in both targets).
     */
    rate: z.number().int().min(1).max(MAX_RATE_PER_SECOND),
    /** The bucket's size: requests that may arrive at once after a quiet period. At least the rate. */
    burst: z.number().int().min(1).max(MAX_BURST),
    /** Requests per UTC day, if limited. */
    dailyQuota: z.number().int().min(1).max(MAX_DAILY_QUOTA).optional(),
  })
  .strict()
  .refine((l) => l.burst >= l.rate, {
    message: 'burst must be at least the rate (a bucket smaller than one second of requests refuses the rate itself)',
    path: ['burst'],
  });

export type RateLimits = z.infer<typeof RateLimitsSchema>;

/** A per-principal override: any of the numbers, the rest from the role. */
export const RateLimitsOverrideSchema = z
  .object({
    rate: z.number().int().optional(),
    burst: z.number().int().optional(),
    dailyQuota: z.number().int().optional(),
  })
  .strict();
export type RateLimitsOverride = z.infer<typeof RateLimitsOverrideSchema>;

/** A usage plan: what API Gateway (and the local gateway) enforce for every key associated with it. */
export interface UsagePlan {
  id: string;
  limits: RateLimits;
}

export const rolePlanId = (role: string): string => `role-${role}`;

/** A role's limits merged with a principal's override, validated: a clear message naming what is wrong. */
export function effectiveLimits(role: RateLimits, override?: RateLimitsOverride): RateLimits {
  if (!override) return role;
  const merged = {
    rate: override.rate ?? role.rate,
    burst: override.burst ?? role.burst,
    ...((override.dailyQuota ?? role.dailyQuota) === undefined
      ? {}
      : { dailyQuota: override.dailyQuota ?? role.dailyQuota }),
  };
  const parsed = RateLimitsSchema.safeParse(merged);
  if (!parsed.success) throw new RangeError(describeLimitsProblem(parsed.error));
  return parsed.data;
}

/** zod's issues as one sentence: `rate: too big (at most 1000); burst: ...`. */
export function describeLimitsProblem(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || 'limits'}: ${i.message}`).join('; ');
}

const sameLimits = (a: RateLimits, b: RateLimits) =>
  a.rate === b.rate && a.burst === b.burst && a.dailyQuota === b.dailyQuota;

/** The plan (tier) of a principal: its role's, or the custom tier of its numbers when it overrides them. */
export function planFor(role: string, roleLimits: RateLimits, override?: RateLimitsOverride): UsagePlan {
  const limits = effectiveLimits(roleLimits, override);
  if (sameLimits(limits, roleLimits)) return { id: rolePlanId(role), limits };
  const quota = limits.dailyQuota === undefined ? '' : `-q${limits.dailyQuota}`;
  return { id: `custom-r${limits.rate}-b${limits.burst}${quota}`, limits };
}

/**
 * The numbers of a plan id: a role's from the roles document, a custom tier's from its id. Undefined for an id that
 * names no plan (API Gateway answers such a key with 403).
 */
export function planLimits(
  planId: string,
  roleLimits: (role: string) => RateLimits | undefined,
): RateLimits | undefined {
  if (planId.startsWith('role-')) return roleLimits(planId.slice('role-'.length));
  const m = /^custom-r(\d+)-b(\d+)(?:-q(\d+))?$/.exec(planId);
  if (!m) return undefined;
  const parsed = RateLimitsSchema.safeParse({
    rate: Number(m[1]),
    burst: Number(m[2]),
    ...(m[3] === undefined ? {} : { dailyQuota: Number(m[3]) }),
  });
  return parsed.success ? parsed.data : undefined;
}

const USAGE_KEY = /^tem_([a-z0-9_-]+?)_([0-9a-f]{24}|shared-usage-key(?:-[a-z][a-z0-9-]*)?)$/;

/**
 * API Gateway's API key values are unique per account and region, so two meshes there need different values for the
 * same role or principal: a mesh's usage keys are scoped by its name prefix. The default mesh (`tem`) keeps the
 * values it had before scopes existed, so a deployed stack's keys are not replaced.
 */
export const DEFAULT_USAGE_KEY_SCOPE = 'tem';

/**
 * A principal's own usage key in a plan: `tem_<plan>_<24 hex of sha256(principal id)>` (of `<scope>/<principal id>`
 * in a mesh with another scope). It is no credential (with `apiKeySource: AUTHORIZER` API Gateway takes it only from
 * the authorizer, never from a caller), so it may be derived; it names its plan so that the local gateway can find
 * the numbers without a registry.
 */
export function usageKeyFor(principalId: string, planId: string, scope = DEFAULT_USAGE_KEY_SCOPE): string {
  const seed = scope === DEFAULT_USAGE_KEY_SCOPE ? principalId : `${scope}/${principalId}`;
  return `tem_${planId}_${createHash('sha256').update(seed).digest('hex').slice(0, 24)}`;
}

/**
 * The one key of a role's plan shared by its callers that have no key of their own (a trusted issuer's subjects, a
 * principal never registered): created by the CDK stack. They share one bucket.
 */
export function roleUsageKey(role: string, scope = DEFAULT_USAGE_KEY_SCOPE): string {
  return `tem_${rolePlanId(role)}_shared-usage-key${scope === DEFAULT_USAGE_KEY_SCOPE ? '' : `-${scope}`}`;
}

/** A role's shared key (`roleUsageKey`) of the default scope in `scope`; any other key as it is. */
export function inUsageKeyScope(key: string, scope: string): string {
  if (scope === DEFAULT_USAGE_KEY_SCOPE || !key.endsWith('_shared-usage-key')) return key;
  return `${key}-${scope}`;
}

/** The plan a usage key names, or undefined when the value is not one of ours. */
export function planIdOfUsageKey(key: string): string | undefined {
  return USAGE_KEY.exec(key)?.[1];
}

/**
 * The answers over a limit, the same in both targets (the CDK stack sets them as the THROTTLED and QUOTA_EXCEEDED
 * gateway responses). `Retry-After` is whole seconds: for the rate, 1 (every rate is ≥ 1/s, so a token is back within
 * a second); for the quota, the local gateway counts the seconds to the next UTC midnight, while API Gateway's gateway
 * responses can only carry a fixed value, `retryAfterSeconds` (an hour).
 */
export const RATE_LIMIT_ANSWERS = {
  throttled: { statusCode: 429, retryAfterSeconds: 1, message: "Too Many Requests: over this principal's rate limit" },
  'quota-exceeded': {
    statusCode: 429,
    retryAfterSeconds: 3600,
    message: "Limit Exceeded: this principal's daily quota is used up (it resets at 00:00 UTC)",
  },
} as const;
