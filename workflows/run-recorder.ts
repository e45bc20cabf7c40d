import {
  ApplicationFailure,
  isCancellation,
  log,
  setCurrentDetails,
  upsertMemo,
  upsertSearchAttributes,
  type TemporalFailure,
} from '@temporalio/workflow';
import { RetrainStageAttribute, type EpochProgress } from '../common/messages';
import type { QueuePlace } from '../common/admission';
import {
  OUTCOME_MEMO,
  QUEUE_MEMO,
  type KeptArtefacts,
  type Rejection,
  type RetrainProgress,
  type RetrainRequest,
  type RetrainResult,
  type RunOutcome,
  type StageName,
  type StageRecord,
  type TrialProgress,
} from '../common/retrain';
import type { Timed } from '../common/stages';
import { eventEmitter, type EventEmitter } from './event-emitter';
import { rethrowUnlessFailure, rootFailure } from './failures';
import { renderProgress } from './progress-details';
import { runMetrics, type RunMetrics } from './run-metrics';
import { runClock, type RunClock } from './run-timings';
import { applyEpoch, bestSoFar, trainedFraction } from './trials';

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

/** RetrainStage of a run waiting in its model's queue. */
const QUEUED_STAGE = 'queued';

/** RetrainStage of a run refused because another run holds the model. */
const REFUSED_STAGE = 'refused';

/** How a run ended, less what the recorder adds itself. */
type Ending = Omit<RunOutcome, 'model' | 'stages' | 'overallPct' | 'timings'>;

/** What a completed or rejected run returns, less what the recorder adds itself. */
type Returned = Omit<RetrainResult, 'model' | 'stages' | 'timings'>;

/** Hands an activity's result back once it arrives, its own time counted for the stage it ran in. */
export type Timer = <T>(result: Promise<Timed<T>>) => Promise<Timed<T>>;

/**
 * Everything one run tells its readers, kept in one place: progress (progressQuery, lossCurveQuery),
 * stage records, the Web UI's current details, the RetrainStage search attribute, the `outcome` memo,
 * run metrics, log lines and lifecycle events. Each ending (complete, reject, refuse, cancelled,
 * failed) goes through one path, so every surface tells the same story. Use from workflow code.
 */
export class RunRecorder {
  /** What progressQuery answers. */
  readonly progress: RetrainProgress;
  /** Every epoch report of the run (each trial's), oldest first: what lossCurveQuery answers. */
  readonly lossCurve: EpochProgress[] = [];
  private readonly model: string;
  private readonly stages: StageRecord[] = [];
  private readonly kept: KeptArtefacts = {};
  private board: TrialProgress[] = [];
  private readonly series: RunMetrics;
  private readonly events: EventEmitter;
  private readonly clock: RunClock;

