import { DefaultLogger, type LogEntry, Runtime } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { retrainWorkflow } from '../../workflows';
import { createPipeline, type Pipeline } from '../helpers/pipeline';

describe('worker logs', () => {
  const entries: LogEntry[] = [];
  let pipeline: Pipeline;
  beforeAll(async () => {
    // Each test file is its own process (forks pool), so this runtime serves only this file.
    Runtime.install({ logger: new DefaultLogger('DEBUG', (entry) => entries.push(entry)) });
    pipeline = await createPipeline();
  });
  afterAll(async () => pipeline?.cleanup());

  it('carry the activity, workflow and attempt but never the task token', async () => {
    const { client, spec, taskQueue } = pipeline;
    await pipeline.withWorkers(
      () =>
        client.workflow.execute(retrainWorkflow, {
          taskQueue,
          workflowId: `retrain-${spec.name}-logs-${Date.now()}`,
          args: [{ model: spec.name, minRecords: 10_000_000 }],
        }),
      { gpu: false },
    );
    const activityLogs = entries.filter((e) => e.meta?.activityType === 'exportDataset');
    expect(activityLogs.map((e) => e.message)).toEqual(
      expect.arrayContaining(['Activity started', 'Activity completed']),
    );
    for (const entry of activityLogs) {
      expect(entry.meta).toMatchObject({ attempt: 1, taskQueue });
      expect(entry.meta).not.toHaveProperty('taskToken');
    }
    expect(JSON.stringify(entries.map((e) => e.meta))).not.toMatch(/taskToken/);
  });
});
