import { registerBridgeSqlite } from '../commands/bridge-sqlite';
import { type CommandContext, type Program } from '../program';

/** `retrain bridge redis`: jobs from where producers write them, into runs. */
export function registerBridge(program: Program, { out, run }: CommandContext): void {
  program
    .command('bridge')
    .description('bring jobs in from where producers write them')
    .command('redis')
    .description(
      'start a run for each job on a Redis stream (consumer group; ACK once Temporal accepted it), until SIGINT or SIGTERM',
    )
    .option(
      '--redis <url>',
      'the Redis (default: RETRAIN_BRIDGE_REDIS_URL, else RETRAIN_EVENTS_REDIS_URL, else REDIS_URL)',
    )
    .option('--stream <name>', 'the jobs stream (default: <RETRAIN_REDIS_STREAM_PREFIX>model.retrain)')
    .option('--group <g>', 'the consumer group', 'retrain-bridge')
    .option('--from <id>', 'where a new group starts: $ (new jobs; default), 0 (the backlog) or an entry id')
    .option('--from-start', 'a new group reads the backlog too (--from 0)')
    .option('--consumer <name>', "this process's name in the group (default: <host>-<pid>)")
    .option('--failed-stream <name>', 'where bad jobs go (default: <prefix>learning.retraining.failed)')
    .option('--claim-idle <ms>', 'claim jobs pending this long (a dead consumer, a failed start)', '60000')
    .option(
      '--metrics-port <port>',
      'Prometheus /metrics (default: RETRAIN_BRIDGE_METRICS_PORT, 9466; 0: off)',
    )
    .action((opts, command) =>
      run(command, async (config) =>
        (await import('../commands/bridge.js')).bridgeRedisCommand(opts, config, out),
      ),
    );
  registerBridgeSqlite(program, { out, run });
}
