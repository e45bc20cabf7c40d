import { randomUUID } from 'node:crypto';

import type { FastifyBaseLogger } from 'fastify';

import type { ModelRegistry } from '../storage/registry';
import type { ServerDirectory } from '../storage/server-directory';
import { pollAliases } from './alias-poll';
import { announce } from './announce';
import type { ModelPool } from './model-pool';

/** How a server takes part in the fleet: where it announces itself and how often it beats and polls. */
export interface FleetSettings {
  directory: ServerDirectory;
  /** `RETRAIN_SERVER_HEARTBEAT_SECONDS`, in ms. */
  heartbeatMs: number;
  /** `RETRAIN_ALIAS_POLL_SECONDS`, in ms. */
  aliasPollMs: number;
}

/** A server in the fleet: announced, and following the production aliases, until it leaves. */
export interface FleetMember {
  /** This server's id in the directory. */
  readonly id: string;
  /** Settles once the first heartbeat and the first alias poll have run. */
  readonly ready: Promise<void>;
  /** Withdraws the announcement and stops the poll (a graceful shutdown). */
  leave(): Promise<void>;
}

/** Announces the server at `url` in the fleet's directory and follows the aliases from now on. */
export function joinFleet(
  settings: FleetSettings,
  {
    url,
    pool,
    registry,
    log,
  }: { url: string; pool: ModelPool; registry: ModelRegistry; log: FastifyBaseLogger },
): FleetMember {
  const id = randomUUID();
  const announcement = announce({
    directory: settings.directory,
    id,
    url,
    everyMs: settings.heartbeatMs,
    pool,
    log,
  });
  const poll = pollAliases({ registry, pool, everyMs: settings.aliasPollMs, log });
  log.info({ id, url, store: settings.directory.store.uri }, 'joined the fleet');
  return {
    id,
    ready: Promise.all([announcement.first, poll.first]).then(() => undefined),
    async leave() {
      await Promise.all([announcement.withdraw(), poll.stop()]);
    },
  };
}
