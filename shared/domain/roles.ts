import { z } from 'zod';
import rolesDocument from '../../policies/roles.json' with { type: 'json' };
import { isValidGrant } from './permissions';

const grant = z
  .string()
  .refine(isValidGrant, { message: 'must be * or <app>.<method>.<view> with optional * segments' });
const eventTypePattern = z.string().regex(/^(\*|[a-z0-9_]+(\.[a-z0-9_]+)*(\.\*)?)$/, 'must be *, a.b, or a.*');

export const RolesDocumentSchema = z.object({
  $comment: z.string().optional(),
  roles: z.record(
    z.string().regex(/^[a-z][a-z0-9_-]*$/),
    z.object({
      description: z.string().min(1),
      permissions: z.array(grant),
      eventTypes: z.array(eventTypePattern),
    }),
  ),
});

export type RolesDocument = z.infer<typeof RolesDocumentSchema>;
export type Role = RolesDocument['roles'][string];

/** Parsed once per container; a malformed roles.json fails the cold start (and the tests) with zod's message. */
export const roles: RolesDocument['roles'] = RolesDocumentSchema.parse(rolesDocument).roles;

export function roleNamed(name: string): Role | undefined {
  return Object.hasOwn(roles, name) ? roles[name] : undefined;
}
