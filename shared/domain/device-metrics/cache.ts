import type { KnownSighting } from './registry';
import type { BucketWrite, LastValue, StoredBucket } from './writes';

/**
 * What a container remembers of the buckets it wrote, so that its next write to one is a single conditional
 * UpdateItem (docs/decisions/0006-device-metrics.md, Writes). Only a hint: every write is conditional on the version
 * it remembers, so a stale or missing entry costs a call, never a wrong count.
 *
 * Memory: the ids are the bulk, so they are kept once per (device, minute), shared by that minute's metrics (a reading
 * usually carries all of them): `ids` maps an event id to a bit mask of the metrics whose bucket counts it. Entries are
 * evicted least recently used past `maxIds` ids or `maxMinutes` entries, and dropped once their minute is more than
 * `maxAgeMinutes` older than the newest minute written.
 */

export interface BucketCacheLimits {
  /** Event ids over all entries (about 100 bytes each). */
  maxIds: number;
  /** (device, minute) entries. */
  maxMinutes: number;
  /** Minutes this much older than the newest one written are dropped. */
  maxAgeMinutes: number;
}

export const DEFAULT_BUCKET_CACHE_LIMITS: BucketCacheLimits = {
  maxIds: 100_000,
  maxMinutes: 20_000,
  maxAgeMinutes: 10,
};

/** Metrics per (device, minute) a mask can tell apart (bitwise operators work on 32-bit integers). */
export const MAX_CACHED_METRICS_PER_MINUTE = 31;

interface BucketFacts {
  version: number;
  count: number;
  min: number;
  max: number;
  last: LastValue;
  bit: number;
}

interface MinuteEntry {
  minute: string;
  /** metric -> its bit in `ids`. */
  bits: Map<string, number>;
  buckets: Map<string, BucketFacts>;
  ids: Map<string, number>;
}

/** A versioned state as read from the table, or as left by a write: complete, ids included. */
export interface KnownBucket {
  version: number;
  count: number;
  min: number;
  max: number;
  last: LastValue;
  ids: Iterable<string>;
}

export class BucketCache {
  private readonly entries = new Map<string, MinuteEntry>();
  private idCount = 0;
  private newestMinute = '';
  private readonly limits: BucketCacheLimits;

  constructor(limits: Partial<BucketCacheLimits> = {}) {
    this.limits = { ...DEFAULT_BUCKET_CACHE_LIMITS, ...limits };
  }

  /** The remembered state of a bucket, or undefined. */
  get(deviceId: string, metric: string, minute: string): StoredBucket | undefined {
    const entry = this.touch(deviceId, minute);
    const facts = entry?.buckets.get(metric);
    if (!entry || !facts) return undefined;
    const { ids } = entry;
    const bit = facts.bit;
    return {
      version: facts.version,
      count: facts.count,
      min: facts.min,
      max: facts.max,
      last: facts.last,
      has: (id) => ((ids.get(id) ?? 0) & bit) !== 0,
    };
  }

  /** A bucket as read from the table; an older version than the one remembered is ignored. */
  put(deviceId: string, metric: string, minute: string, state: KnownBucket): void {
    const entry = this.entryFor(deviceId, minute);
    const bit = entry && this.bitFor(entry, metric);
    if (!entry || bit === undefined) {
      if (entry && entry.buckets.size === 0) this.drop(entryKey(deviceId, minute), entry);
      return;
    }
    const facts = entry.buckets.get(metric);
    if (facts && facts.version >= state.version) return;
    this.clearBit(entry, bit);
    for (const id of state.ids) this.setBit(entry, id, bit);
    entry.buckets.set(metric, { ...state, bit });
    this.evict();
  }

  /** `write` succeeded against `base`: remember the state it left (or forget, if `base` is no longer known). */
  afterWrite(deviceId: string, metric: string, minute: string, base: StoredBucket, write: BucketWrite): void {
    const next = { version: write.version, count: write.count, min: write.min, max: write.max, last: write.last };
    // A state read from the table lists its ids; the empty state has none.
    const baseIds = base.ids ?? (base.version === undefined && base.count === 0 ? [] : undefined);
    if (baseIds) {
      this.put(deviceId, metric, minute, { ...next, ids: [...baseIds, ...write.add.ids] });
      return;
    }
    // `base` came from this cache: add the new ids to it, unless the cache has moved on since.
    const entry = this.entryFor(deviceId, minute);
    const facts = entry?.buckets.get(metric);
    const bit = entry && this.bitFor(entry, metric);
    if (!entry || bit === undefined || facts?.version !== base.version) {
      if (!facts || facts.version < write.version) this.forget(deviceId, metric, minute);
      if (entry && entry.buckets.size === 0) this.drop(entryKey(deviceId, minute), entry);
      return;
    }
    for (const id of write.add.ids) this.setBit(entry, id, bit);
    entry.buckets.set(metric, { ...next, bit });
    this.evict();
  }

