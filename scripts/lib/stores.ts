import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { StackInfo } from '../../infra/local/stack';
import { DynamoPrincipalStore } from '../../shared/aws/dynamo-principal-store';
import type { PrincipalStore } from '../../shared/ports';
import { CliError } from './output';
import { readLocalState } from './state';

/**
 * Where the CLI's DynamoDB calls go, from the state file:
 * - embedded local stack: its DynamoDB emulator, with the dummy credentials the emulators accept;
 * - LocalStack (`tem state --endpoint`): its endpoint, credentials from the environment or LocalStack's test/test;
 * - AWS (`tem state`): the default credential chain and the regional endpoint (no override).
 */
export function dynamoConfig(info: StackInfo, env: NodeJS.ProcessEnv = process.env): DynamoDBClientConfig {
  return clientConfig(info, 'dynamodb', env);
}

/** SDK client settings for one service of the stack the state file describes (see dynamoConfig). */
export function clientConfig(
  info: StackInfo,
  service: 'dynamodb' | 'kinesis' | 'sqs',
  env: NodeJS.ProcessEnv = process.env,
): {
  region: string;
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
} {
  const target = info.target ?? 'embedded';
  const endpoint = info.endpoints?.[service];
  switch (target) {
    case 'aws':
      return { region: info.region };
    case 'localstack':
      if (!endpoint) throw new CliError(`the state file names no ${service} endpoint (endpoints.${service})`);
      return {
        region: info.region,
        endpoint,
        credentials: {
          accessKeyId: env.AWS_ACCESS_KEY_ID || 'test',
          secretAccessKey: env.AWS_SECRET_ACCESS_KEY || 'test',
          ...(env.AWS_ACCESS_KEY_ID && env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
        },
      };
    case 'embedded':
      if (!endpoint) throw new CliError(`the state file names no ${service} endpoint (endpoints.${service})`);
      return { region: info.region, endpoint, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } };
    default:
      throw new CliError(`the state file has an unknown target "${String(target)}"`);
  }
}

/**
 * Runs `action` with the principal store of the stack the state file describes, and releases the client after,
 * so the process can exit.
 */
export async function withPrincipalStore<T>(
  action: (store: PrincipalStore, info: StackInfo) => Promise<T>,
  info: StackInfo = readLocalState(),
): Promise<T> {
  const table = info.resources?.principalsTable;
  if (!table) throw new CliError('the state file names no principals table (resources.principalsTable)');
  const client = new DynamoDBClient(dynamoConfig(info));
  const documents = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  try {
    return await action(new DynamoPrincipalStore(documents, table), info);
  } finally {
    documents.destroy();
    client.destroy();
  }
}
