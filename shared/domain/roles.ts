import { z } from 'zod';
import rolesDocument from '../../policies/roles.json' with { type: 'json' };
import { isValidGrant, scopeProblem } from './permissions';
import { type RateLimits, RateLimitsSchema } from './rate-limits';

const grant = z
  .string()
  .refine(isValidGrant, { message: 'must be * or <app>.<method>.<view> with optional * segments' });
export const EventTypePatternSchema = z
  .string()
  .regex(/^(\*|[a-z0-9_]+(\.[a-z0-9_]+)*(\.\*)?)$/, 'must be *, a.b, or a.*');

const RoleSchema = z
  .object({
    description: z.string().min(1),
    permissions: z.array(grant),
    eventTypes: z.array(EventTypePatternSchema),
    /** HTTP requests per second, burst and optional daily quota of each principal of the role (ADR 0013). */
    limits: RateLimitsSchema,
  })
  // A role that may call POST /events but may emit nothing would be refused for every event it posts.
  .superRefine((role, ctx) => {
    const problem = scopeProblem(
      { role: '', rolePermissions: role.permissions, extra: [], revoked: [] },
      role.eventTypes,
    );
    if (problem) ctx.addIssue({ code: 'custom', path: ['eventTypes'], message: problem });
  });

export const RolesDocumentSchema = z.object({
  $comment: z.string().optional(),
  roles: z.record(z.string().regex(/^[a-z][a-z0-9_-]*$/), RoleSchema),
});

export type RolesDocument = z.infer<typeof RolesDocumentSchema>;
export type Role = RolesDocument['roles'][string];

/** Parsed once per container; a malformed roles.json fails the cold start (and the tests) with zod's message. */
export const roles: RolesDocument['roles'] = RolesDocumentSchema.parse(rolesDocument).roles;

export function roleNamed(name: string): Role | undefined {
  return Object.hasOwn(roles, name) ? roles[name] : undefined;
}

/** A role's rate limits, or undefined for a role that is not shipped. */
export function roleLimits(name: string): RateLimits | undefined {
  return roleNamed(name)?.limits;
}