  /** Starts recording the run of `input`: counts and logs its start, and puts its input in the memo. */
  constructor(private readonly input: RetrainRequest) {
    this.model = input.model;
    this.series = runMetrics(input.model);
    this.events = eventEmitter(input.model, input.labels);
    this.clock = runClock();
    this.progress = {
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
    this.series.started();
    log.info('run started', { model: input.model });
    // Readers of a run's memo (lists, the daemon API) see its input without fetching its history.
    upsertMemo({ input });
  }

  /** The run waits in its model's queue at `place`: every reader sees it `queued` there. */
  queued(place: QueuePlace): void {
    if (this.progress.status !== 'queued')
      upsertSearchAttributes([{ key: RetrainStageAttribute, value: QUEUED_STAGE }]);
    this.progress.status = 'queued';
    this.progress.queue = place;
    upsertMemo({ [QUEUE_MEMO]: place });
    this.publish();
  }

  /** The run holds its model's lease: its stages begin. */
  admitted(): void {
    if (this.progress.status === 'queued') {
      this.progress.status = 'running';
      delete this.progress.queue;
      upsertMemo({ [QUEUE_MEMO]: null });
      upsertSearchAttributes([{ key: RetrainStageAttribute, value: 'starting' }]);
      this.publish();
    }
    this.events.emit('retrain.run.started', { input: this.input });
  }

  /**
   * Runs stage `name`: `call` runs its activities, passing each result through the timer it is given;
   * `summarize` says in a line what the stage produced. A failure or cancel is recorded against the
   * stage and rethrown; a bug is rethrown untouched, recording nothing.
   */
  async stage<T>(
    name: StageName,
    call: (timed: Timer) => Promise<T>,
    summarize: (out: T) => string,
  ): Promise<T> {
    const started = Date.now();
    const activityMs = this.clock.mark();
    this.progress.stage = name;
    this.progress.overallPct = pctWithin(name, 0);
    upsertSearchAttributes([{ key: RetrainStageAttribute, value: name }]);
    this.publish();
    log.info('stage started', { stage: name, model: this.model });
    try {
      const out = await call(async (result) => this.clock.add(name, await result));
      this.stageEnded(record(name, 'completed', started, summarize(out), activityMs()));
      return out;
    } catch (err) {
      rethrowUnlessFailure(err);
      // A failed attempt reports no time of its own.
      const status = isCancellation(err) ? 'cancelled' : 'failed';
      this.stageEnded(record(name, status, started, rootFailure(err).message, undefined));
      throw err;
    }
  }

  /** `result` of an activity run outside the stages, its own time counted under `activity`. */
  async timed<T>(activity: string, result: Promise<Timed<T>>): Promise<Timed<T>> {
    return this.clock.add(activity, await result);
  }

  /** Notes what the run leaves in the store, for the outcome of a run that stops early. */
  keep(artefacts: KeptArtefacts): void {
    Object.assign(this.kept, artefacts);
  }

  /** The trials the training stage runs (one without a search), `epochs` each. */
  training(board: TrialProgress[], epochs: number): void {
    this.board = board;
    this.progress.totalEpochs = epochs;
    if (board.length > 1) this.progress.trials = board;
    this.trialsChanged();
  }

  /** Applies one epoch report of a training (epochProgressSignal). */
  epoch(update: EpochProgress): void {
    if (this.lossCurve.length < MAX_CURVE_POINTS) this.lossCurve.push(update);
    Object.assign(this.progress, update);
    applyEpoch(this.board, update);
    this.trialsChanged();
  }

  /** Publishes the training's progress after a trial advanced or ended. */
  trialsChanged(): void {
    this.progress.overallPct = pctWithin(
      'trainModel',
      trainedFraction(this.board, this.progress.totalEpochs),
    );
    if (this.board.length > 1) this.progress.best = bestSoFar(this.board);
    this.publish();
  }

  /** The validation gate decided on the candidate. */
  gateDecided(passed: boolean): void {
    this.series.gateDecided(passed);
  }

  /** Registration made `version` production: progress names it from now on. */
  registered(version: string): void {
    this.progress.version = version;
  }

  /** The run completed: its version is production. */
  complete(result: Omit<Returned, 'status' | 'rejection'>): RetrainResult {
    return this.returned({ status: 'completed', ...result });
  }

  /** The last stage rejected the run (too little data, the gate): a result, not a failure. */
  reject(reason: string, rejection: Rejection, metrics?: Record<string, number>): RetrainResult {
    const last = this.stages[this.stages.length - 1];
    if (last) last.status = 'rejected';
    return this.returned({ status: 'rejected', reason, rejection, ...(metrics ? { metrics } : {}) });
  }

  /** Another run (`holder`) holds the model's lease: this one is refused before any stage. */
  refuse(holder: string): RetrainResult {
    return this.returned(
      {
        status: 'rejected',
        reason: `${this.model} is already being retrained by ${holder}; one run per model at a time`,
        rejection: { kind: 'modelBusy', runningWorkflowId: holder },
      },
      REFUSED_STAGE,
    );
  }

  /** Why a stop after the current trial was asked for (cancelAfterTrialSignal), once it was. */
  stopReason: string | undefined;

  /** A stop after the current trial was asked for: a cancel that follows is recorded with `reason`. */
  stopRequested(reason: string): void {
    this.stopReason ??= reason;
  }

  /** The run was cancelled, for `reason`: what it kept is recorded; the caller rethrows the cancel. */
  cancelled(reason: string): void {
    this.end({ status: 'cancelled', reason, kept: { ...this.kept, epochsDone: this.progress.epoch } });
  }

  /**
   * The run failed with `err`: records its root cause, and returns the failure the run ends with,
   * carrying the root cause's message, type and details rather than the SDK's "Activity task failed".
   */
  failed(err: TemporalFailure): ApplicationFailure {
    const root = rootFailure(err);
    const stage = this.progress.stage === 'done' ? 'starting' : this.progress.stage;
    const reason = `${stage} failed: ${root.message}`;
    const kept = { ...this.kept, epochsDone: this.progress.epoch };
    this.end({ status: 'failed', reason, failure: { stage, ...root }, kept }, stage);
    return ApplicationFailure.create({
      message: reason,
      type: root.type,
      details: root.details === undefined ? undefined : [root.details],
      nonRetryable: true,
      cause: err,
    });
  }

  /** Resolves once the event relay has every event recorded so far; await before the run ends. */
  flush(): Promise<void> {
    return this.events.flush();
  }

  private returned(result: Returned, stageValue?: string): RetrainResult {
    const timings = this.end(result, stageValue);
    return { model: this.model, stages: this.stages, ...result, ...timings };
  }

  /** Records how the run ended everywhere a reader looks: progress, search attribute, memo, Web UI. */
  private end(outcome: Ending, stageValue: string = outcome.status): Pick<RunOutcome, 'timings'> {
    const { progress } = this;
    // A cancelled or failed run keeps how far it got (in training: its trials' epochs): the dashboard shows where it stopped.
    if (progress.stage === 'trainModel' && (outcome.status === 'cancelled' || outcome.status === 'failed'))
      progress.overallPct = pctWithin('trainModel', trainedFraction(this.board, progress.totalEpochs, true));
    progress.stage = 'done';
    progress.status = outcome.status;
    if (outcome.status === 'completed' || outcome.status === 'rejected') progress.overallPct = 100;
    if (outcome.version) progress.version = outcome.version;
    if (outcome.reason) progress.reason = outcome.reason;
    if (outcome.failure) progress.failure = outcome.failure;
    upsertSearchAttributes([{ key: RetrainStageAttribute, value: stageValue }]);
    const timings = this.clock.timings();
    const memo: RunOutcome = {
      model: this.model,
      stages: this.stages,
      overallPct: progress.overallPct,
      ...outcome,
      ...(timings ? { timings } : {}),
    };
    upsertMemo({ [OUTCOME_MEMO]: memo });
    this.publish();
    this.series.ended(outcome.status);
    this.events.emit(`retrain.run.${outcome.status}`, { ...memo });
    const fields = {
      model: this.model,
      outcome: outcome.status,
      ...(outcome.version ? { version: outcome.version } : {}),
      ...(outcome.reason ? { reason: outcome.reason } : {}),
    };
    if (outcome.status === 'failed') log.error('run ended', fields);
    else log.info('run ended', fields);
    return timings ? { timings } : {};
  }

  private stageEnded(done: StageRecord): void {
    this.stages.push(done);
    const { name, status, durationMs } = done;
    const fields = { stage: name, model: this.model, status, durationMs };
    if (status === 'completed') log.info('stage ended', fields);
    else log.warn('stage ended', { ...fields, reason: done.summary });
    this.series.stageEnded(name, status, durationMs / 1000);
    this.events.emit('retrain.stage.ended', { ...done });
    if (name === 'reloadServers' && status !== 'cancelled')
      this.series.rolledOut(status === 'completed' ? 'success' : 'failure');
  }

  private publish(): void {
    this.progress.updatedAt = new Date().toISOString();
    setCurrentDetails(renderProgress(this.model, this.progress, this.stages));
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
