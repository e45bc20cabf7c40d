import type { Client } from '@temporalio/client';
import { Redis } from 'ioredis';
import pino from 'pino';
import { RedisBridge, type BridgeOptions } from '../../bridge/redis-bridge';
import type { ModelRegistry } from '../../storage/registry';

/** What every bridge of a test file shares; each one names its consumer (and may change the rest). */
export type BridgeDefaults = Omit<BridgeOptions, 'consumer'>;

/**
 * The job bridges of one test file, each on its own Redis connection and silent: `add` one running
 * (or left for the test to drive), `stopAll` between tests, `close` after the file.
 */
export class RedisBridges {
  private readonly bridges: RedisBridge[] = [];
  private readonly running: Promise<void>[] = [];
  private readonly connections: Redis[] = [];

  constructor(
    private readonly redisUrl: string,
    private readonly client: Client,
    private readonly registry: ModelRegistry,
    private readonly defaults: BridgeDefaults,
  ) {}

  /** A bridge reading as `consumer`; `start: false` leaves reading to the test (`handle`, `claimIdle`). */
  add(consumer: string, options: Partial<BridgeDefaults> = {}, start = true): RedisBridge {
    const connection = new Redis(this.redisUrl, { maxRetriesPerRequest: null });
    connection.on('error', () => undefined);
    this.connections.push(connection);
    const bridge = new RedisBridge(
      connection,
      this.client,
      this.registry,
      { ...this.defaults, ...options, consumer },
      pino({ level: 'silent' }),
    );
    this.bridges.push(bridge);
    if (start) this.running.push(bridge.run().finally(() => connection.disconnect()));
    return bridge;
  }

  /** Stops every running bridge, so the next test's messages are its own. */
  async stopAll(): Promise<void> {
    for (const bridge of this.bridges) bridge.stop();
    await Promise.all(this.running.splice(0));
  }

  async close(): Promise<void> {
    await this.stopAll();
    for (const connection of this.connections) connection.disconnect();
  }
}
