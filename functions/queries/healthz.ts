import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { DescribeStreamSummaryCommand } from '@aws-sdk/client-kinesis';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import packageJson from '../../package.json' with { type: 'json' };
import { decodeCallerContext } from '../../shared/authorizer-context';
import { createDynamoClient, createKinesisClient } from '../../shared/aws/clients';
import { requireEnv } from '../../shared/config';
import { json } from '../../shared/http';
import { logger } from '../../shared/observability';
import { httpLambda } from '../commons';

const kinesis = createKinesisClient();
const dynamodb = createDynamoClient();
const streamName = requireEnv('EVENT_STREAM_NAME');
const tableName = requireEnv('EVENTS_TABLE_NAME');
const startedAt = new Date().toISOString();

interface Check {
  name: string;
  ok: boolean;
  status?: string;
  ms: number;
}

async function check(name: string, probe: () => Promise<string | undefined>): Promise<Check> {
  const t0 = Date.now();
  try {
    const status = await Promise.race([
      probe(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timed out')), 1500)),
    ]);
    return {
      name,
      ok: status === 'ACTIVE' || status === 'UPDATING',
      ...(status ? { status } : {}),
      ms: Date.now() - t0,
    };
  } catch (error) {
    // The reason goes to the log; the caller (even an admin) gets the verdict, not the internals.
    logger.warn('dependency check failed', { name, error: (error as Error).message });
    return { name, ok: false, ms: Date.now() - t0 };
  }
}

/**
 * GET /healthz: the service's versions for everyone allowed the route; for admins also live checks of the event
 * stream and the events table, with 503 when one fails (so a monitor can page on it).
 */
export const lambdaHandler = async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
  const caller = decodeCallerContext(event.requestContext.authorizer);
  const base = {
    status: 'ok',
    service: packageJson.name,
    version: packageJson.version,
    node: process.version,
    region: process.env.AWS_REGION ?? 'unknown',
    coldStartAt: startedAt,
  };
  if (!caller.role.split(',').includes('admin')) return json(200, base);
  const checks = await Promise.all([
    check('eventStream', async () => {
      const { StreamDescriptionSummary } = await kinesis.send(
        new DescribeStreamSummaryCommand({ StreamName: streamName }),
      );
      return StreamDescriptionSummary?.StreamStatus;
    }),
    check('eventsTable', async () => {
      const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
      return Table?.TableStatus;
    }),
  ]);
  const healthy = checks.every((c) => c.ok);
  return json(healthy ? 200 : 503, { ...base, status: healthy ? 'ok' : 'degraded', checks });
};

export const handler = httpLambda(lambdaHandler);
