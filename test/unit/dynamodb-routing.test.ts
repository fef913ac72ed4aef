import { describe, expect, it } from 'vitest';
import { mergeAnswers, mergeTableLists, type Placement, routeOf } from '../../infra/local/dynamodb-routing';

const placement: Placement = {
  defaultEngine: 'http://default',
  engineOf: new Map([
    ['tem-events-table', 'http://events'],
    ['tem-alerts-table', 'http://alerts'],
  ]),
};
const route = (operation: string, body: Record<string, unknown>) => routeOf({ operation, body }, placement);

describe('local DynamoDB front: where a request goes', () => {
  it('sends a single-table request to its table engine, and an unknown table to the default engine', () => {
    expect(route('PutItem', { TableName: 'tem-events-table', Item: {} })).toEqual({
      kind: 'forward',
      engine: 'http://events',
    });
    expect(route('Query', { TableName: 'tem-alerts-table' })).toEqual({ kind: 'forward', engine: 'http://alerts' });
    expect(route('CreateTable', { TableName: 'bench-baseline' })).toEqual({
      kind: 'forward',
      engine: 'http://default',
    });
    expect(route('DescribeLimits', {})).toEqual({ kind: 'forward', engine: 'http://default' });
  });

  it('routes tagging calls by the table in the ARN', () => {
    expect(
      route('ListTagsOfResource', { ResourceArn: 'arn:aws:dynamodb:us-east-1:000000000000:table/tem-alerts-table' }),
    ).toEqual({ kind: 'forward', engine: 'http://alerts' });
  });

  it('forwards a batch whose tables share an engine unchanged, and splits one that spans engines', () => {
    expect(route('BatchWriteItem', { RequestItems: { 'tem-events-table': [{ PutRequest: { Item: {} } }] } })).toEqual({
      kind: 'forward',
      engine: 'http://events',
    });
    const split = route('BatchGetItem', {
      RequestItems: { 'tem-events-table': { Keys: [1] }, 'tem-alerts-table': { Keys: [2] }, other: { Keys: [3] } },
      ReturnConsumedCapacity: 'TOTAL',
    });
    expect(split).toEqual({
      kind: 'split',
      parts: [
        {
          engine: 'http://events',
          body: { RequestItems: { 'tem-events-table': { Keys: [1] } }, ReturnConsumedCapacity: 'TOTAL' },
        },
        {
          engine: 'http://alerts',
          body: { RequestItems: { 'tem-alerts-table': { Keys: [2] } }, ReturnConsumedCapacity: 'TOTAL' },
        },
        { engine: 'http://default', body: { RequestItems: { other: { Keys: [3] } }, ReturnConsumedCapacity: 'TOTAL' } },
      ],
    });
  });

  it('leaves an empty or malformed batch to the default engine, which answers its validation error', () => {
    expect(route('BatchWriteItem', {})).toEqual({ kind: 'forward', engine: 'http://default' });
    expect(route('BatchWriteItem', { RequestItems: [] })).toEqual({ kind: 'forward', engine: 'http://default' });
  });

  it('forwards a transaction on one engine and refuses one spanning engines, with a clear reason', () => {
    expect(
      route('TransactWriteItems', {
        TransactItems: [{ Put: { TableName: 'tem-alerts-table' } }, { Update: { TableName: 'tem-alerts-table' } }],
      }),
    ).toEqual({ kind: 'forward', engine: 'http://alerts' });
    const refused = route('TransactWriteItems', {
      TransactItems: [
        { Put: { TableName: 'tem-alerts-table' } },
        { ConditionCheck: { TableName: 'tem-events-table' } },
      ],
    });
    expect(refused).toMatchObject({ kind: 'refuse', type: 'ValidationException' });
    expect(refused.kind === 'refuse' && refused.message).toMatch(/TEM_DYNAMODB_PROCESSES=one/);
  });

  it('asks every engine for ListTables, unless its page size is invalid', () => {
    expect(route('ListTables', {})).toEqual({ kind: 'listTables' });
    expect(route('ListTables', { Limit: 100 })).toEqual({ kind: 'listTables' });
    expect(route('ListTables', { Limit: 0 })).toEqual({ kind: 'forward', engine: 'http://default' });
    expect(route('ListTables', { Limit: 101 })).toEqual({ kind: 'forward', engine: 'http://default' });
  });
});

describe('local DynamoDB front: merging answers', () => {
  it('merges a split BatchGetItem: responses, unprocessed keys and consumed capacity of every part', () => {
    expect(
      mergeAnswers('BatchGetItem', [
        { Responses: { a: [{ id: 1 }] }, UnprocessedKeys: {}, ConsumedCapacity: [{ TableName: 'a' }] },
        {
          Responses: { b: [{ id: 2 }] },
          UnprocessedKeys: { b: { Keys: [3] } },
          ConsumedCapacity: [{ TableName: 'b' }],
        },
      ]),
    ).toEqual({
      Responses: { a: [{ id: 1 }], b: [{ id: 2 }] },
      UnprocessedKeys: { b: { Keys: [3] } },
      ConsumedCapacity: [{ TableName: 'a' }, { TableName: 'b' }],
    });
  });

  it('merges a split BatchWriteItem: the items a retry must send again, from every part', () => {
    expect(
      mergeAnswers('BatchWriteItem', [{ UnprocessedItems: { a: [1] } }, { UnprocessedItems: { b: [2] } }]),
    ).toEqual({ UnprocessedItems: { a: [1], b: [2] } });
  });

  it('pages the merged table names as DynamoDB does', () => {
    const lists = [['tem-b', 'zeta'], ['tem-a'], ['tem-c', 'tem-b']];
    expect(mergeTableLists({}, lists)).toEqual({ TableNames: ['tem-a', 'tem-b', 'tem-c', 'zeta'] });
    expect(mergeTableLists({ Limit: 2 }, lists)).toEqual({
      TableNames: ['tem-a', 'tem-b'],
      LastEvaluatedTableName: 'tem-b',
    });
    expect(mergeTableLists({ Limit: 2, ExclusiveStartTableName: 'tem-b' }, lists)).toEqual({
      TableNames: ['tem-c', 'zeta'],
    });
  });
});
