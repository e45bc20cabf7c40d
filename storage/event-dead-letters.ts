import { createHash } from 'node:crypto';
import { z } from 'zod';
import { RunEventSchema, type RunEvent } from '../common/run-events';
import type { BlobStore } from './blob-store';
import { getJson, putJson } from './open-store';

const PREFIX = 'events/dead-letter/';

/** Dead letters read at once while listing: a backlog of thousands does not open thousands of reads. */
const READS_AT_ONCE = 32;

/** A dead letter's id: its sink and a hash of the event's id (`webhook-3f9a0c...`). */
const DEAD_LETTER_ID = /^[a-z][a-z0-9-]{0,30}-[0-9a-f]{20}$/;

/**
 * An event a relay gave up delivering to one sink, as `events/dead-letter/<id>.json` keeps it:
 * `refused` (the sink said no for good: a webhook's 4xx, a redirect) or `expired` (still failing when
 * the event was older than `RETRAIN_EVENTS_MAX_AGE`). `retrain events dead-letter replay` delivers it again.
 */
export const DeadLetterSchema = z.object({
  id: z.string().regex(DEAD_LETTER_ID),
  sink: z.string(),
  reason: z.enum(['refused', 'expired']),
  /** The last attempt's error, as the sink threw it (it names the URL without query or credentials). */
  lastError: z.string(),
  /** Delivery attempts made by the relay, the last one included. */
  attempts: z.number().int().min(1),
  /** When the relay first scheduled the delivery, and when it gave up (ISO 8601). */
  firstAttemptAt: z.string(),
  deadLetteredAt: z.string(),
  event: RunEventSchema,
});
export type DeadLetter = z.infer<typeof DeadLetterSchema>;

/** Thrown when a dead letter's id is malformed (it names the id and the expected form). */
export class DeadLetterIdError extends Error {
  override readonly name = 'DeadLetterIdError';
}

/** The id of `event`'s dead letter for `sink`: the same for every attempt, so a retried write replaces it. */
export function deadLetterId(sink: string, event: Pick<RunEvent, 'id'>): string {
  return `${sink}-${createHash('sha256').update(event.id).digest('hex').slice(0, 20)}`;
}

/**
 * The dead letters of the event relays, in the store (so every worker and `retrain events` see the same
 * ones), one object per event and sink under `events/dead-letter/`.
 */
export class EventDeadLetters {
  constructor(private readonly store: BlobStore) {}

  private key(id: string): string {
    if (!DEAD_LETTER_ID.test(id))
      throw new DeadLetterIdError(
        `${JSON.stringify(id)} is not a dead letter id (like webhook-3f9a0c5d1e2b7a4c9d8e)`,
      );
    return `${PREFIX}${id}.json`;
  }

  /** Writes (or replaces) `letter`. */
  async put(letter: DeadLetter): Promise<void> {
    await putJson(this.store, this.key(letter.id), DeadLetterSchema.parse(letter));
  }

  /** The dead letter with this id; `undefined` when there is none. */
  async get(id: string): Promise<DeadLetter | undefined> {
    return (await getJson(this.store, this.key(id), DeadLetterSchema))?.value;
  }

  /** Every dead letter, oldest event first, then in the order they were given up on. */
  async list(): Promise<DeadLetter[]> {
    const keys = (await this.store.list(PREFIX)).filter((k) => k.endsWith('.json'));
    const letters: DeadLetter[] = [];
    for (let i = 0; i < keys.length; i += READS_AT_ONCE) {
      const read = await Promise.all(
        keys
          .slice(i, i + READS_AT_ONCE)
          .map(async (k) => (await getJson(this.store, k, DeadLetterSchema))?.value),
      );
      letters.push(...read.filter((l): l is DeadLetter => l !== undefined));
    }
    // Events of one workflow task share a time; a relay gave up on them in order.
    return letters.sort(
      (a, b) =>
        a.event.time.localeCompare(b.event.time) ||
        a.deadLetteredAt.localeCompare(b.deadLetteredAt) ||
        a.id.localeCompare(b.id),
    );
  }

  /** Removes a dead letter (once replayed); a missing one is not an error. */
  async remove(id: string): Promise<void> {
    await this.store.delete(this.key(id));
  }
}
