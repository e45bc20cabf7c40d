import { loadConfig } from '../workers/config';
import { cancelCommand } from './commands/cancel';
import { ingestCommand } from './commands/ingest';
import { listCommand } from './commands/list';
import { modelsCommand } from './commands/models';
import { rollbackCommand } from './commands/rollback';
import { scheduleCommand } from './commands/schedule';
import { startCommand } from './commands/start';
import { statsCommand } from './commands/stats';
import { statusCommand } from './commands/status';
import { terminalOutput, UsageError, type CommandOutput } from './output';
import type { Config } from '../workers/config';

type Command = (argv: string[], config: Config, out: CommandOutput) => Promise<number>;

const COMMANDS: Record<string, Command> = {
  start: startCommand,
  status: statusCommand,
  cancel: cancelCommand,
  list: listCommand,
  schedule: scheduleCommand,
  rollback: rollbackCommand,
  ingest: ingestCommand,
  stats: statsCommand,
  models: modelsCommand,
};

const USAGE = `usage: retrain <command> [options]
  start --model <m> [--epochs n] [--trials n] [--window-days n] [--min-records n] [--no-incremental] [--reload-target url]... [--wait] [--json]
  status <workflowId> [--watch] [--json]
  cancel <workflowId> [--reason r] [--json]
  list [--model m] [--limit n] [--json]
  rollback --model <m> [--to <version>] [--json]
  ingest --model <m> <files...> [--json]   (.csv, .parquet, .jsonl, .ndjson)
  stats --model <m> [--json]
  models create <spec.json> [--replace] [--json] | models list [--json] | models show <model> [--json]
  schedule create|list|describe|pause|unpause|trigger|backfill|delete ... (retrain schedule --help)`;

/** Runs one command; returns the process exit code. Errors become one line on stderr. */
export async function main(argv: string[], out: CommandOutput = terminalOutput()): Promise<number> {
  const [name, ...rest] = argv;
  const command = name ? COMMANDS[name] : undefined;
  try {
    if (!command)
      throw new UsageError(name && name !== '--help' ? `unknown command "${name}"\n${USAGE}` : USAGE);
    return await command(rest, loadConfig(), out);
  } catch (err) {
    out.endProgress();
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`retrain: ${message.split('\n').join('\n  ')}\n`);
    return err instanceof UsageError || (err instanceof TypeError && 'code' in err) ? 2 : 1;
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => process.exit(code));
}
