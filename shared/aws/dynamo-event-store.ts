import {
  BatchWriteCommand,
  type BatchWriteCommandOutput,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
} from '@aws-sdk/lib-dynamodb';
import { type EventEnvelope, EventEnvelopeSchema, timeKey } from '../domain/events';
import { indexedByType } from '../domain/telemetry';
import type { EventQuery, EventStore, StoreEntry, WriteBudget } from '../ports';

/** BatchWriteItem takes at most 25 puts per call. */
export const BATCH_WRITE_LIMIT = 25;
/** Calls of one batch in flight at once: enough to overlap round trips, few enough not to throttle a partition. */
const PARALLEL_CALLS = 4;
/**
 * Errors of a table that answers but is busy: worth retrying for the whole window. Anything else (the table out of
 * reach, a timeout) is tried a few times only, and then left to the mapping's retries: a mapping bisects a failing
 * batch, and a long wait per sub-batch would hold the shard for minutes.
 */
const THROTTLED = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'InternalServerError',
]);
const MAX_UNREACHABLE_ATTEMPTS = 3;
/** Backoff between attempts at unprocessed items: full jitter, exponential, capped. */
const BACKOFF_BASE_MS = 25;
const BACKOFF_CAP_MS = 1000;

/**
 * `data` is the producer's payload, opaque to the store: it is kept as a JSON string, because a DynamoDB map would
 * refuse numbers the payload may legitimately hold (beyond 38 digits, 1e126, or 2^53 through the document client).
 */
function toItem(event: EventEnvelope, expiresAt?: number): Record<string, unknown> {
  return {
    ...event,
    data: JSON.stringify(event.data),
    timeKey: timeKey(event),
    // The type index holds business events only: a device reading has no `typeKey` (ADR 0004).
    ...(indexedByType(event.type) ? { typeKey: event.type } : {}),
    ...(expiresAt === undefined ? {} : { expiresAt }),
  };
}

/** Item attributes that are storage, not event, are stripped before an event leaves the store. */
function toEnvelope(item: Record<string, unknown>): EventEnvelope {
  const { timeKey: _timeKey, typeKey: _typeKey, expiresAt: _expiresAt, data, ...event } = item;
  return EventEnvelopeSchema.parse({ ...event, data: typeof data === 'string' ? JSON.parse(data) : data });
}

interface ChunkResult {
  unwritten: string[];
  refused: { id: string; reason: string }[];
}

export class DynamoEventStore implements EventStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  /**
   * Writes every entry with BatchWriteItem, 25 per call. Puts replace, so writing an event again (a redelivery, a
   * retry after an unknown outcome) leaves one item; ids are owned by their producer (ADR 0011), so only the
   * producer's own copies can replace each other. Unprocessed items, throttling and unreachable-table errors are
   * retried with full-jitter backoff while the budget allows; an item DynamoDB refuses outright (validation) is
   * isolated by writing its call's items one by one. Returns the ids not written; each other id is in the table.
   */
  async putAll(
    entries: readonly StoreEntry[],
    budget: WriteBudget,
  ): Promise<{ unwritten: string[]; refused: { id: string; reason: string }[] }> {
    const chunks: StoreEntry[][] = [];
    for (let i = 0; i < entries.length; i += BATCH_WRITE_LIMIT) chunks.push(entries.slice(i, i + BATCH_WRITE_LIMIT));
    const unwritten: string[] = [];
    const refused: { id: string; reason: string }[] = [];
    let next = 0;
    const lanes = Array.from({ length: Math.min(PARALLEL_CALLS, chunks.length) }, async () => {
      while (next < chunks.length) {
        const chunk = chunks[next++] as StoreEntry[];
        const result = await this.writeChunk(chunk, budget);
        unwritten.push(...result.unwritten);
        refused.push(...result.refused);
      }
    });
    await Promise.all(lanes);
    return { unwritten, refused };
  }

  private async writeChunk(chunk: readonly StoreEntry[], budget: WriteBudget): Promise<ChunkResult> {
    const random = budget.random ?? Math.random;
    const now = budget.now ?? Date.now;
    let pending = new Map(chunk.map((e) => [e.event.id, e]));
    let unreachable = 0;
    for (let attempt = 0; pending.size > 0; attempt++) {
      if (attempt > 0) {
        const delay = Math.floor(random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt));
        if (now() + delay > budget.retryUntil) break;
        await budget.sleep(delay);
      }
      let output: BatchWriteCommandOutput;
      try {
        output = await this.client.send(
          new BatchWriteCommand({
            RequestItems: {
              [this.tableName]: [...pending.values()].map((e) => ({
                PutRequest: { Item: toItem(e.event, e.expiresAt) },
              })),
            },
          }),
        );
      } catch (error) {
        const name = (error as Error).name;
        if (name === 'ValidationException') return this.writeOneByOne([...pending.values()], budget);
        // Nothing known to be written: try the whole call again (throttled: within the window; else a few times).
        if (!THROTTLED.has(name) && ++unreachable >= MAX_UNREACHABLE_ATTEMPTS) break;
        continue;
      }
      const left = new Map<string, StoreEntry>();
      for (const request of output.UnprocessedItems?.[this.tableName] ?? []) {
        const id = request.PutRequest?.Item?.id;
        const entry = typeof id === 'string' ? pending.get(id) : undefined;
        if (entry) left.set(id as string, entry);
      }
      pending = left;
    }
    return { unwritten: [...pending.keys()], refused: [] };
  }

  /**
   * The rare call DynamoDB refused as a whole: one put per item finds the item at fault (refused: it can never be
   * written); the others go in, or stay unwritten when the table is unreachable (a retry may succeed).
   */
  private async writeOneByOne(entries: readonly StoreEntry[], budget: WriteBudget): Promise<ChunkResult> {
    const result: ChunkResult = { unwritten: [], refused: [] };
    for (const entry of entries) {
      if ((budget.now ?? Date.now)() > budget.retryUntil) {
        result.unwritten.push(entry.event.id);
        continue;
      }
      try {
        await this.client.send(
          new PutCommand({ TableName: this.tableName, Item: toItem(entry.event, entry.expiresAt) }),
        );
      } catch (error) {
        if ((error as Error).name === 'ValidationException')
          result.refused.push({ id: entry.event.id, reason: `ValidationException: ${(error as Error).message}` });
        else result.unwritten.push(entry.event.id);
      }
    }
    return result;
  }

  async get(id: string): Promise<EventEnvelope | undefined> {
    const { Item } = await this.client.send(new GetCommand({ TableName: this.tableName, Key: { id } }));
    return Item ? toEnvelope(Item) : undefined;
  }

  async list(query: EventQuery): Promise<{ items: EventEnvelope[]; next?: Record<string, unknown> }> {
    const [index, attribute, value] =
      'type' in query.by ? ['byType', 'typeKey', query.by.type] : ['bySource', 'source', query.by.source];
    // timeKey = occurredAt#id: ISO times sort as strings; '~' sorts after every id character.
    const { Items, LastEvaluatedKey } = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: index,
        KeyConditionExpression: '#k = :k AND timeKey BETWEEN :from AND :to',
        ExpressionAttributeNames: { '#k': attribute },
        ExpressionAttributeValues: {
          ':k': value,
          ':from': query.since ?? '0000',
          ':to': `${query.until ?? '9999'}#~`,
        },
        ScanIndexForward: false,
        Limit: query.limit,
        ...(query.after ? { ExclusiveStartKey: query.after } : {}),
      }),
    );
    return { items: (Items ?? []).map(toEnvelope), ...(LastEvaluatedKey ? { next: LastEvaluatedKey } : {}) };
  }
}
