import { createHash } from 'node:crypto';
import { type KinesisClient, PutRecordsCommand, type PutRecordsCommandOutput } from '@aws-sdk/client-kinesis';

/** PutRecords takes at most 500 records and 5 MiB per call. */
const MAX_CALL_RECORDS = 500;
const MAX_CALL_BYTES = 5 * 1024 * 1024;
/** Records a throttled put is tried again for before the rule's error action takes them. */
const THROTTLE_RETRIES = 2;
/** Independent in-flight calls; a partition key always uses the same lane, so one device's records stay in order. */
const LANES = 2;

export interface RuleRecord {
  partitionKey: string;
  data: Buffer;
  /** Called when the record could not be put (the rule's error action). */
  onFailure: (errorMessage: string) => void;
}

/**
 * IoT's Kinesis rule action for the local broker: every message becomes one record, keyed by the rule's partition
 * key. IoT Core puts each message on its own; here messages that arrive together share a PutRecords call (one call
 * per lane in flight, the next batch gathering meanwhile), so a fleet at thousands of messages a second costs the
 * engine a few calls, not one per message. What consumers see is the same: one record per message, in order per key.
 */
export class RuleKinesisAction {
  private readonly lanes = Array.from({ length: LANES }, () => ({ queue: [] as RuleRecord[], busy: false }));
  private idle: (() => void)[] = [];
  put = 0;
  failed = 0;

  constructor(
    private readonly kinesis: KinesisClient,
    private readonly streamName: string,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {}

  send(record: RuleRecord): void {
    const lane = this.lanes[laneOf(record.partitionKey)] as (typeof this.lanes)[number];
    lane.queue.push(record);
    if (!lane.busy) void this.drain(lane);
  }

  /** Resolves once nothing is queued or in flight. */
  settled(): Promise<void> {
    if (this.lanes.every((l) => !l.busy && l.queue.length === 0)) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private async drain(lane: (typeof this.lanes)[number]): Promise<void> {
    lane.busy = true;
    while (lane.queue.length > 0) {
      const batch: RuleRecord[] = [];
      let bytes = 0;
      while (lane.queue.length > 0 && batch.length < MAX_CALL_RECORDS) {
        const next = lane.queue[0] as RuleRecord;
        const size = next.data.length + Buffer.byteLength(next.partitionKey);
        if (batch.length > 0 && bytes + size > MAX_CALL_BYTES) break;
        batch.push(lane.queue.shift() as RuleRecord);
        bytes += size;
      }
      await this.putWithRetries(batch);
    }
    lane.busy = false;
    if (this.lanes.every((l) => !l.busy && l.queue.length === 0)) for (const resolve of this.idle.splice(0)) resolve();
  }

  private async putWithRetries(batch: RuleRecord[]): Promise<void> {
    let pending = batch;
    for (let attempt = 0; pending.length > 0; attempt++) {
      let answer: PutRecordsCommandOutput;
      try {
        answer = await this.kinesis.send(
          new PutRecordsCommand({
            StreamName: this.streamName,
            Records: pending.map((r) => ({ PartitionKey: r.partitionKey, Data: r.data })),
          }),
        );
      } catch (error) {
        this.fail(pending, `Kinesis PutRecords failed: ${(error as Error).name}: ${(error as Error).message}`);
        return;
      }
      const retry: RuleRecord[] = [];
      for (const [i, result] of (answer.Records ?? []).entries()) {
        const record = pending[i] as RuleRecord;
        if (!result.ErrorCode) this.put++;
        else if (result.ErrorCode === 'ProvisionedThroughputExceededException' && attempt < THROTTLE_RETRIES)
          retry.push(record);
        else this.fail([record], `${result.ErrorCode}: ${result.ErrorMessage ?? ''}`);
      }
      pending = retry;
      if (pending.length > 0) await this.sleep(50 * 2 ** attempt + Math.random() * 50);
    }
  }

  private fail(records: readonly RuleRecord[], errorMessage: string): void {
    this.failed += records.length;
    for (const r of records) r.onFailure(errorMessage);
  }
}

function laneOf(partitionKey: string): number {
  return createHash('md5').update(partitionKey).digest().readUInt8(0) % LANES;
}
