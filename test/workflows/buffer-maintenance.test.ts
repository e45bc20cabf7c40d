import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { BUFFER_MAINTENANCE_CONCURRENCY, type BufferMaintenance } from '../../common/buffer-maintenance';
import { bufferMaintenanceScheduleId } from '../../common/workflow-ids';
import { bufferMaintenanceWorkflow } from '../../workflows';
import { ensureBufferMaintenanceSchedule } from '../../workers/buffer-maintenance-schedule';
import { ownWorker } from '../helpers/own-worker';

/** A worker of its own whose maintenance activities are stubs that record what they were asked. */
async function maintenanceWorker(models: string[], failing = new Set<string>()) {
  const seen = { running: 0, most: 0, models: [] as string[] };
  const worker = await ownWorker('maintenance', {
    listModels: async () => models,
    compactBuffer: async ({ model }: { model: string }): Promise<BufferMaintenance> => {
      seen.running += 1;
      seen.most = Math.max(seen.most, seen.running);
      try {
        await new Promise((resolve) => setTimeout(resolve, 50));
        if (failing.has(model)) throw ApplicationFailure.nonRetryable(`the store refused ${model}`);
        seen.models.push(model);
        return {
          model,
          inStore: true,
          compactedDays: ['2001-03-01'],
          partsBefore: 3,
          partsAfter: 1,
          expiredDays: [],
        };
      } finally {
        seen.running -= 1;
      }
    },
  });
  return { ...worker, seen };
}

describe("the data buffer's scheduled maintenance", () => {
  it('runs one child workflow per model, a few at a time, and returns what each did', async () => {
    const models = Array.from({ length: 6 }, (_, i) => `m${i}-${randomUUID().slice(0, 6)}`);
    const env = await maintenanceWorker(models);
    try {
      const workflowId = `retrain-buffer-maintenance-${randomUUID()}`;
      const done = await env.client.workflow.execute(bufferMaintenanceWorkflow, {
        taskQueue: env.taskQueue,
        workflowId,
      });
      expect(done.map((d) => d.model)).toEqual(models);
      expect(done.every((d) => d.partsAfter === 1)).toBe(true);
      expect(env.seen.most).toBeLessThanOrEqual(BUFFER_MAINTENANCE_CONCURRENCY);
      expect(env.seen.most).toBeGreaterThan(1);
      for (const model of models) {
        const child = await env.client.workflow.getHandle(`${workflowId}-${model}`).describe();
        expect(child.status.name, model).toBe('COMPLETED');
        expect(child.type).toBe('modelBufferMaintenanceWorkflow');
      }
    } finally {
      await env.close();
    }
  });

  it('goes on past a model whose maintenance fails, and says which and why', async () => {
    const models = [
      `a-${randomUUID().slice(0, 6)}`,
      `b-${randomUUID().slice(0, 6)}`,
      `c-${randomUUID().slice(0, 6)}`,
    ];
    const env = await maintenanceWorker(models, new Set([models[1]!]));
    try {
      const done = await env.client.workflow.execute(bufferMaintenanceWorkflow, {
        taskQueue: env.taskQueue,
        workflowId: `retrain-buffer-maintenance-${randomUUID()}`,
      });
      expect(done.map((d) => [d.model, d.error])).toEqual([
        [models[0], undefined],
        [models[1], `the store refused ${models[1]}`],
        [models[2], undefined],
      ]);
      expect(env.seen.models.sort()).toEqual([models[0], models[2]].sort());
    } finally {
      await env.close();
    }
  });

  it("is scheduled once per deployment: a second worker's start leaves the schedule as it is", async () => {
    const env = await maintenanceWorker([]);
    const handle = env.client.schedule.getHandle(bufferMaintenanceScheduleId(env.taskQueue));
    try {
      expect(await ensureBufferMaintenanceSchedule(env.client, env.taskQueue)).toBe(true);
      await handle.pause('an operator pauses it');
      expect(await ensureBufferMaintenanceSchedule(env.client, env.taskQueue)).toBe(false);
      const described = await handle.describe();
      expect(described.state.paused).toBe(true);
      expect(described.spec.intervals).toEqual([expect.objectContaining({ every: 86_400_000 })]);
      expect(described.action).toMatchObject({
        type: 'startWorkflow',
        workflowType: 'bufferMaintenanceWorkflow',
        taskQueue: env.taskQueue,
      });
    } finally {
      await handle.delete().catch(() => undefined);
      await env.close();
    }
  });
});
