import {
  ActivityCancellationType,
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { checkpointPrefix } from '../common/artefacts';
import { ErrorType } from '../common/errors';
import { formatIssues } from '../common/format-issues';
import { HyperparamsSchema } from '../common/model-spec';
import {
  admissionUpdate,
  cancelRetrainSignal,
  epochProgressSignal,
  lossCurveQuery,
  progressQuery,
  type EpochProgress,
  RetrainStageAttribute,
} from '../common/messages';
import {
  OUTCOME_MEMO,
  RetrainInputSchema,
  type Admission,
  type KeptArtefacts,
  type Rejection,
  type RetrainInput,
  type RetrainProgress,
  type RetrainResult,
  type RunFailure,
  type RunOutcome,
  type StageName,
  type StageRecord,
  type TrialProgress,
} from '../common/retrain';
import { gpuTaskQueueFor } from '../common/task-queues';
import { planTrials } from '../common/trials';
import { cpuActivities, nonRetryableErrorTypes, type Activities } from './cpu-activities';
import { eventEmitter } from './event-emitter';
import { rootFailure } from './failures';
import { acquireLease } from './lease';
import { renderProgress } from './progress-details';
import { runMetrics } from './run-metrics';
import { runClock } from './run-timings';
import { applyEpoch, bestSoFar, runTrials, trainedFraction, trialBoard, trialLog } from './trials';

const cpu = cpuActivities();

/** Share of the whole run each stage stands for, in percent. */
const STAGE_WEIGHT: Record<StageName, number> = {
  exportDataset: 10,
  trainModel: 65,
  validateModel: 10,
  registerModel: 5,
  reloadServers: 10,
};

/** Epoch reports a run keeps for its loss curves (64 trials of 150 epochs). */
const MAX_CURVE_POINTS = 10_000;

/** RetrainStage of a run refused because another run holds the model. */
const REFUSED_STAGE = 'refused';

/** Default reason of a cancel that came through Temporal rather than {@link cancelRetrainSignal}. */
const TEMPORAL_CANCEL_REASON = 'cancelled through Temporal';

/**
 * Export -> train -> validate -> register -> reload for one model, one run per model at a time (a
 * lease child, see ./lease). Not enough data, a candidate that fails the gate and a model another run
 * holds end Completed with a `rejected` result; a cancel (signal or Temporal's) ends Canceled with
 * nothing registered; a failure ends Failed with its root cause. Every ending leaves the same
 * {@link RunOutcome} in the `outcome` memo and in the Web UI's current details.
 */
export async function retrainWorkflow(rawInput: RetrainInput): Promise<RetrainResult> {
  const parsed = RetrainInputSchema.safeParse(rawInput);
  if (!parsed.success) {
    throw ApplicationFailure.nonRetryable(
      `Invalid retrain input: ${formatIssues(parsed.error)}`,
      ErrorType.InvalidInput,
    );
  }
  const input = parsed.data;
  const series = runMetrics(input.model);
  const events = eventEmitter(input.model);
  const clock = runClock();
  series.started();
  log.info('run started', { model: input.model });
  // Readers of a run's memo (lists, the daemon API) see its input without fetching its history.
  upsertMemo({ input });
  const { workflowId, runId, taskQueue } = workflowInfo();
  const gpu = proxyActivities<Activities>({
    taskQueue: gpuTaskQueueFor(taskQueue),
    startToCloseTimeout: '4 hours',
    // A dead gpu worker is noticed within this, and the retry resumes from its last checkpoint.
    // Training heartbeats every second between batches; 30 s also covers a slow checkpoint write.
    heartbeatTimeout: '30s',
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: {
      initialInterval: '2s',
      backoffCoefficient: 2,
      maximumInterval: '1 minute',
      maximumAttempts: 5,
      nonRetryableErrorTypes,
    },
  });
  const stages: StageRecord[] = [];
  const kept: KeptArtefacts = {};
  const progress: RetrainProgress = {
    stage: 'starting',
    overallPct: 0,
    epoch: 0,
    totalEpochs: input.epochs ?? 0,
    loss: null,
    valLoss: null,
    samplesPerSec: null,
    status: 'running',
    updatedAt: new Date().toISOString(),
  };
  const publish = (): void => {
    progress.updatedAt = new Date().toISOString();
    setCurrentDetails(renderProgress(input.model, progress, stages));
  };

  let board: TrialProgress[] = [];
  const publishTraining = (): void => {
    progress.overallPct = pctWithin('trainModel', trainedFraction(board, progress.totalEpochs));
    if (board.length > 1) progress.best = bestSoFar(board);
    publish();
  };

  let admission: Admission | undefined;
  setHandler(progressQuery, () => progress);
  setHandler(admissionUpdate, async () => {
    await condition(() => admission !== undefined);
    return admission as Admission;
  });
  // One signal per trial and epoch: the only history training adds besides its activities.
  const lossCurve: EpochProgress[] = [];
  setHandler(lossCurveQuery, () => lossCurve);
  setHandler(epochProgressSignal, (update) => {
    if (lossCurve.length < MAX_CURVE_POINTS) lossCurve.push(update);
    Object.assign(progress, update);
    applyEpoch(board, update);
    publishTraining();
  });
  let cancelReason: string | undefined;
  setHandler(cancelRetrainSignal, async ({ reason }) => {
    if (cancelReason !== undefined) return;
    cancelReason = reason ?? 'cancelled by signal';
    // Temporal's own cancel, asked for on the run's behalf, so it ends Canceled like any other cancel.
    await CancellationScope.nonCancellable(() => cpu.requestCancellation({ workflowId, runId }));
  });

  async function stage<T>(name: StageName, run: () => Promise<T>, summarize: (out: T) => string): Promise<T> {
    const started = Date.now();
    const activityMs = clock.mark();
    progress.stage = name;
    progress.overallPct = pctWithin(name, 0);
    upsertSearchAttributes([{ key: RetrainStageAttribute, value: name }]);
    publish();
    log.info('stage started', { stage: name, model: input.model });
    try {
      const out = await run();
      stageEnded(record(name, 'completed', started, summarize(out), activityMs()));
      return out;
    } catch (err) {
      const status = isCancellation(err) ? 'cancelled' : 'failed';
      // A failed attempt reports no time of its own.
      stageEnded(record(name, status, started, rootFailure(err).message, undefined));
      throw err;
    }
  }

  function stageEnded(done: StageRecord): void {
    stages.push(done);
    const { name, status, durationMs } = done;
    const fields = { stage: name, model: input.model, status, durationMs };
    if (status === 'completed') log.info('stage ended', fields);
    else log.warn('stage ended', { ...fields, reason: done.summary });
    series.stageEnded(name, status, durationMs / 1000);
    events.emit('retrain.stage.ended', { ...done });
    if (name === 'reloadServers' && status !== 'cancelled')
      series.rolledOut(status === 'completed' ? 'success' : 'failure');
  }

  /** Records how the run ended everywhere a reader looks: progress, search attribute, memo, Web UI. */
  const end = (
    outcome: Omit<RunOutcome, 'model' | 'stages' | 'overallPct' | 'timings'>,
    stageValue: string = outcome.status,
  ): Pick<RunOutcome, 'timings'> => {
    progress.stage = 'done';
    progress.status = outcome.status;
    if (outcome.status !== 'failed') progress.overallPct = 100;
    if (outcome.version) progress.version = outcome.version;
    if (outcome.reason) progress.reason = outcome.reason;
    if (outcome.failure) progress.failure = outcome.failure;
    upsertSearchAttributes([{ key: RetrainStageAttribute, value: stageValue }]);
    const timings = clock.timings();
    const memo: RunOutcome = {
      model: input.model,
      stages,
      overallPct: progress.overallPct,
      ...outcome,
      ...(timings ? { timings } : {}),
    };
    upsertMemo({ [OUTCOME_MEMO]: memo });
    publish();
    series.ended(outcome.status);
    events.emit(`retrain.run.${outcome.status}`, { ...memo });
    const fields = {
      model: input.model,
      outcome: outcome.status,
      ...(outcome.version ? { version: outcome.version } : {}),
      ...(outcome.reason ? { reason: outcome.reason } : {}),
    };
    if (outcome.status === 'failed') log.error('run ended', fields);
    else log.info('run ended', fields);
    return timings ? { timings } : {};
  };

  const finish = (result: Omit<RetrainResult, 'model' | 'stages' | 'timings'>): RetrainResult => {
    const timings = end(result);
    return { model: input.model, stages, ...result, ...timings };
  };

  const rejectLast = (
    reason: string,
    rejection: Rejection,
    metrics?: RetrainResult['metrics'],
  ): RetrainResult => {
    const last = stages[stages.length - 1];
    if (last) last.status = 'rejected';
    return finish({ status: 'rejected', reason, rejection, ...(metrics ? { metrics } : {}) });
  };

  const lease = await acquireLease(input.model);
  if (!lease.held) {
    admission = { admitted: false, runningWorkflowId: lease.holder };
    const refusal = {
      status: 'rejected',
      reason: `${input.model} is already being retrained by ${lease.holder}; one run per model at a time`,
      rejection: { kind: 'modelBusy', runningWorkflowId: lease.holder },
    } as const;
    const timings = end(refusal, REFUSED_STAGE);
    await events.flush();
    return { model: input.model, stages, ...refusal, ...timings };
  }
  admission = { admitted: true };
  events.emit('retrain.run.started', { input });

  try {
    const exported = await stage(
      'exportDataset',
      async () =>
        clock.add(
          'exportDataset',
          await cpu.exportDataset({
            model: input.model,
            workflowId,
            windowDays: input.windowDays,
            minRecords: input.minRecords,
          }),
        ),
      (out) =>
        out.status === 'ready' ? `${out.trainRows} train / ${out.holdoutRows} holdout rows` : out.reason,
    );
    if (exported.status === 'insufficient') return rejectLast(exported.reason, { kind: 'insufficientData' });
    kept.datasetKey = exported.datasetKey;

    const spec = clock.add('loadSpec', await cpu.loadSpec({ model: input.model }));
    const hyperparams = HyperparamsSchema.parse({ ...spec.hyperparams, ...input.hyperparams });
    const epochs = input.epochs ?? spec.epochs;
    progress.totalEpochs = epochs;
    board = trialBoard(planTrials(hyperparams, spec.search, input.trials));
    const searching = board.length > 1;
    if (searching) progress.trials = board;
    kept.checkpointPrefix = `${checkpointPrefix(input.model, workflowId)}/`;
    const { best, result: training } = await stage(
      'trainModel',
      () =>
        runTrials(
          board,
          async (entry) =>
            clock.add(
              'trainModel',
              await gpu.trainModel({
                model: input.model,
                workflowId,
                datasetKey: exported.datasetKey,
                epochs,
                hyperparams: entry.hyperparams,
                incremental: input.incremental,
                gateMetric: spec.gate.metric,
                ...(searching ? { trial: entry.trial } : {}),
              }),
            ),
          publishTraining,
        ),
      ({ best, result }) =>
        `${result.epochs} epochs on ${result.backend}, loss ${result.loss.toFixed(4)}` +
        (result.resumedFrom ? ` (resumed from ${result.resumedFrom})` : '') +
        (searching ? `; best of ${board.length} trials: #${best.trial}${failedNote(board)}` : ''),
    );

    const validation = await stage(
      'validateModel',
      async () =>
        clock.add(
          'validateModel',
          await cpu.validateModel({
            model: input.model,
            datasetKey: exported.datasetKey,
            candidateKey: training.candidateKey,
            gate: spec.gate,
          }),
        ),
      (out) => out.reason,
    );
    const metrics = validation.candidate;
    series.gateDecided(validation.passed);
    if (!validation.passed) {
      const { metric, decision, gate, candidate, baselines, production } = validation;
      return rejectLast(
        validation.reason,
        { kind: 'gate', metric, decision, gate, candidate, baselines, ...(production ? { production } : {}) },
        metrics,
      );
    }

    // From registration on the run is committed: a cancel then would leave production moved while
    // the run said "cancelled" (and free the model for another run's registration). It finishes instead.
    const registered = await CancellationScope.nonCancellable(async () => {
      const promoted = await stage(
        'registerModel',
        async () =>
          clock.add(
            'registerModel',
            await cpu.registerModel({
              model: input.model,
              workflowId,
              runId,
              datasetKey: exported.datasetKey,
              candidateKey: training.candidateKey,
              hyperparams: best.hyperparams,
              training,
              validation,
              ...(searching ? { trials: trialLog(board) } : {}),
            }),
          ),
        (out) => `version ${out.version} is production (previous ${out.previous ?? 'none'})`,
      );
      progress.version = promoted.version;

      await stage(
        'reloadServers',
        async () =>
          clock.add(
            'reloadServers',
            await cpu.reloadServers({
              model: input.model,
              version: promoted.version,
              previous: promoted.previous,
              targets: input.reloadTargets,
            }),
          ),
        (out) =>
          out.servers.length === 0
            ? 'no inference servers configured'
            : `${out.servers.length} server(s) serve ${promoted.version}`,
      );
      return promoted;
    });
    const lateCancel = CancellationScope.current().consideredCancelled
      ? { reason: `${cancelReason ?? TEMPORAL_CANCEL_REASON} after registration began: the run finished it` }
      : {};
    return finish({
      status: 'completed',
      version: registered.version,
      metrics,
      backend: training.backend,
      ...lateCancel,
    });
  } catch (err) {
    kept.epochsDone = progress.epoch;
    if (isCancellation(err)) {
      end({ status: 'cancelled', reason: cancelReason ?? TEMPORAL_CANCEL_REASON, kept });
      throw err;
    }
    const root = rootFailure(err);
    const failure: RunFailure = { stage: progress.stage === 'done' ? 'starting' : progress.stage, ...root };
    end(
      { status: 'failed', reason: `${failure.stage} failed: ${root.message}`, failure, kept },
      progress.stage,
    );
    // The run's own failure carries the root cause, not the SDK's "Activity task failed".
    throw ApplicationFailure.create({
      message: `${failure.stage} failed: ${root.message}`,
      type: root.type,
      details: root.details === undefined ? undefined : [root.details],
      nonRetryable: true,
      cause: err instanceof Error ? err : undefined,
    });
  } finally {
    await lease.release();
    await events.flush();
  }
}

function pctWithin(name: StageName, fraction: number): number {
  let before = 0;
  for (const [stageName, weight] of Object.entries(STAGE_WEIGHT)) {
    if (stageName === name) return Math.round(before + weight * Math.min(1, Math.max(0, fraction)));
    before += weight;
  }
  return before;
}

function record(
  name: StageName,
  status: StageRecord['status'],
  started: number,
  summary: string,
  activityMs: number | undefined,
): StageRecord {
  const ended = Date.now();
  return {
    name,
    status,
    startedAt: new Date(started).toISOString(),
    endedAt: new Date(ended).toISOString(),
    durationMs: ended - started,
    ...(activityMs === undefined ? {} : { activityMs }),
    summary,
  };
}

function failedNote(board: TrialProgress[]): string {
  const failed = board.filter((t) => t.status === 'failed').length;
  return failed === 0 ? '' : `, ${failed} failed`;
}
