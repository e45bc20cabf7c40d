import { randomUUID } from 'node:crypto';
import { CancelledFailure } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { RunSummary } from '../../runs';
import { ModelNameAttribute, progressQuery } from '../../common/messages';
import { OUTCOME_MEMO } from '../../common/retrain';
import { retrainWorkflow } from '../../workflows';
import { eventually } from '../helpers/eventually';
import { createPipeline, type Pipeline } from '../helpers/pipeline';
import { loadConfig } from '../../config/config';
import { cliWith, type CliResult } from '../helpers/run-cli';

describe('retrain cancel and retrain list', () => {
  let pipeline: Pipeline;
  let runCli: (...argv: string[]) => Promise<CliResult>;
  beforeAll(async () => {
    pipeline = await createPipeline({
      epochs: 400,
      hyperparams: { hiddenUnits: 16, batchSize: 64, seed: 4 },
    });
    runCli = cliWith(loadConfig({ TEMPORAL_ADDRESS: inject('temporalAddress') }, pipeline.dir));
  });
  afterAll(async () => pipeline?.cleanup());

  const start = (workflowId: string, model: string, extra: object = {}) =>
    pipeline.client.workflow.start(retrainWorkflow, {
      taskQueue: pipeline.taskQueue,
      workflowId,
      args: [{ model, incremental: false, ...extra }],
      typedSearchAttributes: [{ key: ModelNameAttribute, value: model }],
    });

  it('cancel signals a running run: training stops and the run ends Canceled with the given reason', async () => {
    const { spec } = pipeline;
    const workflowId = `retrain-${spec.name}-cli-cancel-${Date.now()}`;
    const { cancelled, description } = await pipeline.withWorkers(async () => {
      const handle = await start(workflowId, spec.name);
      await eventually(
        'training to report epoch 1',
        async () => (await handle.query(progressQuery)).epoch >= 1,
        90_000,
      );
      const cancelled = await runCli('cancel', workflowId, '--reason', 'wrong data window', '--json');
      await expect(handle.result()).rejects.toMatchObject({ cause: expect.any(CancelledFailure) });
      return { cancelled, description: await handle.describe() };
    });
    expect(cancelled.code, cancelled.stderr).toBe(0);
    expect(JSON.parse(cancelled.stdout)).toMatchObject({
      workflowId,
      cancelRequested: true,
      reason: 'wrong data window',
    });
    expect(description.status.name).toBe('CANCELLED');
    expect(description.memo?.[OUTCOME_MEMO]).toMatchObject({
      status: 'cancelled',
      reason: 'wrong data window',
    });
    expect(await pipeline.deps.registry.listVersions(spec.name)).toEqual([]);

    const again = await runCli('cancel', workflowId);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(`retrain: ${workflowId} is not running (cancelled)\n`);
  });

  it('cancel names an unknown workflow id and needs one', async () => {
    const unknown = await runCli('cancel', 'retrain-nope-20000101T000000Z');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe('retrain: no retrain run with id retrain-nope-20000101T000000Z\n');
    expect(unknown.stdout).toBe('');

    const missing = await runCli('cancel');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("retrain: missing required argument 'workflowId'");
    expect(missing.stderr).toContain('Usage: retrain cancel [options] <workflowId>');
  });

  it('list shows the retrain runs of a model, newest first, with status, stage and times', async () => {
    const { spec } = pipeline;
    // Its own models, so what it lists does not depend on the other tests.
    const listed = `l-${randomUUID().slice(0, 8)}`;
    await pipeline.deps.registry.saveSpec({ ...spec, name: listed });
    const other = `o-${randomUUID().slice(0, 8)}`;
    const [firstId, secondId, failedId] = ['a', 'b', 'c'].map((k) => `retrain-${listed}-cli-list-${k}`) as [
      string,
      string,
      string,
    ];
    await pipeline.withWorkers(async () => {
      // Nothing in its buffer: both rejected after export, one after the other.
      await (await start(firstId, listed)).result();
      await (await start(secondId, listed)).result();
      // No spec for this model: the run fails reading it, before its admission and any stage.
      await (await start(failedId, other)).result().catch(() => undefined);
    });

    const mine = await eventually('visibility to show both runs closed', async () => {
      const out = await runCli('list', '--model', listed, '--json');
      expect(out.code, out.stderr).toBe(0);
      const runs = JSON.parse(out.stdout) as RunSummary[];
      return runs.length === 2 && runs.every((r) => r.closeTime !== null) ? runs : undefined;
    });
    expect(mine.map((r) => [r.workflowId, r.status, r.temporalStatus, r.model, r.stage])).toEqual([
      [secondId, 'rejected', 'COMPLETED', listed, 'rejected'],
      [firstId, 'rejected', 'COMPLETED', listed, 'rejected'],
    ]);
    for (const run of mine) {
      expect(Date.parse(run.startTime)).toBeLessThanOrEqual(Date.parse(run.closeTime ?? ''));
      expect(run.runId).toMatch(/^[0-9a-f-]{36}$/);
      expect(run.outcome).toMatchObject({
        status: 'rejected',
        reason: `Insufficient data: the buffer of ${listed} is empty`,
      });
    }

    const [failed] = await eventually('visibility to show the failed run closed', async () => {
      const runs = JSON.parse((await runCli('list', '--model', other, '--json')).stdout) as RunSummary[];
      return runs.length === 1 && runs[0]?.closeTime !== null ? runs : undefined;
    });
    expect(failed).toMatchObject({
      workflowId: failedId,
      status: 'failed',
      temporalStatus: 'FAILED',
      model: other,
      stage: 'starting',
    });

    const text = await runCli('list', '--model', listed);
    const lines = text.stdout.split('\n');
    expect(lines[0]).toMatch(/^WORKFLOW ID\s+STATUS\s+MODEL\s+STAGE\s+STARTED\s+CLOSED$/);
    expect(lines[1]).toContain(secondId);
    expect(lines).toHaveLength(3);
  });

  it('list refuses a model name that is not a slug, before asking Temporal', async () => {
    // Nothing listens there: a command that connected before validating would exit 1 (cannot reach Temporal).
    const unreachable = cliWith(loadConfig({ TEMPORAL_ADDRESS: '127.0.0.1:1' }, pipeline.dir));
    const bad = await unreachable('list', '--model', "x' OR WorkflowType != '");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('invalid --model');
    expect(bad.stdout).toBe('');
  });
});
