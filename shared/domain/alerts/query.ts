import { z } from 'zod';
import { Rejection } from '../errors';
import { decodeCursor, encodeCursor, onlyKnownParams, type Page, parseLimit, parseTime } from '../listing';
import { DeviceIdSchema } from '../telemetry';
import { ALERT_STATES, type Alert, type AlertStateName, RAISED_AT_KEY, raisedAtKey } from './model';
import type { AlertStore } from './ports';

/** `GET /alerts`: the query string, and alerts newest first from the `byDevice` / `byState` indexes. */

export const ALERT_QUERY_PARAMS = ['deviceId', 'state', 'since', 'until', 'limit', 'cursor'] as const;

export interface AlertQuery {
  deviceId?: string;
  state?: AlertStateName;
  since?: string;
  until?: string;
  limit: number;
  /** One partition: continue after this key. Both states merged: per state, after this key, or `done`. */
  cursor?: { after: string } | { open?: string; resolved?: string };
}

const RaisedAtKeySchema = z.string().regex(RAISED_AT_KEY);
const SingleCursorSchema = z.strictObject({ after: RaisedAtKeySchema });
const MergedPosition = z.union([RaisedAtKeySchema, z.literal('done')]);
const MergedCursorSchema = z.strictObject({ open: MergedPosition.optional(), resolved: MergedPosition.optional() });

/** Validates the query string of `GET /alerts`; any problem is a 400. */
export function parseAlertQuery(params: Record<string, string | undefined> | null): AlertQuery {
  const p = onlyKnownParams(params, ALERT_QUERY_PARAMS);
  const query: AlertQuery = { limit: parseLimit(p.limit) };
  // An empty value counts as absent, as for limit, since and cursor (API Gateway passes `?state=` as "").
  if (p.deviceId !== undefined && p.deviceId !== '') {
    if (!DeviceIdSchema.safeParse(p.deviceId).success)
      throw new Rejection('invalid', 'deviceId must be 1-128 letters, digits, _ : or -');
    query.deviceId = p.deviceId;
  }
  if (p.state !== undefined && p.state !== '') {
    if (p.state !== 'open' && p.state !== 'resolved') throw new Rejection('invalid', 'state must be open or resolved');
    query.state = p.state;
  }
  const since = parseTime('since', p.since);
  const until = parseTime('until', p.until);
  if (since !== undefined) query.since = since;
  if (until !== undefined) query.until = until;
  if (since !== undefined && until !== undefined && since > until)
    throw new Rejection('invalid', 'since must not be after until');
  const raw = decodeCursor(p.cursor);
  if (raw !== undefined) {
    const merged = query.deviceId === undefined && query.state === undefined;
    const parsed = (merged ? MergedCursorSchema : SingleCursorSchema).safeParse(raw);
    if (!parsed.success || Object.keys(parsed.data).length === 0)
      throw new Rejection('invalid', 'cursor does not belong to this query');
    query.cursor = parsed.data;
  }
  return query;
}

/**
 * Alerts newest first (by `raisedAt`). With `deviceId`: that device's alerts (`byDevice`), optionally of one state.
 * Without: the alerts of `state` (`byState`), or of both states merged into one newest-first list.
 */
export async function listAlerts(store: Pick<AlertStore, 'queryAlerts'>, query: AlertQuery): Promise<Page<Alert>> {
  const range = {
    ...(query.since === undefined ? {} : { since: query.since }),
    ...(query.until === undefined ? {} : { until: query.until }),
  };
  const single = (cursor: AlertQuery['cursor']) =>
    cursor && 'after' in cursor && cursor.after !== undefined ? { after: cursor.after } : {};
  if (query.deviceId !== undefined || query.state !== undefined) {
    const page = await store.queryAlerts({
      ...(query.deviceId !== undefined
        ? { index: 'byDevice', key: query.deviceId, ...(query.state ? { state: query.state } : {}) }
        : { index: 'byState', key: query.state as AlertStateName }),
      ...range,
      ...single(query.cursor),
      limit: query.limit,
    });
    return {
      items: page.items,
      nextCursor: page.resumeAfter === undefined ? null : encodeCursor({ after: page.resumeAfter }),
    };
  }
  const cursor = (query.cursor ?? {}) as { open?: string; resolved?: string };
  const sources = await Promise.all(
    ALERT_STATES.map(async (state) => {
      const position = cursor[state];
      if (position === 'done') return { state, position, items: [], more: false };
      const page = await store.queryAlerts({
        index: 'byState',
        key: state,
        ...range,
        ...(position === undefined ? {} : { after: position }),
        limit: query.limit,
      });
      return { state, position, items: page.items, more: page.resumeAfter !== undefined };
    }),
  );
  return mergeNewestFirst(sources, query.limit);
}

export interface MergeSource {
  state: AlertStateName;
  /** Where this source's page started (undefined: at the newest). */
  position: string | undefined;
  /** Newest first. */
  items: Alert[];
  more: boolean;
}

/** Merges newest-first pages of several partitions into one page, with a cursor holding each partition's place. */
export function mergeNewestFirst(sources: readonly MergeSource[], limit: number): Page<Alert> {
  const all = sources
    .flatMap((s) => s.items.map((alert) => ({ state: s.state, alert, key: raisedAtKey(alert) })))
    .sort((a, b) => (a.key < b.key ? 1 : a.key > b.key ? -1 : 0))
    .slice(0, limit);
  const next: Record<string, string> = {};
  for (const source of sources) {
    const taken = all.filter((e) => e.state === source.state);
    const last = taken[taken.length - 1];
    if (taken.length === source.items.length && !source.more) next[source.state] = 'done';
    else if (last) next[source.state] = last.key;
    else if (source.position !== undefined) next[source.state] = source.position;
  }
  const finished = sources.every((s) => next[s.state] === 'done');
  return { items: all.map((e) => e.alert), nextCursor: finished ? null : encodeCursor(next) };
}
