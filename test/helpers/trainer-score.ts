import type { Client } from '@temporalio/client';
import { expect } from 'vitest';
import type { TrainInput, TrainResult } from '../../common/stages';
import { historyEvents, outcomes, scheduled } from './history';

/**
 * Asserts that the run's (first) trainModel reported as holdoutScore the figure validation gave its
 * candidate under `metric`: a python trainer's native outputs against onnxruntime's, equal to float32
 * rounding.
 */
export async function expectScoredAsValidated(
  client: Client,
  workflowId: string,
  metric: string,
  validated: number | undefined,
): Promise<void> {
  const events = await historyEvents(client.workflow.getHandle(workflowId));
  const [training] = scheduled<TrainInput>(events, 'trainModel');
  const trained = outcomes<TrainResult>(events, training?.eventId ?? -1)[0]?.result;
  expect(trained?.holdoutScore?.metric).toBe(metric);
  const value = trained?.holdoutScore?.value ?? Number.NaN;
  expect(Math.abs(value - (validated ?? Number.NaN))).toBeLessThanOrEqual(1e-5 * Math.abs(validated ?? 0));
}
