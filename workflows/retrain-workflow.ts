import {
  CancellationScope,
  condition,
  isCancellation,
  patched,
  setHandler,
  TemporalFailure,
  workflowInfo,
} from '@temporalio/workflow';
import { checkpointPrefix } from '../common/artefacts';
import type { ModelSpec } from '../common/model-spec';
import type { QueuePlace } from '../common/admission';
import { runPriority } from '../common/task-priority';
import {
  admissionUpdate,
  cancelRetrainSignal,
  epochProgressSignal,
  lossCurveQuery,
  progressQuery,
} from '../common/messages';
import {
  RetrainInputSchema,
  type Admission,
  type RetrainInput,
  type RetrainRequest,
  type RetrainResult,
} from '../common/retrain';
import type { RegisterResult, ValidateResult } from '../common/stages';
import { cpuActivities } from './cpu-activities';
import { invalidInput, rethrowUnlessFailure } from './failures';
import { takeFleetSlot, type FleetSlot } from './fleet-slot';
import type { LeaseOutcome } from './lease';
import { admitRun } from './run-admission';
import { RunRecorder } from './run-recorder';
import { trainCandidate, trainingSummary, type Training } from './train-candidate';
import { trialLog } from './trials';

const cpu = cpuActivities();

/** Patch: the spec (and whether runs are capped) is read before admission: its `admission` and `priority` decide it. */
const SPEC_BEFORE_ADMISSION = 'spec-before-admission';

/** Default reason of a cancel that came through Temporal rather than {@link cancelRetrainSignal}. */
const TEMPORAL_CANCEL_REASON = 'cancelled through Temporal';

/**
 * Export -> train -> validate -> register -> reload for one model, one run per model at a time (a
 * lease child, see ./lease). Not enough data, a candidate that fails the gate and a model another run
 * holds end Completed with a `rejected` result; a cancel (signal or Temporal's) ends Canceled with
 * nothing registered; a failure ends Failed with its root cause. Every ending leaves the same
 * `RunOutcome` in the `outcome` memo and in the Web UI's current details. A bug (an error that
 * is no failure) fails the workflow task instead: Temporal retries it, and a fixed deploy continues
 * the run where it was.
 */
export async function retrainWorkflow(rawInput: RetrainInput): Promise<RetrainResult> {
  const parsed = RetrainInputSchema.safeParse(rawInput);
  if (!parsed.success) throw invalidInput('retrain input', parsed.error);
  const input = parsed.data;
  const run = new RunRecorder(input);
  setHandler(progressQuery, () => run.progress);
  setHandler(lossCurveQuery, () => run.lossCurve);
  // One signal per trial and epoch: the only history training adds besides its activities.
  setHandler(epochProgressSignal, (update) => run.epoch(update));
  let admission: Admission | undefined;
  setHandler(admissionUpdate, async () => {
    await condition(() => admission !== undefined);
    return admission as Admission;
  });
  const cancelReason = handleCancelSignal();

  let lease: LeaseOutcome | undefined;
  let slot: FleetSlot | undefined;
  let ending: RetrainResult | TemporalFailure;
  try {
    // Runs recorded before queued admission took the lease first and read the spec after the export.
    const settings = patched(SPEC_BEFORE_ADMISSION)
      ? await run.timed('loadRunSettings', cpu.loadRunSettings({ model: input.model }))
      : undefined;
    const spec = settings?.spec;
    const queued = (place: QueuePlace) => {
      admission ??= { admitted: 'queued', place };
      run.queued(place);
    };
    lease = await admitRun(
      input.model,
      input.admission ?? spec?.admission ?? 'refuse',
      runPriority(input, spec),
      queued,
    );
    if (!lease.held) {
      admission = { admitted: false, runningWorkflowId: lease.holder };
      ending = run.refuse(lease.holder);
    } else {
      // Holding the model, so a run takes a slot only when it can train, and at most one.
      if (settings?.fleetCapped) slot = await takeFleetSlot(runPriority(input, spec), queued);
      admission = { admitted: true };
      run.admitted();
      ending = await fiveStages(input, spec, run, cancelReason);
    }
  } catch (err) {
    // Not in a `finally`: a bug must leave at once, before any command of an ending is issued.
    rethrowUnlessFailure(err);
    if (isCancellation(err)) {
      run.cancelled(cancelReason(run.stopReason));
      ending = err;
    } else ending = run.failed(err);
  }
  await slot?.release();
  if (lease?.held) await lease.release();
  await run.flush();
  if (ending instanceof TemporalFailure) throw ending;
  return ending;
}

/**
 * The five stages of an admitted run, each recorded by `run`: export, train, validate, then register
 * and reload (see {@link promote}). A rejection returns; a failure or cancel throws.
 */
