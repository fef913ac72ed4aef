/**
 * Settings are read once, at cold start, from the environment the target gives the function (CDK env vars in AWS,
 * the same names from the topology in the local stack). A missing one fails the cold start with a message that
 * names it, instead of a confusing error on the first request.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export function requireEnv(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name];
  if (value === undefined || value.trim() === '') {
    throw new ConfigError(`Missing required setting ${name} (set by the topology binding; see infra/topology.ts)`);
  }
  return value;
}

export function intEnv(name: string, fallback: number, env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  const value = /^-?\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(value)) throw new ConfigError(`Setting ${name} must be an integer, got "${raw}"`);
  return value;
}

/**
 * An optional setting: unset, empty and blank all mean "not set" (a shell's `NAME=` or a template's empty default
 * must not become a value), else the value without surrounding whitespace.
 */
export function optionalEnv(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}
