import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import {
  type Alert,
  type AlertMessageType,
  type AlertPartitionPage,
  type AlertPartitionQuery,
  AlertSchema,
  type AlertStore,
  alertIdOfKey,
  type RuleState,
  raisedAtKey,
  type StoredAlert,
} from '../domain/alerts';

/**
 * The alerts table (`topology.tables.alertsTable`, partition key `pk`), two item kinds:
 * - `ALERT#<alertId>`: the alert, with `state` and `raisedAtKey` (= `<raisedAt>#<alertId>`) for the `byState` and
 *   `byDevice` indexes (both sorted by `raisedAtKey`), and `notifiedRaisedAt` / `notifiedResolvedAt` once delivered;
 * - `STATE#<deviceId>#<ruleId>`: the rule state, written only with a version check. It carries no `state`,
 *   `deviceId` or `raisedAtKey` attribute, so it never appears in an index (and never clashes with their key types).
 */
export const alertPk = (alertId: string) => `ALERT#${alertId}`;
export const statePk = (deviceId: string, ruleId: string) => `STATE#${deviceId}#${ruleId}`;

const NOTIFIED_ATTRIBUTE: Record<AlertMessageType, string> = {
  'alert.raised': 'notifiedRaisedAt',
  'alert.resolved': 'notifiedResolvedAt',
};

const StateItemSchema = z.object({
  device: z.string(),
  rule: z.string(),
  version: z.number().int(),
  open: z.boolean(),
  consecutive: z.number().int(),
  positions: z.record(z.string(), z.string()),
  lastEventId: z.string().optional(),
  recentEventIds: z.array(z.string()).default([]),
  lastRaisedAt: z.string().optional(),
  alert: AlertSchema.optional(),
  resolutions: z.array(z.object({ eventId: z.string(), alertId: z.string() })).default([]),
});

const AlertItemSchema = AlertSchema.extend({
  notifiedRaisedAt: z.string().optional(),
  notifiedResolvedAt: z.string().optional(),
});

/** Just the alert's own fields: table keys and bookkeeping stay inside the adapter. */
function toAlert(item: Record<string, unknown>): Alert {
  const parsed = AlertItemSchema.parse(item);
  const { notifiedRaisedAt: _r, notifiedResolvedAt: _s, ...alert } = parsed;
  return alert;
}

function isConditionFailure(error: unknown): boolean {
  return (
    error instanceof ConditionalCheckFailedException || (error as Error)?.name === 'ConditionalCheckFailedException'
  );
}

/** `SET a = :a, ...` for the defined values and `REMOVE b` for the undefined ones, names and values as placeholders. */
function updateExpression(fields: Record<string, unknown>, ifNotExists: readonly string[] = []) {
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = {};
  const set: string[] = [];
  const remove: string[] = [];
  Object.entries(fields).forEach(([name, value], i) => {
    names[`#f${i}`] = name;
    if (value === undefined) remove.push(`#f${i}`);
    else {
      values[`:f${i}`] = value;
      set.push(ifNotExists.includes(name) ? `#f${i} = if_not_exists(#f${i}, :f${i})` : `#f${i} = :f${i}`);
    }
  });
  const expression = [set.length ? `SET ${set.join(', ')}` : '', remove.length ? `REMOVE ${remove.join(', ')}` : '']
    .filter(Boolean)
    .join(' ');
  return { expression, names, values };
}

