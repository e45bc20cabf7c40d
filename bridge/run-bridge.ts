import http from 'node:http';
import { once } from 'node:events';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { redactedRedisUrl } from '../events/redis-sink';
import { openBlobStore } from '../storage/open-store';
import { ModelRegistry } from '../storage/registry';
import type { Config } from '../config/config';
import { connectClient } from '../config/connect';
import { RedisBridge, type BridgeOptions } from './redis-bridge';

/** What `retrain bridge redis` runs until it is signalled: the bridge, and its metrics endpoint. */
export async function runRedisBridge(
  config: Config,
  redisUrl: string,
  options: BridgeOptions & { metricsPort: number; metricsHost: string },
  log: Logger,
  signal: AbortSignal,
): Promise<void> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  redis.on('error', (err) => log.warn({ err: err.message }, 'redis connection error'));
  const { client, close } = await connectClient(config);
  const registry = new ModelRegistry(openBlobStore(config.store, config.s3));
  const bridge = new RedisBridge(redis, client, registry, options, log);
  const server =
    options.metricsPort > 0
      ? http.createServer((req, res) => {
          if (req.url !== '/metrics') return void res.writeHead(404).end();
          void bridge.metrics.metrics().then((text) => {
            res.writeHead(200, { 'content-type': bridge.metrics.contentType }).end(text);
          });
        })
      : undefined;
  if (server) {
    server.listen(options.metricsPort, options.metricsHost);
    await once(server, 'listening');
  }
  const stopped = () => bridge.stop();
  signal.addEventListener('abort', stopped, { once: true });
  log.info(
    {
      redis: redactedRedisUrl(redisUrl),
      stream: options.stream,
      group: options.group,
      from: options.groupStart ?? '$',
      consumer: options.consumer,
      failedStream: options.failedStream,
      taskQueue: options.taskQueue,
      ...(server ? { metrics: `http://${options.metricsHost}:${options.metricsPort}/metrics` } : {}),
    },
    'bridge polling',
  );
  try {
    await untilStoppedOrDrained(bridge.run(), signal, options.blockMs + DRAIN_MS);
  } finally {
    signal.removeEventListener('abort', stopped);
    server?.close();
    redis.disconnect();
    await close();
    log.info('bridge stopped');
  }
}

/** How long a stop waits, beyond one blocking read, for the job in hand to be handed over and acked. */
const DRAIN_MS = 3000;

/**
 * Resolves when `running` ends, or `drainMs` after `signal` aborts, whichever comes first. A bridge
 * whose Redis went away waits on a command ioredis keeps queued while it reconnects, which no stop
 * flag reaches; a job it had read but not acked yet is claimed again by the next bridge (runs have
 * their job's id, so it starts no second run).
 */
async function untilStoppedOrDrained(running: Promise<void>, signal: AbortSignal, drainMs: number) {
  let timer: NodeJS.Timeout | undefined;
  const drained = new Promise<void>((resolve) => {
    const start = () => (timer = setTimeout(resolve, drainMs));
    if (signal.aborted) start();
    else signal.addEventListener('abort', start, { once: true });
  });
  try {
    await Promise.race([running, drained]);
  } finally {
    clearTimeout(timer);
  }
}
