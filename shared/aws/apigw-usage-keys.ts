import {
  type APIGatewayClient,
  ConflictException,
  CreateApiKeyCommand,
  CreateUsagePlanCommand,
  CreateUsagePlanKeyCommand,
  GetApiKeysCommand,
  GetUsagePlansCommand,
} from '@aws-sdk/client-api-gateway';
import type { UsagePlan } from '../domain/rate-limits';
import type { UsageKeyRegistry } from '../ports';

/** The deployed API a usage plan applies to (stack outputs `RestApiId` and `RestApiStage`). */
export interface ApiStage {
  restApiId: string;
  stage: string;
}

/**
 * A principal's own usage key in API Gateway (ADR 0013): an API key whose value is the key the authorizer returns as
 * `usageIdentifierKey`, in the usage plan of its tier. A role's plan is the stack's (`<service>-role-<name>`); a
 * custom tier's plan is made on first use with its numbers, on the API's stage. Every step is idempotent, so
 * registering again (a retried `tem keys create`, a changed override) converges.
 */
export class ApiGatewayUsageKeys implements UsageKeyRegistry {
  private readonly planIds = new Map<string, string>();

  /** The mesh's name prefix: its plans are `<service>-<plan id>`, its keys' values scoped by it. */
  readonly keyScope: string;

  constructor(
    private readonly client: APIGatewayClient,
    private readonly service: string,
    private readonly api: ApiStage,
  ) {
    this.keyScope = service;
  }

  async register(key: string, plan: UsagePlan, principalId: string): Promise<void> {
    const usagePlanId = await this.planId(plan);
    const keyId = await this.apiKeyId(key, principalId);
    try {
      await this.client.send(new CreateUsagePlanKeyCommand({ usagePlanId, keyId, keyType: 'API_KEY' }));
    } catch (error) {
      if (!(error instanceof ConflictException)) throw error; // already in the plan
    }
  }

  private async planId(plan: UsagePlan): Promise<string> {
    const name = `${this.service}-${plan.id}`;
    const known = this.planIds.get(name) ?? (await this.findPlan(name));
    if (known) {
      this.planIds.set(name, known);
      return known;
    }
    if (plan.id.startsWith('role-'))
      throw new Error(`usage plan ${name} is not in this account and region: is the stack deployed here?`);
    const { rate, burst, dailyQuota } = plan.limits;
    const created = await this.client.send(
      new CreateUsagePlanCommand({
        name,
        description: `Custom tier: ${rate} requests/s, burst ${burst}${dailyQuota ? `, ${dailyQuota} per UTC day` : ''}`,
        throttle: { rateLimit: rate, burstLimit: burst },
        ...(dailyQuota === undefined ? {} : { quota: { limit: dailyQuota, period: 'DAY' } }),
        apiStages: [{ apiId: this.api.restApiId, stage: this.api.stage }],
      }),
    );
    if (!created.id) throw new Error(`CreateUsagePlan ${name}: no id returned`);
    this.planIds.set(name, created.id);
    return created.id;
  }

  private async findPlan(name: string): Promise<string | undefined> {
    let position: string | undefined;
    do {
      const page = await this.client.send(new GetUsagePlansCommand({ limit: 500, ...(position ? { position } : {}) }));
      const found = page.items?.find((p) => p.name === name);
      if (found?.id) return found.id;
      position = page.position;
    } while (position);
    return undefined;
  }

  private async apiKeyId(key: string, principalId: string): Promise<string> {
    const name = `${this.service}-${key}`;
    try {
      const created = await this.client.send(
        new CreateApiKeyCommand({ name, value: key, enabled: true, description: `Usage key of ${principalId}` }),
      );
      if (created.id) return created.id;
    } catch (error) {
      if (!(error instanceof ConflictException)) throw error; // made before: find it
    }
    const { items } = await this.client.send(new GetApiKeysCommand({ nameQuery: name, includeValues: true }));
    const existing = items?.find((k) => k.value === key);
    if (!existing?.id) throw new Error(`API key ${name} exists but could not be read back`);
    return existing.id;
  }
}
