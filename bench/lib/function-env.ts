import type { LocalStackInfo } from '../../infra/local/stack';
import { type FunctionName, topology } from '../../infra/topology';

/**
 * The environment a function gets in the local stack, built the way `infra/local/stack.ts` builds it: the AWS
 * endpoints, the topology's `environment` settings, and one variable per binding holding the resource's physical
 * name (from the running stack's `.tem/local.json`). `overrides` may change a declared setting only.
 */
export function functionEnv(
  info: Pick<LocalStackInfo, 'region' | 'endpoints' | 'resources'>,
  name: FunctionName,
  options: {
    logLevel: string;
    overrides?: Readonly<Record<string, string>>;
    endpoints?: Partial<LocalStackInfo['endpoints']>;
  },
): Record<string, string> {
  const spec = topology.functions[name];
  const endpoints = { ...info.endpoints, ...options.endpoints };
  const env: Record<string, string> = {
    AWS_REGION: info.region,
    AWS_DEFAULT_REGION: info.region,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL_KINESIS: endpoints.kinesis,
    AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodb,
    AWS_ENDPOINT_URL_SQS: endpoints.sqs,
    AWS_LAMBDA_FUNCTION_NAME: `tem-${name}`,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(spec.memoryMb),
    POWERTOOLS_SERVICE_NAME: 'tem',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    POWERTOOLS_LOG_LEVEL: options.logLevel,
    TZ: 'UTC',
    ...(spec.environment ?? {}),
  };
  for (const [setting, value] of Object.entries(options.overrides ?? {})) {
    if (!Object.hasOwn(spec.environment ?? {}, setting)) throw new Error(`${name} has no setting ${setting}`);
    env[setting] = value;
  }
  for (const binding of spec.bindings) env[binding.env] = info.resources[binding.resource];
  return env;
}

/** What a child process needs from the parent's environment besides the function's own. */
export function baseEnv(): Record<string, string> {
  const keep = ['PATH', 'HOME', 'TMPDIR', 'LANG', 'NODE_EXTRA_CA_CERTS'];
  return Object.fromEntries(keep.flatMap((k) => (process.env[k] === undefined ? [] : [[k, process.env[k] as string]])));
}
