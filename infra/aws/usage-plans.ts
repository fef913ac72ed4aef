import * as apigw from 'aws-cdk-lib/aws-apigateway';
import type { Construct } from 'constructs';
import { RATE_LIMIT_ANSWERS, rolePlanId, roleUsageKey } from '../../shared/domain/rate-limits';
import type { RolesDocument } from '../../shared/domain/roles';

const pascal = (name: string): string =>
  name
    .split(/[^A-Za-z0-9]+/)
    .map((p) => p.charAt(0).toUpperCase() + p.slice(1))
    .join('');

/** A role's usage plan and the one API key its callers without a key of their own share. */
export interface RoleUsagePlan {
  plan: apigw.UsagePlan;
  sharedKey: apigw.ApiKey;
}

/**
 * Per-producer rate limits in API Gateway (ADR 0013). The API takes usage keys from the authorizer
 * (`apiKeySource: AUTHORIZER`, set on the RestApi) and every authorized method requires one (`apiKeyRequired`), so
 * each request is metered against the usage plan of the key the authorizer returns as `usageIdentifierKey`.
 *
 * One usage plan per role, its throttle and daily quota taken from `policies/roles.json`, on the API's stage; one API
 * key per role (value `roleUsageKey(role, service)`: values are unique per account and region, so scoped by the mesh) for the role's callers that have no key of their own. A principal's own
 * key (`usageKeyFor`, one bucket per principal) is an API key of its role's plan, or of a custom tier's plan, made
 * when the principal is (the `UsageKeyRegistry` port); those are operational data, not part of the template.
 */
export function buildUsagePlans(
  scope: Construct,
  api: apigw.RestApi,
  roles: RolesDocument['roles'],
  service: string,
): Record<string, RoleUsagePlan> {
  const plans: Record<string, RoleUsagePlan> = {};
  for (const [role, spec] of Object.entries(roles)) {
    const { rate, burst, dailyQuota } = spec.limits;
    const plan = new apigw.UsagePlan(scope, `UsagePlan${pascal(role)}`, {
      name: `${service}-${rolePlanId(role)}`,
      description: `Role ${role}: ${rate} requests/s, burst ${burst}${dailyQuota ? `, ${dailyQuota} per UTC day` : ''}`,
      throttle: { rateLimit: rate, burstLimit: burst },
      ...(dailyQuota === undefined ? {} : { quota: { limit: dailyQuota, period: apigw.Period.DAY } }),
      apiStages: [{ api, stage: api.deploymentStage }],
    });
    // Not a credential: with apiKeySource AUTHORIZER API Gateway takes usage keys only from the authorizer.
    const sharedKey = new apigw.ApiKey(scope, `UsageKey${pascal(role)}Shared`, {
      apiKeyName: `${service}-${rolePlanId(role)}-shared`,
      description: `Usage key of role ${role}'s callers without a key of their own (one shared bucket)`,
      value: roleUsageKey(role, service),
      enabled: true,
    });
    plan.addApiKey(sharedKey);
    plans[role] = { plan, sharedKey };
  }

  // Over a limit: 429 with Retry-After and the project's error body, as the local gateway answers.
  const throttled = RATE_LIMIT_ANSWERS.throttled;
  const quota = RATE_LIMIT_ANSWERS['quota-exceeded'];
  for (const [id, type, answer] of [
    ['Throttled', apigw.ResponseType.THROTTLED, throttled],
    ['QuotaExceeded', apigw.ResponseType.QUOTA_EXCEEDED, quota],
  ] as const)
    api.addGatewayResponse(id, {
      type,
      statusCode: String(answer.statusCode),
      responseHeaders: { 'Retry-After': `'${answer.retryAfterSeconds}'` },
      templates: { 'application/json': JSON.stringify({ message: answer.message }) },
    });
  // A usage key that is in no plan of the stage (API Gateway's INVALID_API_KEY): 403 in the project's shape.
  api.addGatewayResponse('InvalidUsageKey', {
    type: apigw.ResponseType.INVALID_API_KEY,
    statusCode: '403',
    templates: { 'application/json': JSON.stringify({ message: 'Forbidden' }) },
  });
  return plans;
}
