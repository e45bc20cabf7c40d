import fs from 'node:fs/promises';
import path from 'node:path';

const DAY_MS = 86_400_000;
const DAY_DIR = /^day=(\d{4}-\d{2}-\d{2})$/;

/**
 * Removes the prediction log's day partitions (`model=<m>/day=<UTC day answered>`) older than
 * `retentionDays` days before `now`'s UTC day; returns how many it removed. Whole partitions go, so
 * a reader never sees part of a day.
 */
export async function dropExpiredDays(dir: string, retentionDays: number, now = Date.now()): Promise<number> {
  const oldestKept = new Date(now - retentionDays * DAY_MS).toISOString().slice(0, 10);
  let dropped = 0;
  for (const model of await fs.readdir(dir).catch(() => [] as string[])) {
    if (!model.startsWith('model=')) continue;
    for (const day of await fs.readdir(path.join(dir, model)).catch(() => [] as string[])) {
      const date = DAY_DIR.exec(day)?.[1];
      if (date === undefined || date >= oldestKept) continue;
      await fs.rm(path.join(dir, model, day), { recursive: true, force: true });
      dropped += 1;
    }
  }
  return dropped;
}
