import fs from 'node:fs';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { describe, expect, it } from 'vitest';

const HISTORIES = path.join(__dirname, 'histories');
const WORKFLOWS = path.join(__dirname, '..', '..', 'workflows');

/** One file per kind of run, recorded by `npm run record-histories` (record-histories.ts). */
const KINDS = [
  'trials-completed.json',
  'trials-cancelled.json',
  'rejected-insufficient-data.json',
  'rejected-gate.json',
  'rejected-model-busy.json',
  'resumed-after-worker-shutdown.json',
  'reload-failed-rolled-back.json',
];

type History = temporal.api.history.v1.History;

/** Histories recorded by record-histories.ts (protobufjs JSON of the History message). */
function load(file: string): History {
  return temporal.api.history.v1.History.fromObject(
    JSON.parse(fs.readFileSync(path.join(HISTORIES, file), 'utf8')),
  );
}

const files = fs.readdirSync(HISTORIES).filter((f) => f.endsWith('.json'));

/**
 * The workflow id a history was recorded under, from its start event: a replay must run under it,
 * as the ids of the run's children (its event relay) are made from it.
 */
function workflowIdOf(history: History, file: string): string {
  const id = history.events[0]?.workflowExecutionStartedEventAttributes?.workflowId;
  if (!id)
    throw new Error(`${file} does not begin with a WorkflowExecutionStarted event naming its workflow id`);
  return id;
}

function scheduledTypes(history: History): string[] {
  return history.events.flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? []);
}

describe('replaying recorded retrainWorkflow histories', () => {
  it('has a recorded history of every kind of run', () => {
    expect(files).toEqual(expect.arrayContaining(KINDS));
    const trainings = scheduledTypes(load('trials-completed.json')).filter((t) => t === 'trainModel');
    expect(trainings.length).toBeGreaterThan(1);
  });

  it('replays every recorded history with the current workflow code without a determinism violation', async () => {
    const failures: string[] = [];
    const histories = files.map((file) => {
      const history = load(file);
      return { file, workflowId: workflowIdOf(history, file), history };
    });
    const replays = Worker.runReplayHistories({ workflowsPath: WORKFLOWS }, histories);
    let replayed = 0;
    for await (const { workflowId, error } of replays) {
      replayed++;
      // Each failure names its history's file.
      const file = histories.find((h) => h.workflowId === workflowId)?.file ?? workflowId;
      if (error) failures.push(`${file}: ${error.name}: ${error.message}`);
    }
    expect(failures, failures.join('\n')).toEqual([]);
    expect(replayed).toBe(files.length);
  });

  it('fails when the workflow code no longer issues the recorded commands', async () => {
    const history = load('trials-completed.json');
    // As if the workflow had scheduled a different activity where it recorded the first training.
    const training = history.events.find(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'trainModel',
    );
    const attributes = training?.activityTaskScheduledEventAttributes;
    if (!attributes?.activityType) throw new Error('no trainModel in the recorded history');
    attributes.activityType.name = 'validateModel';
    const replay = Worker.runReplayHistory(
      { workflowsPath: WORKFLOWS },
      history,
      workflowIdOf(history, 'trials-completed.json'),
    );
    await expect(replay).rejects.toBeInstanceOf(DeterminismViolationError);
    await expect(replay).rejects.toThrow(/Activity type of scheduled event 'validateModel'/);
  });
});
