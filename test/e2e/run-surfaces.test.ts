import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { retrainWorkflow } from '../../workflows';
import { TEMPORAL_BIN } from '../../scripts/lib/temporal-server';
import { createServer, type InferenceServer } from '../../serving/server';
import type { TrainingJob } from '../../control/training-job';
import type { RunStatus } from '../../runs';
import { loadConfig } from '../../config/config';
import { eventually } from '../helpers/eventually';
import { createPipeline, PERMISSIVE_GATE, type Pipeline } from '../helpers/pipeline';
import { cliWith, type CliResult } from '../helpers/run-cli';

const run = promisify(execFile);
const API_KEY = 'run-surfaces-test-key-01234';
/** Nothing listens there: every reload to it fails. */
const DEAD_SERVER = 'http://127.0.0.1:1';

/** The official `temporal` CLI against the suite's dev server. */
async function temporal(...args: string[]): Promise<string> {
  const { stdout } = await run(TEMPORAL_BIN, [...args, '--address', inject('temporalAddress')]);
  return stdout;
}

describe('every surface tells the same outcome: our CLI, the HTTP API, the Web UI details, the official temporal CLI', () => {
  let pipeline: Pipeline;
  let server: InferenceServer;
  let retrain: (...argv: string[]) => Promise<CliResult>;
  beforeAll(async () => {
    pipeline = await createPipeline({
      gate: PERMISSIVE_GATE,
      hyperparams: { hiddenUnits: 16, batchSize: 64, seed: 6 },
    });
    // In the worker's static list (RETRAIN_SERVING_URLS), so --reload-target may name it: a fleet member that is down.
    pipeline.deps.servingUrls = [DEAD_SERVER];
    retrain = cliWith(
      loadConfig(
        { TEMPORAL_ADDRESS: inject('temporalAddress'), RETRAIN_TASK_QUEUE: pipeline.taskQueue },
        pipeline.dir,
      ),
    );
    server = createServer({
      registry: pipeline.deps.registry,
      apiKey: API_KEY,
      temporal: { client: pipeline.client, taskQueue: pipeline.taskQueue, buffer: pipeline.deps.buffer },
    });
  });
  afterAll(async () => {
    await server?.app.close();
    await pipeline?.cleanup();
  });
  const job = async (id: string) =>
    (
      await server.app.inject({
        method: 'GET',
        url: `/admin/training-status?job_id=${id}`,
        headers: { 'x-api-key': API_KEY },
      })
    ).json<TrainingJob>();

  it('a reload failure: each server and the rollback in start --wait, status, status --json, the admin API, the Web UI and temporal workflow describe', async () => {
    const model = pipeline.spec.name;
    const surfaces = await pipeline.withWorkers(async () => {
      const first = await pipeline.client.workflow.execute(retrainWorkflow, {
        taskQueue: pipeline.taskQueue,
        workflowId: `retrain-${model}-first-${randomUUID()}`,
        args: [{ model, epochs: 1, reloadTargets: [] }],
      });
      const wait = await retrain(
        'start',
        '--model',
        model,
        '--epochs',
        '1',
        '--reload-target',
        DEAD_SERVER,
        '--wait',
        '--json',
      );
      const id = (JSON.parse(wait.stdout) as RunStatus).workflowId;
      const metadata = await pipeline.client.workflow
        .getHandle(id)
        .query<{ currentDetails: string }>('__temporal_workflow_metadata');
      return {
        first,
        wait,
        id,
        text: await retrain('status', id),
        json: await retrain('status', id, '--json'),
        job: await job(id),
        details: metadata.currentDetails,
        described: await temporal('workflow', 'describe', '--workflow-id', id),
      };
    });
    const registered = (JSON.parse(surfaces.wait.stdout) as RunStatus).outcome?.stages.find(
      (s) => s.name === 'registerModel',
    );
    expect(registered?.summary).toMatch(/^version v2 is production \(previous v1\)$/);
    const cause = `reloadServers failed: Inference servers refused ${model} v2: ${DEAD_SERVER} refused:`;

    expect(surfaces.wait.code).toBe(1);
    const waited = JSON.parse(surfaces.wait.stdout) as RunStatus;
    expect(waited).toMatchObject({
      status: 'failed',
      temporalStatus: 'FAILED',
      failure: { stage: 'reloadServers', type: 'ReloadFailed', message: expect.stringContaining(cause) },
    });
    expect(waited.failure?.message).toMatch(/production rolled back to v1/);
    expect(waited.failure?.details).toMatchObject({
      servers: [{ url: DEAD_SERVER, ok: false }],
      rollback: { to: 'v1', aliasMoved: true },
    });
    expect(await pipeline.deps.registry.getAlias(model)).toMatchObject({ value: { version: 'v1' } });

    expect(surfaces.text.code).toBe(1);
    expect(surfaces.text.stdout).toContain(`failed in reloadServers: ReloadFailed: ${cause}`);
    expect(surfaces.json.code).toBe(1);
    expect(JSON.parse(surfaces.json.stdout)).toMatchObject({ status: 'failed', failure: waited.failure });
    expect(surfaces.job).toMatchObject({
      status: 'failed',
      outcome: 'failed',
      error: waited.failure?.message,
    });
    expect(surfaces.details).toContain('failed');
    expect(surfaces.details).toContain(cause);
    expect(surfaces.described).toMatch(/Status\s+FAILED/);
    expect(surfaces.described).toContain(cause);
  });

  it('ten concurrent starts of one model through our CLI and through HTTP: exactly one runs, the others are refused naming it', async () => {
    const model = pipeline.spec.name;
    const { cli, http, official } = await pipeline.withWorkers(async () => {
      const cli = await Promise.all(
        Array.from({ length: 10 }, () => retrain('start', '--model', model, '--epochs', '400', '--json')),
      );
      const winner = cli.find((r) => r.code === 0);
      const winnerId = winner ? (JSON.parse(winner.stdout) as { workflowId: string }).workflowId : '';
      const http = await Promise.all(
        Array.from({ length: 10 }, () =>
          server.app.inject({
            method: 'POST',
            url: '/admin/trigger-training?epochs=2',
            headers: { 'x-api-key': API_KEY },
          }),
        ),
      );
      // The official CLI's raw start reaches the same lease inside the workflow.
      const rawId = `retrain-${model}-raw-${randomUUID()}`;
      await temporal(
        'workflow',
        'start',
        '--type',
        'retrainWorkflow',
        '--task-queue',
        pipeline.taskQueue,
        '--workflow-id',
        rawId,
        '--input',
        JSON.stringify({ model }),
      );
      const raw = await pipeline.client.workflow.getHandle(rawId).result();
      await retrain('cancel', winnerId);
      await eventually('the winner to end', async () => (await job(winnerId)).status === 'cancelled');
      return { cli, http, official: { winnerId, raw } };
    });
    const { winnerId, raw } = official;
    expect(cli.filter((r) => r.code === 0)).toHaveLength(1);
    for (const refused of cli.filter((r) => r.code !== 0)) {
      expect(refused.code).toBe(5);
      expect(JSON.parse(refused.stdout)).toEqual({
        status: 'refused',
        model,
        runningWorkflowId: winnerId,
        error: `${model} is already being retrained by ${winnerId}; one run per model at a time`,
      });
      expect(refused.stderr).toContain(`retrain: ${model} is already being retrained by ${winnerId}`);
    }
    expect(http.map((r) => r.statusCode)).toEqual(Array(10).fill(409));
    for (const answer of http) expect(answer.json()).toMatchObject({ success: false, job_id: winnerId });
    expect(raw).toMatchObject({
      status: 'rejected',
      rejection: { kind: 'modelBusy', runningWorkflowId: winnerId },
    });
  });

  it('a cancelled run is Canceled in temporal workflow describe and temporal workflow list', async () => {
    const model = pipeline.spec.name;
    const id = await pipeline.withWorkers(async () => {
      const started = await retrain('start', '--model', model, '--epochs', '400', '--json');
      const workflowId = (JSON.parse(started.stdout) as { workflowId: string }).workflowId;
      await eventually('the run to train', async () => (await job(workflowId)).stage === 'trainModel');
      const cancelled = await retrain('cancel', workflowId, '--reason', 'operator: wrong window');
      expect(cancelled.code, cancelled.stderr).toBe(0);
      const watched = await retrain('status', workflowId, '--watch', '--json');
      expect(watched.code).toBe(4);
      expect(JSON.parse(watched.stdout)).toMatchObject({
        status: 'cancelled',
        outcome: { reason: 'operator: wrong window', kept: { checkpointPrefix: expect.any(String) } },
      });
      return workflowId;
    });
    expect(await temporal('workflow', 'describe', '--workflow-id', id)).toMatch(/Status\s+CANCELED/);
    const listed = await eventually('visibility to show it Canceled', async () => {
      const out = await temporal('workflow', 'list', '--query', `WorkflowId = '${id}'`);
      return /Canceled/i.test(out) ? out : undefined;
    });
    expect(listed).toContain(id);
  });
});
