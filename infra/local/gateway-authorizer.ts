import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { z } from 'zod';
import { AUTHORIZER_UNAVAILABLE } from '../../shared/domain/decision-cache';
import type { PolicyDocument } from '../../shared/domain/iam-policy';
import type { AuthorizerSpec } from '../topology';
import { FunctionError } from './function-host';
import { HttpError } from './gateway-responses';

export const AuthorizerResultSchema = z.object({
  principalId: z.string().min(1),
  policyDocument: z.object({
    Version: z.string(),
    Statement: z.array(
      z.object({
        Action: z.union([z.string(), z.array(z.string())]),
        Effect: z.enum(['Allow', 'Deny']),
        Resource: z.union([z.string(), z.array(z.string())]),
      }),
    ),
  }),
  context: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).nullish(),
  usageIdentifierKey: z.string().nullish(),
});

export interface CachedDecision {
  principalId: string;
  policy: PolicyDocument;
  context: Record<string, string>;
  usageKey?: string;
  expiresAt: number;
}

/** Bounded so that a flood of distinct (bad) keys cannot grow memory without limit. */
const CACHE_LIMIT = 10_000;

/**
 * The identity sources' values, joined: the decision cache's key (undefined when the authorizer has none). Null when
 * one is missing or empty: API Gateway then answers 401 itself, without calling the authorizer.
 */
export function identityKey(spec: AuthorizerSpec, headers: Record<string, string>): string | undefined | null {
  const values: string[] = [];
  for (const source of spec.identitySources) {
    const wanted = source.toLowerCase();
    const value = Object.entries(headers).find(([k]) => k.toLowerCase() === wanted)?.[1];
    if (value === undefined || value === '') return null;
    values.push(value);
  }
  return values.length > 0 ? values.join('\u0000') : undefined;
}

/** The REQUEST authorizer with its decision cached per identity for the TTL, as API Gateway caches it. */
export class CachingAuthorizer {
  private readonly cache = new Map<string, CachedDecision>();
  invocations = 0;

  constructor(
    private readonly spec: AuthorizerSpec,
    private readonly invoke: (functionName: string, event: unknown) => Promise<unknown>,
    private readonly log: (message: string, fields?: Record<string, unknown>) => void,
  ) {}

  /** Forget cached decisions (all, or one identity). */
  flush(identity?: string): void {
    if (identity === undefined) this.cache.clear();
    else this.cache.delete(identity);
  }

  /** The decision for `identity`, cached or fresh; an HttpError (401, or the 5xx gateway response) otherwise. */
  async authorize(identity: string | undefined, event: APIGatewayRequestAuthorizerEvent): Promise<CachedDecision> {
    const cached = identity === undefined ? undefined : this.cache.get(identity);
    if (cached && cached.expiresAt > Date.now()) return cached;
    this.invocations++;
    let raw: unknown;
    try {
      raw = await this.invoke(this.spec.function, event);
    } catch (error) {
      if (error instanceof FunctionError && error.errorMessage === 'Unauthorized')
        throw new HttpError(401, { message: 'Unauthorized' });
      this.log('authorizer failed', { error: (error as Error).message });
      throw authorizerUnavailable();
    }
    const parsed = AuthorizerResultSchema.safeParse(raw);
    if (!parsed.success) {
      // API Gateway's AuthorizerConfigurationException.
      this.log('authorizer returned an invalid result');
      throw authorizerUnavailable();
    }
    const result = parsed.data as APIGatewayAuthorizerResult;
    const decision: CachedDecision = {
      principalId: result.principalId,
      policy: result.policyDocument as PolicyDocument,
      // API Gateway hands context values to the integration as strings.
      context: Object.fromEntries(Object.entries(result.context ?? {}).map(([k, v]) => [k, String(v)])),
      ...(parsed.data.usageIdentifierKey ? { usageKey: parsed.data.usageIdentifierKey } : {}),
      expiresAt: Date.now() + this.spec.resultTtlSeconds * 1000,
    };
    if (identity !== undefined && this.spec.resultTtlSeconds > 0) {
      if (this.cache.size >= CACHE_LIMIT) {
        const oldest = this.cache.keys().next().value;
        if (oldest !== undefined) this.cache.delete(oldest);
      }
      this.cache.set(identity, decision);
    }
    return decision;
  }
}

/** The gateway response the CDK stack sets for AUTHORIZER_CONFIGURATION_ERROR and AUTHORIZER_FAILURE. */
function authorizerUnavailable(): HttpError {
  const { statusCode, retryAfterSeconds, message } = AUTHORIZER_UNAVAILABLE;
  return new HttpError(statusCode, { message }, { 'retry-after': String(retryAfterSeconds) });
}
