import { randomUUID } from 'node:crypto';
import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ErrorType } from '../../common/errors';
import { cancelRetrainSignal, RetrainStageAttribute } from '../../common/messages';
import { HyperparamsSchema, type Search } from '../../common/model-spec';
import { OUTCOME_MEMO, type RetrainInput, type RunOutcome, type StageName } from '../../common/retrain';
import type { RegisterInput, ValidateResult } from '../../common/stages';
import { planTrials } from '../../common/trials';
import { trainingJob } from '../../control/training-job';
import { readRun } from '../../runs';
import { retrainWorkflow } from '../../workflows';
import { eventually } from '../helpers/eventually';
import { historyEvents } from '../helpers/history';
import {
  passingActivities,
  stubSpec,
  stubWorkers,
  type Activities,
  type StubWorkers,
} from '../helpers/stub-workers';

type Run = WorkflowHandle<typeof retrainWorkflow>;

const passing = passingActivities();

const ORDER: StageName[] = ['exportDataset', 'trainModel', 'validateModel', 'registerModel', 'reloadServers'];

/** `[name, status]` of each stage record: the shape most assertions compare. */
const statuses = (stages: { name: string; status: string }[]) => stages.map((s) => [s.name, s.status]);

/** The stages a run records when `stage` ended `status` after every earlier stage completed. */
const endedIn = (stage: StageName, status: string) => [
  ...ORDER.slice(0, ORDER.indexOf(stage)).map((name) => [name, 'completed']),
  [stage, status],
];

async function outcomeOf(handle: Run): Promise<RunOutcome> {
  return (await handle.describe()).memo?.[OUTCOME_MEMO] as RunOutcome;
}

/** The error `handle.result()` rejects with. */
async function failureOf(handle: Run): Promise<WorkflowFailedError> {
  const err: unknown = await handle.result().then(
    (result) => new Error(`expected the run to fail, it returned ${JSON.stringify(result)}`),
    (e: unknown) => e,
  );
  if (!(err instanceof WorkflowFailedError)) throw err;
  return err;
}

/**
 * An activity that heartbeats every 50 ms until it hears of a cancellation; `state` says whether it
 * started and whether it has stopped. A cpu activity hears of it only through a heartbeat response.
 */
function untilCancelled() {
  const state = { started: false, stopped: false, heard: undefined as string | undefined };
  const activity = async (): Promise<never> => {
    const ctx = Context.current();
    state.started = true;
    try {
      for (;;) {
        ctx.heartbeat();
        await ctx.sleep(50);
      }
    } catch (err) {
      state.heard = err instanceof Error ? err.message : String(err);
      throw err;
    } finally {
      state.stopped = true;
    }
  };
  return { state, activity };
}

