import { CommanderError } from '@commander-js/extra-typings';
import type { Config } from '../config/config';
import { registerBridge } from './groups/bridge';
import { registerData } from './groups/data';
import { registerEvents } from './groups/events';
import { registerModels } from './groups/models';
import { registerRollback } from './groups/rollback';
import { registerRuns } from './groups/runs';
import { registerSchedule } from './groups/schedule';
import { registerTriggers } from './groups/triggers';
import { terminalOutput, type CommandOutput } from './output';
import { commandContext, createProgram, reason } from './program';

/** The command groups, in the order the help lists them. */
const GROUPS = [
  registerRuns,
  registerRollback,
  registerData,
  registerModels,
  registerTriggers,
  registerBridge,
  registerEvents,
  registerSchedule,
];

/**
 * Runs one `retrain` command; returns the process exit code. Every command's module is imported only
 * when it runs, and the environment is read only then (when no `config` is given), so `--help` and
 * `--version` load neither TensorFlow.js nor DuckDB nor the configuration.
 */
export async function main(
  argv: string[],
  out: CommandOutput = terminalOutput(),
  config?: Config,
): Promise<number> {
  const program = createProgram(out);
  const context = commandContext(program, out, config);
  for (const register of GROUPS) register(program, context);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return context.exitCode;
  } catch (err) {
    // commander has printed help, the version, or the reason and the usage.
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    out.endProgress();
    out.writeErr(reason(err instanceof Error ? err.message : String(err)));
    return 1;
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => process.exit(code));
}
