import { describe, expect, it } from 'vitest';
import { parseStateArgs } from '../../scripts/commands/state';
import { intOption, list, parseCommand, positionals, required } from '../../scripts/lib/args';
import { CliError, HelpRequested } from '../../scripts/lib/output';
import { parseSimulateArgs, simulateUsage } from '../../scripts/simulate/options';

const spec = {
  usage: 'usage: tem demo KEYID [--name N] [--ttl S] [--tag T]... [--json]',
  options: {
    name: { type: 'string' },
    ttl: { type: 'string' },
    tag: { type: 'string', multiple: true },
    json: { type: 'boolean' },
  },
} as const;

/** The exit code and first line of the usage error `run` throws (the usage follows on the next lines). */
function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    expect(error.message.split('\n').slice(1).join('\n')).toContain('usage:');
    return `${error.exitCode} ${error.message.split('\n')[0]}`;
  }
  throw new Error('no usage error');
}

describe('parseCommand: node:util parseArgs, strict, from a typed option table', () => {
  it('reads --flag value, --flag=value, repeated lists, booleans and positionals', () => {
    const args = parseCommand(['K1', '--name', 'alice', '--ttl=60', '--tag', 'a', '--tag=b', '--json'], spec);
    expect(args.values).toEqual({ name: 'alice', ttl: '60', tag: ['a', 'b'], json: true });
    expect(args.positionals).toEqual(['K1']);
    expect(positionals(args, ['KEYID'])).toEqual(['K1']);
    expect(required(args, 'name')).toBe('alice');
    expect(list(args, 'tag')).toEqual(['a', 'b']);
    expect(intOption(args, 'ttl', { min: 1, max: 900 })).toBe(60);
  });

  it('absent flags: undefined, an empty list, the fallback', () => {
    const args = parseCommand([], spec);
    expect(args.values).toEqual({});
    expect(list(args, 'tag')).toEqual([]);
    expect(intOption(args, 'ttl', { min: 1, max: 900 })).toBeUndefined();
    expect(intOption(args, 'ttl', { min: 1, max: 900, fallback: 900 })).toBe(900);
  });

  it('refuses unknown flags, missing values and a single flag given twice (exit 2, with the usage)', () => {
    expect(refusal(() => parseCommand(['--all', 'yes'], spec))).toBe('2 unknown option --all');
    expect(refusal(() => parseCommand(['-x'], spec))).toBe('2 unknown option -x');
    expect(refusal(() => parseCommand(['--name'], spec))).toBe('2 --name needs a value');
    expect(refusal(() => parseCommand(['--name', '--json'], spec))).toBe(
      '2 --name needs a value (one starting with "-": --name=VALUE)',
    );
    expect(refusal(() => parseCommand(['--json=yes'], spec))).toBe('2 --json takes no value');
    expect(refusal(() => parseCommand(['--name', 'a', '--name=b'], spec))).toBe('2 --name may be given once');
    // A list flag collects every occurrence instead.
    expect(parseCommand(['--tag', 'a', '--tag', 'a'], spec).values.tag).toEqual(['a', 'a']);
  });

  it('checks positionals by name, required flags and integer ranges', () => {
    expect(refusal(() => positionals(parseCommand([], spec), ['KEYID', 'PERM']))).toBe('2 missing KEYID PERM');
    expect(refusal(() => positionals(parseCommand(['a', 'b'], spec), ['KEYID']))).toBe('2 unexpected argument "b"');
    expect(refusal(() => required(parseCommand([], spec), 'name'))).toBe('2 --name is required');
    expect(refusal(() => required(parseCommand(['--name='], spec), 'name'))).toBe('2 --name is required');
    for (const ttl of ['0', '901', 'soon', '1.5'])
      expect(refusal(() => intOption(parseCommand([`--ttl=${ttl}`], spec), 'ttl', { min: 1, max: 900 }))).toBe(
        `2 --ttl must be an integer from 1 to 900, got "${ttl}"`,
      );
    // After `--` everything is a positional, even what looks like a flag.
    expect(parseCommand(['--', '--name'], spec).positionals).toEqual(['--name']);
  });
});

describe('tem state arguments (once hand-parsed, now strict)', () => {
  const env = { TEM_STATE_DIR: '/tmp/tem-state', AWS_REGION: 'eu-west-1' };

  it('defaults the region from the environment and the file from the target', () => {
    expect(parseStateArgs(['--from-stack', 'Tem'], env)).toMatchObject({
      stackName: 'Tem',
      region: 'eu-west-1',
      out: expect.stringMatching(/aws\.json$/),
    });
    expect(
      parseStateArgs(['--from-stack', 'Tem', '--endpoint', 'http://localhost:4566', '--mqtt', 'mqtt://h:1883'], env),
    ).toMatchObject({
      endpoint: 'http://localhost:4566',
      mqtt: 'mqtt://h:1883',
      out: expect.stringMatching(/localstack\.json$/),
    });
  });

  it('refuses a missing stack name and unknown flags', () => {
    expect(() => parseStateArgs([], env)).toThrow(/^usage: tem state --from-stack NAME/);
    expect(refusal(() => parseStateArgs(['--from-stack', 'Tem', '--frm-stack', 'x'], env))).toBe(
      '2 unknown option --frm-stack',
    );
  });
});

describe('--help', () => {
  it("answers with the command's usage instead of an unknown-option error, for every parser", () => {
    for (const run of [
      () => parseCommand(['KEY', '--help'], spec),
      () => parseSimulateArgs(['--devices', '5', '--help']),
    ]) {
      let thrown: unknown;
      try {
        run();
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(HelpRequested);
    }
    expect(() => parseSimulateArgs(['--help'])).toThrow(expect.objectContaining({ usage: simulateUsage }));
  });

  it('is a positional after --', () => {
    expect(parseCommand(['--', '--help'], spec).positionals).toEqual(['--help']);
  });
});