  forget(deviceId: string, metric: string, minute: string): void {
    const entry = this.entries.get(entryKey(deviceId, minute));
    const facts = entry?.buckets.get(metric);
    if (!entry || !facts) return;
    this.clearBit(entry, facts.bit);
    entry.buckets.delete(metric);
    if (entry.buckets.size === 0) this.drop(entryKey(deviceId, minute), entry);
  }

  size(): { minutes: number; buckets: number; ids: number } {
    let buckets = 0;
    for (const e of this.entries.values()) buckets += e.buckets.size;
    return { minutes: this.entries.size, buckets, ids: this.idCount };
  }

  private touch(deviceId: string, minute: string): MinuteEntry | undefined {
    const key = entryKey(deviceId, minute);
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry;
  }

  /** The entry for a minute, made if needed; undefined for a minute too old to keep. */
  private entryFor(deviceId: string, minute: string): MinuteEntry | undefined {
    if (minute > this.newestMinute) this.newestMinute = minute;
    if (minute < this.oldestKept()) return undefined;
    const existing = this.touch(deviceId, minute);
    if (existing) return existing;
    const entry: MinuteEntry = { minute, bits: new Map(), buckets: new Map(), ids: new Map() };
    this.entries.set(entryKey(deviceId, minute), entry);
    return entry;
  }

  private bitFor(entry: MinuteEntry, metric: string): number | undefined {
    const bit = entry.bits.get(metric);
    if (bit !== undefined) return bit;
    if (entry.bits.size >= MAX_CACHED_METRICS_PER_MINUTE) return undefined;
    const next = 1 << entry.bits.size;
    entry.bits.set(metric, next);
    return next;
  }

  private setBit(entry: MinuteEntry, id: string, bit: number): void {
    const mask = entry.ids.get(id);
    if (mask === undefined) this.idCount++;
    entry.ids.set(id, (mask ?? 0) | bit);
  }

  private clearBit(entry: MinuteEntry, bit: number): void {
    for (const [id, mask] of entry.ids) {
      if ((mask & bit) === 0) continue;
      const rest = mask & ~bit;
      if (rest === 0) {
        entry.ids.delete(id);
        this.idCount--;
      } else entry.ids.set(id, rest);
    }
  }

  private drop(key: string, entry: MinuteEntry): void {
    this.idCount -= entry.ids.size;
    this.entries.delete(key);
  }

  private oldestKept(): string {
    if (this.newestMinute === '') return '';
    const ms = Date.parse(this.newestMinute) - this.limits.maxAgeMinutes * 60_000;
    return `${new Date(ms).toISOString().slice(0, 16)}Z`;
  }

  /** Least recently used first, and minutes too old wherever they are met at the front. */
  private evict(): void {
    const oldest = this.oldestKept();
    for (const [key, entry] of this.entries) {
      const over = this.idCount > this.limits.maxIds || this.entries.size > this.limits.maxMinutes;
      if (!over && entry.minute >= oldest) break;
      this.drop(key, entry);
    }
  }
}

function entryKey(deviceId: string, minute: string): string {
  return `${deviceId}\u0000${minute}`;
}

/** What a container knows of the registry entries it wrote: one-way facts, bounded LRU. */
export class SightingCache {
  private readonly known = new Map<string, KnownSighting>();

  constructor(private readonly maxDevices = 10_000) {}

  get(deviceId: string): KnownSighting | undefined {
    const k = this.known.get(deviceId);
    if (k === undefined) return undefined;
    this.known.delete(deviceId);
    this.known.set(deviceId, k);
    return k;
  }

  /** Adds facts: first seen is at most `firstSeen`, the last key at least `lastKey`. */
  learn(deviceId: string, facts: KnownSighting): void {
    const k = this.known.get(deviceId) ?? {};
    const firstSeen = earlier(k.firstSeen, facts.firstSeen);
    const lastKey = later(k.lastKey, facts.lastKey);
    this.known.delete(deviceId);
    this.known.set(deviceId, {
      ...(firstSeen === undefined ? {} : { firstSeen }),
      ...(lastKey === undefined ? {} : { lastKey }),
    });
    for (const key of this.known.keys()) {
      if (this.known.size <= this.maxDevices) break;
      this.known.delete(key);
    }
  }
}

function earlier(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return a < b ? a : b;
}

function later(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return a > b ? a : b;
}
