import { describe, expect, it } from 'vitest';
import {
  type Decision,
  decide,
  effectivePermissions,
  eventTypeAllowed,
  grantMatches,
  isValidGrant,
  isValidPermission,
  type PrincipalGrants,
} from '../../shared/domain/permissions';

const grants = (
  rolePermissions: readonly string[],
  extra: readonly string[] = [],
  revoked: readonly string[] = [],
): PrincipalGrants => ({ role: 'test-role', rolePermissions, extra, revoked });

describe('decide', () => {
  it.each<{
    name: string;
    role: string[];
    extra: string[];
    revoked: string[];
    permission: string;
    expected: Decision;
  }>([
    // role grants, concrete and wildcard
    {
      name: 'exact role grant',
      role: ['events.post.event_ingest'],
      extra: [],
      revoked: [],
      permission: 'events.post.event_ingest',
      expected: { allowed: true, rule: 'role', grant: 'events.post.event_ingest' },
    },
    {
      name: 'role `*` grants anything',
      role: ['*'],
      extra: [],
      revoked: [],
      permission: 'events.post.event_ingest',
      expected: { allowed: true, rule: 'role', grant: '*' },
    },
    {
      name: 'role `events.get.*` grants events.get.event_detail',
      role: ['events.get.*'],
      extra: [],
      revoked: [],
      permission: 'events.get.event_detail',
      expected: { allowed: true, rule: 'role', grant: 'events.get.*' },
    },
    {
      name: 'role `events.get.*` does not grant events.post.event_ingest',
      role: ['events.get.*'],
      extra: [],
      revoked: [],
      permission: 'events.post.event_ingest',
      expected: { allowed: false, rule: 'no-grant' },
    },
    {
      name: 'role `events.get.*` does not grant another app',
      role: ['events.get.*'],
      extra: [],
      revoked: [],
      permission: 'common.get.healthz',
      expected: { allowed: false, rule: 'no-grant' },
    },
    {
      name: 'role `*.get.*` grants a GET of any app',
      role: ['*.get.*'],
      extra: [],
      revoked: [],
      permission: 'common.get.healthz',
      expected: { allowed: true, rule: 'role', grant: '*.get.*' },
    },
    {
      name: 'role `*.get.*` does not grant a POST',
      role: ['*.get.*'],
      extra: [],
      revoked: [],
      permission: 'events.post.event_ingest',
      expected: { allowed: false, rule: 'no-grant' },
    },
    {
      name: 'role `events.*.event_ingest` grants any method of that view',
      role: ['events.*.event_ingest'],
      extra: [],
      revoked: [],
      permission: 'events.put.event_ingest',
      expected: { allowed: true, rule: 'role', grant: 'events.*.event_ingest' },
    },
    {
      name: 'role `events.*.event_ingest` does not grant another view',
      role: ['events.*.event_ingest'],
      extra: [],
      revoked: [],
      permission: 'events.post.event_detail',
      expected: { allowed: false, rule: 'no-grant' },
    },
    {
      name: 'role `events.*.event_ingest` does not grant another app',
      role: ['events.*.event_ingest'],
      extra: [],
      revoked: [],
      permission: 'common.post.event_ingest',
      expected: { allowed: false, rule: 'no-grant' },
    },
    {
      name: 'the first matching role grant is reported',
      role: ['common.get.healthz', '*.get.*', 'events.get.*'],
      extra: [],
      revoked: [],
      permission: 'events.get.event_detail',
      expected: { allowed: true, rule: 'role', grant: '*.get.*' },
    },
    // extra grants
    {
      name: 'extra adds a permission the role lacks',
      role: ['common.get.healthz'],
      extra: ['events.post.event_ingest'],
      revoked: [],
      permission: 'events.post.event_ingest',
      expected: { allowed: true, rule: 'extra', grant: 'events.post.event_ingest' },
    },
    {
      name: 'extra wildcard adds permissions',
      role: [],
      extra: ['events.get.*'],
      revoked: [],
      permission: 'events.get.event_detail',
      expected: { allowed: true, rule: 'extra', grant: 'events.get.*' },
    },
    {
      name: 'role wins the report when role and extra both grant',
      role: ['*.get.*'],
      extra: ['events.get.event_detail'],
      revoked: [],
      permission: 'events.get.event_detail',
      expected: { allowed: true, rule: 'role', grant: '*.get.*' },
    },
    {
      name: 'extra does not leak to other permissions',
      role: ['common.get.healthz'],
      extra: ['events.post.event_ingest'],
      revoked: [],
      permission: 'events.get.event_detail',
      expected: { allowed: false, rule: 'no-grant' },
    },
    // revoked always wins
    {
      name: 'revoked exact permission over an exact role grant',
      role: ['events.post.event_ingest'],
      extra: [],
      revoked: ['events.post.event_ingest'],
      permission: 'events.post.event_ingest',
      expected: { allowed: false, rule: 'revoked', grant: 'events.post.event_ingest' },
    },
    {
      name: 'revoked exact permission over a role `*`',
      role: ['*'],
      extra: [],
      revoked: ['events.get.event_detail'],
      permission: 'events.get.event_detail',
      expected: { allowed: false, rule: 'revoked', grant: 'events.get.event_detail' },
    },
    {
      name: 'revoked `*` over a role grant',
      role: ['events.post.event_ingest'],
      extra: [],
      revoked: ['*'],
      permission: 'events.post.event_ingest',
      expected: { allowed: false, rule: 'revoked', grant: '*' },
    },
    {
      name: 'revoked `events.get.*` over role `*`',
      role: ['*'],
      extra: [],
      revoked: ['events.get.*'],
      permission: 'events.get.event_detail',
      expected: { allowed: false, rule: 'revoked', grant: 'events.get.*' },
    },
    {
      name: 'revoked `events.get.*` leaves other role permissions alone',
      role: ['*'],
      extra: [],
      revoked: ['events.get.*'],
      permission: 'common.get.healthz',
      expected: { allowed: true, rule: 'role', grant: '*' },
    },
    {
      name: 'revoked `*.get.*` over an extra grant',
      role: [],
      extra: ['events.get.event_detail'],
      revoked: ['*.get.*'],
      permission: 'events.get.event_detail',
      expected: { allowed: false, rule: 'revoked', grant: '*.get.*' },
    },
    {
      name: 'revoked `events.*.event_ingest` over an extra `*`',
      role: [],
      extra: ['*'],
      revoked: ['events.*.event_ingest'],
      permission: 'events.post.event_ingest',
      expected: { allowed: false, rule: 'revoked', grant: 'events.*.event_ingest' },
    },
    {
      name: 'revoked `*` over role and extra together',
      role: ['*.get.*'],
      extra: ['events.get.event_detail'],
      revoked: ['*'],
      permission: 'events.get.event_detail',
      expected: { allowed: false, rule: 'revoked', grant: '*' },
    },
    {
      name: 'a non-matching revocation does not block',
      role: ['events.*.*'],
      extra: [],
      revoked: ['events.get.event_detail'],
      permission: 'events.post.event_ingest',
      expected: { allowed: true, rule: 'role', grant: 'events.*.*' },
    },
    // nothing, malformed and partial wildcards
    {
      name: 'no grants at all',
      role: [],
      extra: [],
      revoked: [],
      permission: 'common.get.healthz',
      expected: { allowed: false, rule: 'no-grant' },
    },
    {
      name: 'a two-segment grant never matches',
      role: ['events.get'],
      extra: [],
      revoked: [],
      permission: 'events.get.event_detail',
      expected: { allowed: false, rule: 'no-grant' },
    },
    {
      name: 'a four-segment grant never matches',
      role: ['events.get.event_detail.x'],
      extra: [],
      revoked: [],
      permission: 'events.get.event_detail',
      expected: { allowed: false, rule: 'no-grant' },
    },
    {
      name: 'a segment is a whole-segment wildcard only (no prefix match)',
      role: ['events.get.event_*'],
      extra: [],
      revoked: [],
      permission: 'events.get.event_detail',
      expected: { allowed: false, rule: 'no-grant' },
    },
    {
      name: 'matching is case-sensitive',
      role: ['Events.get.event_detail'],
      extra: [],
      revoked: [],
      permission: 'events.get.event_detail',
      expected: { allowed: false, rule: 'no-grant' },
    },
  ])('$name', ({ role, extra, revoked, permission, expected }) => {
    expect(decide(grants(role, extra, revoked), permission)).toEqual(expected);
  });
});

