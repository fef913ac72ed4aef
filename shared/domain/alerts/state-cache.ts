import type { RuleState } from './model';

/**
 * The (device, rule) states one container last read or wrote, per shard (ADR 0007, "State cache"). Lambda runs one
 * batch of a shard at a time (parallelization factor 1), but not always in the same container: an entry is trusted
 * only while this container is the last one that claimed the shard (`AlertStore.claimShard`, one write per batch);
 * when another one applied a batch of it meanwhile, the shard's entries are dropped and read again. `null` records a
 * pair known to have no state item yet. Bounded: past `maxEntries` the oldest shard's entries go first.
 */
export class AlertStateCache {
  private readonly shards = new Map<string, Map<string, RuleState | null>>();
  private size = 0;

  constructor(
    /** This container's identity in the shard claims (random per cold start). */
    readonly owner: string,
    private readonly maxEntries = 200_000,
  ) {}

  /** The shard's entries (created empty). */
  shard(shardId: string): Map<string, RuleState | null> {
    let entries = this.shards.get(shardId);
    if (!entries) {
      entries = new Map();
      this.shards.set(shardId, entries);
    }
    return entries;
  }

  set(shardId: string, pairKey: string, state: RuleState | undefined): void {
    const entries = this.shard(shardId);
    if (!entries.has(pairKey)) this.size++;
    entries.set(pairKey, state ?? null);
    while (this.size > this.maxEntries && this.shards.size > 0) {
      const [oldest] = this.shards.keys();
      if (oldest === undefined) break;
      this.drop(oldest);
    }
  }

  drop(shardId: string): void {
    this.size -= this.shards.get(shardId)?.size ?? 0;
    this.shards.delete(shardId);
  }

  get entries(): number {
    return this.size;
  }
}
