import { Command, CommanderError, Option } from 'commander';
import { version } from '../package.json';
import { LOG_FORMATS, loadConfig, type Config, type LogFormat } from '../config/config';
import type { BridgeRedisOptions } from './commands/bridge';
import type { CancelOptions } from './commands/cancel';
import type { IngestOptions } from './commands/ingest';
import type { ListOptions } from './commands/list';
import type { RollbackOptions } from './commands/rollback';
import type {
  OverlapName,
  ScheduleBackfillOptions,
  ScheduleCreateOptions,
  ScheduleModelOptions,
} from './commands/schedule';
import type { StartOptions } from './commands/start';
import type { MonitorOptions } from './commands/monitor';
import type { StatsOptions } from './commands/stats';
import type { StatusOptions } from './commands/status';
import type { TriggersModelOptions, TriggersSetOptions } from './commands/triggers';
import type { ConflictPolicy, ExtraColumnsPolicy } from '../storage/ingest';
import { terminalOutput, UsageError, type CommandOutput } from './output';
import { addRetrainOptions } from './retrain-options';

/** Sunday 02:00 UTC: the weekly slot the retraining daemon documents, quiet for most fleets. */
const WEEKLY_CRON = '0 2 * * 0';

/** Listed here, not imported: the help must not load DuckDB. */
const CONFLICT_POLICIES: readonly ConflictPolicy[] = ['reject', 'first', 'last'];
const EXTRA_COLUMNS_POLICIES: readonly ExtraColumnsPolicy[] = ['reject', 'drop'];

const OVERLAP_NAMES: readonly OverlapName[] = [
  'skip',
  'buffer-one',
  'buffer-all',
  'cancel-other',
  'terminate-other',
  'allow-all',
];

const JSON_HELP = 'print the result as one JSON document on stdout';

const EXIT_CODES = `
Exit codes: 0 ok, 1 failure (one-line reason on stderr), 2 bad usage (the reason and the command's
usage on stderr), 3 run rejected, 4 run cancelled. Settings come from the environment
(TEMPORAL_ADDRESS, RETRAIN_STORE, ...; see README.md).`;

