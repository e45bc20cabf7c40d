import os from 'node:os';
import type { Config } from '../../config/config';
import { createLogger } from '../../config/logger';
import { UsageError, type CommandOutput } from '../output';
import { untilSignalled } from '../until-signalled';

/** The options of `retrain bridge redis`, as commander parses them. */
export interface BridgeRedisOptions {
  redis?: string;
  stream?: string;
  group: string;
  consumer?: string;
  failedStream?: string;
  claimIdle: string;
  metricsPort?: string;
  from?: string;
  fromStart?: boolean;
}

/** Where a new consumer group may start: the stream's end, its start, or an entry id. */
const GROUP_START = /^(\$|0|\d+(-\d+)?)$/;

/**
 * `retrain bridge redis`: retrain jobs from a Redis stream (the retraining worker's
 * `quantum:stream:model.retrain` by default) into runs, until SIGINT or SIGTERM.
 */
export async function bridgeRedisCommand(
  values: BridgeRedisOptions,
  config: Config,
  _out: CommandOutput,
): Promise<number> {
  const redisUrl = values.redis ?? config.bridge.redisUrl;
  if (!redisUrl)
    throw new UsageError(
      'no Redis to read jobs from: pass --redis <url> or set RETRAIN_BRIDGE_REDIS_URL (or REDIS_URL)',
    );
  if (values.fromStart && values.from !== undefined && values.from !== '0')
    throw new UsageError(`--from-start reads from 0; it cannot go with --from ${values.from}`);
  const groupStart = values.fromStart ? '0' : (values.from ?? '$');
  if (!GROUP_START.test(groupStart))
    throw new UsageError(
      `--from must be $ (new jobs), 0 (the backlog) or a stream entry id, not ${groupStart}`,
    );
  const claimIdleMs = Number(values.claimIdle);
  const metricsPort = Number(values.metricsPort ?? config.bridge.metricsPort);
  if (!Number.isInteger(claimIdleMs) || claimIdleMs < 100)
    throw new UsageError(
      `--claim-idle must be a whole number of milliseconds, at least 100, not ${values.claimIdle}`,
    );
  if (!Number.isInteger(metricsPort) || metricsPort < 0 || metricsPort > 65535)
    throw new UsageError(`--metrics-port must be a port (0 turns it off), not ${values.metricsPort}`);
  const log = createLogger({ name: 'bridge', format: config.logFormat ?? 'json', level: config.logLevel });
  const { runRedisBridge } = await import('../../bridge/run-bridge.js');
  await untilSignalled(
    (signal) =>
      runRedisBridge(
        config,
        redisUrl,
        {
          stream: values.stream ?? `${config.bridge.streamPrefix}model.retrain`,
          group: values.group,
          groupStart,
          consumer: values.consumer ?? `${os.hostname()}-${process.pid}`,
          failedStream: values.failedStream ?? `${config.bridge.streamPrefix}learning.retraining.failed`,
          claimIdleMs,
          blockMs: 2000,
          taskQueue: config.taskQueue,
          metricsPort,
          metricsHost: config.metricsHost,
        },
        log,
        signal,
      ),
    config.shutdownGraceMs,
    (message) => log.warn(message),
  );
  return 0;
}
