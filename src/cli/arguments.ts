import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A mistake on the command line: main prints it with the command's usage and exits 2. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly usage?: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

export type OptionsConfig = NonNullable<ParseArgsConfig['options']>;

/** What a subcommand accepts: its help text, its flags (node:util parseArgs shape) and how many positionals. */
export interface CommandSpec<Options extends OptionsConfig> {
  help: string;
  options: Options;
  positionals: { min: number; max: number };
}

export interface ParsedCommand<Options extends OptionsConfig> {
  values: ReturnType<typeof parseArgs<{ options: Options; strict: true; allowPositionals: true }>>['values'];
  positionals: string[];
}

const HELP_FLAGS = new Set(['--help', '-h']);

/**
 * Parses a subcommand's arguments strictly, before it touches anything: an unknown flag, a missing
 * value or a positional too many is a UsageError. `--help`/`-h` prints the help to `out` and
 * returns undefined, so the command does nothing else.
 */
export function parseCommand<Options extends OptionsConfig>(
  spec: CommandSpec<Options>,
  args: string[],
  out: NodeJS.WritableStream = process.stdout,
): ParsedCommand<Options> | undefined {
  const separator = args.indexOf('--');
  if ((separator === -1 ? args : args.slice(0, separator)).some((arg) => HELP_FLAGS.has(arg))) {
    out.write(`${spec.help}\n`);
    return undefined;
  }
  let parsed;
  try {
    parsed = parseArgs({ args, options: spec.options, strict: true, allowPositionals: true });
  } catch (error) {
    // parseArgs names the offending flag in its first sentence; the rest is advice about `--`.
    const message = error instanceof Error ? error.message.split('. ')[0]! : String(error);
    throw new UsageError(message, spec.help);
  }
  const { positionals } = parsed;
  if (positionals.length > spec.positionals.max) {
    throw new UsageError(`unexpected argument "${positionals[spec.positionals.max]}"`, spec.help);
  }
  if (positionals.length < spec.positionals.min) throw new UsageError('missing argument', spec.help);
  return { values: parsed.values as ParsedCommand<Options>['values'], positionals };
}
