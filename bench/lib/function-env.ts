import { localFunctionEnv } from '../../infra/local/function-env';
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
  for (const setting of Object.keys(options.overrides ?? {}))
    if (!Object.hasOwn(spec.environment ?? {}, setting)) throw new Error(`${name} has no setting ${setting}`);
  return localFunctionEnv({
    name,
    spec,
    region: info.region,
    endpoints: { ...info.endpoints, ...options.endpoints },
    resources: info.resources,
    logLevel: options.logLevel,
    overrides: options.overrides,
  });
}

/** What a child process needs from the parent's environment besides the function's own. */
export function baseEnv(): Record<string, string> {
  const keep = ['PATH', 'HOME', 'TMPDIR', 'LANG', 'NODE_EXTRA_CA_CERTS'];
  return Object.fromEntries(keep.flatMap((k) => (process.env[k] === undefined ? [] : [[k, process.env[k] as string]])));
}
