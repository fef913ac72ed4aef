import * as fs from 'node:fs';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { TelemetryEventMeshStack } from '../../infra/aws/stack';
import { routes } from '../../infra/topology';
import rolesJson from '../../policies/roles.json' with { type: 'json' };
import { usageKeyOf } from '../../shared/domain/principals';
import {
  planFor,
  planIdOfUsageKey,
  planLimits,
  RATE_LIMIT_ANSWERS,
  roleUsageKey,
  usageKeyFor,
} from '../../shared/domain/rate-limits';
import { type RolesDocument, roleLimits, roles } from '../../shared/domain/roles';
import { stubRepoRoot } from './stub-root';

/**
 * ADR 0013 in the template: usage plans wired to the authorizer's usageIdentifierKey, their numbers taken from
 * policies/roles.json. Built like stack.test.ts (stand-in entries, no bundling).
 */
const stubRoot = stubRepoRoot('usage-test');

/** The stack, with the shipped roles or with a roles file of these roles (the `rolesFile` prop). */
function synth(rolesDoc?: RolesDocument['roles']) {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  let rolesFile: string | undefined;
  if (rolesDoc) {
    rolesFile = path.join(stubRoot, 'roles.json');
    fs.writeFileSync(rolesFile, JSON.stringify({ roles: rolesDoc }));
  }
  const stack = new TelemetryEventMeshStack(app, 'TelemetryEventMesh', {
    repoRoot: stubRoot,
    ...(rolesFile ? { rolesFile } : {}),
  });
  return { stack, template: Template.fromStack(stack) };
}

const { stack, template } = synth();
type Resources = Record<string, { Type: string; Properties: Record<string, unknown> }>;
const resourcesOf = (type: string) => template.findResources(type) as Resources;
const logicalId = (c: { node: { defaultChild?: unknown } }) => stack.getLogicalId(c.node.defaultChild as never);
const shippedRoles = Object.keys(rolesJson.roles);

describe('usage plans (per-producer rate limits, ADR 0013)', () => {
  it('the API takes usage keys from the authorizer, never from a caller header', () => {
    template.hasResourceProperties('AWS::ApiGateway::RestApi', { ApiKeySourceType: 'AUTHORIZER' });
  });

  it('every authorized method requires a usage key; the public ones do not', () => {
    const methods = Object.values(resourcesOf('AWS::ApiGateway::Method'));
    expect(methods).toHaveLength(routes.length);
    const authorized = routes.filter((r) => (r as { auth?: string }).auth !== 'none').length;
    expect(methods.filter((m) => m.Properties.ApiKeyRequired === true)).toHaveLength(authorized);
    for (const m of methods)
      expect(m.Properties.ApiKeyRequired === true).toBe(m.Properties.AuthorizationType === 'CUSTOM');
  });

  it('has one usage plan per role, on the stage, with the throttle and daily quota of policies/roles.json', () => {
    template.resourceCountIs('AWS::ApiGateway::UsagePlan', shippedRoles.length);
    for (const role of shippedRoles) {
      const limits = roleLimits(role);
      if (!limits) throw new Error(`role ${role}`);
      const plan = resourcesOf('AWS::ApiGateway::UsagePlan')[logicalId(stack.mesh.usagePlans[role]?.plan as never)];
      expect(plan?.Properties).toMatchObject({
        UsagePlanName: `tem-role-${role}`,
        Throttle: { RateLimit: limits.rate, BurstLimit: limits.burst },
        ApiStages: [
          { ApiId: { Ref: logicalId(stack.mesh.api) }, Stage: { Ref: logicalId(stack.mesh.api.deploymentStage) } },
        ],
      });
      expect(plan?.Properties.Quota).toEqual(
        limits.dailyQuota === undefined ? undefined : { Limit: limits.dailyQuota, Period: 'DAY' },
      );
    }
    // The shipped roles differ in this respect, so both branches above are exercised.
    expect(shippedRoles.some((r) => roleLimits(r)?.dailyQuota !== undefined)).toBe(true);
    expect(shippedRoles.some((r) => roleLimits(r)?.dailyQuota === undefined)).toBe(true);
  });

  it("each role's plan holds the API key whose value the authorizer returns for its callers without their own", () => {
    const keys = resourcesOf('AWS::ApiGateway::ApiKey');
    const planKeys = Object.values(resourcesOf('AWS::ApiGateway::UsagePlanKey'));
    for (const role of shippedRoles) {
      const entry = stack.mesh.usagePlans[role];
      if (!entry) throw new Error(`no plan for ${role}`);
      const keyId = logicalId(entry.sharedKey);
      // What the authorizer returns as usageIdentifierKey for a caller of this role without a key of its own.
      expect(keys[keyId]?.Properties).toMatchObject({ Value: usageKeyOf([role]), Enabled: true });
      expect(usageKeyOf([role])).toBe(roleUsageKey(role));
      expect(planKeys).toContainEqual(
        expect.objectContaining({
          Properties: { KeyId: { Ref: keyId }, KeyType: 'API_KEY', UsagePlanId: { Ref: logicalId(entry.plan) } },
        }),
      );
    }
  });

  it("a principal's own usage key names a plan whose numbers are the plan's (role) or its override's (custom)", () => {
    const producer = roleLimits('producer');
    if (!producer) throw new Error('producer');
    const own = usageKeyFor('svc-orders', planFor('producer', producer).id);
    expect(planIdOfUsageKey(own)).toBe('role-producer');
    expect(usageKeyOf(['producer'], { usageKey: own })).toBe(own);
    const custom = planFor('producer', producer, { rate: 3, burst: 6, dailyQuota: 100 });
    expect(planLimits(planIdOfUsageKey(usageKeyFor('p', custom.id)) ?? '', roleLimits)).toEqual({
      rate: 3,
      burst: 6,
      dailyQuota: 100,
    });
  });

  it('the numbers follow the roles document (a changed role changes its plan)', () => {
    const producer = roles.producer;
    if (!producer) throw new Error('producer');
    const changed = { ...roles, producer: { ...producer, limits: { rate: 7, burst: 9, dailyQuota: 1234 } } };
    const other = synth(changed).template;
    other.hasResourceProperties('AWS::ApiGateway::UsagePlan', {
      UsagePlanName: 'tem-role-producer',
      Throttle: { RateLimit: 7, BurstLimit: 9 },
      Quota: { Limit: 1234, Period: 'DAY' },
    });
  });

  it.each([
    ['THROTTLED', RATE_LIMIT_ANSWERS.throttled],
    ['QUOTA_EXCEEDED', RATE_LIMIT_ANSWERS['quota-exceeded']],
  ] as const)('gateway response %s: 429 with Retry-After and a JSON message', (type, answer) => {
    template.hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
      ResponseType: type,
      StatusCode: '429',
      ResponseParameters: { 'gatewayresponse.header.Retry-After': `'${answer.retryAfterSeconds}'` },
      ResponseTemplates: { 'application/json': JSON.stringify({ message: answer.message }) },
    });
  });

  it('a usage key in no plan is a 403 in the project shape', () => {
    template.hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
      ResponseType: 'INVALID_API_KEY',
      StatusCode: '403',
      ResponseTemplates: { 'application/json': Match.stringLikeRegexp('Forbidden') },
    });
  });
});
