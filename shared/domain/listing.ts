import { z } from 'zod';
import { Rejection } from './errors';

/**
 * What every list endpoint shares: `limit` (1..100, default 50), an opaque `cursor` (the store's resume key,
 * base64url JSON: clients must not build one), time bounds, and the `{items, nextCursor}` answer.
 */
export const MAX_LIMIT = 100;
export const DEFAULT_LIMIT = 50;

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export function encodeCursor(key: Record<string, unknown> | undefined): string | null {
  return key ? Buffer.from(JSON.stringify(key), 'utf8').toString('base64url') : null;
}

const CursorKey = z.record(z.string(), z.union([z.string(), z.number()]));

export function decodeCursor(cursor: string | undefined): Record<string, string | number> | undefined {
  if (cursor === undefined || cursor === '') return undefined;
  try {
    const parsed = CursorKey.safeParse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
    if (parsed.success && Object.keys(parsed.data).length > 0) return parsed.data;
  } catch {
    // fall through: not base64url JSON
  }
  throw new Rejection('invalid', 'cursor is not one this API returned');
}

export function parseLimit(raw: string | undefined): number {
  if (raw === undefined || raw === '') return DEFAULT_LIMIT;
  if (!/^\d+$/.test(raw)) throw new Rejection('invalid', 'limit must be an integer from 1 to 100');
  const limit = Number(raw);
  if (limit < 1 || limit > MAX_LIMIT) throw new Rejection('invalid', 'limit must be an integer from 1 to 100');
  return limit;
}

/** An ISO-8601 time with offset, normalised to UTC ISO; undefined when absent. */
export function parseTime(name: string, raw: string | undefined): string | undefined {
  if (raw === undefined || raw === '') return undefined;
  const ok = z.iso.datetime({ offset: true }).safeParse(raw).success || z.iso.date().safeParse(raw).success;
  const time = Date.parse(raw);
  if (!ok || Number.isNaN(time))
    throw new Rejection('invalid', `${name} must be an ISO-8601 time, e.g. 2026-01-31T12:00:00Z`);
  return new Date(time).toISOString();
}

/** Refuses query parameters the endpoint does not know: a typo must not silently widen a query. */
export function onlyKnownParams(
  params: Record<string, string | undefined> | null,
  known: readonly string[],
): Record<string, string | undefined> {
  const given = params ?? {};
  const unknown = Object.keys(given).filter((k) => !known.includes(k));
  if (unknown.length > 0)
    throw new Rejection('invalid', `unknown query parameter(s): ${unknown.join(', ')}; known: ${known.join(', ')}`);
  return given;
}
