import { describe, expect, it } from 'vitest';
import { renderLine, type LiveStatus } from '../../clients/progress';
import { HyperparamsSchema } from '../../common/model-spec';
import type { RetrainProgress, TrialProgress } from '../../common/retrain';
import { renderProgress } from '../../workflows/progress-details';

const hp = HyperparamsSchema.parse({});
const trials: TrialProgress[] = [
  { trial: 1, hyperparams: hp, status: 'completed', epoch: 10, loss: 0.5, valLoss: 0.6012 },
  {
    trial: 2,
    hyperparams: { ...hp, optimizer: 'sgd', learningRate: 1 },
    status: 'failed',
    epoch: 0,
    loss: null,
    valLoss: null,
    error: 'Training diverged',
  },
  { trial: 3, hyperparams: hp, status: 'running', epoch: 3, loss: 0.7, valLoss: 0.71 },
  { trial: 4, hyperparams: hp, status: 'queued', epoch: 0, loss: null, valLoss: null },
];
const progress: RetrainProgress = {
  stage: 'trainModel',
  overallPct: 40,
  epoch: 3,
  totalEpochs: 10,
  loss: 0.7,
  valLoss: 0.71,
  samplesPerSec: 1000,
  trial: 3,
  trials,
  best: { trial: 1, score: 0.6012 },
  status: 'running',
  updatedAt: '2026-11-23T14:00:00.000Z',
};

describe('progress of a multi-trial run', () => {
  it('retrain status shows every trial on one line, live batches from heartbeats, and the best so far', () => {
    const status: LiveStatus = {
      status: 'running',
      progress,
      training: null,
      trainings: [
        {
          epoch: 3,
          totalEpochs: 10,
          batch: 12,
          batches: 40,
          pct: 33,
          loss: 0.7,
          valLoss: 0.71,
          samplesPerSec: 1000,
          backend: 'cpu',
          trial: 3,
          checkpoint: null,
        },
      ],
    };
    const line = renderLine(status);
    expect(line).not.toContain('\n');
    expect(line).toContain(
      'trials 2/4 done: #1 done val 0.6012, #2 failed, #3 4/10 b12/40 val 0.7100, #4 queued',
    );
    expect(line).toContain('best #1 0.6012');
  });

  it('the Web UI details show a table row per trial and the best so far', () => {
    const markdown = renderProgress('flight-delay', progress, []);
    expect(markdown).toContain('| trial | status | epoch | loss | val loss | hyperparams |');
    expect(markdown).toContain(
      '| 2 | failed | 0 of 10 | n/a | n/a | mlp sgd lr 1 units 32 batch 256 dropout 0 |',
    );
    expect(markdown).toContain('| 3 | running | 3 of 10 | 0.7000 | 0.7100 |');
    expect(markdown).toContain('best so far: trial 1 (0.6012)');
  });
});