type Action<A extends unknown[]> = (config: Config, ...args: A) => Promise<number>;

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
  let code = 0;
  /** Sets `command`'s action: its positional arguments and options go to `action`, its code is kept. */
  const act = <A extends unknown[]>(command: Command, action: Action<A>): Command =>
    command.action(async (...args: unknown[]) => {
      try {
        // commander passes the positional arguments, then the options, then the command itself.
        const settings = config ?? loadConfig();
        out.useLogFormat?.(program.opts<{ logFormat?: LogFormat }>().logFormat ?? settings.logFormat);
        code = await action(settings, ...(args.slice(0, -1) as A));
      } catch (err) {
        out.endProgress();
        if (err instanceof UsageError) command.error(err.message, { exitCode: 2, code: 'retrain.usage' });
        throw err;
      }
    });

  const program = new Command('retrain')
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

  act(
    addRetrainOptions(program.command('start').description('start a retrain run of a model'))
      .option('--wait', 'follow the run to its end; exit 0 completed, 3 rejected, 4 cancelled')
      .option('--json', JSON_HELP),
    async (config, opts: StartOptions) =>
      (await import('./commands/start.js')).startCommand(opts, config, out),
  );
  act(
    program
      .command('status')
      .description("a run's state, stage and training progress")
      .argument('<workflowId>', 'the run, e.g. retrain-flight-delay-20261123T140512Z')
      .option('--watch', 'show live progress until the run ends; exit as start --wait does')
      .option('--json', JSON_HELP),
    async (config, workflowId: string, opts: StatusOptions) =>
      (await import('./commands/status.js')).statusCommand(workflowId, opts, config, out),
  );
  act(
    program
      .command('cancel')
      .description('stop a running run gracefully; it registers nothing and ends cancelled')
      .argument('<workflowId>', 'the run to cancel')
      .option('--reason <r>', 'why, kept in the run result (default: "cancelled from the command line")')
      .option('--json', JSON_HELP),
    async (config, workflowId: string, opts: CancelOptions) =>
      (await import('./commands/cancel.js')).cancelCommand(workflowId, opts, config, out),
  );
  act(
    program
      .command('list')
      .description('retrain runs, newest first, from Temporal visibility')
      .option('--model <m>', 'only the runs of this model')
      .option('--limit <n>', 'at most this many runs (default: 50)')
      .option('--json', JSON_HELP),
    async (config, opts: ListOptions) => (await import('./commands/list.js')).listCommand(opts, config, out),
  );
  act(
    program
      .command('rollback')
      .description('move production back to its previous version (or --to) and reload the servers')
      .requiredOption('--model <m>', 'the model to roll back')
      .option('--to <version>', 'the version to move production to, e.g. v3')
      .option('--json', JSON_HELP),
    async (config, opts: RollbackOptions) =>
      (await import('./commands/rollback.js')).rollbackCommand(opts, config, out),
  );
  act(
    program
      .command('ingest')
      .description("add metrics files to a model's data buffer, all or nothing")
      .argument('<files...>', '.csv, .parquet, .jsonl or .ndjson files')
      .requiredOption('--model <m>', 'the model the rows belong to')
      .addOption(
        new Option(
          '--on-conflict <policy>',
          'rows of the batch with the same time and entity but other values: reject the batch, or keep the first or last',
        )
          .choices(CONFLICT_POLICIES)
          .default('reject'),
      )
      .addOption(
        new Option(
          '--extra-columns <policy>',
          'columns the spec does not name: reject the batch, or drop them',
        )
          .choices(EXTRA_COLUMNS_POLICIES)
          .default('reject'),
      )
      .option('--json', JSON_HELP),
    async (config, files: string[], opts: IngestOptions) =>
      (await import('./commands/ingest.js')).ingestCommand(files, opts, config, out),
  );
  act(
    program
      .command('stats')
      .description("what a model's buffer holds and whether a run would get enough data")
      .requiredOption('--model <m>', 'the model')
      .option('--json', JSON_HELP),
    async (config, opts: StatsOptions) =>
      (await import('./commands/stats.js')).statsCommand(opts, config, out),
  );

  act(
    program
      .command('monitor')
      .description("a model's live error per version: logged predictions against the actuals ingested since")
      .requiredOption('--model <m>', 'the model')
      .option('--days <n>', 'the sliding window, in days of target time', '7')
      .option('--json', JSON_HELP),
    async (config, opts: MonitorOptions) =>
      (await import('./commands/monitor.js')).monitorCommand(opts, config, out),
  );

  const models = program.command('models').description('model specs and their registered versions');
  act(
    models
      .command('create')
      .description('validate a model spec file and store it')
      .argument('<spec.json>', 'the spec file')
      .option('--replace', 'overwrite a stored spec that differs')
      .option('--json', JSON_HELP),
    async (config, file: string, opts: { replace?: boolean; json?: boolean }) =>
      (await import('./commands/models.js')).modelsCreateCommand(file, opts, config, out),
  );
  act(
    models
      .command('list')
      .description('every model with its task, production version and number of versions')
      .option('--json', JSON_HELP),
    async (config, opts: { json?: boolean }) =>
      (await import('./commands/models.js')).modelsListCommand(opts, config, out),
  );
  act(
    models
      .command('show')
      .description("a model's spec, versions and aliases")
      .argument('<model>', 'the model name')
      .option('--json', JSON_HELP),
    async (config, name: string, opts: { json?: boolean }) =>
      (await import('./commands/models.js')).modelsShowCommand(name, opts, config, out),
  );

  const triggers = program
    .command('triggers')
    .description(
      "a model's retrain triggers (spec `triggers`), checked by its retrain-monitor-<model> schedule",
    );
  const triggerCommands = () => import('./commands/triggers.js');
  const onTriggers = (name: string, description: string) =>
    triggers.command(name).description(description).requiredOption('--model <m>', 'the model');
  act(
    onTriggers('show', 'the triggers, the schedule and the recent evaluations')
      .option('--limit <n>', 'evaluations to show', '10')
      .option('--json', JSON_HELP),
    async (config, opts: TriggersModelOptions) => (await triggerCommands()).triggersShow(opts, config, out),
  );
  act(
    onTriggers('set', 'change triggers in the spec (other fields kept) and update the schedule')
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
      .option('--json', JSON_HELP),
    async (config, opts: TriggersSetOptions) => (await triggerCommands()).triggersSet(opts, config, out),
  );
  act(
    onTriggers('pause', 'stop checking until resumed').option('--json', JSON_HELP),
    async (config, opts: TriggersModelOptions) => (await triggerCommands()).triggersPause(opts, config, out),
  );
  act(
    onTriggers('resume', 'check again').option('--json', JSON_HELP),
    async (config, opts: TriggersModelOptions) =>
      (await triggerCommands()).triggersPause({ ...opts, resume: true }, config, out),
  );
  act(
    onTriggers('check', 'evaluate the triggers now (starting a run if one fires)').option(
      '--json',
      JSON_HELP,
    ),
    async (config, opts: TriggersModelOptions) => (await triggerCommands()).triggersCheck(opts, config, out),
  );

  const bridge = program.command('bridge').description('bring jobs in from where producers write them');
  act(
    bridge
      .command('redis')
      .description(
        'start a run for each job on a Redis stream (consumer group; ACK once Temporal accepted it), until SIGINT or SIGTERM',
      )
      .option('--redis <url>', 'the Redis (default: RETRAIN_BRIDGE_REDIS_URL, else RETRAIN_EVENTS_REDIS_URL)')
      .option('--stream <name>', 'the jobs stream (default: <RETRAIN_REDIS_STREAM_PREFIX>model.retrain)')
      .option('--group <g>', 'the consumer group', 'retrain-bridge')
      .option('--consumer <name>', "this process's name in the group (default: <host>-<pid>)")
      .option('--failed-stream <name>', 'where bad jobs go (default: <prefix>learning.retraining.failed)')
      .option('--claim-idle <ms>', 'claim jobs pending this long (a dead consumer, a failed start)', '60000')
      .option(
        '--metrics-port <port>',
        'Prometheus /metrics (default: RETRAIN_BRIDGE_METRICS_PORT, 9466; 0: off)',
      ),
    async (config, opts: BridgeRedisOptions) =>
      (await import('./commands/bridge.js')).bridgeRedisCommand(opts, config, out),
  );

  const schedule = program
    .command('schedule')
    .description('weekly (or any cron) Temporal Schedules, retrain-weekly-<model>, that start runs');
  const schedules = () => import('./commands/schedule.js');
  act(
    addRetrainOptions(
      schedule.command('create').description("create a model's schedule; the run options become its input"),
    )
      .option('--cron <expr>', 'when to run, in --timezone', WEEKLY_CRON)
      .option('--timezone <tz>', 'IANA time zone of --cron', 'UTC')
      .option('--jitter <duration>', 'start each run up to this much later, e.g. 10m')
      .addOption(
        program
          .createOption('--overlap <policy>', 'what a slot does while the previous run still goes')
          .choices(OVERLAP_NAMES)
          .default('skip'),
      )
      .option('--paused', 'create it paused')
      .option('--note <text>', "the schedule's note")
      .option('--json', JSON_HELP),
    async (config, opts: ScheduleCreateOptions) => (await schedules()).createSchedule(opts, config, out),
  );
  act(
    schedule.command('list').description('every retrain schedule').option('--json', JSON_HELP),
    async (config, opts: { json?: boolean }) => (await schedules()).listSchedules(opts, config, out),
  );
  const onModel = (name: string, description: string) =>
    schedule.command(name).description(description).requiredOption('--model <m>', 'the model');
  act(
    onModel('describe', 'cron, state, next and recent runs, and the input').option('--json', JSON_HELP),
    async (config, opts: ScheduleModelOptions) => (await schedules()).describeSchedule(opts, config, out),
  );
  act(
    onModel('pause', 'stop starting runs until unpaused').option('--note <text>', 'why'),
    async (config, opts: ScheduleModelOptions) => (await schedules()).pauseSchedule(opts, config, out),
  );
  act(
    onModel('unpause', 'start runs again').option('--note <text>', 'why'),
    async (config, opts: ScheduleModelOptions) => (await schedules()).unpauseSchedule(opts, config, out),
  );
  act(
    onModel('trigger', "start one run now, with the schedule's overlap policy").option('--json', JSON_HELP),
    async (config, opts: ScheduleModelOptions) => (await schedules()).triggerSchedule(opts, config, out),
  );
  act(
    onModel('backfill', 'run every slot between two times, one after another')
      .requiredOption('--from <time>', 'ISO time of the first slot')
      .requiredOption('--to <time>', 'ISO time after the last slot'),
    async (config, opts: ScheduleBackfillOptions) => (await schedules()).backfillSchedule(opts, config, out),
  );
  act(
    onModel('delete', 'delete the schedule; runs it started go on').option('--json', JSON_HELP),
    async (config, opts: ScheduleModelOptions) => (await schedules()).deleteSchedule(opts, config, out),
  );

  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (err) {
    // commander has printed help, the version, or the reason and the usage.
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    out.endProgress();
    out.writeErr(reason(err instanceof Error ? err.message : String(err)));
    return 1;
  }
}

/** `retrain: <reason>`, continuation lines indented under it. */
function reason(message: string): string {
  return `retrain: ${message.trimEnd().split('\n').join('\n  ')}\n`;
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => process.exit(code));
}
