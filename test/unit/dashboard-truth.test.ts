import { describe, expect, it } from 'vitest';
import type { ModelMetadata } from '../../common/artefacts';
import type { RunOutcome } from '../../common/retrain';
import { rolledBackVersions } from '../../control/dashboard-models';
import { endedFigures } from '../../control/run-figures';
import type { RunSummary } from '../../runs';
import { cpuLoadSpec, metadataFor } from '../helpers/models';

const spec = cpuLoadSpec('truth');
const version = (v: string, production?: string): ModelMetadata =>
  metadataFor(spec, v, production ? { production: { version: production, metrics: {} } } : {});

describe('rolledBackVersions', () => {
  it('marks the versions after production', () => {
    const metas = [version('v1'), version('v2', 'v1'), version('v3', 'v2')];
    expect([...rolledBackVersions(metas, 'v1')]).toEqual(['v2', 'v3']);
    expect([...rolledBackVersions(metas, 'v3')]).toEqual([]);
  });

  it('marks a version skipped by a later one that was validated against an older production', () => {
    // v2 was rolled back to v1; v3 then trained against v1 and is production.
    const metas = [version('v1'), version('v2', 'v1'), version('v3', 'v1')];
    expect([...rolledBackVersions(metas, 'v3')]).toEqual(['v2']);
  });

  it('does not mark production, even a version rolled back once and made production again', () => {
    const metas = [version('v1'), version('v2', 'v1'), version('v3', 'v1')];
    expect([...rolledBackVersions(metas, 'v2')]).toEqual(['v3']);
  });
});

const summary = (over: Partial<RunSummary>): RunSummary => ({
  workflowId: 'retrain-truth-1',
  runId: 'r1',
  status: 'completed',
  temporalStatus: 'COMPLETED',
  model: 'truth',
  stage: 'completed',
  startTime: '2026-01-01T00:00:00.000Z',
  closeTime: '2026-01-01T00:10:00.000Z',
  input: { model: 'truth', epochs: 10 } as RunSummary['input'],
  outcome: null,
  queue: null,
  ...over,
});
const stage = (name: string, status: string) =>
  ({ name, status, startedAt: '', endedAt: '', durationMs: 1 }) as RunOutcome['stages'][number];

describe('endedFigures', () => {
  it('a failed run: the stage it failed in, the epoch it reached and its real percentage', () => {
    const outcome: RunOutcome = {
      status: 'failed',
      model: 'truth',
      overallPct: 36,
      failure: { stage: 'trainModel', type: 'TrainingDiverged', message: 'loss is NaN' },
      kept: { epochsDone: 4 },
      stages: [stage('exportDataset', 'completed'), stage('trainModel', 'failed')],
    };
    expect(endedFigures(summary({ status: 'failed', temporalStatus: 'FAILED', outcome }), undefined)).toEqual(
      {
        stage: 'trainModel',
        overallPct: 36,
        stopped: true,
        epoch: 4,
        totalEpochs: 10,
        loss: null,
        best: null,
      },
    );
  });

  it('a cancelled run: the stage whose record was cancelled; 100 % (recorded before the fix) is unknown', () => {
    const outcome: RunOutcome = {
      status: 'cancelled',
      model: 'truth',
      overallPct: 100,
      kept: { epochsDone: 2 },
      stages: [stage('exportDataset', 'completed'), stage('trainModel', 'cancelled')],
    };
    const run = summary({ status: 'cancelled', temporalStatus: 'CANCELLED', input: null, outcome });
    expect(endedFigures(run, undefined, 20)).toMatchObject({
      stage: 'trainModel',
      overallPct: null,
      stopped: true,
      epoch: 2,
      totalEpochs: 20,
    });
  });

  it('a completed run: its version’s final epoch, loss and registered trial', () => {
    const meta: ModelMetadata = {
      ...version('v4'),
      epochs: 8,
      hyperparams: { ...version('v4').hyperparams, learningRate: 0.01 },
      training: { loss: 0.125, valLoss: 0.2, samplesPerSec: 100, warmStart: 'none' },
    };
    meta.trials = [
      {
        trial: 1,
        hyperparams: { ...meta.hyperparams, learningRate: 0.1 },
        status: 'completed',
        loss: 1,
        valLoss: 1,
        score: 3,
      },
      { trial: 2, hyperparams: meta.hyperparams, status: 'completed', loss: 0.125, valLoss: 0.2, score: 1.5 },
    ];
    const outcome: RunOutcome = {
      status: 'completed',
      model: 'truth',
      version: 'v4',
      overallPct: 100,
      stages: [],
    };
    expect(endedFigures(summary({ outcome }), meta)).toEqual({
      stage: 'done',
      overallPct: 100,
      stopped: false,
      epoch: 8,
      totalEpochs: 10,
      loss: 0.125,
      best: { trial: 2, score: 1.5 },
    });
  });

  it('a terminated run (no memo): the stage it was in, how far unknown', () => {
    const run = summary({ status: 'terminated', temporalStatus: 'TERMINATED', stage: 'validateModel' });
    expect(endedFigures(run, undefined)).toMatchObject({
      stage: 'validateModel',
      overallPct: null,
      stopped: true,
    });
  });
});
