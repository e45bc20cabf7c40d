import { Option } from '@commander-js/extra-typings';
import { OVERLAP_NAMES, WEEKLY_CRON } from '../../runs/weekly-schedule-settings';
import { JSON_HELP, type CommandContext, type Program } from '../program';
import { addRetrainOptions } from '../retrain-options';

type Schedule = ReturnType<Program['command']>;

const commands = () => import('../commands/schedule.js');

/** `retrain schedule create|list|describe|pause|unpause|trigger|backfill|delete`: weekly schedules. */
export function registerSchedule(program: Program, context: CommandContext): void {
  const { out, run } = context;
  const schedule = program
    .command('schedule')
    .description('weekly (or any cron) Temporal Schedules, retrain-weekly-<model>, that start runs');
  registerCreate(schedule, context);
  schedule
    .command('list')
    .description('every retrain schedule')
    .option('--json', JSON_HELP)
    .action((opts, command) =>
      run(command, async (config) => (await commands()).listSchedules(opts, config, out)),
    );
  const onModel = (name: string, description: string) =>
    schedule.command(name).description(description).requiredOption('--model <m>', 'the model');
  onModel('describe', 'cron, state, next and recent runs, and the input')
    .option('--json', JSON_HELP)
    .action((opts, command) =>
      run(command, async (config) => (await commands()).describeSchedule(opts, config, out)),
    );
  onModel('pause', 'stop starting runs until unpaused')
    .option('--note <text>', 'why')
    .action((opts, command) =>
      run(command, async (config) => (await commands()).pauseSchedule(opts, config, out)),
    );
  onModel('unpause', 'start runs again')
    .option('--note <text>', 'why')
    .action((opts, command) =>
      run(command, async (config) => (await commands()).unpauseSchedule(opts, config, out)),
    );
  onModel('trigger', "start one run now, with the schedule's overlap policy")
    .option('--json', JSON_HELP)
    .action((opts, command) =>
      run(command, async (config) => (await commands()).triggerSchedule(opts, config, out)),
    );
  onModel('backfill', 'run every slot between two times, one after another')
    .requiredOption('--from <time>', 'ISO time of the first slot')
    .requiredOption('--to <time>', 'ISO time after the last slot')
    .action((opts, command) =>
      run(command, async (config) => (await commands()).backfillSchedule(opts, config, out)),
    );
  onModel('delete', 'delete the schedule; runs it started go on')
    .option('--json', JSON_HELP)
    .action((opts, command) =>
      run(command, async (config) => (await commands()).deleteSchedule(opts, config, out)),
    );
}

function registerCreate(schedule: Schedule, { out, run }: CommandContext): void {
  addRetrainOptions(
    schedule.command('create').description("create a model's schedule; the run options become its input"),
  )
    .option('--cron <expr>', 'when to run, in --timezone', WEEKLY_CRON)
    .option('--timezone <tz>', 'IANA time zone of --cron', 'UTC')
    .option('--jitter <duration>', 'start each run up to this much later, e.g. 10m')
    .addOption(
      new Option('--overlap <policy>', 'what a slot does while the previous run still goes')
        .choices(OVERLAP_NAMES)
        .default('skip' as const),
    )
    .option('--paused', 'create it paused')
    .option('--note <text>', "the schedule's note")
    .option('--json', JSON_HELP)
    .action((opts, command) =>
      run(command, async (config) => (await commands()).createSchedule(opts, config, out)),
    );
}
