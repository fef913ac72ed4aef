import { planIdOfUsageKey, planLimits, RATE_LIMIT_ANSWERS, type RateLimits } from '../../shared/domain/rate-limits';
import { roleLimits } from '../../shared/domain/roles';
import { RateLimiter } from '../../shared/domain/token-bucket';

/** An answer the gateway gives instead of calling the integration. */
export interface MeterRefusal {
  status: number;
  body: { message: string };
  headers: Record<string, string>;
}

/**
 * API Gateway's usage plans, locally (ADR 0013): the authorizer's `usageIdentifierKey` names a plan, whose numbers
 * come from the same data the CDK stack builds its plans from (roles.json, or the custom tier in the key). One token
 * bucket and one daily count per key. A key that names no plan is refused as API Gateway refuses a key that is not in
 * a usage plan of the stage: 403.
 */
export class UsagePlanMeter {
  private readonly limiter = new RateLimiter();
  throttled = 0;
  quotaExceeded = 0;

  constructor(
    private readonly limitsOf: (planId: string) => RateLimits | undefined = (planId) => planLimits(planId, roleLimits),
    private readonly now: () => number = Date.now,
  ) {}

  /** Undefined to let the request through (it took a token and counts towards the quota), else the answer. */
  meter(usageKey: string | undefined): MeterRefusal | undefined {
    const planId = usageKey === undefined ? undefined : planIdOfUsageKey(usageKey);
    const limits = planId === undefined ? undefined : this.limitsOf(planId);
    if (usageKey === undefined || limits === undefined)
      return { status: 403, body: { message: 'Forbidden' }, headers: {} };
    const decision = this.limiter.take(usageKey, limits, this.now());
    if (decision.allowed) return undefined;
    if (decision.reason === 'throttled') this.throttled++;
    else this.quotaExceeded++;
    const answer = RATE_LIMIT_ANSWERS[decision.reason];
    return {
      status: answer.statusCode,
      body: { message: answer.message },
      headers: { 'retry-after': String(decision.retryAfterSeconds) },
    };
  }

  /** Full buckets and fresh quotas for every key (tests, `POST <control>/usage-plans/reset`). */
  reset(): void {
    this.limiter.forget();
  }
}
