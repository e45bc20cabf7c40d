import { eventSinksFor } from '../../events/event-sinks';
import { DeadLetterIdError, EventDeadLetters, type DeadLetter } from '../../storage/event-dead-letters';
import { openBlobStore } from '../../storage/open-store';
import type { Config } from '../../config/config';
import { renderTable, UsageError, type CommandOutput } from '../output';

/** The options of `retrain events dead-letter replay`, as commander parses them. */
export interface DeadLetterReplayOptions {
  id?: string;
  all?: boolean;
  json?: boolean;
}

function deadLettersOf(config: Config): EventDeadLetters {
  return new EventDeadLetters(openBlobStore(config.store, config.s3));
}

/** `retrain events dead-letter list`: every dead letter, oldest event first. */
export async function deadLetterList(
  values: { json?: boolean },
  config: Config,
  out: CommandOutput,
): Promise<number> {
  const letters = await deadLettersOf(config).list();
  const table = renderTable(
    ['ID', 'SINK', 'REASON', 'ATTEMPTS', 'EVENT', 'TYPE', 'EVENT TIME', 'LAST ERROR'],
    letters.map((l) => [
      l.id,
      l.sink,
      l.reason,
      String(l.attempts),
      l.event.id,
      l.event.type,
      l.event.time,
      l.lastError,
    ]),
  );
  out.result(values.json, letters, letters.length === 0 ? 'no dead letters\n' : `${table}\n`);
  return 0;
}

/**
 * `retrain events dead-letter replay <id> | --all`: delivers each dead letter again, with its event's
 * id (receivers that had it dedupe it), to the sink it failed at as this environment configures it;
 * removes each one delivered and keeps the others. Exits 1 naming those that failed.
 */
export async function deadLetterReplay(
  values: DeadLetterReplayOptions,
  config: Config,
  out: CommandOutput,
): Promise<number> {
  if ((values.id === undefined) === (values.all !== true))
    throw new UsageError('replay needs a dead letter id or --all (not both)');
  const letters = deadLettersOf(config);
  const chosen = values.id === undefined ? await letters.list() : [await oneOf(letters, values.id)];
  const sinks = eventSinksFor(config.events);
  const replayed: string[] = [];
  const failed: { id: string; error: string }[] = [];
  try {
    for (const letter of chosen) {
      const error = await redeliver(letter, sinks);
      if (error === undefined) {
        await letters.remove(letter.id);
        replayed.push(letter.id);
        out.log('dead letter replayed', { id: letter.id, sink: letter.sink, eventId: letter.event.id });
      } else failed.push({ id: letter.id, error });
    }
  } finally {
    await Promise.all(sinks.map((s) => s.close()));
  }
  const text = [
    ...replayed.map((id) => `${id}: replayed`),
    ...failed.map((f) => `${f.id}: not replayed: ${f.error}`),
  ].join('\n');
  out.result(values.json, { replayed, failed }, chosen.length === 0 ? 'no dead letters\n' : `${text}\n`);
  if (failed.length > 0)
    throw new Error(`${failed.length} of ${chosen.length} dead letter(s) not replayed: ${failed[0]!.error}`);
  return 0;
}

/** The dead letter `id`; a usage error for a malformed id, an error for one that does not exist. */
async function oneOf(letters: EventDeadLetters, id: string): Promise<DeadLetter> {
  let letter: DeadLetter | undefined;
  try {
    letter = await letters.get(id);
  } catch (err) {
    if (err instanceof DeadLetterIdError) throw new UsageError(err.message);
    throw err;
  }
  if (!letter) throw new Error(`no dead letter ${id} (retrain events dead-letter list shows them)`);
  return letter;
}

/** Delivers `letter` to its sink; the error's message when it failed. */
async function redeliver(
  letter: DeadLetter,
  sinks: ReturnType<typeof eventSinksFor>,
): Promise<string | undefined> {
  const sink = sinks.find((s) => s.name === letter.sink);
  if (!sink) return `the ${letter.sink} sink is not configured here (see docs/events.md)`;
  try {
    await sink.deliver(letter.event);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}
