import { describe, expect, it } from 'vitest';
import { routes } from '../../infra/topology';
import rolesJson from '../../policies/roles.json' with { type: 'json' };
import { decide, effectivePermissions, type PrincipalGrants } from '../../shared/domain/permissions';
import { type Role, RolesDocumentSchema, roleNamed, roles } from '../../shared/domain/roles';

function grantsOf(roleName: string): PrincipalGrants {
  const role = roleNamed(roleName);
  if (!role) throw new Error(`role ${roleName} is not shipped`);
  return { role: roleName, rolePermissions: role.permissions, extra: [], revoked: [] };
}

const routePermissions = routes.map((r) => r.permission);
const getPermissions = routes.filter((r) => r.method === 'GET').map((r) => r.permission);
const otherPermissions = routes.filter((r) => r.method !== 'GET').map((r) => r.permission);

const validRole: Role = {
  description: 'a role',
  permissions: ['events.get.*'],
  eventTypes: ['payment.*'],
  limits: { rate: 10, burst: 20 },
};
const docWith = (role: Partial<Role>, name = 'custom') => ({ roles: { [name]: { ...validRole, ...role } } });

describe('shipped roles document', () => {
  it('parses and holds the four roles', () => {
    const parsed = RolesDocumentSchema.safeParse(rolesJson);
    expect(parsed.success).toBe(true);
    expect(Object.keys(roles).sort()).toEqual(['admin', 'device', 'producer', 'reader']);
  });

  it('roleNamed finds shipped roles and ignores prototype names', () => {
    expect(roleNamed('producer')?.permissions).toContain('events.post.event_ingest');
    expect(roleNamed('nobody')).toBeUndefined();
    expect(roleNamed('constructor')).toBeUndefined();
    expect(roleNamed('toString')).toBeUndefined();
  });

  it('the topology has both GET and non-GET routes (so the checks below mean something)', () => {
    expect(getPermissions.length).toBeGreaterThan(0);
    expect(otherPermissions.length).toBeGreaterThan(0);
  });

  it.each(routes.map((r) => [`${r.method} ${r.path}`, r.permission]))(
    'admin may call %s (%s)',
    (_route, permission) => {
      expect(decide(grantsOf('admin'), permission).allowed).toBe(true);
    },
  );

  it('reader is granted exactly the GET routes', () => {
    expect(effectivePermissions(grantsOf('reader'), routePermissions)).toEqual(getPermissions);
    for (const permission of otherPermissions)
      expect(decide(grantsOf('reader'), permission)).toEqual({ allowed: false, rule: 'no-grant' });
  });

  it('producer may ingest and check health but not read events', () => {
    const producer = grantsOf('producer');
    expect(decide(producer, 'events.post.event_ingest')).toEqual({
      allowed: true,
      rule: 'role',
      grant: 'events.post.event_ingest',
    });
    expect(decide(producer, 'common.get.healthz').allowed).toBe(true);
    expect(decide(producer, 'events.get.event_detail')).toEqual({ allowed: false, rule: 'no-grant' });
  });

  it('device may publish telemetry but call no HTTP route', () => {
    const device = grantsOf('device');
    expect(decide(device, 'devices.mqtt.telemetry_publish').allowed).toBe(true);
    expect(effectivePermissions(device, routePermissions)).toEqual([]);
    expect(roleNamed('device')?.eventTypes).toEqual(['device.telemetry']);
  });
});

describe('RolesDocumentSchema', () => {
  it('accepts a well-formed document', () => {
    expect(RolesDocumentSchema.safeParse(docWith({})).success).toBe(true);
  });

  it.each([['Events.Post'], ['events.post'], ['events.post.x.y'], ['events.POST.x'], ['']])(
    'rejects the malformed grant %j',
    (grant) => {
      const result = RolesDocumentSchema.safeParse(docWith({ permissions: ['*', grant] }));
      expect(result.success).toBe(false);
      expect(result.error?.issues[0]?.path).toEqual(['roles', 'custom', 'permissions', 1]);
    },
  );

  it.each([['Payment.*'], ['payment.*.x'], ['*.payment'], ['payment.'], ['payment..x'], ['pay ment'], ['']])(
    'rejects the bad event-type pattern %j',
    (pattern) => {
      const result = RolesDocumentSchema.safeParse(docWith({ eventTypes: [pattern] }));
      expect(result.success).toBe(false);
      expect(result.error?.issues[0]?.path).toEqual(['roles', 'custom', 'eventTypes', 0]);
    },
  );

  it.each([['*'], ['payment.*'], ['payment.success'], ['payment.refund.*']])(
    'accepts the event-type pattern %j',
    (pattern) => {
      expect(RolesDocumentSchema.safeParse(docWith({ eventTypes: [pattern] })).success).toBe(true);
    },
  );

  it('rejects a role name that is not lower-case', () => {
    expect(RolesDocumentSchema.safeParse(docWith({}, 'Admin')).success).toBe(false);
  });

  it('rejects an empty description', () => {
    expect(RolesDocumentSchema.safeParse(docWith({ description: '' })).success).toBe(false);
  });
});