describe('grantMatches', () => {
  it.each([
    ['*', 'a.b.c', true],
    ['a.b.c', 'a.b.c', true],
    ['a.*.c', 'a.x.c', true],
    ['*.*.*', 'a.b.c', true],
    ['a.b.c', 'a.b.d', false],
    ['a.*.c', 'a.b.c.d', false],
    ['*.*.*', 'a.b', false],
  ])('grantMatches(%j, %j) is %s', (grant, permission, expected) => {
    expect(grantMatches(grant, permission)).toBe(expected);
  });
});

describe('effectivePermissions', () => {
  it('keeps only the held permissions, in input order', () => {
    const all = ['common.get.healthz', 'events.post.event_ingest', 'events.get.event_detail', 'auth.post.token_issue'];
    const g = grants(['*.get.*'], ['auth.post.token_issue'], ['events.get.event_detail']);
    expect(effectivePermissions(g, all)).toEqual(['common.get.healthz', 'auth.post.token_issue']);
  });
});

describe('isValidGrant', () => {
  it.each([
    ['*', true],
    ['events.get.*', true],
    ['*.get.*', true],
    ['events.*.event_ingest', true],
    ['*.*.*', true],
    ['events.post.event_ingest', true],
    ['app1.get.view_2', true],
    ['Events.Post', false],
    ['events.POST.event_ingest', false],
    ['Events.post.event_ingest', false],
    ['events.get', false],
    ['events.get.event_detail.x', false],
    ['', false],
    ['events..event_detail', false],
    ['.get.event_detail', false],
    ['events.get.', false],
    ['events.get.event_*', false],
    ['**', false],
    ['events.get-x.y', false],
    [' events.get.x', false],
  ])('isValidGrant(%j) is %s', (grant, expected) => {
    expect(isValidGrant(grant)).toBe(expected);
  });
});

