import { JSON_HELP, type CommandContext, type Program } from '../program';
import { addRetrainOptions } from '../retrain-options';

/** `retrain start|status|cancel|list|queue`: runs, started, followed, cancelled, listed and queued. */
export function registerRuns(program: Program, { out, run }: CommandContext): void {
  addRetrainOptions(program.command('start').description('start a retrain run of a model'))
    .option('--wait', 'follow the run to its end; exit 0 completed, 3 rejected, 4 cancelled')
    .option('--json', JSON_HELP)
    .action((opts, command) =>
      run(command, async (config) => (await import('../commands/start.js')).startCommand(opts, config, out)),
    );
  program
    .command('status')
    .description("a run's state, stage and training progress")
    .argument('<workflowId>', 'the run, e.g. retrain-flight-delay-20261123T140512Z')
    .option('--watch', 'show live progress until the run ends; exit as start --wait does')
    .option('--json', JSON_HELP)
    .action((workflowId, opts, command) =>
      run(command, async (config) =>
        (await import('../commands/status.js')).statusCommand(workflowId, opts, config, out),
      ),
    );
  program
    .command('cancel')
    .description('stop a running run gracefully; it registers nothing and ends cancelled')
    .argument('<workflowId>', 'the run to cancel')
    .option('--reason <r>', 'why, kept in the run result (default: "cancelled from the command line")')
    .option('--json', JSON_HELP)
    .action((workflowId, opts, command) =>
      run(command, async (config) =>
        (await import('../commands/cancel.js')).cancelCommand(workflowId, opts, config, out),
      ),
    );
  program
    .command('list')
    .description('retrain runs, newest first, from Temporal visibility')
    .option('--model <m>', 'only the runs of this model')
    .option('--limit <n>', 'at most this many runs (default: 50)')
    .option('--json', JSON_HELP)
    .action((opts, command) =>
      run(command, async (config) => (await import('../commands/list.js')).listCommand(opts, config, out)),
    );
  program
    .command('queue')
    .description("a model's queue: the run holding it and the runs waiting, next first")
    .requiredOption('--model <m>', 'the model')
    .option('--json', JSON_HELP)
    .action((opts, command) =>
      run(command, async (config) => (await import('../commands/queue.js')).queueCommand(opts, config, out)),
    );
}
