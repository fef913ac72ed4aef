import { describe, expect, it } from 'vitest';
import {
  effectiveLimits,
  inUsageKeyScope,
  planFor,
  planIdOfUsageKey,
  planLimits,
  RateLimitsSchema,
  roleUsageKey,
  usageKeyFor,
} from '../../shared/domain/rate-limits';
import { RolesDocumentSchema, roleLimits, roles } from '../../shared/domain/roles';
import { nextUtcMidnight, RateLimiter } from '../../shared/domain/token-bucket';

const T0 = Date.parse('2026-03-01T12:00:00.000Z');

describe('token bucket (per usage key)', () => {
  it('lets a burst through at once, then refuses with Retry-After in whole seconds', () => {
    const limiter = new RateLimiter();
    const limits = { rate: 2, burst: 3 };
    for (let i = 0; i < 3; i++) expect(limiter.take('k', limits, T0).allowed).toBe(true);
    expect(limiter.take('k', limits, T0)).toEqual({ allowed: false, reason: 'throttled', retryAfterSeconds: 1 });
  });

  it('refills at the rate: after 1/rate seconds one more request is served, no sooner', () => {
    const limiter = new RateLimiter();
    const limits = { rate: 4, burst: 4 };
    for (let i = 0; i < 4; i++) limiter.take('k', limits, T0);
    expect(limiter.take('k', limits, T0 + 200).allowed).toBe(false);
    expect(limiter.take('k', limits, T0 + 250).allowed).toBe(true);
    expect(limiter.take('k', limits, T0 + 250).allowed).toBe(false);
  });

  it('never holds more than the burst, however long the key was quiet', () => {
    const limiter = new RateLimiter();
    const limits = { rate: 10, burst: 5 };
    limiter.take('k', limits, T0);
    let served = 0;
    for (let i = 0; i < 20; i++) if (limiter.take('k', limits, T0 + 3_600_000).allowed) served++;
    expect(served).toBe(5);
  });

  it('sustains exactly the rate over time (a refused request costs no token)', () => {
    const limiter = new RateLimiter();
    const limits = { rate: 5, burst: 5 };
    let served = 0;
    // 50 requests a second for 10 seconds: the burst, then 5 per second.
    for (let ms = 0; ms < 10_000; ms += 20) if (limiter.take('k', limits, T0 + ms).allowed) served++;
    expect(served).toBeGreaterThanOrEqual(5 + 49);
    expect(served).toBeLessThanOrEqual(5 + 50);
  });

  it('keeps one bucket per key: one key over its limit does not touch another', () => {
    const limiter = new RateLimiter();
    const limits = { rate: 1, burst: 1 };
    expect(limiter.take('a', limits, T0).allowed).toBe(true);
    expect(limiter.take('a', limits, T0).allowed).toBe(false);
    expect(limiter.take('b', limits, T0).allowed).toBe(true);
  });

  it('a clock stepping back adds no tokens', () => {
    const limiter = new RateLimiter();
    const limits = { rate: 1, burst: 1 };
    limiter.take('k', limits, T0);
    expect(limiter.take('k', limits, T0 - 60_000).allowed).toBe(false);
  });

  it('stays bounded: beyond maxKeys the least recently used key is forgotten', () => {
    const limiter = new RateLimiter(3);
    for (const k of ['a', 'b', 'c', 'd']) limiter.take(k, { rate: 1, burst: 1 }, T0);
    expect(limiter.size).toBe(3);
    // `a` was forgotten: it starts again with a full bucket.
    expect(limiter.take('a', { rate: 1, burst: 1 }, T0).allowed).toBe(true);
  });
});

describe('daily quota (per UTC day)', () => {
  const limits = { rate: 100, burst: 100, dailyQuota: 3 };

  it('counts served requests and refuses the next with Retry-After = seconds to the next UTC midnight', () => {
    const limiter = new RateLimiter();
    expect(limiter.take('k', limits, T0)).toMatchObject({ allowed: true, remainingQuota: 2 });
    limiter.take('k', limits, T0);
    expect(limiter.take('k', limits, T0)).toMatchObject({ allowed: true, remainingQuota: 0 });
    expect(limiter.take('k', limits, T0)).toEqual({
      allowed: false,
      reason: 'quota-exceeded',
      retryAfterSeconds: 12 * 3600,
    });
  });

  it('resets at 00:00 UTC, not 24 hours after the first request', () => {
    const limiter = new RateLimiter();
    const lateEvening = Date.parse('2026-03-01T23:59:59.000Z');
    for (let i = 0; i < 3; i++) limiter.take('k', limits, lateEvening);
    expect(limiter.take('k', limits, lateEvening)).toMatchObject({ allowed: false, retryAfterSeconds: 1 });
    expect(limiter.take('k', limits, Date.parse('2026-03-02T00:00:00.000Z')).allowed).toBe(true);
    expect(nextUtcMidnight(lateEvening)).toBe(Date.parse('2026-03-02T00:00:00.000Z'));
  });

  it('a throttled request does not count towards the quota', () => {
    const limiter = new RateLimiter();
    const tight = { rate: 1, burst: 1, dailyQuota: 2 };
    expect(limiter.take('k', tight, T0).allowed).toBe(true);
    expect(limiter.take('k', tight, T0)).toMatchObject({ allowed: false, reason: 'throttled' });
    expect(limiter.take('k', tight, T0 + 1000)).toMatchObject({ allowed: true, remainingQuota: 0 });
  });
});

