import { Command, Option, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { version } from '../package.json';
import { LOG_FORMATS, loadConfig, type Config } from '../config/config';
import { UsageError, type CommandOutput } from './output';

/** The help of every `--json` option. */
export const JSON_HELP = 'print the result as one JSON document on stdout';

const EXIT_CODES = `
Exit codes: 0 ok, 1 failure (one-line reason on stderr), 2 bad usage (the reason and the command's
usage on stderr), 3 run rejected, 4 run cancelled. Settings come from the environment
(TEMPORAL_ADDRESS, RETRAIN_STORE, ...; see README.md).`;

/** The `retrain` program: its name, global options, help and where commander writes. */
export function createProgram(out: CommandOutput) {
  return new Command('retrain')
    .description('Retrain, validate, register and roll out models on Temporal.')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => out.writeOut(text),
      writeErr: (text) => out.writeErr(text),
      outputError: (text, write) => write(reason(text.replace(/^error: /, ''))),
    })
    .showHelpAfterError()
    .version(version, '-V, --version', 'print the version of retrain')
    .helpOption('-h, --help', 'print this help')
    .addOption(
      new Option(
        '--log-format <format>',
        'log lines on stderr as JSON or pretty (default: JSON unless stderr is a terminal; RETRAIN_LOG_FORMAT)',
      ).choices(LOG_FORMATS),
    )
    .helpCommand('help [command]', 'print the help of a command')
    .addHelpText('after', EXIT_CODES);
}

/** The program {@link createProgram} makes; command groups register their commands on it. */
export type Program = ReturnType<typeof createProgram>;

/** What a command group's actions share: where they write, and how a command runs. */
export interface CommandContext {
  readonly out: CommandOutput;
  /**
   * Runs `command`'s action with the configuration (read from the environment only now, so help
   * never reads it) and keeps its exit code; a {@link UsageError} becomes exit 2 with the usage.
   */
  run(command: CommandUnknownOpts, action: (config: Config) => Promise<number>): Promise<void>;
}

/** A {@link CommandContext} over `program`, and the exit code of the command that ran. */
export function commandContext(
  program: Program,
  out: CommandOutput,
  config?: Config,
): CommandContext & { readonly exitCode: number } {
  let exitCode = 0;
  return {
    out,
    get exitCode() {
      return exitCode;
    },
    async run(command, action) {
      try {
        const settings = config ?? loadConfig();
        out.useLogFormat?.(program.opts().logFormat ?? settings.logFormat);
        exitCode = await action(settings);
      } catch (err) {
        out.endProgress();
        if (err instanceof UsageError) command.error(err.message, { exitCode: 2, code: 'retrain.usage' });
        throw err;
      }
    },
  };
}

/** `retrain: <reason>`, continuation lines indented under it. */
export function reason(message: string): string {
  return `retrain: ${message.trimEnd().split('\n').join('\n  ')}\n`;
}
