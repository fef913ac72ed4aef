import { z } from 'zod';
import storageDocument from '../../policies/storage.json' with { type: 'json' };
import { EventTypeSchema } from './events';

export const PLACES = ['table', 'archive'] as const;
export type Place = (typeof PLACES)[number];

const Places = z
  .array(z.enum(PLACES))
  .min(1, 'an event type must be kept somewhere: give "table", "archive" or both')
  .refine((p) => new Set(p).size === p.length, 'a place is listed twice');

export const StoragePolicySchema = z
  .object({
    $comment: z.string().optional(),
    default: Places,
    eventTypes: z.record(EventTypeSchema, Places),
    archive: z
      .object({
        /** S3 lifecycle expiration of archived objects; null = forever. */
        retentionDays: z.number().int().min(1).max(3650).nullable(),
      })
      .strict(),
  })
  .strict();
export type StoragePolicy = z.infer<typeof StoragePolicySchema>;

/** Parsed once per container: a malformed policies/storage.json fails the cold start, `cdk synth` and the tests. */
export const storagePolicy: StoragePolicy = StoragePolicySchema.parse(storageDocument);

/** Where events of this type are kept. */
export function placesOf(type: string, policy: StoragePolicy = storagePolicy): readonly Place[] {
  return Object.hasOwn(policy.eventTypes, type) ? (policy.eventTypes[type] as Place[]) : policy.default;
}

export const isArchived = (type: string, policy: StoragePolicy = storagePolicy) =>
  placesOf(type, policy).includes('archive');
export const isTabled = (type: string, policy: StoragePolicy = storagePolicy) =>
  placesOf(type, policy).includes('table');

/** Does any event type go to the archive? (If none, a deployment still has the archive, unused.) */
export const archiveUsed = (policy: StoragePolicy = storagePolicy) =>
  policy.default.includes('archive') || Object.values(policy.eventTypes).some((p) => p.includes('archive'));

/** Kept in the archive and not in the table: the query API has none of them; readers go to the archive. */
export const isArchivedOnly = (type: string, policy: StoragePolicy = storagePolicy) =>
  isArchived(type, policy) && !isTabled(type, policy);
