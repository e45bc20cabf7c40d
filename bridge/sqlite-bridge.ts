import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { Counter, Gauge, Registry } from 'prom-client';
import { cancelAfterTrialSignal, progressQuery } from '../common/messages';
import type { RetrainProgress, RetrainRequest } from '../common/retrain';
import { readRun, RunNotFoundError, startRun, type RunStatus } from '../runs';
import { planJob, type JobRow, type Side, type TimeframeModels } from './sqlite-job';
import { JobProgress } from './sqlite-job-progress';
import type { JobEnding, JobTable } from './sqlite-job-table';

/** How a job ended, as the metrics count it. */
export type SqliteJobOutcome = JobEnding['status'];

export interface SqliteBridgeOptions {
  /** The table's file: the default workflow-id tag is derived from its absolute path. */
  db: string;
  timeframes: Map<string, TimeframeModels>;
  /** How often the table is polled for a job, and a running job's runs for progress. */
  pollMs: number;
  taskQueue: string;
  /** Part of each run's workflow id, so two tables' job 1 are two jobs. @default a hash of `db` */
  tag?: string;
}

/** `retrain-<model>-sqlite-<tag>-<job id>`: a bridge restarted mid-job finds the job's runs again. */
export function sqliteJobWorkflowId(model: string, tag: string, jobId: number): string {
  return `retrain-${model}-sqlite-${tag}-${jobId}`;
}

/** The default tag of a table: the first 8 hex digits of the SHA-256 of its absolute path. */
export function tableTag(db: string): string {
  return createHash('sha256').update(path.resolve(db)).digest('hex').slice(0, 8);
}

/** How a job goes on after one of its runs: with the next (this one's version), or not (its ending). */
type RunEnd = { ending: JobEnding } | { version: string };

/**
 * Jobs from a Streamlit frontend's `training_jobs` table into runs, one job at a time: the oldest
 * `pending` row becomes `running`, its timeframe's long model is retrained with `n_trials` trials and
 * `train_ratio` as the train share, then its short model, and the row shows each run's trials and
 * best scores as they come, then `completed` with both versions, or `failed` with the reason. A row
 * set to `cancelled` stops the run after its current trial (cancelAfterTrialSignal), and stays
 * cancelled. Runs are found again by their workflow ids, so a restarted bridge picks a running job up
 * where it was.
 */
export class SqliteBridge {
  readonly metrics = new Registry();
  private readonly jobs = new Counter({
    name: 'retrain_sqlite_bridge_jobs_total',
    help: 'Jobs of the training_jobs table driven to their end, by outcome (completed, failed, cancelled).',
    labelNames: ['outcome'],
    registers: [this.metrics],
  });
  private readonly running = new Gauge({
    name: 'retrain_sqlite_bridge_job_running',
    help: '1 while the bridge drives a job, else 0.',
    registers: [this.metrics],
  });
  private stopping = false;
  private wake: (() => void) | undefined;
  private readonly tag: string;

  constructor(
    private readonly table: JobTable,
    private readonly client: Client,
    private readonly options: SqliteBridgeOptions,
    private readonly log: Logger,
  ) {
    this.tag = options.tag ?? tableTag(options.db);
    for (const outcome of ['completed', 'failed', 'cancelled']) this.jobs.inc({ outcome }, 0);
  }

  /** Drives jobs until {@link stop}; a job under way when it is stopped is picked up by the next start. */
  async run(): Promise<void> {
    while (!this.stopping) {
      try {
        const job = this.table.next();
        if (job) await this.drive(job);
        else await this.pause();
      } catch (err) {
        if (this.stopping) break;
        this.log.warn({ err: (err as Error).message }, 'job table poll failed; retrying');
        await this.pause();
      }
    }
  }

  stop(): void {
    this.stopping = true;
    this.wake?.();
  }

  /** Drives one job to its end, unless the bridge is stopped first; returns how it ended. */
  async drive(job: JobRow): Promise<SqliteJobOutcome | undefined> {
    const log = this.log.child({ jobId: job.id, timeframe: job.timeframe });
    const plan = planJob(job, this.options.timeframes);
    const totalTrials = 'error' in plan ? 0 : plan.nTrials * plan.runs.length;
    if (job.status === 'pending' && !this.table.claim(job.id, totalTrials, new Date().toISOString())) return;
    if ('error' in plan) return this.end(job.id, { status: 'failed', error: plan.error }, log);
    this.running.set(1);
    try {
      const progress = new JobProgress(plan.nTrials);
      const versions: string[] = [];
      for (const { side, input } of plan.runs) {
        // A row cancelled after the long run ended (or while it registered) starts no short run.
        if (this.table.status(job.id) === 'cancelled') return this.end(job.id, { status: 'cancelled' }, log);
        const end = await this.follow(job.id, side, input, progress, log);
        if (end === undefined) return;
        if ('ending' in end) return this.end(job.id, end.ending, log);
        versions.push(`${input.model}@${end.version}`);
      }
      return this.end(job.id, { status: 'completed', model_version: versions.join(',') }, log);
    } finally {
      this.running.set(0);
    }
  }

