import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { TrainingJob } from '../../control/training-job';
import { readRun } from '../../runs';
import { createServer, type InferenceServer } from '../../serving/server';
import { createPipeline, PERMISSIVE_GATE, type Pipeline } from '../helpers/pipeline';
import { pythonForTests } from '../helpers/python-worker';
import { seedBlock, seedFile, withEdits } from '../helpers/seed-blocks';

const run = promisify(execFile);
const SEED = seedFile('001_53f8cf6659dae08f.txt');
/** Where the seed's clients look for the daemon; each test points them at retrain's server instead. */
const SEED_ADDRESS = 'http://localhost:8000';
const API_KEY = 'nordiq-seed-test-key-0123';
const JOB_ID = /Training started: (retrain-\S+)/;

/** Runs a client with `cwd` and `env`; answers its exit code and output, never throwing on a non-zero exit. */
async function client(command: string, args: string[], opts: { cwd: string; env?: Record<string, string> }) {
  try {
    const { stdout, stderr } = await run(command, args, {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      timeout: 300_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe(
  "the NordIQ daemon's documented clients, cut verbatim from its documentation, against retrain",
  { timeout: 300_000 },
  () => {
    let pipeline: Pipeline;
    let server: InferenceServer;
    let url: string;
    let dir: string;
    let keyFile: string;
    let python: string;

    beforeAll(async () => {
      python = pythonForTests();
      pipeline = await createPipeline({
        gate: PERMISSIVE_GATE,
        hyperparams: { hiddenUnits: 16, batchSize: 64, seed: 11 },
      });
      server = createServer({
        registry: pipeline.deps.registry,
        apiKey: API_KEY,
        temporal: { client: pipeline.client, taskQueue: pipeline.taskQueue, buffer: pipeline.deps.buffer },
      });
      url = await server.app.listen({ host: '127.0.0.1', port: 0 });
      await server.loadProductionModels();
      pipeline.deps.servingUrls = [url];
      pipeline.deps.apiKey = API_KEY;
      dir = await fs.mkdtemp(path.join(os.tmpdir(), 'nordiq-seed-'));
      keyFile = path.join(dir, '.nordiq_key');
      await fs.writeFile(keyFile, `${API_KEY}\n`, { mode: 0o600 });
    }, 900_000);
    afterAll(async () => {
      await server?.app.close();
      await pipeline?.cleanup();
      if (dir) await fs.rm(dir, { recursive: true, force: true });
    });

    /** Writes a client into the temp dir (where `.nordiq_key` lies) and returns its path. */
    const save = async (name: string, code: string) => {
      const file = path.join(dir, name);
      await fs.writeFile(file, code);
      return file;
    };
    /** The run a client started, once it has ended (the next test's trigger would otherwise be refused). */
    const ended = async (workflowId: string) => {
      await pipeline.client.workflow
        .getHandle(workflowId)
        .result()
        .catch(() => undefined);
      return readRun(pipeline.client, workflowId);
    };

    it('Option 1, the weekly cron script (its key path and address set): ready, trigger 5 epochs incremental, a run that completes', async () => {
      const script = withEdits(seedBlock(SEED, 'Option 1: Cron Job (Linux)', 'bash'), {
        '/path/to/.nordiq_key': keyFile,
        [SEED_ADDRESS]: url,
      });
      const file = await save('weekly_retrain.sh', script);
      const { cron, finished } = await pipeline.withWorkers(async () => {
        const cron = await client('bash', [file], { cwd: dir });
        const jobId = JOB_ID.exec(cron.stdout)?.[1];
        return { cron, finished: jobId === undefined ? undefined : await ended(jobId) };
      });
      expect(cron.code, cron.stdout + cron.stderr).toBe(0);
      expect(cron.stdout).toMatch(/Starting weekly retraining\.\.\./);
      expect(cron.stdout).toMatch(/Weekly retraining complete!/);
      expect(finished).toMatchObject({ status: 'completed', input: { epochs: 5, incremental: true } });
    });

    it("Option 2, the Python scheduler: its job is set for Sundays at 02:00, and run now it starts a run with requests' incremental=True", async () => {
      const scheduler = withEdits(seedBlock(SEED, 'Option 2: Python Scheduler', 'python'), {
        [SEED_ADDRESS]: url,
      });
      const [setup, loop] = scheduler.split('\nwhile True:\n');
      expect(loop, 'the scheduler ends in its run loop').toBe(
        '    schedule.run_pending()\n    time.sleep(60)\n',
      );
      // Everything but the endless loop, verbatim; then the scheduled job runs once, as at 02:00 on Sunday.
      const file = await save(
        'scheduled_retraining_once.py',
        `${setup}\njob = schedule.jobs[0]\nprint(f"Scheduled: {job.start_day} {job.at_time}")\nschedule.run_all()\n`,
      );
      const { scheduled, finished } = await pipeline.withWorkers(async () => {
        const scheduled = await client(python, [file], { cwd: dir });
        const jobId = JOB_ID.exec(scheduled.stdout)?.[1];
        return { scheduled, finished: jobId === undefined ? undefined : await ended(jobId) };
      });
      expect(scheduled.code, scheduled.stdout + scheduled.stderr).toBe(0);
      expect(scheduled.stdout).toContain('Scheduled: sunday 02:00:00');
      expect(scheduled.stdout).toMatch(/Starting weekly retraining\.\.\./);
      expect(scheduled.stdout).not.toMatch(/Training failed|Not ready/);
      expect(finished).toMatchObject({ status: 'completed', input: { epochs: 5, incremental: true } });
    });

    it('Poll for Progress (its key and address set): triggers 10 epochs, polls by job_id to completed, prints model_path and duration', async () => {
      const poller = withEdits(seedBlock(SEED, 'Poll for Progress', 'python'), {
        'API_KEY = "your-key"': `API_KEY = "${API_KEY}"`,
        [SEED_ADDRESS]: url,
      });
      const file = await save('poll_training.py', poller);
      const poll = await pipeline.withWorkers(() => client(python, [file], { cwd: dir }));
      expect(poll.code, poll.stdout + poll.stderr).toBe(0);
      const lines = poll.stdout.trim().split('\n');
      const polled = lines.filter((l) => l.startsWith('Status: '));
      expect(polled.at(-1)).toBe('Status: completed | Progress: 100%');
      expect(lines).toContain('✅ Training successful!');
      expect(poll.stdout).toMatch(new RegExp(`   Model: models/${pipeline.spec.name}/versions/v\\d+\\n`));
      expect(poll.stdout).toMatch(/ {3}Duration: \d+s/);
    });

    it('the Complete Workflow Example (its address set, $API_KEY in the environment): stats, trigger, monitor to the end, result, model-info', async () => {
      const example = withEdits(seedBlock(SEED, 'Complete Workflow Example', 'bash'), {
        [SEED_ADDRESS]: url,
      });
      const file = await save('manual_retraining.sh', example);
      const manual = await pipeline.withWorkers(() => client('bash', [file], { cwd: dir, env: { API_KEY } }));
      expect(manual.code, manual.stdout + manual.stderr).toBe(0);
      // curl prints no newline after a body: the answers and the loop's lines run together, as on a terminal.
      const statuses = [...manual.stdout.matchAll(/Status: (\S+) \| Progress: (\S+)%/g)].map((m) => m[1]);
      expect(statuses.at(-1)).toBe('completed');
      expect(statuses.slice(0, -1).every((s) => s === 'running')).toBe(true);
      const [stats, trigger, ...rest] = jsonValues(manual.stdout.slice(0, manual.stdout.indexOf('Status: ')));
      expect(rest).toEqual([]);
      expect(stats).toMatchObject({ ready_to_train: true, ready_reason: expect.stringMatching(/^Ready: /) });
      expect(trigger).toMatchObject({ success: true, status: 'running', epochs: 10, incremental: true });
      const [result, info] = jsonValues(manual.stdout.slice(manual.stdout.lastIndexOf('Status: ')));
      const job = result as Partial<TrainingJob> | undefined;
      expect(job).toMatchObject({
        job_id: trigger?.job_id,
        status: 'completed',
        epochs: 10,
        incremental: true,
      });
      expect(info).toMatchObject({
        models: [expect.objectContaining({ model: pipeline.spec.name, version: job?.version })],
      });
    });
  },
);

/** The JSON objects in `text`, in order, wherever they stand (curl's bodies end without a newline). */
function jsonValues(text: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  let depth = 0;
  let start = -1;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '\\') i++;
      else if (c === '"') quoted = false;
    } else if (c === '"' && depth > 0) quoted = true;
    else if (c === '{' && depth++ === 0) start = i;
    else if (c === '}' && depth > 0 && --depth === 0)
      out.push(JSON.parse(text.slice(start, i + 1)) as Record<string, unknown>);
  }
  return out;
}
