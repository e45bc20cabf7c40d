import { randomUUID } from 'node:crypto';
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import pino from 'pino';
import type { BlobStore } from './blob-store';
import { sqlString, withDuckDb } from './duckdb';
import { type FaultLogger, PredictionLogFaults, PredictionLogWriteError } from './prediction-log-faults';
import { dropExpiredDays } from './prediction-log-retention';
import { PredictionParts } from './prediction-parts';
import { trimTornTail } from './prediction-log-tail';

/** One /predict answer as the log keeps it. */
export interface PredictionRecord {
  model: string;
  version: string;
  /** The entity as sent, as text. */
  entity: string;
  /** Epoch ms of the entity's newest input row. */
  time: number;
  /** Epoch ms of the time forecast (models with a frequency), else null. */
  for: number | null;
  /** The forecast level, or the classifier's probability. */
  value: number;
  /** Classifiers: the label answered. */
  label: number | null;
  /** Epoch ms the answer was given. */
  predictedAt: number;
}

export interface PredictionLogOptions {
  /** Share of answers recorded, 0 to 1 (`RETRAIN_PREDICTION_LOG_SAMPLE`). @default 1 */
  sample?: number;
  /** How often the journal is turned into Parquet. @default 5000 */
  flushMs?: number;
  /** A journal not written for this long belongs to a process that died: it is recovered. @default 30000 */
  orphanMs?: number;
  /** Draws the sample; injectable for tests. @default Math.random */
  random?: () => number;
  /**
   * Answers are kept this many days after the UTC day they were given
   * (`RETRAIN_PREDICTION_LOG_RETENTION_DAYS`); older days are dropped at open and every hour.
   * @default 30
   */
  retentionDays?: number;
  /** Where faults are logged, once per burst. @default a pino logger named `prediction-log` */
  logger?: FaultLogger;
  /**
   * The blob store every server of a fleet shares (`RETRAIN_STORE`): each turn is uploaded there
   * (see {@link PredictionParts}) and `dir` keeps only the journals and a cache. Without one the
   * Parquet files stay under `dir`, which only this host sees.
   */
  store?: BlobStore;
}

const JOURNALS = '.journal';
/** Under the log's directory: local copies of the store's parts (store mode). */
const CACHE = '.cache';
const JOURNAL_SUFFIX = '.jsonl';
const CLAIMED_INFIX = '.recovering-';
const RETENTION_EVERY_MS = 3_600_000;
const COLUMNS = `{'model': 'VARCHAR', 'version': 'VARCHAR', 'entity': 'VARCHAR', 'time': 'BIGINT',
  'for': 'BIGINT', 'value': 'DOUBLE', 'label': 'INTEGER', 'predictedAt': 'BIGINT'}`;

/**
 * The prediction log: every recorded answer is appended to this process's journal (JSON lines)
 * before /predict replies, and every `flushMs` the journal is closed, written as Parquet under
 * `model=<m>/day=<UTC day answered>/part-<journal>.parquet` (in the `store` when given, see
 * {@link PredictionParts}; else under `dir`) and removed. The Parquet file is named
 * after its journal, so turning a journal again (after a crash between the two steps) replaces the
 * file instead of adding its rows twice. Journals of a process that died (not written for
 * `orphanMs`) are claimed by rename and turned by the next process to open the log. What a
 * SIGKILL loses: what was recorded but not yet handed to the kernel (`record` resolves once it
 * is; /predict does not wait for that, see serving/server.ts); an OS crash can lose what the kernel
 * had not written back (no fsync per answer). A graceful close loses nothing.
 *
 * No fault of the log stops the process that serves: a journal write that fails (a full disk:
 * ENOSPC, EFBIG) drops that journal, its `record` calls reject and the next answers start a new one;
 * a turn that fails leaves its journal, which is retried as an orphan; a torn last line is cut. Each
 * is counted in {@link faults} and logged once per burst.
 */
export class PredictionLog {
  private journal: fsSync.WriteStream | undefined;
  private journalPath = '';
  private pending = 0;
  private timer: NodeJS.Timeout | undefined;
  private turning: Promise<void> = Promise.resolve();
  private closed = false;
  private retainedAt = 0;
  /** The faults met so far, by kind (served as `retrain_prediction_log_faults_total`). */
  readonly faults: PredictionLogFaults;
  /** Store mode: where turns go and answers are read from. */
  private readonly parts: PredictionParts | undefined;

  private constructor(
    readonly dir: string,
    private readonly options: Required<Omit<PredictionLogOptions, 'logger' | 'store'>>,
    logger: FaultLogger,
    store: BlobStore | undefined,
  ) {
    this.faults = new PredictionLogFaults(logger);
    this.parts = store && new PredictionParts(store, path.join(dir, CACHE));
  }

