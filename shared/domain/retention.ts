import { z } from 'zod';
import retentionDocument from '../../policies/retention.json' with { type: 'json' };
import { EventTypeSchema } from './events';

const Days = z.number().int().min(1).max(3650).nullable();

export const RetentionSchema = z.object({
  $comment: z.string().optional(),
  defaultDays: Days,
  eventTypes: z.record(EventTypeSchema, Days),
});
export type Retention = z.infer<typeof RetentionSchema>;

/** Parsed once per container: a malformed policies/retention.json fails the cold start and the tests. */
export const retention: Retention = RetentionSchema.parse(retentionDocument);

/** Epoch seconds at which an event may be deleted (DynamoDB TTL), or undefined to keep it. */
export function expiresAtFor(
  event: { type: string; receivedAt: string },
  policy: Retention = retention,
): number | undefined {
  const days = Object.hasOwn(policy.eventTypes, event.type) ? policy.eventTypes[event.type] : policy.defaultDays;
  if (days === null || days === undefined) return undefined;
  return Math.floor(Date.parse(event.receivedAt) / 1000) + days * 86_400;
}
