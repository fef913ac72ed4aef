import {
  BatchGetItemCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ListTablesCommand,
  ResourceNotFoundException,
  TransactWriteItemsCommand,
} from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { tables } from '../../infra/topology';
import { isEmbedded, local } from './support';

const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
const client = (endpoint: string) => new DynamoDBClient({ region: local().region, credentials, endpoint });
const tableNames = () => Object.keys(tables).map((logical) => local().resources[logical as keyof typeof tables]);

/**
 * ADR 0017: on the embedded stack each table lives in an engine process of its own, as AWS serves each table from its
 * own partitions, and one endpoint routes between them. Found from the stack's state file, talked to over HTTP.
 */
describe.runIf(isEmbedded() && local().tableEngines !== undefined)('DynamoDB: one engine process per table', () => {
  it('runs each table of the topology in its own live process, and holds it there only', async () => {
    const engines = local().tableEngines ?? {};
    const names = tableNames();
    expect(Object.keys(engines).sort()).toEqual([...names].sort());
    const pids = names.map((name) => engines[name]?.pid);
    expect(new Set(pids).size).toBe(names.length);
    expect(pids).not.toContain(local().engines.dynamodb.pid);
    for (const pid of pids) expect(() => process.kill(pid as number, 0)).not.toThrow();
    const [first, second] = names as [string, string];
    const own = client(engines[first]?.url as string);
    expect((await own.send(new DescribeTableCommand({ TableName: first }))).Table?.TableStatus).toBe('ACTIVE');
    await expect(own.send(new DescribeTableCommand({ TableName: second }))).rejects.toBeInstanceOf(
      ResourceNotFoundException,
    );
  });

  it('lists every table through the one endpoint, paged as DynamoDB pages', async () => {
    const front = client(local().endpoints.dynamodb);
    const all = await front.send(new ListTablesCommand({}));
    expect(all.TableNames).toEqual(expect.arrayContaining(tableNames()));
    expect(all.TableNames).toEqual([...(all.TableNames ?? [])].sort());
    const page = await front.send(new ListTablesCommand({ Limit: 2 }));
    expect(page.TableNames).toEqual(all.TableNames?.slice(0, 2));
    expect(page.LastEvaluatedTableName).toBe(all.TableNames?.[1]);
  });

  it('answers a batch over tables of different engines with every table answered', async () => {
    const events = local().resources.eventsTable;
    const alerts = local().resources.alertsTable;
    const answer = await client(local().endpoints.dynamodb).send(
      new BatchGetItemCommand({
        RequestItems: {
          [events]: { Keys: [{ id: { S: `missing-${crypto.randomUUID()}` } }] },
          [alerts]: { Keys: [{ pk: { S: `missing-${crypto.randomUUID()}` } }] },
        },
      }),
    );
    expect(Object.keys(answer.Responses ?? {}).sort()).toEqual([alerts, events].sort());
    expect(answer.UnprocessedKeys ?? {}).toEqual({});
  });

  it('refuses a transaction over tables of different engines with a 400 naming the way out, and writes nothing', async () => {
    const events = local().resources.eventsTable;
    const alerts = local().resources.alertsTable;
    const id = `tx-${crypto.randomUUID()}`;
    const attempt = client(local().endpoints.dynamodb).send(
      new TransactWriteItemsCommand({
        TransactItems: [
          { Put: { TableName: events, Item: { id: { S: id } } } },
          { Put: { TableName: alerts, Item: { pk: { S: id } } } },
        ],
      }),
    );
    await expect(attempt).rejects.toMatchObject({
      name: 'ValidationException',
      $metadata: { httpStatusCode: 400 },
      message: expect.stringMatching(/TEM_DYNAMODB_PROCESSES=one/),
    });
    const after = await client(local().endpoints.dynamodb).send(
      new BatchGetItemCommand({ RequestItems: { [events]: { Keys: [{ id: { S: id } }] } } }),
    );
    expect(after.Responses?.[events]).toEqual([]);
  });
});
