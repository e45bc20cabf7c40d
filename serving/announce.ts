import type { FastifyBaseLogger } from 'fastify';

import type { ServerDirectory } from '../storage/server-directory';
import type { ModelPool } from './model-pool';
import { repeatEvery } from './repeat';

/** Options of {@link announce}. */
export interface AnnounceOptions {
  directory: ServerDirectory;
  /** This server's name in the directory (its object's name). */
  id: string;
  /** Where the fleet reaches this server (`RETRAIN_SERVER_URL`). */
  url: string;
  /** `RETRAIN_SERVER_HEARTBEAT_SECONDS`, in ms. */
  everyMs: number;
  /** Whose loaded versions each heartbeat lists. */
  pool: Pick<ModelPool, 'list'>;
  log: FastifyBaseLogger;
}

/** This server's place in the directory while it runs; {@link Announcement.withdraw} ends it. */
export interface Announcement {
  /** Settles once the first heartbeat was written (or failed and was logged). */
  readonly first: Promise<void>;
  /** Stops the heartbeats and removes the announcement, so reloads stop counting on this server. */
  withdraw(): Promise<void>;
}

/**
 * Announces this server in the fleet's directory every `everyMs` (its url and the version of each model
 * it serves), so reloads find it. A store that fails is logged and tried again at the next beat: the
 * fleet can lose sight of a server, but a store outage never takes the server down.
 */
export function announce({ directory, id, url, everyMs, pool, log }: AnnounceOptions): Announcement {
  const startedAt = new Date().toISOString();
  const beat = () =>
    directory.announce({
      id,
      url,
      startedAt,
      heartbeatAt: new Date().toISOString(),
      heartbeatSeconds: everyMs / 1000,
      models: Object.fromEntries(pool.list().map((slot) => [slot.model, slot.version])),
    });
  const beats = repeatEvery(beat, everyMs, (err) =>
    log.warn(
      { err, id, store: directory.store.uri },
      'server announcement failed; retrying at the next heartbeat',
    ),
  );
  return {
    first: beats.first,
    async withdraw() {
      await beats.stop();
      await directory
        .withdraw(id)
        .catch((err: unknown) =>
          log.warn(
            { err, id },
            'could not withdraw the server announcement; it lapses after three heartbeats',
          ),
        );
    },
  };
}
