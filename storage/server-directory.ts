import { z } from 'zod';

import type { BlobStore } from './blob-store';
import { getJson, putJson } from './open-store';

/** Where inference servers announce themselves in the store: one object per server. */
export const SERVER_DIRECTORY_PREFIX = 'fleet/servers/';

/** Heartbeats a server may miss before it counts as gone. */
export const MISSED_HEARTBEATS = 3;

/** A server id: the object's name, so a slug (no `/`, no `..`). */
const ServerIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9._-]{1,200}$/)
  .refine((id) => id !== '..' && id !== '.');

/**
 * What an inference server says about itself, rewritten every heartbeat: where it answers, since
 * when, when it last said so, how often it says so, and the version of each model it serves.
 */
export const ServerAnnouncementSchema = z.object({
  id: ServerIdSchema,
  url: z.url({ protocol: /^https?$/ }),
  startedAt: z.iso.datetime(),
  heartbeatAt: z.iso.datetime(),
  /** The server's own `RETRAIN_SERVER_HEARTBEAT_SECONDS`, so readers judge it by its own beat. */
  heartbeatSeconds: z.number().positive(),
  models: z.record(z.string(), z.string()),
});
export type ServerAnnouncement = z.infer<typeof ServerAnnouncementSchema>;

/**
 * The fleet of inference servers as they announce themselves in the blob store
 * (`fleet/servers/<id>.json`). Only the store holds it, so every worker and server sees the same fleet.
 */
export class ServerDirectory {
  constructor(readonly store: BlobStore) {}

  /** The key of server `id`'s announcement. */
  keyOf(id: string): string {
    return `${SERVER_DIRECTORY_PREFIX}${ServerIdSchema.parse(id)}.json`;
  }

  /** Writes (or rewrites) the server's announcement. */
  async announce(announcement: ServerAnnouncement): Promise<void> {
    const valid = ServerAnnouncementSchema.parse(announcement);
    await putJson(this.store, this.keyOf(valid.id), valid);
  }

  /** Removes the server's announcement (a graceful shutdown); a missing one is not an error. */
  withdraw(id: string): Promise<void> {
    return this.store.delete(this.keyOf(id));
  }

  /**
   * Every announcement in the store, alive or not. One that is unreadable or malformed is left out:
   * one broken object must not hide the fleet.
   */
  async list(): Promise<ServerAnnouncement[]> {
    const keys = (await this.store.list(SERVER_DIRECTORY_PREFIX)).filter((key) => key.endsWith('.json'));
    const found = await Promise.all(
      keys.map((key) => getJson(this.store, key, ServerAnnouncementSchema).catch(() => undefined)),
    );
    return found.flatMap((entry) => (entry ? [entry.value] : []));
  }

  /** The servers whose last heartbeat is within {@link MISSED_HEARTBEATS} of their intervals of `now`. */
  async aliveServers(now: Date = new Date()): Promise<ServerAnnouncement[]> {
    return (await this.list()).filter((server) => isAlive(server, now));
  }
}

/** True when `server` beat within {@link MISSED_HEARTBEATS} of its own intervals before `now`. */
export function isAlive(server: ServerAnnouncement, now: Date): boolean {
  const age = now.getTime() - Date.parse(server.heartbeatAt);
  return age <= MISSED_HEARTBEATS * server.heartbeatSeconds * 1000;
}