describe('limits as data', () => {
  it('every shipped role states its limits, within the stage ceiling', () => {
    for (const [name, role] of Object.entries(roles))
      expect(RateLimitsSchema.parse(role.limits), name).toEqual(role.limits);
  });

  it.each([
    [{ rate: 0, burst: 1 }, 'rate'],
    [{ rate: 10, burst: 5 }, 'burst must be at least the rate'],
    [{ rate: 1.5, burst: 2 }, 'rate'],
    [{ rate: 5000, burst: 5000 }, 'rate'],
    [{ rate: 1, burst: 1, dailyQuota: 0 }, 'dailyQuota'],
    [{ rate: 1, burst: 1, perMonth: 9 }, 'perMonth'],
  ])('a role with limits %j fails the roles document with a message naming %s', (limits, says) => {
    const doc = {
      roles: { custom: { description: 'x', permissions: ['events.get.*'], eventTypes: ['a.*'], limits } },
    };
    const parsed = RolesDocumentSchema.safeParse(doc);
    expect(parsed.success).toBe(false);
    expect(JSON.stringify(parsed.error?.issues)).toContain(says);
  });

  it('a role without limits fails the roles document', () => {
    const parsed = RolesDocumentSchema.safeParse({
      roles: { custom: { description: 'x', permissions: ['events.get.*'], eventTypes: ['a.*'] } },
    });
    expect(parsed.success).toBe(false);
    expect(JSON.stringify(parsed.error?.issues)).toContain('limits');
  });

  it('a principal overrides some numbers; the rest come from its role; the result is validated', () => {
    const role = { rate: 200, burst: 400 };
    expect(effectiveLimits(role, { rate: 2, burst: 3 })).toEqual({ rate: 2, burst: 3 });
    expect(effectiveLimits(role, { dailyQuota: 10 })).toEqual({ rate: 200, burst: 400, dailyQuota: 10 });
    expect(() => effectiveLimits(role, { rate: 500 })).toThrow(/burst: burst must be at least the rate/);
    expect(() => effectiveLimits(role, { rate: 0 })).toThrow(/rate/);
  });

  it('the plan is the role plan unless the numbers differ; a custom tier is named by its numbers', () => {
    const producer = roleLimits('producer');
    if (!producer) throw new Error('producer');
    expect(planFor('producer', producer).id).toBe('role-producer');
    expect(planFor('producer', producer, { rate: producer.rate }).id).toBe('role-producer');
    const custom = planFor('producer', producer, { rate: 2, burst: 3, dailyQuota: 50 });
    expect(custom).toEqual({ id: 'custom-r2-b3-q50', limits: { rate: 2, burst: 3, dailyQuota: 50 } });
    expect(planLimits(custom.id, roleLimits)).toEqual(custom.limits);
    expect(planLimits('role-producer', roleLimits)).toEqual(producer);
    expect(planLimits('role-nobody', roleLimits)).toBeUndefined();
    expect(planLimits('custom-r0-b3', roleLimits)).toBeUndefined();
  });

  it('usage keys name their plan, are per principal, and are long enough for API Gateway (20+)', () => {
    const a = usageKeyFor('svc-a', 'role-producer');
    const b = usageKeyFor('svc-b', 'role-producer');
    expect(a).not.toBe(b);
    expect(usageKeyFor('svc-a', 'role-producer')).toBe(a);
    expect(planIdOfUsageKey(a)).toBe('role-producer');
    expect(planIdOfUsageKey(usageKeyFor('svc-a', 'custom-r2-b3'))).toBe('custom-r2-b3');
    expect(planIdOfUsageKey(roleUsageKey('my_role'))).toBe('role-my_role');
    expect(planIdOfUsageKey('not-a-usage-key-at-all')).toBeUndefined();
    for (const k of [a, roleUsageKey('a')]) expect(k.length).toBeGreaterThanOrEqual(20);
  });

  it("a mesh's scope (its name prefix) changes every key's value, keeps the default's, and still names the plan", () => {
    // API Gateway refuses a second API key with a value it already has in the account and region.
    expect(roleUsageKey('reader', 'tem')).toBe(roleUsageKey('reader'));
    expect(usageKeyFor('svc-a', 'role-producer', 'tem')).toBe(usageKeyFor('svc-a', 'role-producer'));
    const scoped = [roleUsageKey('reader', 'blue'), usageKeyFor('svc-a', 'role-producer', 'blue')];
    expect(scoped[0]).not.toBe(roleUsageKey('reader'));
    expect(scoped[0]).not.toBe(roleUsageKey('reader', 'green'));
    expect(scoped[1]).not.toBe(usageKeyFor('svc-a', 'role-producer'));
    expect(scoped.map(planIdOfUsageKey)).toEqual(['role-reader', 'role-producer']);
    expect(inUsageKeyScope(roleUsageKey('reader'), 'blue')).toBe(scoped[0]);
    expect(inUsageKeyScope(roleUsageKey('reader'), 'tem')).toBe(roleUsageKey('reader'));
    // A principal's own key was made in its scope already: left as it is.
    expect(inUsageKeyScope(scoped[1] as string, 'blue')).toBe(scoped[1]);
  });
});
