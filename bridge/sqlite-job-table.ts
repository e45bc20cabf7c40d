import { JobRowSchema, type JobRow } from './sqlite-job';
import { openSqlite, type SqliteDb } from './sqlite-open';

/** The `training_jobs` table as the Streamlit frontend and the ML-training daemon share it. */
const CREATE_TABLE = `CREATE TABLE IF NOT EXISTS training_jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timeframe TEXT NOT NULL,
    n_trials INTEGER DEFAULT 30,
    train_ratio REAL DEFAULT 0.8,
    status TEXT DEFAULT 'pending',
    progress_pct REAL DEFAULT 0,
    current_trial INTEGER DEFAULT 0,
    total_trials INTEGER DEFAULT 0,
    current_model TEXT,
    best_score_long REAL,
    best_score_short REAL,
    trial_log TEXT,
    error TEXT,
    model_version TEXT,
    requested_at TEXT NOT NULL,
    started_at TEXT,
    completed_at TEXT
)`;

/** Every column the bridge reads or writes. */
const COLUMNS = [
  'id',
  'timeframe',
  'n_trials',
  'train_ratio',
  'status',
  'progress_pct',
  'current_trial',
  'total_trials',
  'current_model',
  'best_score_long',
  'best_score_short',
  'trial_log',
  'error',
  'model_version',
  'requested_at',
  'started_at',
  'completed_at',
];

/** What a job's row shows while it runs; each write sets every one of them. */
export interface JobProgressColumns {
  progress_pct: number;
  current_trial: number;
  current_model: string;
  best_score_long: number | null;
  best_score_short: number | null;
  trial_log: string;
}

/** How a job ended, as the row says it: `status` and the columns written with it. */
export type JobEnding =
  | { status: 'completed'; model_version: string }
  | { status: 'failed'; error: string }
  | { status: 'cancelled'; error?: string };

/**
 * The job table in one SQLite file, shared with the frontend that inserts and polls the rows: WAL (a
 * reader never waits for the bridge's writes) and a busy timeout (a write waits for the other side's
 * instead of failing). Status moves only forward: pending -> running -> completed | failed, and a
 * row the frontend set to `cancelled` keeps that status.
 */
export class JobTable {
  private readonly db: SqliteDb;

  constructor(file: string, busyTimeoutMs = 5000) {
    this.db = openSqlite(file, busyTimeoutMs);
    this.db.exec('PRAGMA journal_mode = WAL');
    this.db.exec(CREATE_TABLE);
    const present = new Set(
      (this.db.prepare('PRAGMA table_info(training_jobs)').all() as { name: string }[]).map((c) => c.name),
    );
    const missing = COLUMNS.filter((c) => !present.has(c));
    if (missing.length > 0)
      throw new Error(`${file}: training_jobs lacks the column(s) ${missing.join(', ')}`);
  }

  /**
   * The job to drive next: a `running` one first (a bridge that stopped mid-job finds its runs again),
   * else the oldest `pending` one.
   */
  next(): JobRow | undefined {
    const row =
      this.db
        .prepare("SELECT * FROM training_jobs WHERE status = 'running' ORDER BY started_at, id LIMIT 1")
        .get() ??
      this.db
        .prepare("SELECT * FROM training_jobs WHERE status = 'pending' ORDER BY requested_at, id LIMIT 1")
        .get();
    return row === undefined ? undefined : JobRowSchema.parse(row);
  }

  /** Takes a pending job (false when another bridge took it, or the frontend cancelled it, first). */
  claim(id: number, totalTrials: number, now: string): boolean {
    return (
      this.db
        .prepare(
          `UPDATE training_jobs SET status = 'running', started_at = ?, total_trials = ?, progress_pct = 0,
             current_trial = 0, error = NULL WHERE id = ? AND status = 'pending'`,
        )
        .run(now, totalTrials, id).changes === 1
    );
  }

  /** The row's status now: the frontend sets `cancelled` while the job runs. */
  status(id: number): string | undefined {
    const row = this.db.prepare('SELECT status FROM training_jobs WHERE id = ?').get(id) as
      { status: string | null } | undefined;
    return row?.status ?? undefined;
  }

  /** Writes the job's progress, whatever its status (a cancelled job's last trial is logged too). */
  progress(id: number, columns: JobProgressColumns): void {
    this.db
      .prepare(
        `UPDATE training_jobs SET progress_pct = @progress_pct, current_trial = @current_trial,
           current_model = @current_model, best_score_long = @best_score_long,
           best_score_short = @best_score_short, trial_log = @trial_log WHERE id = @id`,
      )
      .run({ ...columns, id });
  }

  /** Ends the job: from `running`, or (status `cancelled`) from either `running` or `cancelled`. */
  finish(id: number, ending: JobEnding, now: string): void {
    const from = ending.status === 'cancelled' ? "('running', 'cancelled')" : "('running')";
    this.db
      .prepare(
        `UPDATE training_jobs SET status = @status, completed_at = @now, error = @error,
           model_version = coalesce(@model_version, model_version) WHERE id = @id AND status IN ${from}`,
      )
      .run({
        id,
        now,
        status: ending.status,
        error: 'error' in ending ? (ending.error ?? null) : null,
        model_version: 'model_version' in ending ? ending.model_version : null,
      });
  }

  close(): void {
    this.db.close();
  }
}
