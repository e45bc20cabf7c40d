import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openSqlite, type SqliteDb } from '../../bridge/sqlite-open';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteBridge, sqliteJobWorkflowId } from '../../bridge/sqlite-bridge';
import { parseTimeframes } from '../../bridge/sqlite-job';
import { JobTable } from '../../bridge/sqlite-job-table';
import type { TrainInput } from '../../common/stages';
import { readRun } from '../../runs';
import { eventually } from '../helpers/eventually';
import { heartbeatUntil } from '../helpers/heartbeat-until';
import { passingActivities, stubWorkers, type Activities, type StubWorkers } from '../helpers/stub-workers';
import { seedFile } from '../helpers/seed-blocks';
import { reportFirstEpoch } from '../helpers/epoch-report';

/** The job table's design document the Streamlit frontend and the ML-training daemon were built from. */
const SEED = fs.readFileSync(seedFile('003_142cd93fa8a4a372.txt'), 'utf8');

/** The first fenced code block after `heading`, verbatim. */
function codeBlockUnder(heading: string): string {
  const at = SEED.indexOf(`\n${heading}\n`);
  if (at < 0) throw new Error(`the seed has no heading ${heading}`);
  const block = /```\w*\n([\s\S]*?)```/.exec(SEED.slice(at));
  if (!block?.[1]) throw new Error(`no code block under ${heading}`);
  return block[1];
}

/** The seed's SQL and the frontend's calls, cut from the document, not retyped. */
const SCHEMA = codeBlockUnder('### training_jobs Table');
const SUBMISSION = codeBlockUnder('### 1. Job Submission (Frontend)');
const MONITORING = codeBlockUnder('### 4. Progress Monitoring (Frontend)');
const TRIAL_RESULT = codeBlockUnder('### 3. Training Execution');
const POLL = /SELECT \* FROM training_jobs WHERE id=\?/.exec(SEED)?.[0] as string;
const PENDING = /\(status='pending'\)/.exec(SEED)?.[0] as string;

