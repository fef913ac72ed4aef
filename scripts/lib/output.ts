/**
 * Every `tem` command ends with one JSON object on its last stdout line (scripts parse that line); anything for
 * people goes before it, or to stderr.
 */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** `--help` given to a command: its usage goes to stdout and the command exits 0, doing nothing else. */
export class HelpRequested extends Error {
  constructor(readonly usage: string) {
    super('help requested');
  }
}

/** Throws `HelpRequested` when the arguments ask for help (`--help` before any `--`). */
export function helpIfAsked(argv: readonly string[], usage: string): void {
  const end = argv.indexOf('--');
  if ((end === -1 ? argv : argv.slice(0, end)).includes('--help')) throw new HelpRequested(usage);
}

export function result(value: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}
