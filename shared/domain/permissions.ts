/**
 * The permission policy engine. Pure: no I/O, no AWS. Used unchanged by the HTTP authorizer, the MQTT authorizer
 * and the operator CLI.
 *
 * A permission is `<app>.<http_method>.<view_name>`; a grant may use `*` for any segment or `*` alone for all.
 * Resolution: role grants, plus the principal's extra grants, minus its revoked permissions. Revoked always wins,
 * also over wildcards.
 */
import { TELEMETRY_EVENT_TYPE } from './telemetry';

export interface PrincipalGrants {
  role: string;
  rolePermissions: readonly string[];
  extra: readonly string[];
  revoked: readonly string[];
}

export type Decision =
  | { allowed: true; rule: 'role' | 'extra'; grant: string }
  | { allowed: false; rule: 'revoked'; grant: string }
  | { allowed: false; rule: 'no-grant' };

const SEGMENT = /^(\*|[a-z0-9_]+)$/;

/** A grant pattern: `*`, or three segments each a lower-case name or `*`. */
export function isValidGrant(grant: string): boolean {
  if (grant === '*') return true;
  const parts = grant.split('.');
  return parts.length === 3 && parts.every((p) => SEGMENT.test(p));
}

/** A concrete permission has three lower-case segments and no wildcard. */
export function isValidPermission(permission: string): boolean {
  const parts = permission.split('.');
  return parts.length === 3 && parts.every((p) => /^[a-z0-9_]+$/.test(p));
}

export function grantMatches(grant: string, permission: string): boolean {
  if (grant === '*') return true;
  const g = grant.split('.');
  const p = permission.split('.');
  if (g.length !== 3 || p.length !== 3) return false;
  return g.every((seg, i) => seg === '*' || seg === p[i]);
}

export function decide(grants: PrincipalGrants, permission: string): Decision {
  const revokedBy = grants.revoked.find((r) => grantMatches(r, permission));
  if (revokedBy !== undefined) return { allowed: false, rule: 'revoked', grant: revokedBy };
  const byRole = grants.rolePermissions.find((g) => grantMatches(g, permission));
  if (byRole !== undefined) return { allowed: true, rule: 'role', grant: byRole };
  const byExtra = grants.extra.find((g) => grantMatches(g, permission));
  if (byExtra !== undefined) return { allowed: true, rule: 'extra', grant: byExtra };
  return { allowed: false, rule: 'no-grant' };
}

/** Of the given concrete permissions, those the principal holds. */
export function effectivePermissions(grants: PrincipalGrants, permissions: readonly string[]): string[] {
  return permissions.filter((p) => decide(grants, p).allowed);
}

/** The permission of `POST /events`: the one route whose requests are also checked against the event-type scope. */
export const INGEST_PERMISSION = 'events.post.event_ingest';

/**
 * Whether the patterns admit some type a principal may post over HTTP. Telemetry is published by devices only, so a
 * scope of nothing but `device.telemetry` admits no HTTP event either.
 */
export function scopeAdmitsHttpEvents(patterns: readonly string[]): boolean {
  return patterns.some((pattern) => pattern !== TELEMETRY_EVENT_TYPE);
}

/**
 * Why a principal's grants and event-type scope do not fit together, or undefined. A principal allowed to call
 * `POST /events` whose scope admits no event would pass the gateway and then get 403 for every event it posts: the
 * model refuses to create such a principal (role file, `tem keys create|grant|unrevoke-perm`) rather than let
 * `tem explain` and the gateway disagree with what the operator meant.
 */
export function scopeProblem(grants: PrincipalGrants, eventTypes: readonly string[]): string | undefined {
  const ingest = decide(grants, INGEST_PERMISSION);
  if (!ingest.allowed || scopeAdmitsHttpEvents(eventTypes)) return undefined;
  const scope =
    eventTypes.length === 0 ? 'is empty' : `is only ${eventTypes.join(', ')} (devices publish it over MQTT)`;
  return `${INGEST_PERMISSION} is granted (${ingest.rule} grant ${ingest.grant}) but the event-type scope ${scope}, so every event it posts would be refused with 403`;
}

/** Event-type patterns (`payment.*`, `*`, `user.created`): a `*` segment matches one or more trailing segments. */
export function eventTypeAllowed(patterns: readonly string[], type: string): boolean {
  return patterns.some((pattern) => {
    if (pattern === '*') return true;
    if (pattern.endsWith('.*')) return type.startsWith(pattern.slice(0, -1));
    return pattern === type;
  });
}
