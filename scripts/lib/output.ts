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

export function result(value: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}
