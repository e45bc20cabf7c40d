import type { Config } from '../../config/config';
import { UsageError } from '../output';
import { untilSignalled } from '../until-signalled';
import type { CommandContext, Program } from '../program';

/** The default port of the sqlite bridge's Prometheus endpoint. */
export const SQLITE_BRIDGE_METRICS_PORT = 9468;

/** The options of `retrain bridge sqlite`, as commander parses them. */
export interface BridgeSqliteOptions {
  db: string;
  timeframe: string[];
  poll: string;
  tag?: string;
  metricsPort: string;
}

/**
 * `retrain bridge sqlite`: jobs from a `training_jobs` table (the Streamlit frontend's) into runs,
 * writing their progress back to the rows, until SIGINT or SIGTERM.
 */
export async function bridgeSqliteCommand(values: BridgeSqliteOptions, config: Config): Promise<number> {
  const { parseTimeframes } = await import('../../bridge/sqlite-job.js');
  const timeframes = parseTimeframes(values.timeframe);
  if ('invalid' in timeframes) throw new UsageError(timeframes.invalid);
  const pollMs = Number(values.poll);
  const metricsPort = Number(values.metricsPort);
  if (!Number.isInteger(pollMs) || pollMs < 100)
    throw new UsageError(`--poll must be a whole number of milliseconds, at least 100, not ${values.poll}`);
  if (!Number.isInteger(metricsPort) || metricsPort < 0 || metricsPort > 65535)
    throw new UsageError(`--metrics-port must be a port (0 turns it off), not ${values.metricsPort}`);
  if (values.tag !== undefined && !/^[a-z0-9-]{1,40}$/.test(values.tag))
    throw new UsageError(`--tag must be 1 to 40 lowercase letters, digits or dashes, not ${values.tag}`);
  const { createLogger } = await import('../../config/logger.js');
  const log = createLogger({ name: 'bridge', format: config.logFormat ?? 'json', level: config.logLevel });
  const { runSqliteBridge } = await import('../../bridge/sqlite-run-bridge.js');
  await untilSignalled(
    (signal) =>
      runSqliteBridge(
        config,
        { db: values.db, timeframes, pollMs, metricsPort, ...(values.tag ? { tag: values.tag } : {}) },
        log,
        signal,
      ),
    config.shutdownGraceMs,
    (message) => log.warn(message),
  );
  return 0;
}

/** Registers `retrain bridge sqlite` under the program's `bridge` command. */
export function registerBridgeSqlite(program: Program, { run }: CommandContext): void {
  const bridge = program.commands.find((command) => command.name() === 'bridge');
  if (!bridge) throw new Error('register the bridge group before retrain bridge sqlite');
  bridge
    .command('sqlite')
    .description(
      "drive the jobs of a training_jobs table (the Streamlit frontend's) as runs: a long then a short model per job, progress, trials and best scores written back to the row, until SIGINT or SIGTERM",
    )
    .requiredOption('--db <path>', 'the SQLite file that holds training_jobs (created when absent)')
    .requiredOption(
      '--timeframe <tf=long:short>',
      'the two models of a timeframe, e.g. 15m=btc-long-15m:btc-short-15m (repeat, or comma-separate)',
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .option('--poll <ms>', 'how often the table and a running job are read', '2000')
    .option('--tag <tag>', "part of each run's workflow id (default: a hash of the file's path)")
    .option('--metrics-port <port>', 'Prometheus /metrics (0: off)', String(SQLITE_BRIDGE_METRICS_PORT))
    .action((opts, command) => run(command, (config) => bridgeSqliteCommand(opts, config)));
}
