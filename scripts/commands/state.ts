import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import type { StackInfo } from '../../infra/local/stack';
import { deadLetterName, type QueueName, type ResourceName, topology } from '../../infra/topology';
import { parseCommand, positionals } from '../lib/args';
import { CliError, result } from '../lib/output';
import { stateDir } from '../lib/state';

interface StateOptions {
  stackName: string;
  endpoint?: string;
  region: string;
  out: string;
  apiKey?: string;
  mqtt?: string;
}

const text = { type: 'string' } as const;
const spec = {
  usage: 'usage: tem state --from-stack NAME [--endpoint URL] [--region R] [--out FILE] [--api-key KEY] [--mqtt URL]',
  options: { 'from-stack': text, endpoint: text, region: text, out: text, 'api-key': text, mqtt: text },
} as const;

export function parseStateArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): StateOptions {
  const args = parseCommand(argv, spec);
  positionals(args, []);
  const { 'from-stack': stackName, endpoint, region, out, 'api-key': apiKey, mqtt } = args.values;
  if (!stackName) throw new CliError(spec.usage, 2);
  return {
    stackName,
    endpoint,
    region: region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1',
    out: out ?? path.join(stateDir(env), endpoint ? 'localstack.json' : 'aws.json'),
    apiKey,
    mqtt,
  };
}

/**
 * `tem state --from-stack NAME`: describes a deployed stack (AWS, or LocalStack with `--endpoint`) in the same shape
 * as `.tem/local.json`, from the stack's outputs, so the CLI and the integration tests (`TEM_LOCAL_STATE=<file>`)
 * can target it.
 */
export async function runState(args: string[]): Promise<void> {
  const options = parseStateArgs(args);
  const cloudFormation = new CloudFormationClient({
    region: options.region,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
  });
  const { Stacks } = await cloudFormation.send(new DescribeStacksCommand({ StackName: options.stackName }));
  const outputs = new Map((Stacks?.[0]?.Outputs ?? []).map((o) => [o.OutputKey ?? '', o.OutputValue ?? '']));
  const logicalNames = [
    ...Object.keys(topology.streams),
    ...Object.keys(topology.tables),
    ...Object.keys(topology.queues),
    ...Object.keys(topology.keys),
    ...Object.keys(topology.endpoints),
    ...Object.keys(topology.archives),
  ] as ResourceName[];
  const missing = ['HttpApiUrl', ...logicalNames].filter((k) => !outputs.get(k));
  if (missing.length > 0) throw new CliError(`stack ${options.stackName} lacks outputs: ${missing.join(', ')}`);
  const resources = Object.fromEntries(
    logicalNames.map((n) => [n, outputs.get(n) as string]),
  ) as StackInfo['resources'];
  // Each delivery queue's dead-letter queue is output as `<queue>DeadLetter` (infra/aws/stack.ts).
  const deadLetterQueues = Object.fromEntries(
    (Object.keys(topology.queues) as QueueName[])
      .filter((q) => topology.queues[q].kind === 'delivery' && outputs.get(deadLetterName(q)))
      .map((q) => [q, outputs.get(deadLetterName(q)) as string]),
  );
  const service = (name: string) => options.endpoint ?? `https://${name}.${options.region}.amazonaws.com`;
  const info: StackInfo = {
    target: options.endpoint ? 'localstack' : 'aws',
    http: (outputs.get('HttpApiUrl') as string).replace(/\/$/, ''),
    ...(outputs.get('WebSocketUrl') ? { webSocket: outputs.get('WebSocketUrl') as string } : {}),
    ...(options.mqtt ? { mqtt: options.mqtt } : {}),
    region: options.region,
    endpoints: {
      kinesis: service('kinesis'),
      dynamodb: service('dynamodb'),
      sqs: service('sqs'),
      s3: service('s3'),
      firehose: service('firehose'),
    },
    resources,
    deadLetterQueues,
    // Each archive's bucket is output as `<archive>Bucket` (infra/aws/mesh-outputs.ts).
    archiveBuckets: Object.fromEntries(
      Object.keys(topology.archives).flatMap((a) =>
        outputs.get(`${a}Bucket`) ? [[a, outputs.get(`${a}Bucket`)]] : [],
      ),
    ),
    ...(outputs.get('RestApiId') && outputs.get('RestApiStage')
      ? {
          restApi: {
            restApiId: outputs.get('RestApiId') as string,
            stage: outputs.get('RestApiStage') as string,
            ...(outputs.get('NamePrefix') ? { namePrefix: outputs.get('NamePrefix') as string } : {}),
          },
        }
      : {}),
    ...(options.apiKey ? { devApiKey: options.apiKey } : {}),
  };
  mkdirSync(path.dirname(options.out), { recursive: true });
  writeFileSync(options.out, `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 });
  // It may hold a dev API key: private also when the file existed (the mode above applies only to a new file).
  chmodSync(options.out, 0o600);
  result({ written: options.out, target: info.target, http: info.http });
}