/** `submit_training_request(timeframe='15m', n_trials=30, train_ratio=0.8)`'s arguments. */
function submittedArguments(): Record<string, string | number> {
  const args: Record<string, string | number> = {};
  for (const [, name, value] of SUBMISSION.matchAll(/(\w+)=('[^']*'|[\d.]+)/g))
    args[name as string] = value?.startsWith("'") ? value.slice(1, -1) : Number(value);
  return args;
}

type Row = Record<string, unknown> & { status: string; trial_log: string | null };

/** The frontend's side of the table: it inserts pending jobs, polls them and cancels them. */
class Frontend {
  readonly db: SqliteDb;
  constructor(file: string) {
    this.db = openSqlite(file, 5000);
    this.db.exec('PRAGMA journal_mode = WAL');
  }

  /** "Start Training": a row as the frontend inserts it, the seed's arguments with `overrides` over them. */
  submit(overrides: Record<string, string | number> = {}): number {
    const fields: Record<string, string | number> = {
      ...submittedArguments(),
      ...overrides,
      status: /'(\w+)'/.exec(PENDING)?.[1] as string,
      requested_at: new Date().toISOString(),
    };
    const names = Object.keys(fields);
    const info = this.db
      .prepare(`INSERT INTO training_jobs (${names.join(', ')}) VALUES (${names.map(() => '?').join(', ')})`)
      .run(...Object.values(fields));
    return Number(info.lastInsertRowid);
  }

  poll(id: number): Row {
    return this.db.prepare(POLL).get(id) as Row;
  }

  cancel(id: number): void {
    this.db.prepare("UPDATE training_jobs SET status = 'cancelled' WHERE id = ?").run(id);
  }

  /** Polls the row until `done` says so. */
  until(what: string, id: number, done: (row: Row) => boolean): Promise<Row> {
    return eventually(what, () => {
      const row = this.poll(id);
      return done(row) && row;
    });
  }
}

describe('retrain bridge sqlite: the Streamlit job table', () => {
  let env: StubWorkers;
  let dir: string;
  const log = pino({ level: 'silent' });
  const passing = passingActivities();

  beforeAll(async () => {
    env = await stubWorkers();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'retrain-sqlite-bridge-'));
  });
  afterAll(async () => {
    await env?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /**
   * A table created with the seed's own schema, a frontend on it, and a bridge mapping `15m` to two
   * fresh stub models; the bridge runs until the test ends.
   */
  async function withBridge(
    models: { long?: Partial<Activities>; short?: Partial<Activities> },
    test: (t: { frontend: Frontend; long: string; short: string; tag: string }) => Promise<void>,
  ): Promise<void> {
    const file = path.join(dir, `jobs-${Math.random().toString(36).slice(2)}.db`);
    const frontend = new Frontend(file);
    frontend.db.exec(SCHEMA);
    const long = env.model(models.long);
    const short = env.model(models.short);
    const timeframes = parseTimeframes([`15m=${long}:${short}`]);
    if ('invalid' in timeframes) throw new Error(timeframes.invalid);
    const table = new JobTable(file);
    const tag = path.basename(file, '.db');
    const bridge = new SqliteBridge(
      table,
      env.client,
      { db: file, timeframes, pollMs: 100, taskQueue: env.taskQueue, tag },
      log,
    );
    const running = bridge.run();
    try {
      await test({ frontend, long, short, tag });
    } finally {
      bridge.stop();
      await running;
      table.close();
      frontend.db.close();
    }
  }

  /** A training whose holdout Spearman is `score(trial)`. */
  const scoredTraining = (score: (trial: number) => number) => async (input: TrainInput) => ({
    ...(await passing.trainModel(input)),
    holdoutScore: { metric: 'spearman', value: score(input.trial ?? 1) },
  });
  /** A validation whose candidate's Spearman is `spearman`. */
  const validatedWith = (spearman: number) => async () => ({
    ...(await passing.validateModel({ model: '', datasetKey: '', candidateKey: '' })),
    candidate: { mae: 1, rmse: 1.5, spearman },
  });

  it("drives a job the frontend submitted, as the seed's data flow writes it, from pending to completed with every trial and both best scores", async () => {
    await withBridge(
      {
        long: { trainModel: scoredTraining((t) => t / 100), validateModel: validatedWith(0.3) },
        short: { trainModel: scoredTraining((t) => 0.5 - t / 100), validateModel: validatedWith(0.49) },
      },
      async ({ frontend, long, short }) => {
        const id = frontend.submit();
        const job = frontend.poll(id);
        expect(job).toMatchObject({ status: 'pending', timeframe: '15m', n_trials: 30, train_ratio: 0.8 });

        const done = await frontend.until('the job to complete', id, (row) => row.status === 'completed');
        const nTrials = submittedArguments()['n_trials'] as number;
        expect(done).toMatchObject({
          total_trials: nTrials * 2,
          current_trial: nTrials * 2,
          progress_pct: 100,
          current_model: 'SHORT',
          best_score_long: 0.3,
          best_score_short: 0.49,
          model_version: `${long}@v1,${short}@v1`,
          error: null,
        });
        expect(Date.parse(done['started_at'] as string)).not.toBeNaN();
        expect(Date.parse(done['completed_at'] as string)).not.toBeNaN();
        // Every column the frontend displays is filled in.
        for (const [, column] of MONITORING.matchAll(/job\.(\w+)/g))
          expect(done[column as string]).not.toBeNull();
        const trialLog = JSON.parse(done.trial_log ?? '[]') as Record<string, unknown>[];
        const keys = [...TRIAL_RESULT.matchAll(/'(\w+)': /g)].map(([, key]) => key);
        expect(keys).toEqual(['trial', 'model', 'spearman', 'params']);
        expect(trialLog).toHaveLength(nTrials * 2);
        for (const entry of trialLog) expect(Object.keys(entry)).toEqual(keys);
        expect(trialLog[0]).toMatchObject({ trial: 1, model: 'LONG', spearman: 0.01 });
        expect(trialLog[nTrials]).toMatchObject({ trial: 1, model: 'SHORT', spearman: 0.49 });
        expect(trialLog.filter((e) => e['model'] === 'LONG')).toHaveLength(nTrials);
      },
    );
  });

  it('a row set to cancelled while its job runs stops after the current trial: the log holds that trial, no other trial trained, the row stays cancelled', async () => {
    let release = false;
    const queuedCancelled: number[] = [];
    let shortTrained = false;
    await withBridge(
      {
        long: {
          trainModel: async (input: TrainInput) => {
            const trial = input.trial ?? 1;
            if (trial !== 1) {
              try {
                await heartbeatUntil(() => false);
              } finally {
                queuedCancelled.push(trial);
              }
            }
            await reportFirstEpoch(env.client, input);
            await heartbeatUntil(() => release);
            return scoredTraining(() => 0.25)(input);
          },
        },
        short: {
          trainModel: async (input: TrainInput) => {
            shortTrained = true;
            return passing.trainModel(input);
          },
        },
      },
      async ({ frontend, long, tag }) => {
        const id = frontend.submit({ n_trials: 3 });
        const workflowId = sqliteJobWorkflowId(long, tag, id);
        await eventually('trial 1 of the long model to train', async () => {
          const run = await readRun(env.client, workflowId);
          return run.progress?.trials?.[0]?.status === 'running';
        });
        frontend.cancel(id);
        await eventually('the queued trials 2 and 3 to be cancelled', () => queuedCancelled.length === 2);
        release = true;

        const ended = await frontend.until(
          'the cancelled job to end',
          id,
          (row) => row['completed_at'] !== null,
        );
        expect(ended.status).toBe('cancelled');
        expect(JSON.parse(ended.trial_log ?? '[]')).toEqual([
          { trial: 1, model: 'LONG', spearman: 0.25, params: expect.any(Object) },
        ]);
        expect(ended['current_trial']).toBe(1);
        expect((await readRun(env.client, workflowId)).status).toBe('cancelled');
        expect(shortTrained).toBe(false);
      },
    );
  });

  it('fails a job whose timeframe has no models, naming the timeframe and the ones mapped', async () => {
    await withBridge({}, async ({ frontend }) => {
      const id = frontend.submit({ timeframe: '4h' });
      const failed = await frontend.until('the job to fail', id, (row) => row.status === 'failed');
      expect(failed['error']).toContain('no models for timeframe "4h"');
      expect(failed['error']).toContain('this bridge maps 15m');
      expect(failed['completed_at']).not.toBeNull();
    });
  });

  it("honours train_ratio: each run trains on the row's share of the window", async () => {
    const shares: (number | undefined)[] = [];
    const exportDataset: Activities['exportDataset'] = async (input) => {
      shares.push(input.trainShare);
      return passing.exportDataset(input);
    };
    await withBridge(
      { long: { exportDataset }, short: { exportDataset } },
      async ({ frontend, long, short, tag }) => {
        const id = frontend.submit({ n_trials: 1, train_ratio: 0.7 });
        await frontend.until('the job to complete', id, (row) => row.status === 'completed');
        for (const model of [long, short]) {
          const run = await readRun(env.client, sqliteJobWorkflowId(model, tag, id));
          expect(run.input).toMatchObject({ model, trials: 1, trainShare: 0.7 });
        }
        expect(shares).toEqual([0.7, 0.7]);
      },
    );
  });

  it('fails a job whose train_ratio no run can train on, naming the column', async () => {
    await withBridge({}, async ({ frontend }) => {
      const id = frontend.submit({ train_ratio: 0.3 });
      const failed = await frontend.until('the job to fail', id, (row) => row.status === 'failed');
      expect(failed['error']).toMatch(/^invalid job: train_ratio: /);
    });
  });
});
