import { JSON_HELP, type CommandContext, type Program } from '../program';

/** `retrain rollback`: production back to an earlier version, the servers reloaded. */
export function registerRollback(program: Program, { out, run }: CommandContext): void {
  program
    .command('rollback')
    .description('move production back to its previous version (or --to) and reload the servers')
    .requiredOption('--model <m>', 'the model to roll back')
    .option('--to <version>', 'the version to move production to, e.g. v3')
    .option('--json', JSON_HELP)
    .action((opts, command) =>
      run(command, async (config) =>
        (await import('../commands/rollback.js')).rollbackCommand(opts, config, out),
      ),
    );
}
