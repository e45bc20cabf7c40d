import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ActivityDeps } from '../../activities';
import { createExportDataset } from '../../activities/export-dataset';
import { judgedRunsOfTemporal } from '../../activities/judged-runs';
import { createMeasureTriggers, createRecordEvaluation } from '../../activities/measure-triggers';
import { ModelSpecSchema, type ModelSpec } from '../../common/model-spec';
import type { RetrainResult } from '../../common/retrain';
import { loadConfig } from '../../config/config';
import { withDuckDb } from '../../storage/duckdb';
import { triggerCheckWorkflow } from '../../workflows';
import { eventually } from '../helpers/eventually';
import { hourlySpec, seedHourlyActuals } from '../helpers/live-buffer';
import { localDeps } from '../helpers/local-pipeline';
import { publishVersion, smallModel } from '../helpers/models';
import { cliWith } from '../helpers/run-cli';
import { passingActivities, stubWorkers, type StubWorkers } from '../helpers/stub-workers';

const hours = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

/**
 * The storm of issue 23: a newRecords trigger whose run the gate rejected fired again after every
 * cool-down on the same rows. Here the real workflows, the real measurement (buffer, store, Temporal's
 * record of the rejected run) and the real export run; training is stubbed and the gate rejects.
 */
describe('a trigger whose run was rejected', () => {
  let env: StubWorkers;
  let dir: string;
  let deps: ActivityDeps;

  beforeAll(async () => {
    env = await stubWorkers();
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-trigger-storm-'));
    deps = localDeps(dir);
  });
  afterAll(async () => {
    await env?.close();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  const check = (model: string) =>
    env.client.workflow.execute(triggerCheckWorkflow, {
      taskQueue: env.taskQueue,
      workflowId: `retrain-monitor-${model}-${randomUUID()}`,
      args: [{ model }],
    });

  async function runsOf(model: string): Promise<string[]> {
    const ids: string[] = [];
    const query = `WorkflowType = 'retrainWorkflow' AND ModelName = '${model}'`;
    for await (const run of env.client.workflow.list({ query })) ids.push(run.workflowId);
    return ids;
  }

  /** A model whose check measures for real and whose runs export for real; the gate rejects every candidate. */
  function rejectingModel(): string {
    const passing = passingActivities();
    return env.model({
      loadSpec: ({ model: name }) => deps.registry.loadSpec(name),
      exportDataset: createExportDataset(deps),
      validateModel: async (input) => ({
        ...(await passing.validateModel(input)),
        passed: false,
        reason: 'candidate mae 0.829 is worse than the last value baseline 0.783',
      }),
      measureTriggers: createMeasureTriggers(deps, judgedRunsOfTemporal),
      recordEvaluation: createRecordEvaluation(deps),
    });
  }

  /** Starts a check and waits for its run to be rejected. */
  async function rejectedRun(model: string): Promise<string> {
    const first = await check(model);
    expect(first.decision, first.reason).toBe('started');
    const rejected = first.workflowId!;
    const result: RetrainResult = await env.client.workflow.getHandle(rejected).result();
    expect(result).toMatchObject({ status: 'rejected', rejection: { kind: 'gate' } });
    // The next check follows at once: it must know the run even before visibility lists it.
    return rejected;
  }

  it('does not fire again on the rows it judged, over three checks; new rows start a new run', async () => {
    const model = rejectingModel();
    // A cool-down of a second: it never is what holds a check back here.
    await deps.registry.saveSpec(
      ModelSpecSchema.parse({
        ...hourlySpec(model),
        minRecords: 50,
        triggers: { newRecords: 100, checkEvery: '1m', coolDown: '1s' },
      }),
    );
    await seedHourlyActuals(deps.buffer, model, hours(0, 200));

    const rejected = await rejectedRun(model);
    const started = await env.client.workflow.getHandle(rejected).describe();
    expect(((await started.memo)?.input as { trigger: { reason: string } }).trigger.reason).toBe(
      'triggered: 200 new records in the buffer, no version trained yet (>= 100)',
    );

    for (let n = 1; n <= 3; n++) {
      const quiet = await check(model);
      expect(quiet.decision, `check ${n}`).toBe('notTriggered');
      expect(quiet.reason).toBe(`not triggered: 0 new records since ${rejected}'s window (rejected) (< 100)`);
      expect(quiet.checks[0]?.quiet).toBe(
        `200 new records were judged by run ${rejected} (rejected); counting from there`,
      );
    }
    expect(await runsOf(model)).toEqual([rejected]);
    const retrain = cliWith(
      loadConfig(
        {
          TEMPORAL_ADDRESS: inject('temporalAddress'),
          RETRAIN_STORE: `file://${path.join(dir, 'store')}`,
          RETRAIN_TASK_QUEUE: env.taskQueue,
        },
        dir,
      ),
    );
    const shown = await retrain('triggers', 'show', '--model', model);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain(
      `  newRecords    quiet: 200 new records were judged by run ${rejected} (rejected); counting from there`,
    );

    await seedHourlyActuals(deps.buffer, model, hours(200, 350));
    const next = await check(model);
    expect(next.decision).toBe('started');
    expect(next.reason).toBe(`triggered: 150 new records since ${rejected}'s window (rejected) (>= 100)`);
    expect(next.workflowId).not.toBe(rejected);
    await env.client.workflow.getHandle(next.workflowId!).result();
    expect(
      await eventually('both runs in the list', async () => {
        const ids = await runsOf(model);
        return ids.length === 2 && ids;
      }),
    ).toEqual(expect.arrayContaining([rejected, next.workflowId]));
  }, 120_000);

  it('a drift trigger backs off over three checks while its figure stays, and not once the figure changed', async () => {
    const model = rejectingModel();
    const spec: ModelSpec = ModelSpecSchema.parse({
      ...hourlySpec(model),
      minRecords: 50,
      triggers: { driftPsi: 0.2, checkEvery: '1m', coolDown: '1m' },
    });
    await deps.registry.saveSpec(spec);
    // v1 trained on hours 0-99 (registered long ago: no cool-down from it); hours 100-199 drifted far above.
    await seedHourlyActuals(deps.buffer, model, hours(0, 200));
    await publishVersion(deps.registry, spec, 'v1', {
      net: smallModel(spec, 1),
      metadata: {
        createdAt: '2024-01-10T00:00:00.000Z',
        metrics: { mae: 0.7 },
        dataset: {
          key: `datasets/${model}/wf-v1`,
          rows: { train: 80, holdout: 20 },
          window: { from: '2024-01-01T00:00:00Z', to: '2024-01-05T03:00:00Z' },
        },
      },
    });
    await deps.registry.setAlias(model, 'v1', null);

    const rejected = await rejectedRun(model);
    const { closeTime } = await env.client.workflow.getHandle(rejected).describe();
    const until = new Date(closeTime!.getTime() + 2 * 60_000).toISOString();
    for (let n = 1; n <= 3; n++) {
      const held = await check(model);
      expect(held.decision, `check ${n}: ${held.reason}`).toBe('backingOff');
      expect(held.checks[0]).toMatchObject({ kind: 'drift', fired: false, backOffUntil: until });
      expect(held.checks[0]?.quiet).toBe(
        `backing off after rejected run ${rejected} until ${until.slice(0, 16).replace('T', ' ')} UTC (cool-down x2) or until the drift changes`,
      );
    }
    expect(await runsOf(model)).toEqual([rejected]);

    // Records back in v1's range: the drift figure changes, so only the cool-down since the run holds it.
    await withDuckDb((conn) =>
      deps.buffer.appendQuery(
        conn,
        model,
        `SELECT TIMESTAMP '2024-01-01' + INTERVAL (200 + i) HOUR AS ts, 'a' AS host, (10 + i)::DOUBLE AS y
         FROM range(100) r(i)`,
        { timeColumn: 'ts', entityColumn: 'host' },
      ),
    );
    const changed = await check(model);
    expect(changed.decision, changed.reason).toBe('coolingDown');
    expect(changed.checks[0]).toMatchObject({ kind: 'drift', fired: true });
    expect(changed.checks[0]).not.toHaveProperty('backOffUntil');
  }, 120_000);
});
