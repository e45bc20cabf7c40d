import { JSON_HELP, type CommandContext, type Program } from '../program';

/** `retrain triggers show|set|pause|resume|check`: a model's retrain triggers and their checks. */
export function registerTriggers(program: Program, { out, run }: CommandContext): void {
  const triggers = program
    .command('triggers')
    .description(
      "a model's retrain triggers (spec `triggers`), checked by its retrain-monitor-<model> schedule",
    );
  const commands = () => import('../commands/triggers.js');
  const onModel = (name: string, description: string) =>
    triggers.command(name).description(description).requiredOption('--model <m>', 'the model');
  onModel('show', 'the triggers, the schedule and the recent evaluations')
    .option('--limit <n>', 'evaluations to show', '10')
    .option('--json', JSON_HELP)
    .action((opts, command) =>
      run(command, async (config) => (await commands()).triggersShow(opts, config, out)),
    );
  onModel('set', 'change triggers in the spec (other fields kept) and update the schedule')
    .option(
      '--new-records <n>',
      'retrain once this many records arrived since the production training window',
    )
    .option(
      '--live-error-increase-pct <p>',
      'retrain when the live error is this many percent worse than holdout',
    )
    .option('--min-live-predictions <n>', 'live predictions the live error needs (default 100)')
    .option('--live-window-days <n>', 'days of target time the live error covers (default 7)')
    .option('--drift-psi <x>', "retrain when a feature's PSI against the training window exceeds this")
    .option('--check-every <duration>', 'how often to check, e.g. 15m (default 15m)')
    .option('--cool-down <duration>', 'no triggered run within this of the last, e.g. 6h (default 6h)')
    .option('--unset <field...>', 'drop these fields (spec names, e.g. driftPsi)')
    .option('--none', 'drop every trigger and the schedule')
    .option('--json', JSON_HELP)
    .action((opts, command) =>
      run(command, async (config) => (await commands()).triggersSet(opts, config, out)),
    );
  onModel('pause', 'stop checking until resumed')
    .option('--json', JSON_HELP)
    .action((opts, command) =>
      run(command, async (config) => (await commands()).triggersPause(opts, config, out)),
    );
  onModel('resume', 'check again')
    .option('--json', JSON_HELP)
    .action((opts, command) =>
      run(command, async (config) =>
        (await commands()).triggersPause({ ...opts, resume: true }, config, out),
      ),
    );
  onModel('check', 'evaluate the triggers now (starting a run if one fires)')
    .option('--json', JSON_HELP)
    .action((opts, command) =>
      run(command, async (config) => (await commands()).triggersCheck(opts, config, out)),
    );
}