async function fiveStages(
  input: RetrainRequest,
  specRead: ModelSpec | undefined,
  run: RunRecorder,
  cancelReason: (fallback?: string) => string,
): Promise<RetrainResult> {
  const { model } = input;
  const { workflowId } = workflowInfo();
  const exported = await run.stage(
    'exportDataset',
    (timed) =>
      timed(
        (specRead ? stagesOf(input, specRead) : cpu).exportDataset({
          model,
          workflowId,
          windowDays: input.windowDays,
          minRecords: input.minRecords,
          ...(input.trainShare === undefined ? {} : { trainShare: input.trainShare }),
        }),
      ),
    (out) =>
      out.status === 'ready' ? `${out.trainRows} train / ${out.holdoutRows} holdout rows` : out.reason,
  );
  if (exported.status === 'insufficient') return run.reject(exported.reason, { kind: 'insufficientData' });
  const { datasetKey } = exported;
  run.keep({ datasetKey });

  const spec = specRead ?? (await loadSpec(model, run));
  const stages = stagesOf(input, spec);
  run.keep({ checkpointPrefix: `${checkpointPrefix(model, workflowId)}/` });
  const training = await run.stage(
    'trainModel',
    (timed) => trainCandidate(run, timed, { input, spec, datasetKey }),
    trainingSummary,
  );

  const candidateKey = training.result.candidateKey;
  const validation = await run.stage(
    'validateModel',
    (timed) => timed(stages.validateModel({ model, datasetKey, candidateKey, gate: spec.gate })),
    (out) => out.reason,
  );
  run.gateDecided(validation.passed);
  if (!validation.passed) {
    const { reason, metric, decision, gate, candidate, baselines, production } = validation;
    const rejection = { kind: 'gate', metric, decision, gate, candidate, baselines } as const;
    return run.reject(reason, { ...rejection, ...(production ? { production } : {}) }, candidate);
  }

  const { version } = await promote(input, run, stages, { datasetKey, training, validation });
  const lateCancel = CancellationScope.current().consideredCancelled
    ? { reason: `${cancelReason()} after registration began: the run finished it` }
    : {};
  return run.complete({
    version,
    metrics: validation.candidate,
    backend: training.result.backend,
    warmStart: training.result.warmStart,
    ...lateCancel,
  });
}

/**
 * Registers the candidate and reloads the servers to it. From registration on the run is committed:
 * a cancel then would leave production moved while the run said "cancelled" (and free the model for
 * another run's registration), so both stages run outside cancellation and finish.
 */
async function promote(
  input: RetrainRequest,
  run: RunRecorder,
  stages: ReturnType<typeof cpuActivities>,
  {
    datasetKey,
    training,
    validation,
  }: { datasetKey: string; training: Training; validation: ValidateResult },
): Promise<RegisterResult> {
  const { model } = input;
  const { workflowId, runId } = workflowInfo();
  const { best, result, board } = training;
  return CancellationScope.nonCancellable(async () => {
    const promoted = await run.stage(
      'registerModel',
      (timed) =>
        timed(
          stages.registerModel({
            model,
            workflowId,
            runId,
            datasetKey,
            candidateKey: result.candidateKey,
            hyperparams: best.hyperparams,
            training: result,
            validation,
            ...(board.length > 1 ? { trials: trialLog(board) } : {}),
          }),
        ),
      (out) => `version ${out.version} is production (previous ${out.previous ?? 'none'})`,
    );
    run.registered(promoted.version);
    await run.stage(
      'reloadServers',
      (timed) =>
        timed(
          stages.reloadServers({
            model,
            version: promoted.version,
            previous: promoted.previous,
            targets: input.reloadTargets,
          }),
        ),
      (out) =>
        (out.servers.length === 0
          ? 'no inference servers configured'
          : `${out.servers.length} server(s) serve ${promoted.version}`) +
        // Announced servers it could not reach: they follow the alias by their poll.
        (out.skipped?.length
          ? `; ${out.skipped.length} unreachable skipped (${out.skipped.map((s) => s.url).join(', ')})`
          : ''),
    );
    return promoted;
  });
}

/** The cpu activities of a run's stages: at its task priority, its model their fairness key. */
function stagesOf(input: RetrainRequest, spec: ModelSpec) {
  return cpuActivities({ model: input.model, priority: runPriority(input, spec) });
}

/** The run's spec, its read timed as the run's. */
async function loadSpec(model: string, run: RunRecorder): Promise<ModelSpec> {
  return run.timed('loadSpec', cpu.loadSpec({ model }));
}

/**
 * Handles {@link cancelRetrainSignal}: the run asks Temporal to cancel it, so it ends Canceled like
 * after Temporal's own cancel. Returns a reader of the reason to record for a cancel, either way:
 * the signal's, else `fallback` (a stop after the current trial's), else Temporal's.
 */
function handleCancelSignal(): (fallback?: string) => string {
  const { workflowId, runId } = workflowInfo();
  let reason: string | undefined;
  setHandler(cancelRetrainSignal, async (args) => {
    if (reason !== undefined) return;
    reason = args.reason ?? 'cancelled by signal';
    await CancellationScope.nonCancellable(() => cpu.requestCancellation({ workflowId, runId }));
  });
  return (fallback) => reason ?? fallback ?? TEMPORAL_CANCEL_REASON;
}
