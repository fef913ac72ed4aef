import type { FunctionSpec, ResourceName } from '../topology';
import type { Endpoints } from './provision';

/**
 * The environment a function gets in the local stack (and in the benchmark's in-process runs): the region, the
 * emulators' endpoints (the SDK reads `AWS_ENDPOINT_URL_<SERVICE>`), the topology's own settings, and one variable per
 * binding holding the resource's physical name: only what its bindings give it, as in AWS. `overrides` change a
 * setting the function declares; any other name is ignored, so a typo cannot inject a variable nothing reads.
 */
export function localFunctionEnv(input: {
  name: string;
  spec: FunctionSpec;
  region: string;
  endpoints: Endpoints;
  resources: Readonly<Record<ResourceName, string>>;
  logLevel: string;
  overrides?: Readonly<Record<string, string>> | undefined;
}): Record<string, string> {
  const { name, spec } = input;
  const env: Record<string, string> = {
    AWS_REGION: input.region,
    AWS_DEFAULT_REGION: input.region,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL_KINESIS: input.endpoints.kinesis,
    AWS_ENDPOINT_URL_DYNAMODB: input.endpoints.dynamodb,
    AWS_ENDPOINT_URL_SQS: input.endpoints.sqs,
    AWS_ENDPOINT_URL_S3: input.endpoints.s3,
    AWS_ENDPOINT_URL_FIREHOSE: input.endpoints.firehose,
    AWS_LAMBDA_FUNCTION_NAME: `tem-${name}`,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(spec.memoryMb),
    POWERTOOLS_SERVICE_NAME: 'tem',
    // Lambda runs Node 22; the SDK's notice about Node 20 is for the local host, not the function.
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    POWERTOOLS_LOG_LEVEL: input.logLevel,
    // No X-Ray daemon here: the tracer stays off (it would be anyway without AWS_EXECUTION_ENV; this says so), so it
    // sends nothing over UDP and reports no missing trace context. Logs still carry the correlation ids.
    POWERTOOLS_TRACE_ENABLED: 'false',
    TZ: 'UTC',
    ...(spec.environment ?? {}),
  };
  for (const setting of Object.keys(spec.environment ?? {})) {
    const override = input.overrides?.[setting];
    if (override !== undefined) env[setting] = override;
  }
  for (const binding of spec.bindings) env[binding.env] = input.resources[binding.resource];
  return env;
}
