import { JSON_HELP, type CommandContext, type Program } from '../program';

/** `retrain events dead-letter list|replay`: the run events a relay gave up delivering. */
export function registerEvents(program: Program, { out, run }: CommandContext): void {
  const events = program
    .command('events')
    .description('run events (webhook, Redis streams) and their dead letters');
  const deadLetter = events
    .command('dead-letter')
    .description('events a sink refused, or still failed once older than RETRAIN_EVENTS_MAX_AGE');
  const commands = () => import('../commands/events.js');
  deadLetter
    .command('list')
    .description('the dead letters, oldest event first')
    .option('--json', JSON_HELP)
    .action((opts, command) =>
      run(command, async (config) => (await commands()).deadLetterList(opts, config, out)),
    );
  deadLetter
    .command('replay')
    .description('deliver dead letters again to their sink; each one delivered is removed')
    .argument('[id]', 'the dead letter to replay (see list)')
    .option('--all', 'replay every dead letter')
    .option('--json', JSON_HELP)
    .action((id, opts, command) =>
      run(command, async (config) => (await commands()).deadLetterReplay({ ...opts, id }, config, out)),
    );
}