export class DynamoAlertStore implements AlertStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    /** Query round trips per page when a filter (state on byDevice) thins the results. */
    private readonly maxRoundTrips = 10,
  ) {}

  async getState(deviceId: string, ruleId: string): Promise<RuleState | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: statePk(deviceId, ruleId) }, ConsistentRead: true }),
    );
    if (!Item) return undefined;
    const { device, rule, ...state } = StateItemSchema.parse(Item);
    return { deviceId: device, ruleId: rule, ...state };
  }

  async putState(next: RuleState, expectedVersion: number | undefined, raise?: { cutoff: string }): Promise<boolean> {
    const { deviceId, ruleId, ...state } = next;
    const update = updateExpression({
      itemType: 'rule-state',
      device: deviceId,
      rule: ruleId,
      version: state.version,
      open: state.open,
      consecutive: state.consecutive,
      positions: state.positions,
      lastEventId: state.lastEventId,
      recentEventIds: state.recentEventIds,
      lastRaisedAt: state.lastRaisedAt,
      alert: state.alert,
      resolutions: state.resolutions,
    });
    const conditions = [expectedVersion === undefined ? 'attribute_not_exists(pk)' : '#version = :expected'];
    const names: Record<string, string> = { ...update.names };
    const values: Record<string, unknown> = { ...update.values };
    if (expectedVersion !== undefined) {
      names['#version'] = 'version';
      values[':expected'] = expectedVersion;
    }
    if (raise) {
      // The rule itself, in the write: raise only if no alert is open and the cooldown since the last raise is over.
      conditions.push('(attribute_not_exists(#open) OR #open = :false)');
      conditions.push('(attribute_not_exists(#lastRaisedAt) OR #lastRaisedAt <= :cutoff)');
      names['#open'] = 'open';
      names['#lastRaisedAt'] = 'lastRaisedAt';
      values[':false'] = false;
      values[':cutoff'] = raise.cutoff;
    }
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: statePk(deviceId, ruleId) },
          UpdateExpression: update.expression,
          ConditionExpression: conditions.join(' AND '),
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  async getAlert(alertId: string): Promise<StoredAlert | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: alertPk(alertId) }, ConsistentRead: true }),
    );
    if (!Item) return undefined;
    const notified = (Object.entries(NOTIFIED_ATTRIBUTE) as [AlertMessageType, string][])
      .filter(([, attribute]) => typeof Item[attribute] === 'string')
      .map(([type]) => type);
    return { alert: toAlert(Item), notified };
  }

  async createAlert(alert: Alert): Promise<boolean> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { pk: alertPk(alert.alertId), itemType: 'alert', ...alert, raisedAtKey: raisedAtKey(alert) },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  async resolveAlert(alert: Alert): Promise<void> {
    const { resolvedAt, resolvedEventId, resolvedValue, state: _, ...raised } = alert;
    // The resolution overwrites; the raise's fields are only filled in if the item is missing (an upsert).
    const keep = { itemType: 'alert', ...raised, raisedAtKey: raisedAtKey(alert) };
    const update = updateExpression(
      { ...keep, state: 'resolved', resolvedAt, resolvedEventId, resolvedValue },
      Object.keys(keep),
    );
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: alertPk(alert.alertId) },
        UpdateExpression: update.expression,
        ExpressionAttributeNames: update.names,
        ExpressionAttributeValues: update.values,
      }),
    );
  }

  async markNotified(alertId: string, type: AlertMessageType, at: string): Promise<void> {
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: alertPk(alertId) },
        UpdateExpression: 'SET #n = :at',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeNames: { '#n': NOTIFIED_ATTRIBUTE[type] },
        ExpressionAttributeValues: { ':at': at },
      }),
    );
  }

  async queryAlerts(query: AlertPartitionQuery): Promise<AlertPartitionPage> {
    const partition = query.index === 'byDevice' ? 'deviceId' : 'state';
    const names: Record<string, string> = { '#p': partition };
    const values: Record<string, unknown> = { ':p': query.key };
    let range = '';
    // DynamoDB refuses names an expression does not use: `#k` only with a range.
    if (query.since !== undefined || query.until !== undefined) names['#k'] = 'raisedAtKey';
    // `<until>$` sorts after every key of that millisecond (`#` < `$`), so `<=` it includes alerts raised at `until`.
    if (query.since !== undefined && query.until !== undefined) {
      range = ' AND #k BETWEEN :lo AND :hi';
      values[':lo'] = query.since;
      values[':hi'] = `${query.until}$`;
    } else if (query.since !== undefined) {
      range = ' AND #k >= :lo';
      values[':lo'] = query.since;
    } else if (query.until !== undefined) {
      range = ' AND #k <= :hi';
      values[':hi'] = `${query.until}$`;
    }
    const input: QueryCommandInput = {
      TableName: this.tableName,
      IndexName: query.index,
      KeyConditionExpression: `#p = :p${range}`,
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
      ScanIndexForward: false,
    };
    if (query.state !== undefined) {
      input.FilterExpression = '#s = :s';
      names['#s'] = 'state';
      values[':s'] = query.state;
    }
    const items: Alert[] = [];
    let start: Record<string, unknown> | undefined =
      query.after === undefined
        ? undefined
        : { pk: alertPk(alertIdOfKey(query.after)), [partition]: query.key, raisedAtKey: query.after };
    for (let trip = 0; trip < this.maxRoundTrips && items.length < query.limit; trip++) {
      const page = await this.client.send(
        new QueryCommand({ ...input, Limit: query.limit - items.length, ExclusiveStartKey: start }),
      );
      for (const item of page.Items ?? []) items.push(toAlert(item));
      start = page.LastEvaluatedKey;
      if (!start) break;
    }
    const resumeAfter = typeof start?.raisedAtKey === 'string' ? start.raisedAtKey : undefined;
    return { items, ...(resumeAfter === undefined ? {} : { resumeAfter }) };
  }
}