describe('retrainWorkflow, branch by branch, on stub activities', () => {
  let env: StubWorkers;
  beforeAll(async () => {
    env = await stubWorkers();
  });
  afterAll(async () => env?.close());

  const start = (model: string, label: string, input: Partial<RetrainInput> = {}): Promise<Run> =>
    env.client.workflow.start(retrainWorkflow, {
      taskQueue: env.taskQueue,
      workflowId: `retrain-${model}-${label}-${randomUUID().slice(0, 8)}`,
      args: [{ model, ...input }],
    });

  it('is rejected by readiness when the export finds too little data: Completed, nothing after export scheduled, the same in the memo and RetrainStage', async () => {
    const reason = 'Insufficient data: 12 < 1000 records in the last 28 days';
    const registerModel = vi.fn(passing.registerModel);
    const model = env.model({
      exportDataset: async () => ({ status: 'insufficient', reason }),
      registerModel,
    });
    const handle = await start(model, 'readiness');

    const result = await handle.result();
    const description = await handle.describe();

    expect(result).toMatchObject({
      status: 'rejected',
      model,
      reason,
      rejection: { kind: 'insufficientData' },
    });
    expect(statuses(result.stages)).toEqual([['exportDataset', 'rejected']]);
    expect(registerModel).not.toHaveBeenCalled();
    expect(description.status.name).toBe('COMPLETED');
    expect(description.typedSearchAttributes.get(RetrainStageAttribute)).toBe('rejected');
    expect(description.memo?.[OUTCOME_MEMO]).toEqual({
      status: 'rejected',
      model,
      reason,
      rejection: { kind: 'insufficientData' },
      overallPct: 100,
      stages: result.stages,
    });
  });

  it('says when an incremental run trained from scratch: in the train stage summary, the result, the outcome memo and training-status', async () => {
    const why = 'input or layer shapes differ from production v3';
    const model = env.model({
      trainModel: async (input) => ({ ...(await passing.trainModel(input)), warmStart: { skipped: why } }),
    });
    const handle = await start(model, 'scratch', { incremental: true });

    const result = await handle.result();

    expect(result).toMatchObject({ status: 'completed', warmStart: { skipped: why } });
    const train = result.stages.find((stage) => stage.name === 'trainModel');
    expect(train?.summary).toContain(`from scratch: ${why}`);
    expect(await outcomeOf(handle)).toMatchObject({ warmStart: { skipped: why } });
    const job = trainingJob(await readRun(env.client, handle.workflowId), null);
    expect(job.warm_start).toBe(`from scratch: ${why}`);
  });

  it('says which production version an incremental run started from', async () => {
    const model = env.model({
      trainModel: async (input) => ({ ...(await passing.trainModel(input)), warmStart: { from: 'v3' } }),
    });
    const handle = await start(model, 'warm', { incremental: true });

    const result = await handle.result();

    expect(result.warmStart).toEqual({ from: 'v3' });
    expect(result.stages.find((stage) => stage.name === 'trainModel')?.summary).toContain(
      'warm start from v3',
    );
  });

  it('is rejected by the gate with the figures behind the decision as data and the candidate metrics, registering nothing', async () => {
    const verdict: ValidateResult = {
      passed: false,
      reason: 'candidate mae 1.2000 is worse than production v3 (1.0000) beyond the 5% tolerance',
      metric: 'mae',
      decision: { by: 'production', against: 'v3', candidate: 1.2, reference: 1, limit: 1.05 },
      gate: { metric: 'mae', mustBeatBaseline: true, tolerance: 0.05 },
      candidate: { mae: 1.2, rmse: 1.6, mape: 12 },
      baselines: { lastValue: { mae: 2, rmse: 2.5, mape: 20 } },
      production: { version: 'v3', metrics: { mae: 1, rmse: 1.4, mape: 10 } },
    };
    const registerModel = vi.fn(passing.registerModel);
    const model = env.model({ validateModel: async () => verdict, registerModel });
    const handle = await start(model, 'gate');

    const result = await handle.result();

    expect(result).toMatchObject({ status: 'rejected', reason: verdict.reason, metrics: verdict.candidate });
    expect(result.rejection).toEqual({
      kind: 'gate',
      metric: 'mae',
      decision: verdict.decision,
      gate: verdict.gate,
      candidate: verdict.candidate,
      baselines: verdict.baselines,
      production: verdict.production,
    });
    expect(statuses(result.stages)).toEqual(endedIn('validateModel', 'rejected'));
    expect(registerModel).not.toHaveBeenCalled();
    expect(await outcomeOf(handle)).toMatchObject({ status: 'rejected', rejection: result.rejection });
  });

  describe('cancelled in each stage', () => {
    /** Starts a run whose `stage` waits until cancelled, cancels it `how`, and reads how it ended. */
    async function cancelIn(stage: StageName, how: 'signal' | 'temporal') {
      const blocker = untilCancelled();
      const registerModel = vi.fn(passing.registerModel);
      const model = env.model({ registerModel, [stage]: blocker.activity });
      const handle = await start(model, `cancel-${stage}`);
      await eventually(`${stage} to be running`, () => blocker.state.started, 10_000, 20);
      if (how === 'signal') await handle.signal(cancelRetrainSignal, { reason: 'wrong window' });
      else await handle.cancel();
      const err = await failureOf(handle);
      const activityStopped = blocker.state.stopped;
      const description = await handle.describe();
      const outcome = description.memo?.[OUTCOME_MEMO] as RunOutcome;

      expect(err.cause).toBeInstanceOf(CancelledFailure);
      expect(description.status.name).toBe('CANCELLED');
      expect(description.typedSearchAttributes.get(RetrainStageAttribute)).toBe('cancelled');
      expect(outcome).toMatchObject({
        status: 'cancelled',
        reason: how === 'signal' ? 'wrong window' : 'cancelled through Temporal',
      });
      expect(statuses(outcome.stages)).toEqual(endedIn(stage, 'cancelled'));
      if (stage === 'exportDataset') expect(outcome.kept?.datasetKey).toBeUndefined();
      else expect(outcome.kept?.datasetKey).toBe(`datasets/${model}/${handle.workflowId}`);
      expect(registerModel).not.toHaveBeenCalled();
      return { model, handle, outcome, activityStopped };
    }

    it.each([
      { stage: 'exportDataset', how: 'temporal' },
      { stage: 'validateModel', how: 'signal' },
    ] as const)(
      'in $stage (cpu) through the $how cancel: ends Canceled at once, before its heartbeating activity is told, with the stage cancelled and the reason and what was kept in its memo',
      async ({ stage, how }) => {
        const { activityStopped } = await cancelIn(stage, how);
        // The cpu proxy has no heartbeat timeout and the default TRY_CANCEL: the run does not wait,
        // and the activity hears of the cancel only at its next sent heartbeat (throttled to 30 s)
        // or at worker shutdown.
        expect(activityStopped).toBe(false);
      },
    );

    it.each(['signal', 'temporal'] as const)(
      'in trainModel (gpu) through the %s cancel: ends Canceled once the training heard of it and stopped, with the checkpoints kept',
      async (how) => {
        const { model, handle, outcome, activityStopped } = await cancelIn('trainModel', how);
        // The gpu proxy waits for the cancellation to complete (WAIT_CANCELLATION_COMPLETED).
        expect(activityStopped).toBe(true);
        expect(outcome.kept?.checkpointPrefix).toBe(`checkpoints/${model}/${handle.workflowId}/`);
      },
    );

    it.each([
      { stage: 'registerModel', how: 'temporal' },
      { stage: 'reloadServers', how: 'signal' },
    ] as const)(
      'in $stage through the $how cancel: the promotion it began is finished, the run completes with the version and says the cancel came too late',
      async ({ stage, how }) => {
        const state = { started: false, returned: false };
        let release!: () => void;
        const released = new Promise<void>((resolve) => (release = resolve));
        // As the real activities: they neither heartbeat nor check for cancellation.
        const slow =
          <T>(answer: T) =>
          async () => {
            state.started = true;
            await released;
            state.returned = true;
            return answer;
          };
        const model = env.model({
          [stage]:
            stage === 'registerModel' ? slow({ version: 'v7', previous: 'v6' }) : slow({ servers: [] }),
          ...(stage === 'reloadServers'
            ? { registerModel: async () => ({ version: 'v7', previous: 'v6' }) }
            : {}),
        });
        const handle = await start(model, `cancel-late-${stage}`);
        await eventually(`${stage} to be running`, () => state.started, 10_000, 20);
        if (how === 'signal') await handle.signal(cancelRetrainSignal, { reason: 'wrong window' });
        else await handle.cancel();
        // The stage returns only after a workflow task has taken the cancel in: it came while the stage ran.
        await eventually('a workflow task after the cancel', async () => {
          const events = await historyEvents(handle);
          const cancel = events.findIndex(
            (e) =>
              e.workflowExecutionSignaledEventAttributes?.signalName === cancelRetrainSignal.name ||
              e.workflowExecutionCancelRequestedEventAttributes,
          );
          return cancel !== -1 && events.slice(cancel).some((e) => e.workflowTaskCompletedEventAttributes);
        });
        release();
        const result = await handle.result();

        expect(state.returned).toBe(true);
        expect(result).toMatchObject({
          status: 'completed',
          version: 'v7',
          reason: `${how === 'signal' ? 'wrong window' : 'cancelled through Temporal'} after registration began: the run finished it`,
        });
        expect(statuses(result.stages)).toEqual(ORDER.map((name) => [name, 'completed']));
        expect((await handle.describe()).status.name).toBe('COMPLETED');
        expect(await outcomeOf(handle)).toMatchObject({ status: 'completed', version: 'v7' });
      },
    );
  });

  it('completes with the best of three trials when trial 2 diverges, its summary saying 1 failed', async () => {
    const search: Search = { learningRate: { min: 0.001, max: 0.01 }, hiddenUnits: [16, 64] };
    const spec = (name: string) => ({ ...stubSpec(name), search });
    const registerModel = vi.fn(passing.registerModel);
    const trainModel = vi.fn<Activities['trainModel']>(async (input) => {
      if (input.trial === 2)
        throw ApplicationFailure.nonRetryable(
          'Training diverged: loss is NaN at epoch 1',
          ErrorType.TrainingDiverged,
        );
      return passing.trainModel(input);
    });
    const model = env.model({ loadSpec: async ({ model: name }) => spec(name), trainModel, registerModel });
    const plan = planTrials(HyperparamsSchema.parse(spec(model).hyperparams), search, 3);
    const handle = await start(model, 'trials', { trials: 3 });

    const result = await handle.result();

    expect(result.status, result.reason).toBe('completed');
    expect(trainModel.mock.calls.map(([input]) => input.trial).sort()).toEqual([1, 2, 3]);
    expect(trainModel.mock.calls.map(([input]) => input.hyperparams)).toEqual(expect.arrayContaining(plan));
    const trainStage = result.stages.find((s) => s.name === 'trainModel');
    // The stub's losses fall with the trial number, so #3 is best.
    expect(trainStage?.summary).toContain('best of 3 trials: #3, 1 failed');
    expect(registerModel).toHaveBeenCalledTimes(1);
    const registered = registerModel.mock.calls[0]?.[0] as RegisterInput;
    expect(registered.hyperparams).toEqual(plan[2]);
    expect(registered.trials?.map((t) => [t.trial, t.status])).toEqual([
      [1, 'completed'],
      [2, 'failed'],
      [3, 'completed'],
    ]);
    expect(registered.trials?.[1]?.error).toBe('Training diverged: loss is NaN at epoch 1');
  });

  it('fails with ReloadFailed, the servers and the rollback in its own failure and memo, when the servers refuse the new version', async () => {
    const details = {
      servers: [
        { url: 'http://infer-1:8080', ok: false, error: 'HTTP 500: weights do not load', attempts: 3 },
        { url: 'http://infer-2:8080', ok: true, version: 'v2', attempts: 1 },
      ],
      rollback: {
        to: 'v1',
        aliasMoved: true,
        servers: [{ url: 'http://infer-2:8080', ok: true, version: 'v1' }],
      },
    };
    const message = 'Inference servers refused v2 (1 of 2 failed); production rolled back to v1';
    const model = env.model({
      registerModel: async () => ({ version: 'v2', previous: 'v1' }),
      reloadServers: async () => {
        throw ApplicationFailure.nonRetryable(message, ErrorType.ReloadFailed, details);
      },
    });
    const handle = await start(model, 'reload-rollback');

    const err = await failureOf(handle);
    const description = await handle.describe();

    expect(description.status.name).toBe('FAILED');
    expect(err.cause).toBeInstanceOf(ApplicationFailure);
    const cause = err.cause as ApplicationFailure;
    expect(cause.message).toBe(`reloadServers failed: ${message}`);
    expect(cause.message.startsWith('reloadServers failed: Inference servers refused')).toBe(true);
    expect(cause.type).toBe(ErrorType.ReloadFailed);
    expect(cause.nonRetryable).toBe(true);
    expect(cause.details?.[0]).toEqual(details);
    const outcome = description.memo?.[OUTCOME_MEMO] as RunOutcome;
    expect(outcome).toMatchObject({
      status: 'failed',
      reason: `reloadServers failed: ${message}`,
      failure: { stage: 'reloadServers', type: ErrorType.ReloadFailed, message, details },
    });
    expect(statuses(outcome.stages)).toEqual(endedIn('reloadServers', 'failed'));
    expect(description.typedSearchAttributes.get(RetrainStageAttribute)).toBe('reloadServers');
  });

  describe('failing in each stage', () => {
    const cases: { stage: StageName; type: ErrorType }[] = [
      { stage: 'exportDataset', type: ErrorType.CorruptArtefact },
      { stage: 'trainModel', type: ErrorType.TrainingDiverged },
      { stage: 'validateModel', type: ErrorType.CorruptArtefact },
      { stage: 'registerModel', type: ErrorType.ModelNotFound },
      { stage: 'reloadServers', type: ErrorType.ReloadFailed },
    ];

    it.each(cases)(
      'in $stage with a non-retryable $type: Failed after one attempt, the stage and root cause in its own failure and memo',
      async ({ stage, type }) => {
        const message = `${stage} broke: ${type}`;
        const failing = vi.fn(async () => {
          throw ApplicationFailure.nonRetryable(message, type);
        });
        const model = env.model({ [stage]: failing });
        const handle = await start(model, `fail-${stage}`);

        const err = await failureOf(handle);
        const description = await handle.describe();

        expect(description.status.name).toBe('FAILED');
        expect(err.cause).toBeInstanceOf(ApplicationFailure);
        expect(err.cause).toMatchObject({ message: `${stage} failed: ${message}`, type, nonRetryable: true });
        expect(failing).toHaveBeenCalledTimes(1);
        const outcome = description.memo?.[OUTCOME_MEMO] as RunOutcome;
        expect(outcome).toMatchObject({
          status: 'failed',
          reason: `${stage} failed: ${message}`,
          failure: { stage, type, message },
        });
        expect(statuses(outcome.stages)).toEqual(endedIn(stage, 'failed'));
        expect(description.typedSearchAttributes.get(RetrainStageAttribute)).toBe(stage);
      },
    );

    it.each(ORDER)(
      'in %s with a plain Error on the first attempt only: retried, and the run completes',
      async (stage) => {
        const attempts: number[] = [];
        const flaky = async (input: never) => {
          const { attempt } = Context.current().info;
          attempts.push(attempt);
          if (attempt === 1) throw new Error('connection reset by peer');
          return (passing[stage] as (arg: never) => Promise<unknown>)(input);
        };
        const model = env.model({ [stage]: flaky });
        const handle = await start(model, `retry-${stage}`);

        const result = await handle.result();

        expect(result.status, result.reason).toBe('completed');
        expect(attempts).toEqual([1, 2]);
        expect(statuses(result.stages)).toEqual(ORDER.map((name) => [name, 'completed']));
      },
    );
  });

  it.each([
    { field: 'epochs', input: { epochs: 0 } },
    { field: 'reloadTargets.0', input: { reloadTargets: ['ftp://infer-1'] } },
    { field: 'windowDay', input: { windowDay: 7 } as Partial<RetrainInput> },
  ])(
    'fails non-retryably with InvalidInput naming $field when the input is malformed',
    async ({ field, input }) => {
      const exportDataset = vi.fn(passing.exportDataset);
      const model = env.model({ exportDataset });
      const handle = await start(model, 'bad-input', input);

      const err = await failureOf(handle);

      expect((await handle.describe()).status.name).toBe('FAILED');
      expect(err.cause).toBeInstanceOf(ApplicationFailure);
      expect(err.cause).toMatchObject({ type: ErrorType.InvalidInput, nonRetryable: true });
      expect(err.cause?.message).toMatch(/^Invalid retrain input: /);
      expect(err.cause?.message).toContain(field);
      expect(exportDataset).not.toHaveBeenCalled();
    },
  );
});