  /** Opens the log under `dir`, first turning the journals of processes that died into Parquet. */
  static async open(dir: string, options: PredictionLogOptions = {}): Promise<PredictionLog> {
    const sample = options.sample ?? 1;
    if (!(sample >= 0 && sample <= 1)) throw new RangeError(`sample must be between 0 and 1, not ${sample}`);
    const retentionDays = options.retentionDays ?? 30;
    if (!(Number.isInteger(retentionDays) && retentionDays >= 1))
      throw new RangeError(`retentionDays must be a whole number of days, at least 1, not ${retentionDays}`);
    const log = new PredictionLog(
      dir,
      {
        sample,
        flushMs: options.flushMs ?? 5000,
        orphanMs: options.orphanMs ?? 30_000,
        random: options.random ?? Math.random,
        retentionDays,
      },
      options.logger ?? pino({ name: 'prediction-log' }),
      options.store,
    );
    await fs.mkdir(path.join(dir, JOURNALS), { recursive: true });
    await log.recoverOrphans();
    await log.dropExpired();
    // Each tick also retries the journals a failed write or turn left behind, once they are orphans.
    log.timer = setInterval(() => {
      void log.rotate();
      log.turning = log.turning.then(async () => {
        await log.recoverOrphans();
        if (Date.now() - log.retainedAt >= RETENTION_EVERY_MS) await log.dropExpired();
      });
    }, log.options.flushMs);
    log.timer.unref();
    return log;
  }

