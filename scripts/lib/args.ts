import { CliError } from './output';

/**
 * A small parser for `--flag value` (also `--flag=value`) and positionals. Flags named in `repeatable` collect
 * every occurrence; any other known flag may appear once. Unknown flags and missing values are usage errors.
 */
export interface ArgSpec {
  usage: string;
  single?: readonly string[];
  repeatable?: readonly string[];
}

export interface ParsedArgs {
  positionals: string[];
  value(flag: string): string | undefined;
  values(flag: string): string[];
  required(flag: string): string;
}

export function usageError(spec: Pick<ArgSpec, 'usage'>, problem: string): CliError {
  return new CliError(`${problem}\n${spec.usage}`, 2);
}

export function parseArgs(argv: readonly string[], spec: ArgSpec): ParsedArgs {
  const single = new Set(spec.single ?? []);
  const repeatable = new Set(spec.repeatable ?? []);
  const flags = new Map<string, string[]>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (!arg.startsWith('--')) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    if (!single.has(name) && !repeatable.has(name)) throw usageError(spec, `unknown option --${name}`);
    let value: string | undefined;
    if (eq >= 0) value = arg.slice(eq + 1);
    else {
      value = argv[i + 1];
      if (value === undefined || value.startsWith('--')) throw usageError(spec, `--${name} needs a value`);
      i++;
    }
    const seen = flags.get(name) ?? [];
    if (single.has(name) && seen.length > 0) throw usageError(spec, `--${name} may be given once`);
    flags.set(name, [...seen, value]);
  }
  return {
    positionals,
    value: (flag) => flags.get(flag)?.[0],
    values: (flag) => flags.get(flag) ?? [],
    required(flag) {
      const value = flags.get(flag)?.[0];
      if (value === undefined || value === '') throw usageError(spec, `--${flag} is required`);
      return value;
    },
  };
}

/** Exactly one positional per name, else a usage error. */
export function positionals<const N extends readonly string[]>(
  args: ParsedArgs,
  spec: Pick<ArgSpec, 'usage'>,
  names: N,
): { [K in keyof N]: string } {
  if (args.positionals.length !== names.length)
    throw usageError(
      spec,
      args.positionals.length < names.length
        ? `missing ${names.slice(args.positionals.length).join(' ')}`
        : `unexpected argument "${args.positionals[names.length]}"`,
    );
  return args.positionals as unknown as { [K in keyof N]: string };
}

/** An integer option within [min, max], or the fallback when absent. */
export function intOption(
  args: ParsedArgs,
  spec: Pick<ArgSpec, 'usage'>,
  flag: string,
  range: { min: number; max: number; fallback?: number },
): number | undefined {
  const raw = args.value(flag);
  if (raw === undefined) return range.fallback;
  const value = /^-?\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < range.min || value > range.max)
    throw usageError(spec, `--${flag} must be an integer from ${range.min} to ${range.max}, got "${raw}"`);
  return value;
}
