import { type FirehoseClient, PutRecordBatchCommand, type PutRecordBatchCommandOutput } from '@aws-sdk/client-firehose';
import { type ArchiveRecord, archiveCalls, packArchiveRecords } from '../domain/archive-records';
import type { EventEnvelope } from '../domain/events';
import type { EventArchive, WriteBudget } from '../ports';

/** A whole call that failed this many times without an answer (unreachable, timed out) is left to the mapping. */
const MAX_UNREACHABLE_ATTEMPTS = 3;
/** Errors of a service that answers but is busy: retried for the whole window. */
const THROTTLED = new Set(['ServiceUnavailableException', 'ThrottlingException', 'InternalFailure']);
const BACKOFF_BASE_MS = 25;
const BACKOFF_CAP_MS = 1000;

/**
 * The raw archive behind Firehose (ADR 0018): a batch's events packed into few records, sent with PutRecordBatch.
 * A record Firehose refuses (its `ErrorCode`: throttled, an internal failure) is sent again with full-jitter backoff
 * while the budget allows. Firehose delivers at least once, so a record sent twice (a redelivered batch, an answer
 * lost) may be in the archive twice: readers keep one line per `id`.
 */
export class FirehoseEventArchive implements EventArchive {
  constructor(
    private readonly client: FirehoseClient,
    private readonly deliveryStreamName: string,
  ) {}

  async putAll(
    events: readonly EventEnvelope[],
    budget: WriteBudget,
  ): Promise<{ unarchived: string[]; refused: { id: string; reason: string }[] }> {
    const { records, refused } = packArchiveRecords(events, new Date().toISOString());
    const unarchived: string[] = [];
    // One call at a time: a batch of 50 events is one record, so there is rarely more than one call.
    for (const call of archiveCalls(records)) unarchived.push(...(await this.putCall(call, budget)));
    return { unarchived, refused };
  }

  private async putCall(call: readonly ArchiveRecord[], budget: WriteBudget): Promise<string[]> {
    const random = budget.random ?? Math.random;
    const now = budget.now ?? Date.now;
    let pending = [...call];
    let unreachable = 0;
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt > 0) {
        const delay = Math.floor(random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt));
        if (now() + delay > budget.retryUntil) break;
        await budget.sleep(delay);
      }
      let output: PutRecordBatchCommandOutput;
      try {
        output = await this.client.send(
          new PutRecordBatchCommand({
            DeliveryStreamName: this.deliveryStreamName,
            Records: pending.map((r) => ({ Data: Buffer.from(r.data) })),
          }),
        );
      } catch (error) {
        if (!THROTTLED.has((error as Error).name) && ++unreachable >= MAX_UNREACHABLE_ATTEMPTS) break;
        continue;
      }
      // Answers are in request order: a failed one carries an ErrorCode, an accepted one its RecordId.
      const answers = output.RequestResponses ?? [];
      pending = pending.filter((_, i) => answers[i]?.ErrorCode !== undefined || answers[i]?.RecordId === undefined);
    }
    return pending.flatMap((r) => r.ids);
  }
}
