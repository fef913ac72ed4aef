/**
 * Where the local DynamoDB front (`dynamodb-front.ts`) sends a request when the stack's tables live in separate
 * engine processes: by the tables the request names. Pure functions, so the routing is unit-tested without sockets.
 *
 * In AWS every table is served by its own partitions: one table's bulk writes never queue another table's reads. An
 * emulator serves all of its tables from one event loop, in arrival order, so the store's batched writes used to
 * delay every alert-state write behind them. One process per table restores the isolation (ADR 0017).
 */

/** A request as the front received it: the operation (from `X-Amz-Target`) and its JSON body. */
export interface DynamoRequest {
  operation: string;
  body: Record<string, unknown>;
}

/** What the front does with a request. */
export type Route =
  /** Forward the request unchanged to this engine. */
  | { kind: 'forward'; engine: string }
  /** Send each engine its part; merge the answers (`mergeAnswers`). */
  | { kind: 'split'; parts: { engine: string; body: Record<string, unknown> }[] }
  /** Ask every engine; merge their table names (`mergeTableLists`). */
  | { kind: 'listTables' }
  /** Answer with a client error, changing nothing. */
  | { kind: 'refuse'; type: string; message: string };

/** Tables placed on an engine of their own; any other table (and any other request) goes to the default engine. */
export interface Placement {
  defaultEngine: string;
  engineOf: ReadonlyMap<string, string>;
}

const TABLE_ARN = /:table\/([^/]+)/;

function engineFor(placement: Placement, table: string): string {
  return placement.engineOf.get(table) ?? placement.defaultEngine;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The tables a transaction's items name (`Put`, `Update`, `Delete`, `ConditionCheck`, `Get`). */
function transactionTables(items: unknown): string[] {
  if (!Array.isArray(items)) return [];
  const tables: string[] = [];
  for (const item of items) {
    if (!isRecord(item)) continue;
    for (const action of Object.values(item))
      if (isRecord(action) && typeof action.TableName === 'string') tables.push(action.TableName);
  }
  return tables;
}

export function routeOf(request: DynamoRequest, placement: Placement): Route {
  const { operation, body } = request;
  if (operation === 'ListTables') {
    const limit = body.Limit;
    const valid =
      limit === undefined || (Number.isInteger(limit) && (limit as number) >= 1 && (limit as number) <= 100);
    // An invalid page size: the default engine answers the validation error DynamoDB would.
    return valid ? { kind: 'listTables' } : { kind: 'forward', engine: placement.defaultEngine };
  }
  if (operation === 'BatchGetItem' || operation === 'BatchWriteItem') {
    const items = isRecord(body.RequestItems) ? body.RequestItems : {};
    const byEngine = new Map<string, Record<string, unknown>>();
    for (const [table, value] of Object.entries(items)) {
      const engine = engineFor(placement, table);
      const part = byEngine.get(engine) ?? {};
      part[table] = value;
      byEngine.set(engine, part);
    }
    // Empty or malformed: the engine answers the validation error AWS would.
    if (byEngine.size <= 1) return { kind: 'forward', engine: [...byEngine.keys()][0] ?? placement.defaultEngine };
    return {
      kind: 'split',
      parts: [...byEngine].map(([engine, requestItems]) => ({ engine, body: { ...body, RequestItems: requestItems } })),
    };
  }
  if (operation === 'TransactWriteItems' || operation === 'TransactGetItems') {
    const engines = new Set(transactionTables(body.TransactItems).map((t) => engineFor(placement, t)));
    if (engines.size <= 1) return { kind: 'forward', engine: [...engines][0] ?? placement.defaultEngine };
    return {
      kind: 'refuse',
      type: 'ValidationException',
      message:
        'local stack: this transaction spans tables held by different engine processes, which cannot commit it ' +
        'atomically; start the stack with TEM_DYNAMODB_PROCESSES=one to run such transactions locally',
    };
  }
  if (typeof body.TableName === 'string') return { kind: 'forward', engine: engineFor(placement, body.TableName) };
  // Tagging calls name a table by its ARN.
  const arn = typeof body.ResourceArn === 'string' ? TABLE_ARN.exec(body.ResourceArn) : null;
  if (arn?.[1]) return { kind: 'forward', engine: engineFor(placement, arn[1]) };
  return { kind: 'forward', engine: placement.defaultEngine };
}

/** Answers of the parts of a split batch, each a 200 answer's JSON body. */
export function mergeAnswers(operation: string, answers: readonly Record<string, unknown>[]): Record<string, unknown> {
  const merged: Record<string, unknown> = {};
  const mergeMaps = (key: string) => {
    const out: Record<string, unknown> = {};
    for (const answer of answers) if (isRecord(answer[key])) Object.assign(out, answer[key]);
    return out;
  };
  if (operation === 'BatchGetItem') {
    merged.Responses = mergeMaps('Responses');
    merged.UnprocessedKeys = mergeMaps('UnprocessedKeys');
  } else {
    merged.UnprocessedItems = mergeMaps('UnprocessedItems');
    if (answers.some((a) => isRecord(a.ItemCollectionMetrics)))
      merged.ItemCollectionMetrics = mergeMaps('ItemCollectionMetrics');
  }
  const consumed = answers.flatMap((a) => (Array.isArray(a.ConsumedCapacity) ? a.ConsumedCapacity : []));
  if (consumed.length > 0) merged.ConsumedCapacity = consumed;
  return merged;
}

/**
 * ListTables over every engine: the names in order, paged as DynamoDB pages them (`ExclusiveStartTableName`, `Limit`
 * of 1 to 100, `LastEvaluatedTableName` when more remain).
 */
export function mergeTableLists(
  body: Record<string, unknown>,
  lists: readonly string[][],
): { TableNames: string[]; LastEvaluatedTableName?: string } {
  const after = typeof body.ExclusiveStartTableName === 'string' ? body.ExclusiveStartTableName : undefined;
  const limit = typeof body.Limit === 'number' ? body.Limit : 100;
  const names = [...new Set(lists.flat())].sort().filter((name) => after === undefined || name > after);
  const page = names.slice(0, limit);
  return names.length > limit
    ? { TableNames: page, LastEvaluatedTableName: page.at(-1) as string }
    : { TableNames: page };
}