  /**
   * One run of the job: started (or found, after a restart), its progress written to the row until
   * it ends; a row set to `cancelled` meanwhile sends it cancelAfterTrialSignal. Undefined when the
   * bridge was stopped first.
   */
  private async follow(
    jobId: number,
    side: Side,
    input: RetrainRequest,
    progress: JobProgress,
    log: Logger,
  ): Promise<RunEnd | undefined> {
    const workflowId = sqliteJobWorkflowId(input.model, this.tag, jobId);
    const found = await this.findOrStart(workflowId, input, jobId, side, log);
    if ('ending' in found) return found;
    let run = found;
    const handle = () => this.client.workflow.getHandle(workflowId, run.runId);
    let signalled = false;
    for (;;) {
      if (run.progress) progress.update(side, run.progress);
      if (run.status !== 'running' && run.status !== 'queued') break;
      this.table.progress(jobId, progress.columns(side));
      if (!signalled && this.table.status(jobId) === 'cancelled') {
        await handle().signal(cancelAfterTrialSignal, {
          reason: `training_jobs row ${jobId} set to cancelled`,
        });
        signalled = true;
        log.info({ workflowId }, 'job cancelled: its run stops after the current trial');
      }
      await this.pause();
      if (this.stopping) return undefined;
      run = await readRun(this.client, workflowId, run.runId);
    }
    // A closed run still answers the query (a worker replays it): its last trials.
    const last = await handle()
      .query(progressQuery)
      .catch((): RetrainProgress | undefined => undefined);
    if (last) progress.update(side, last);
    const metrics = run.outcome?.metrics ?? run.result?.metrics;
    progress.ended(side, run.status === 'completed', metrics);
    this.table.progress(jobId, progress.columns(side));
    return this.runEnd(side, input.model, run);
  }

  /** The job's run of `workflowId`: the one that exists, else a new one. */
  private async findOrStart(
    workflowId: string,
    input: RetrainRequest,
    jobId: number,
    side: Side,
    log: Logger,
  ): Promise<RunStatus | { ending: JobEnding }> {
    try {
      return await readRun(this.client, workflowId);
    } catch (err) {
      if (!(err instanceof RunNotFoundError)) throw err;
    }
    try {
      await startRun(this.client, input, {
        taskQueue: this.options.taskQueue,
        origin: `training_jobs row ${jobId} (${side}) in ${this.options.db}`,
        workflowId,
        neverReuseId: true,
      });
    } catch (err) {
      return {
        ending: { status: 'failed', error: `${side} model ${input.model}: ${(err as Error).message}` },
      };
    }
    log.info({ workflowId, model: input.model, side }, 'run started');
    return readRun(this.client, workflowId);
  }

  /** How the job goes on after a run ended: the next run, or its ending. */
  private runEnd(side: Side, model: string, run: RunStatus): RunEnd {
    const why = run.outcome?.reason ?? run.result?.reason ?? run.failure?.message ?? run.status;
    const named = `${side} model ${model}`;
    switch (run.status) {
      case 'completed':
        return { version: run.outcome?.version ?? run.result?.version ?? '' };
      case 'cancelled':
        return { ending: { status: 'cancelled', error: `${named}: ${why}` } };
      case 'rejected':
        return { ending: { status: 'failed', error: `${named} rejected: ${why}` } };
      default:
        return { ending: { status: 'failed', error: `${named} ${run.status}: ${why}` } };
    }
  }

  private end(jobId: number, ending: JobEnding, log: Logger): SqliteJobOutcome {
    // A row the frontend cancelled keeps its status and gets no error: the run stopped as asked.
    const asked = ending.status === 'cancelled' && this.table.status(jobId) === 'cancelled';
    this.table.finish(jobId, asked ? { status: 'cancelled' } : ending, new Date().toISOString());
    this.jobs.inc({ outcome: ending.status });
    log.info({ outcome: ending.status, ...('error' in ending ? { reason: ending.error } : {}) }, 'job ended');
    return ending.status;
  }

  private pause(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, this.options.pollMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}