describe('isValidPermission', () => {
  it.each([
    ['events.get.event_detail', true],
    ['a1.b_2.c3', true],
    ['*', false],
    ['events.get.*', false],
    ['*.get.event_detail', false],
    ['Events.get.event_detail', false],
    ['events.GET.event_detail', false],
    ['events.get', false],
    ['events.get.event_detail.x', false],
    ['', false],
    ['events..event_detail', false],
    ['events.get.', false],
  ])('isValidPermission(%j) is %s', (permission, expected) => {
    expect(isValidPermission(permission)).toBe(expected);
  });
});

describe('eventTypeAllowed', () => {
  it.each<[string[], string, boolean]>([
    [['*'], 'payment.success', true],
    [['*'], 'anything.at.all', true],
    [['payment.*'], 'payment.success', true],
    [['payment.*'], 'payment.refund.partial', true],
    [['payment.*'], 'payments.x', false],
    [['payment.*'], 'payment', false],
    [['payment.*'], 'user.payment.success', false],
    [['user.created'], 'user.created', true],
    [['user.created'], 'user.created.v2', false],
    [['user.created'], 'user.deleted', false],
    [['user.created', 'payment.*'], 'payment.success', true],
    [['user.created', 'payment.*'], 'order.created', false],
    [[], 'payment.success', false],
  ])('patterns %j, type %j -> %s', (patterns, type, expected) => {
    expect(eventTypeAllowed(patterns, type)).toBe(expected);
  });
});
