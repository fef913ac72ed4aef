import { parseArgs } from 'node:util';
import { CliError, helpIfAsked } from './output';

/**
 * Every command's flags go through `node:util` `parseArgs` in strict mode, from a typed option table: unknown flags,
 * missing values and a single flag given twice are usage errors (exit 2, with the command's usage). Flags are
 * `--name value` or `--name=value`; positionals are checked by name with `positionals`.
 */
export type OptionTable = Readonly<Record<string, { type: 'string' | 'boolean'; multiple?: boolean }>>;

export interface CommandSpec<O extends OptionTable = OptionTable> {
  usage: string;
  options: O;
}

/** The parsed values, typed by the table: a string, a list (`multiple`) or a boolean; absent when not given. */
export type OptionValues<O extends OptionTable> = {
  [K in keyof O]?: O[K]['multiple'] extends true ? string[] : O[K]['type'] extends 'boolean' ? boolean : string;
};

/** The flags of a table that take one string. */
export type StringFlag<O extends OptionTable> = {
  [K in keyof O]: O[K]['type'] extends 'string' ? (O[K]['multiple'] extends true ? never : K) : never;
}[keyof O] &
  string;

/** The flags of a table that collect every occurrence. */
export type ListFlag<O extends OptionTable> = {
  [K in keyof O]: O[K]['multiple'] extends true ? K : never;
}[keyof O] &
  string;

export interface ParsedArgs<O extends OptionTable> {
  usage: string;
  values: OptionValues<O>;
  positionals: string[];
}

export function usageError(spec: { usage: string }, problem: string): CliError {
  return new CliError(`${problem}\n${spec.usage}`, 2);
}

/** node's messages name the flag between quotes ('--ttl <value>'): the flag alone, for our shorter messages. */
function flagIn(message: string): string {
  return /'(-{1,2}[^' =]+)/.exec(message)?.[1] ?? '';
}

function problemOf(error: unknown): string {
  const { code, message } = error as { code?: string; message: string };
  const flag = flagIn(message);
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return `unknown option ${flag}`;
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    if (message.includes('does not take an argument')) return `${flag} takes no value`;
    // "ambiguous": the next argument starts with a dash, so node will not take it as the value.
    if (message.includes('ambiguous')) return `${flag} needs a value (one starting with "-": ${flag}=VALUE)`;
    return `${flag} needs a value`;
  }
  return message;
}

export function parseCommand<const O extends OptionTable>(
  argv: readonly string[],
  spec: CommandSpec<O>,
): ParsedArgs<O> {
  helpIfAsked(argv, spec.usage);
  const parsed = (() => {
    try {
      return parseArgs({ args: [...argv], options: spec.options, strict: true, allowPositionals: true, tokens: true });
    } catch (error) {
      throw usageError(spec, problemOf(error));
    }
  })();
  // node keeps the last of a repeated single flag; a second one is more likely a mistake than an override.
  const seen = new Set<string>();
  for (const token of parsed.tokens) {
    if (token.kind !== 'option' || spec.options[token.name]?.multiple) continue;
    if (seen.has(token.name)) throw usageError(spec, `--${token.name} may be given once`);
    seen.add(token.name);
  }
  return { usage: spec.usage, values: parsed.values as OptionValues<O>, positionals: parsed.positionals };
}

/** A string flag that must be given, and not empty. */
export function required<O extends OptionTable>(args: ParsedArgs<O>, flag: StringFlag<O>): string {
  const value = args.values[flag];
  if (typeof value !== 'string' || value === '') throw usageError(args, `--${flag} is required`);
  return value;
}

/** Every value of a repeatable flag, in order (none: empty). */
export function list<O extends OptionTable>(args: ParsedArgs<O>, flag: ListFlag<O>): string[] {
  return (args.values[flag] as string[] | undefined) ?? [];
}

/** Exactly one positional per name, else a usage error. */
export function positionals<O extends OptionTable, const N extends readonly string[]>(
  args: ParsedArgs<O>,
  names: N,
): { [K in keyof N]: string } {
  if (args.positionals.length !== names.length)
    throw usageError(
      args,
      args.positionals.length < names.length
        ? `missing ${names.slice(args.positionals.length).join(' ')}`
        : `unexpected argument "${args.positionals[names.length]}"`,
    );
  return args.positionals as unknown as { [K in keyof N]: string };
}

/** An integer flag within [min, max], or the fallback when absent. */
export function intOption<O extends OptionTable>(
  args: ParsedArgs<O>,
  flag: StringFlag<O>,
  range: { min: number; max: number; fallback: number },
): number;
export function intOption<O extends OptionTable>(
  args: ParsedArgs<O>,
  flag: StringFlag<O>,
  range: { min: number; max: number },
): number | undefined;
export function intOption<O extends OptionTable>(
  args: ParsedArgs<O>,
  flag: StringFlag<O>,
  range: { min: number; max: number; fallback?: number },
): number | undefined {
  const raw = args.values[flag] as string | undefined;
  if (raw === undefined) return range.fallback;
  const value = /^-?\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < range.min || value > range.max)
    throw usageError(args, `--${flag} must be an integer from ${range.min} to ${range.max}, got "${raw}"`);
  return value;
}
