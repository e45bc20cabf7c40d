import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type InferenceServer } from '../../serving/server';
import type { TrainingJob } from '../../control/training-job';
import { createPipeline, PERMISSIVE_GATE, type Pipeline } from '../helpers/pipeline';

const run = promisify(execFile);
const CLIENTS = path.join(__dirname, '..', 'clients');
const API_KEY = 'daemon-clients-test-key-0123';

/** Runs one of the documentation's clients with the daemon's address and key; never throws on exit codes. */
async function client(
  command: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(command, args, {
      env: { ...process.env, POLL_SECONDS: '0.5', ...env },
      timeout: 120_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** The inference server of a pipeline, listening on a free port, reloaded by its own runs. */
async function listen(pipeline: Pipeline): Promise<{ server: InferenceServer; url: string }> {
  const server = createServer({
    registry: pipeline.deps.registry,
    apiKey: API_KEY,
    temporal: { client: pipeline.client, taskQueue: pipeline.taskQueue, buffer: pipeline.deps.buffer },
  });
  const url = await server.app.listen({ host: '127.0.0.1', port: 0 });
  await server.loadProductionModels();
  pipeline.deps.servingUrls = [url];
  pipeline.deps.apiKey = API_KEY;
  return { server, url };
}

describe("the NordIQ daemon documentation's clients, unchanged, against retrain", () => {
  let pipeline: Pipeline;
  let server: InferenceServer;
  let env: Record<string, string>;
  let keyDir: string;

  beforeAll(async () => {
    pipeline = await createPipeline({
      gate: PERMISSIVE_GATE,
      hyperparams: { hiddenUnits: 16, batchSize: 64, seed: 5 },
    });
    const listening = await listen(pipeline);
    server = listening.server;
    keyDir = await fs.mkdtemp(path.join(os.tmpdir(), 'nordiq-key-'));
    await fs.writeFile(path.join(keyDir, '.nordiq_key'), `${API_KEY}\n`, { mode: 0o600 });
    env = { DAEMON_URL: listening.url, API_KEY, NORDIQ_KEY_FILE: path.join(keyDir, '.nordiq_key') };
  });
  afterAll(async () => {
    await server?.app.close();
    await pipeline?.cleanup();
    if (keyDir) await fs.rm(keyDir, { recursive: true, force: true });
  });

  it('the weekly cron script checks readiness and starts a run; the monitoring loop follows it to completed and the server serves the new version', async () => {
    const { cron, monitor } = await pipeline.withWorkers(async () => {
      const cron = await client('bash', [path.join(CLIENTS, 'weekly_retrain.sh')], env);
      const monitor = await client('bash', [path.join(CLIENTS, 'monitor_progress.sh')], env);
      return { cron, monitor };
    });
    expect(cron.code, cron.stdout + cron.stderr).toBe(0);
    const jobId = /Training started: (\S+)/.exec(cron.stdout)?.[1];
    expect(jobId).toMatch(new RegExp(`^retrain-${pipeline.spec.name}-\\d{8}T\\d{6}Z$`));
    expect(cron.stdout).toContain('Weekly retraining complete!');

    expect(monitor.code, monitor.stderr).toBe(0);
    const lines = monitor.stdout.trim().split('\n');
    const polled = lines.filter((l) => l.startsWith('Status: '));
    expect(polled.at(-1)).toBe('Status: completed | Progress: 100%');
    expect(polled.slice(0, -1).every((l) => /^Status: running \| Progress: \d+%$/.test(l))).toBe(true);
    const final = JSON.parse(lines.at(-2) ?? '{}') as TrainingJob;
    expect(final).toMatchObject({
      job_id: jobId,
      status: 'completed',
      epochs: 5,
      incremental: true,
      error: null,
    });
    const info = JSON.parse(lines.at(-1) ?? '{}') as { models: { model: string; version: string }[] };
    expect(info.models).toEqual([
      expect.objectContaining({ model: pipeline.spec.name, version: final.version }),
    ]);
    expect(final.model_path).toBe(`models/${pipeline.spec.name}/versions/${final.version}`);
  });

  it('the Python polling client (standard library only) triggers, polls by job_id to completed and reads model_path and duration', async () => {
    const poll = await pipeline.withWorkers(() =>
      client('python3', [path.join(CLIENTS, 'poll_training.py')], { ...env, EPOCHS: '2' }),
    );
    expect(poll.code, poll.stdout + poll.stderr).toBe(0);
    expect(poll.stdout).toContain('Training successful!');
    const final = JSON.parse(poll.stdout.trim().split('\n').at(-1) ?? '{}') as TrainingJob;
    expect(final).toMatchObject({ status: 'completed', epochs: 2, progress_pct: 100 });
    expect(poll.stdout).toContain(`   Model: models/${pipeline.spec.name}/versions/${final.version}`);
    expect(poll.stdout).toMatch(/ {3}Duration: \d+s/);
  });

  it('cancel-training stops the running job: the poller ends on cancelled with the reason', async () => {
    const poll = await pipeline.withWorkers(() =>
      client('python3', [path.join(CLIENTS, 'poll_training.py')], {
        ...env,
        EPOCHS: '400',
        CANCEL_AFTER_RUNNING: '1',
      }),
    );
    expect(poll.code, poll.stdout + poll.stderr).toBe(0);
    expect(poll.stdout).toMatch(/Cancel: True Training job marked as cancelled retrain-/);
    const final = JSON.parse(poll.stdout.trim().split('\n').at(-1) ?? '{}') as TrainingJob;
    expect(final).toMatchObject({
      status: 'cancelled',
      error: 'cancelled through POST /admin/cancel-training',
    });
    const description = await pipeline.client.workflow.getHandle(final.job_id).describe();
    expect(description.status.name).toBe('CANCELLED');
  });

  it('with too little data the cron script stops at the readiness check, and a trigger is rejected before anything starts', async () => {
    const thin = await createPipeline({ minRecords: 100_000_000 });
    const listening = await listen(thin);
    const thinEnv = { ...env, DAEMON_URL: listening.url };
    try {
      const cron = await client('bash', [path.join(CLIENTS, 'weekly_retrain.sh')], thinEnv);
      expect(cron.code).toBe(1);
      expect(cron.stdout).toMatch(
        /Not ready to train: Insufficient data: \d+ < 100000000 records in the last 21 days/,
      );
      const poll = await client('python3', [path.join(CLIENTS, 'poll_training.py')], thinEnv);
      expect(poll.code).toBe(1);
      expect(poll.stdout).toMatch(/^Training failed to start: Insufficient data: \d+ < 100000000 records/);
      const runs = await thin.client.workflow.count(`ModelName = '${thin.spec.name}'`);
      expect(runs.count).toBe(0);
    } finally {
      await listening.server.app.close();
      await thin.cleanup();
    }
  });
});