  /**
   * Appends the sampled records to the journal; resolves once they are written, rejects with
   * {@link PredictionLogWriteError} (counted and logged here) when the write failed.
   */
  record(records: PredictionRecord[]): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the prediction log is closed'));
    const kept =
      this.options.sample >= 1 ? records : records.filter(() => this.options.random() < this.options.sample);
    if (kept.length === 0) return Promise.resolve();
    const text = kept.map((r) => JSON.stringify(r)).join('\n') + '\n';
    const journal = this.openJournal();
    this.pending += kept.length;
    return new Promise((resolve, reject) =>
      journal.write(text, (err) => {
        if (!err) return resolve();
        this.faults.report('write', err, {
          journal: path.basename(journal.path.toString()),
          records: kept.length,
        });
        reject(new PredictionLogWriteError(err));
      }),
    );
  }

  /** Turns what the journal holds into Parquet now. */
  flush(): Promise<void> {
    return this.rotate();
  }

  /** Stops the timer and turns the last journal. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.rotate();
  }

  /** The Parquet files of a model, as a DuckDB relation, or undefined while it has none. */
  source(model: string): Promise<string | undefined> {
    return this.parts ? this.parts.source(model) : predictionLogReader(this.dir).source(model);
  }

  /**
   * Drops the days past retention; a failure is a fault, retried at the next hour. In store mode it
   * first uploads the Parquet files an earlier release kept in the log's directory (then removes them).
   */
  private async dropExpired(): Promise<void> {
    this.retainedAt = Date.now();
    if (this.parts) await this.moveLocalDays(this.parts);
    try {
      if (this.parts) await this.parts.dropExpired(this.options.retentionDays);
      else await dropExpiredDays(this.dir, this.options.retentionDays);
    } catch (err) {
      this.faults.report('retention', err);
    }
  }

  /** Uploads the day partitions under the log's directory to the store and removes them; a failure is a turn fault. */
  private async moveLocalDays(parts: PredictionParts): Promise<void> {
    try {
      await parts.upload(this.dir);
      for (const name of await fs.readdir(this.dir))
        if (name.startsWith('model='))
          await fs.rm(path.join(this.dir, name), { recursive: true, force: true });
    } catch (err) {
      this.faults.report('turn', err, { moving: this.dir });
    }
  }

  private openJournal(): fsSync.WriteStream {
    if (!this.journal) {
      this.journalPath = path.join(this.dir, JOURNALS, `${randomUUID()}${JOURNAL_SUFFIX}`);
      const journal = fsSync.createWriteStream(this.journalPath, { flags: 'a' });
      journal.on('error', () => this.journalFailed(journal));
      this.journal = journal;
    }
    return this.journal;
  }

  /**
   * Drops a journal whose stream failed (its pending writes reject, and are counted, on their own):
   * what it holds is turned once it is an orphan.
   */
  private journalFailed(journal: fsSync.WriteStream): void {
    if (this.journal !== journal) return;
    this.journal = undefined;
    this.pending = 0;
  }

  /** Closes the current journal (new records go to a new one) and turns it; one turn at a time. */
  private rotate(): Promise<void> {
    const journal = this.journal;
    if (!journal || this.pending === 0) return this.turning;
    const file = this.journalPath;
    this.journal = undefined;
    this.pending = 0;
    const ended = new Promise<void>((resolve, reject) => {
      journal.once('error', reject);
      journal.end(resolve);
    });
    this.turning = this.turning.then(async () => {
      try {
        await ended;
        await this.turn(file);
      } catch (err) {
        this.faults.report('turn', err, { journal: path.basename(file) });
      }
    });
    return this.turning;
  }

  /** Writes one journal as Parquet files (one per model and day) named after it, then removes it. */
  private async turn(journal: string): Promise<void> {
    const id = path.basename(journal).split('.')[0] as string;
    const torn = await trimTornTail(journal);
    if (torn > 0)
      this.faults.report('torn_line', new Error(`cut a torn last line of ${torn} bytes`), {
        journal: path.basename(journal),
      });
    if ((await fs.stat(journal)).size === 0) {
      await fs.rm(journal, { force: true });
      return;
    }
    const staging = path.join(this.dir, JOURNALS, `staging-${id}`);
    await fs.rm(staging, { recursive: true, force: true });
    await withDuckDb(async (conn) => {
      await conn.run(`SET TimeZone = 'UTC'`);
      await conn.run(
        `COPY (
           SELECT model, version, entity, make_timestamp(time * 1000) AS time,
                  make_timestamp("for" * 1000) AS "for", value, label,
                  make_timestamp(predictedAt * 1000) AS predicted_at,
                  strftime(make_timestamp(predictedAt * 1000), '%Y-%m-%d') AS day
           FROM read_json(${sqlString(journal)}, format = 'newline_delimited', columns = ${COLUMNS})
         ) TO ${sqlString(staging)} (FORMAT parquet, PARTITION_BY (model, day), WRITE_PARTITION_COLUMNS true, FILENAME_PATTERN ${sqlString(`part-${id}`)})`,
      );
    });
    if (this.parts) await this.parts.upload(staging);
    else await this.keep(staging);
    await fs.rm(staging, { recursive: true, force: true });
    await fs.rm(journal, { force: true });
  }

  /** Moves what a turn staged into the log's directory, where only this host reads it. */
  private async keep(staging: string): Promise<void> {
    for (const modelDir of await fs.readdir(staging).catch(() => [] as string[])) {
      for (const day of await fs.readdir(path.join(staging, modelDir))) {
        const target = path.join(this.dir, modelDir, day);
        await fs.mkdir(target, { recursive: true });
        for (const file of await fs.readdir(path.join(staging, modelDir, day)))
          await fs.rename(path.join(staging, modelDir, day, file), path.join(target, file));
      }
    }
  }

  /**
   * Turns the journals nobody has written for `orphanMs` (a dead writer's, or one a dead recoverer
   * claimed): each is claimed by one rename, so only one process turns it, and touched, so others
   * leave it alone while it is turned.
   */
  private async recoverOrphans(): Promise<void> {
    const dir = path.join(this.dir, JOURNALS);
    for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
      if (!name.endsWith(JOURNAL_SUFFIX)) continue;
      const file = path.join(dir, name);
      const stat = await fs.stat(file).catch(() => undefined);
      if (!stat || Date.now() - stat.mtimeMs < this.options.orphanMs) continue;
      const id = name.split('.')[0] as string;
      const claimed = path.join(dir, `${id}${CLAIMED_INFIX}${randomUUID()}${JOURNAL_SUFFIX}`);
      try {
        await fs.rename(file, claimed);
      } catch {
        continue; // Another process claimed it first.
      }
      try {
        const now = new Date();
        await fs.utimes(claimed, now, now);
        await this.turn(claimed);
      } catch (err) {
        this.faults.report('turn', err, { journal: name });
      }
    }
  }
}

/**
 * Reads a prediction log's Parquet files without opening it for writing (no recovery, no journal):
 * those in `store` when given (the servers' shared parts, cached under `dir`), else those under `dir`.
 */
export function predictionLogReader(
  dir: string,
  store?: BlobStore,
): { source(model: string): Promise<string | undefined> } {
  if (store) {
    const parts = new PredictionParts(store, path.join(dir, CACHE));
    return { source: (model) => parts.source(model) };
  }
  return {
    async source(model) {
      const root = path.join(dir, `model=${model}`);
      const days = await fs.readdir(root).catch(() => [] as string[]);
      const files = (
        await Promise.all(
          days.map(async (day) =>
            (await fs.readdir(path.join(root, day)).catch(() => [] as string[]))
              .filter((f) => f.endsWith('.parquet'))
              .map((f) => path.join(root, day, f)),
          ),
        )
      ).flat();
      if (files.length === 0) return undefined;
      return `read_parquet([${files.map(sqlString).join(', ')}], hive_partitioning = false)`;
    },
  };
}
