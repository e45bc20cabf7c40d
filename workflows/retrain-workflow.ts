import {
  ActivityCancellationType,
  ApplicationFailure,
  CancellationScope,
  isCancellation,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { createActivities } from '../activities';
import { ErrorType } from '../common/errors';
import { formatIssues } from '../common/format-issues';
import { HyperparamsSchema } from '../common/model-spec';
import {
  cancelRetrainSignal,
  epochProgressSignal,
  progressQuery,
  RetrainStageAttribute,
} from '../common/messages';
import {
  RetrainInputSchema,
  type RetrainInput,
  type RetrainProgress,
  type RetrainResult,
  type StageName,
  type StageRecord,
  type TrialProgress,
} from '../common/retrain';
import { gpuTaskQueueFor } from '../common/task-queues';
import { planTrials } from '../common/trials';
import { failureMessage } from './failures';
import { renderProgress } from './progress-details';
import { applyEpoch, bestSoFar, runTrials, trainedFraction, trialBoard, trialLog } from './trials';

type Activities = ReturnType<typeof createActivities>;

const nonRetryableErrorTypes = Object.values(ErrorType);

const cpu = proxyActivities<Activities>({
  startToCloseTimeout: '10 minutes',
  retry: {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '30s',
    maximumAttempts: 5,
    nonRetryableErrorTypes,
  },
});

/** Share of the whole run each stage stands for, in percent. */
const STAGE_WEIGHT: Record<StageName, number> = {
  exportDataset: 10,
  trainModel: 65,
  validateModel: 10,
  registerModel: 5,
  reloadServers: 10,
};

/**
 * Export -> train -> validate -> register -> reload for one model.
 * Not enough data and a candidate that fails the gate end as `rejected`; a cancel signal or a
 * Temporal cancel ends as `cancelled` with nothing registered.
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

  setHandler(progressQuery, () => progress);
  // One signal per trial and epoch: the only history training adds besides its activities.
  setHandler(epochProgressSignal, (update) => {
    Object.assign(progress, update);
    applyEpoch(board, update);
    publishTraining();
  });
  const runScope = new CancellationScope();
  let cancelReason: string | undefined;
  setHandler(cancelRetrainSignal, ({ reason }) => {
    cancelReason = reason ?? 'cancelled by signal';
    runScope.cancel();
  });

  async function stage<T>(name: StageName, run: () => Promise<T>, summarize: (out: T) => string): Promise<T> {
    const started = Date.now();
    progress.stage = name;
    progress.overallPct = pctWithin(name, 0);
    upsertSearchAttributes([{ key: RetrainStageAttribute, value: name }]);
    publish();
    try {
      const out = await run();
      stages.push(record(name, 'completed', started, summarize(out)));
      return out;
    } catch (err) {
      stages.push(record(name, isCancellation(err) ? 'cancelled' : 'failed', started, failureMessage(err)));
      throw err;
    }
  }

  const finish = (result: Omit<RetrainResult, 'model' | 'stages'>): RetrainResult => {
    progress.stage = 'done';
    progress.status = result.status;
    progress.overallPct = 100;
    if (result.version) progress.version = result.version;
    upsertSearchAttributes([{ key: RetrainStageAttribute, value: result.status }]);
    publish();
    return { model: input.model, stages, ...result };
  };

  const rejectLast = (reason: string): RetrainResult => {
    const last = stages[stages.length - 1];
    if (last) last.status = 'rejected';
    return finish({ status: 'rejected', reason });
  };

  try {
    return await runScope.run(async () => {
      const exported = await stage(
        'exportDataset',
        () =>
          cpu.exportDataset({
            model: input.model,
            workflowId,
            windowDays: input.windowDays,
            minRecords: input.minRecords,
          }),
        (out) =>
          out.status === 'ready' ? `${out.trainRows} train / ${out.holdoutRows} holdout rows` : out.reason,
      );
      if (exported.status === 'insufficient') return rejectLast(exported.reason);

      const spec = await cpu.loadSpec({ model: input.model });
      const hyperparams = HyperparamsSchema.parse({ ...spec.hyperparams, ...input.hyperparams });
      const epochs = input.epochs ?? spec.epochs;
      progress.totalEpochs = epochs;
      board = trialBoard(planTrials(hyperparams, spec.search, input.trials));
      const searching = board.length > 1;
      if (searching) progress.trials = board;
      const { best, result: training } = await stage(
        'trainModel',
        () =>
          runTrials(
            board,
            (entry) =>
              gpu.trainModel({
                model: input.model,
                workflowId,
                datasetKey: exported.datasetKey,
                epochs,
                hyperparams: entry.hyperparams,
                incremental: input.incremental,
                ...(searching ? { trial: entry.trial } : {}),
              }),
            publishTraining,
          ),
        ({ best, result }) =>
          `${result.epochs} epochs on ${result.backend}, loss ${result.loss.toFixed(4)}` +
          (result.resumedFrom ? ` (resumed from ${result.resumedFrom})` : '') +
          (searching ? `; best of ${board.length} trials: #${best.trial}${failedNote(board)}` : ''),
      );

      const validation = await stage(
        'validateModel',
        () =>
          cpu.validateModel({
            model: input.model,
            datasetKey: exported.datasetKey,
            candidateKey: training.candidateKey,
            gate: spec.gate,
          }),
        (out) => out.reason,
      );
      const metrics = validation.candidate;
      if (!validation.passed) return rejectLast(validation.reason);

      const registered = await stage(
        'registerModel',
        () =>
          cpu.registerModel({
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
        (out) => `version ${out.version} is production (previous ${out.previous ?? 'none'})`,
      );
      progress.version = registered.version;

      await stage(
        'reloadServers',
        () =>
          cpu.reloadServers({
            model: input.model,
            version: registered.version,
            previous: registered.previous,
            targets: input.reloadTargets,
          }),
        (out) =>
          out.servers.length === 0
            ? 'no inference servers configured'
            : `${out.servers.length} server(s) serve ${registered.version}`,
      );
      return finish({ status: 'completed', version: registered.version, metrics, backend: training.backend });
    });
  } catch (err) {
    if (isCancellation(err)) {
      return finish({ status: 'cancelled', reason: cancelReason ?? 'cancelled through Temporal' });
    }
    throw err;
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
): StageRecord {
  const ended = Date.now();
  return {
    name,
    status,
    startedAt: new Date(started).toISOString(),
    endedAt: new Date(ended).toISOString(),
    durationMs: ended - started,
    summary,
  };
}

function failedNote(board: TrialProgress[]): string {
  const failed = board.filter((t) => t.status === 'failed').length;
  return failed === 0 ? '' : `, ${failed} failed`;
}
