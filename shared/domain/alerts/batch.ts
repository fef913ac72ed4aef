import type { AlertEngine } from './engine';
import { type AlertMessage, type AlertMessageType, messageKey, type Reading } from './model';
import type { BatchRecord } from './pairs';
import type { AlertChannel, AlertNotifier, AlertStore, ChannelMarks } from './ports';

export interface BatchResult {
  /** Records to report in `batchItemFailures`: not applied, or owing a message that did not go out. */
  failedRecordIds: string[];
  /** Why records were not applied (the first error per record). */
  errors: { recordId: string; error: unknown }[];
  delivered: AlertMessage[];
  failed: AlertMessage[];
}

/**
 * One invocation's records: collected in stream order (`add`), applied together by the engine, then the
 * notifications they owe delivered together (`run`), so the queue gets full `SendMessageBatch` calls.
 */
export class AlertBatch {
  private readonly records: BatchRecord[] = [];

  constructor(
    private readonly engine: Pick<AlertEngine, 'apply'>,
    private readonly notifier: AlertNotifier,
    private readonly store: Pick<AlertStore, 'markNotified'>,
    private readonly now: () => Date = () => new Date(),
  ) {}

  add(recordId: string, reading: Reading): void {
    this.records.push({ recordId, reading });
  }

  get size(): number {
    return this.records.length;
  }

  /**
   * Applies the readings, sends what they owe, marks what was delivered (one write per alert), and returns the
   * records that must be retried (they will find their alerts and owe them again).
   */
  async run(): Promise<BatchResult> {
    const { owed, failed: errors } = await this.engine.apply(this.records);
    const unique = new Map<string, AlertMessage>();
    const owners = new Map<string, Set<string>>();
    // Channels that took a message before (a retry): it goes to the others only, so nobody receives it twice.
    const skips = new Map<string, readonly AlertChannel[]>();
    for (const { recordId, message, skip } of owed) {
      const key = messageKey(message);
      unique.set(key, message);
      owners.set(key, (owners.get(key) ?? new Set()).add(recordId));
      if (skip) skips.set(key, skip);
    }
    const failedIds = new Set(errors.map((e) => e.recordId));
    let delivered: AlertMessage[] = [];
    let failed: AlertMessage[] = [];
    if (unique.size > 0) {
      let tookFailed: ReadonlyMap<string, readonly AlertChannel[]> | undefined;
      ({ failed, tookFailed } = await this.notifier.deliver([...unique.values()], skips));
      const failedKeys = new Set(failed.map(messageKey));
      delivered = [...unique.values()].filter((m) => !failedKeys.has(messageKey(m)));
      for (const key of failedKeys) for (const id of owners.get(key) ?? []) failedIds.add(id);
      const byAlert = new Map<string, { types: AlertMessageType[]; channels?: ChannelMarks }>();
      const marks = (alertId: string) => byAlert.get(alertId) ?? byAlert.set(alertId, { types: [] }).get(alertId);
      for (const m of delivered) marks(m.alert.alertId)?.types.push(m.type);
      // A message some channel took is marked for that channel: its retry sends it only where it is still missing.
      for (const m of failed) {
        const key = messageKey(m);
        const took = [...new Set([...(skips.get(key) ?? []), ...(tookFailed?.get(key) ?? [])])];
        const entry = took.length > 0 ? marks(m.alert.alertId) : undefined;
        if (entry) entry.channels = { ...entry.channels, [m.type]: took };
      }
      const at = this.now().toISOString();
      // A mark that fails only costs a duplicate notification if the reading is redelivered: not worth a retry.
      await Promise.allSettled(
        [...byAlert].map(([alertId, { types, channels }]) => this.store.markNotified(alertId, types, at, channels)),
      );
    }
    const failedRecordIds = this.records.map((r) => r.recordId).filter((id) => failedIds.has(id));
    return { failedRecordIds: [...new Set(failedRecordIds)], errors, delivered, failed };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The minimum AWS calls the design allows
