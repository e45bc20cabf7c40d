import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { RetrainInputSchema } from '../../common/retrain';
import { workflowIdFor } from '../../common/workflow-ids';
import { ModelBusyError, startRun, type StartedRun } from '../../runs';
import { stubWorkers, type StubWorkers } from '../helpers/stub-workers';

/** A training that heartbeats until it is cancelled, so the admitted run holds its model while the others start. */
async function trainUntilCancelled(): Promise<never> {
  const ctx = Context.current();
  for (;;) {
    ctx.heartbeat({ alive: true });
    await ctx.sleep(50);
  }
}

/** What each of the concurrent starts came back with: a started run, or the error it threw. */
type Outcome = { started: StartedRun } | { error: unknown };

function admittedOf(outcomes: Outcome[]): StartedRun[] {
  return outcomes.flatMap((o) => ('started' in o ? [o.started] : []));
}

function refusalsOf(outcomes: Outcome[]): unknown[] {
  return outcomes.flatMap((o) => ('error' in o ? [o.error] : []));
}

describe('startRun admits a run in one Update-with-Start call', () => {
  let env: StubWorkers;
  beforeAll(async () => {
    env = await stubWorkers();
  });
  afterAll(async () => env?.close());

  async function startTen(model: string, workflowIds: (string | undefined)[]): Promise<Outcome[]> {
    const { client, taskQueue } = env;
    const outcomes = await Promise.all(
      workflowIds.map((workflowId) =>
        startRun(client, RetrainInputSchema.parse({ model }), {
          taskQueue,
          origin: 'update-with-start test',
          workflowId,
        }).then(
          (started): Outcome => ({ started }),
          (error: unknown): Outcome => ({ error }),
        ),
      ),
    );
    for (const run of admittedOf(outcomes)) await client.workflow.getHandle(run.workflowId).cancel();
    return outcomes;
  }

  it('of ten concurrent starts for one model under ten ids, exactly one is admitted and nine throw ModelBusyError naming it', async () => {
    const model = env.model({ trainModel: trainUntilCancelled });
    const ids = Array.from({ length: 10 }, (_, i) => `retrain-${model}-uws-${i}-${randomUUID().slice(0, 4)}`);
    const outcomes = await startTen(model, ids);
    const admitted = admittedOf(outcomes);
    expect(admitted).toHaveLength(1);
    expect(admitted[0]).toMatchObject({ admission: 'admitted', runId: expect.any(String) });
    const winner = admitted[0]?.workflowId;
    const refusals = refusalsOf(outcomes);
    expect(refusals).toHaveLength(9);
    for (const error of refusals) {
      expect(error).toBeInstanceOf(ModelBusyError);
      expect(error).toMatchObject({ model, runningWorkflowId: winner });
      expect((error as ModelBusyError).message).toContain(`already being retrained by ${winner}`);
    }
    // Each refused start names its own run, which ended rejected at once.
    const refused = refusals.map((e) => (e as ModelBusyError).refusedWorkflowId);
    expect(new Set(refused)).toEqual(new Set(ids.filter((id) => id !== winner)));
  });

  it('of ten concurrent starts under the default id (one per second), exactly one is admitted and nine throw ModelBusyError naming it', async () => {
    const model = env.model({ trainModel: trainUntilCancelled });
    const outcomes = await startTen(
      model,
      Array.from({ length: 10 }, () => undefined),
    );
    const admitted = admittedOf(outcomes);
    expect(admitted).toHaveLength(1);
    expect(admitted[0]?.workflowId).toMatch(new RegExp(`^retrain-${model}-\\d{8}T\\d{6}Z$`));
    const refusals = refusalsOf(outcomes);
    expect(refusals).toHaveLength(9);
    for (const error of refusals)
      expect(error).toMatchObject({
        name: 'ModelBusyError',
        model,
        runningWorkflowId: admitted[0]?.workflowId,
      });
  });
});

describe('startRun after a run of the model ended in the same second', () => {
  let env: StubWorkers;
  beforeAll(async () => {
    env = await stubWorkers();
  });
  afterAll(async () => env?.close());

  it('takes the next id (<id>-2) instead of reusing the ended run’s, and is admitted', async () => {
    const { client, taskQueue } = env;
    const model = env.model({
      exportDataset: async () => ({ status: 'insufficient', reason: 'no data in this test' }),
    });
    const options = { taskQueue, origin: 'update-with-start test' };
    const ended = new Set<string>();
    // Ended runs under the default ids of the coming seconds, then a start with the default id: it
    // falls in one of them unless this machine stalled past them all (then the next round covers more).
    for (let round = 1; round <= 5; round++) {
      for (let at = Date.now(); ; at += 1000) {
        const workflowId = workflowIdFor(model, new Date(at));
        if (at > Date.now() + 3000) break;
        if (ended.has(workflowId)) continue;
        await client.workflow
          .getHandle(
            (await startRun(client, RetrainInputSchema.parse({ model }), { ...options, workflowId }))
              .workflowId,
          )
          .result();
        ended.add(workflowId);
      }
      const started = await startRun(client, RetrainInputSchema.parse({ model }), options);
      await client.workflow.getHandle(started.workflowId).result();
      const base = started.workflowId.replace(/-2$/, '');
      if (!ended.has(base)) {
        ended.add(started.workflowId);
        continue;
      }
      expect(started).toMatchObject({ workflowId: `${base}-2`, admission: 'admitted' });
      return;
    }
    throw new Error('no start fell in a second whose id an ended run held, in 5 rounds');
  });
});

describe('startRun with no worker polling', () => {
  it('returns the run pending, with its run id, and the run is admitted and completes once a worker polls', async () => {
    const taskQueue = `uws-nobody-${randomUUID()}`;
    const model = `m-${randomUUID().slice(0, 8)}`;
    const connection = await Connection.connect({ address: inject('temporalAddress') });
    try {
      const client = new Client({ connection });
      const started = await startRun(client, RetrainInputSchema.parse({ model }), {
        taskQueue,
        origin: 'update-with-start test',
        admissionTimeoutMs: 1000,
      });
      const handle = client.workflow.getHandle(started.workflowId);
      const { runId } = await handle.describe();
      const late = await stubWorkers(undefined, { taskQueue });
      const result = await handle.result().finally(() => late.close());
      expect(started).toEqual({
        workflowId: expect.stringMatching(new RegExp(`^retrain-${model}-\\d{8}T\\d{6}Z$`)),
        runId,
        admission: 'pending',
      });
      expect(result).toMatchObject({ status: 'completed', model });
    } finally {
      await connection.close();
    }
  });
});
