import {
  BatchGetCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import {
  ALERT_CHANNELS,
  type Alert,
  type AlertChannel,
  type AlertMessageType,
  type AlertPartitionPage,
  type AlertPartitionQuery,
  type AlertStore,
  alertIdOfKey,
  type ChannelMarks,
  MAX_STATE_READ_BATCH,
  type RuleState,
  raisedAtKey,
  ruleStateKey,
  type StateKey,
  type StoredAlert,
} from '../domain/alerts';
import {
  alertPk,
  type BatchReadRetry,
  channelAttribute,
  defaultBatchReadRetry,
  isConditionFailure,
  NOTIFIED_ATTRIBUTE,
  statePk,
  toAlert,
  toState,
  updateExpression,
} from './dynamo-alert-items';

export { alertPk, type BatchReadRetry, statePk } from './dynamo-alert-items';

export class DynamoAlertStore implements AlertStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    /** Query round trips per page when a filter (state on byDevice) thins the results. */
    private readonly maxRoundTrips = 10,
    private readonly batchReadRetry: BatchReadRetry = defaultBatchReadRetry,
  ) {}

  /**
   * One strongly consistent `BatchGetItem` for up to 100 states; keys DynamoDB leaves unprocessed (throttling, the
   * 16 MB response limit) are asked for again with full-jitter backoff, and still missing after the attempts they
   * fail the call.
   */
  async getStates(keys: readonly StateKey[]): Promise<Map<string, RuleState>> {
    if (keys.length > MAX_STATE_READ_BATCH)
      throw new Error(`getStates takes at most ${MAX_STATE_READ_BATCH} keys, got ${keys.length}`);
    const states = new Map<string, RuleState>();
    let pending: Record<string, unknown>[] = [
      ...new Map(keys.map((k) => [statePk(k.deviceId, k.ruleId), { pk: statePk(k.deviceId, k.ruleId) }])).values(),
    ];
    for (let attempt = 0; attempt < this.batchReadRetry.attempts && pending.length > 0; attempt++) {
      if (attempt > 0) await this.batchReadRetry.sleep(Math.random() * this.batchReadRetry.baseDelayMs * 2 ** attempt);
      const { Responses, UnprocessedKeys } = await this.client.send(
        new BatchGetCommand({
          RequestItems: { [this.tableName]: { Keys: pending, ConsistentRead: true } },
        }),
      );
      for (const item of Responses?.[this.tableName] ?? []) {
        const state = toState(item);
        states.set(ruleStateKey(state.deviceId, state.ruleId), state);
      }
      pending = UnprocessedKeys?.[this.tableName]?.Keys ?? [];
    }
    if (pending.length > 0) throw new Error(`${pending.length} rule states left unprocessed by BatchGetItem`);
    return states;
  }

  /** `LEASE#<shard>`: the last container to claim the shard. One unconditional update that returns the old owner. */
  async claimShard(shardId: string, owner: string): Promise<boolean> {
    const { Attributes } = await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: `LEASE#${shardId}` },
        UpdateExpression: 'SET #owner = :owner, itemType = :lease, claimedAt = :now',
        ExpressionAttributeNames: { '#owner': 'owner' },
        ExpressionAttributeValues: { ':owner': owner, ':lease': 'shardLease', ':now': new Date().toISOString() },
        ReturnValues: 'UPDATED_OLD',
      }),
    );
    return Attributes?.owner === owner;
  }

  async getState(deviceId: string, ruleId: string): Promise<RuleState | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: statePk(deviceId, ruleId) }, ConsistentRead: true }),
    );
    return Item ? toState(Item) : undefined;
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
      raises: state.raises,
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
    const channels: ChannelMarks = {};
    for (const type of Object.keys(NOTIFIED_ATTRIBUTE) as AlertMessageType[]) {
      const took = ALERT_CHANNELS.filter((c) => typeof Item[channelAttribute(type, c)] === 'string');
      if (took.length > 0 && !notified.includes(type)) channels[type] = took;
    }
    return { alert: toAlert(Item), notified, ...(Object.keys(channels).length > 0 ? { channels } : {}) };
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

  async markNotified(
    alertId: string,
    types: readonly AlertMessageType[],
    at: string,
    channels: ChannelMarks = {},
  ): Promise<void> {
    const attributes = [
      ...new Set([
        ...types.map((type) => NOTIFIED_ATTRIBUTE[type]),
        ...(Object.entries(channels) as [AlertMessageType, readonly AlertChannel[]][]).flatMap(([type, took]) =>
          took.map((c) => channelAttribute(type, c)),
        ),
      ]),
    ];
    if (attributes.length === 0) return;
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: alertPk(alertId) },
        UpdateExpression: `SET ${attributes.map((_, i) => `#n${i} = :at`).join(', ')}`,
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeNames: Object.fromEntries(attributes.map((a, i) => [`#n${i}`, a])),
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
