import type { Logger } from 'pino';
import type { Config } from '../config/config';
import { connectClient } from '../config/connect';
import { serveMetrics } from './metrics-endpoint';
import { SqliteBridge, type SqliteBridgeOptions } from './sqlite-bridge';
import { JobTable } from './sqlite-job-table';

/** What `retrain bridge sqlite` runs until it is signalled: the bridge over its table, and its metrics endpoint. */
export async function runSqliteBridge(
  config: Config,
  options: Omit<SqliteBridgeOptions, 'taskQueue'> & { metricsPort: number },
  log: Logger,
  signal: AbortSignal,
): Promise<void> {
  const table = new JobTable(options.db);
  const { client, close } = await connectClient(config);
  const bridge = new SqliteBridge(table, client, { ...options, taskQueue: config.taskQueue }, log);
  const server =
    options.metricsPort > 0
      ? await serveMetrics(bridge.metrics, options.metricsPort, config.metricsHost)
      : undefined;
  const stopped = () => bridge.stop();
  signal.addEventListener('abort', stopped, { once: true });
  log.info(
    {
      db: options.db,
      timeframes: Object.fromEntries(options.timeframes),
      taskQueue: config.taskQueue,
      ...(server ? { metrics: `http://${config.metricsHost}:${options.metricsPort}/metrics` } : {}),
    },
    'bridge polling training_jobs',
  );
  try {
    await bridge.run();
  } finally {
    signal.removeEventListener('abort', stopped);
    server?.close();
    table.close();
    await close();
    log.info('bridge stopped');
  }
}
