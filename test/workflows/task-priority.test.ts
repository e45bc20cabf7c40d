import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DEFAULT_PRIORITY } from '../../common/admission';
import { gpuTaskQueueFor, pythonTaskQueueFor } from '../../common/task-queues';
import { eventually } from '../helpers/eventually';
import { historyEvents } from '../helpers/history';
import type { ScheduleOnEveryQueueInput } from './fixtures/run-priority-workflow';

type Priority = temporal.api.common.v1.IPriority;

/** Each scheduled activity of a run's history: its type, queue and the priority it was scheduled with. */
async function scheduledPriorities(client: Client, workflowId: string) {
  const events = await historyEvents(client.workflow.getHandle(workflowId));
  return events.flatMap((e) => {
    const a = e.activityTaskScheduledEventAttributes;
    if (!a) return [];
    const priority: Priority = a.priority ?? {};
    return [
      {
        activity: a.activityType?.name,
        taskQueue: a.taskQueue?.name,
        priorityKey: priority.priorityKey ?? 0,
        fairnessKey: priority.fairnessKey ?? '',
      },
    ];
  });
}

/*
 * The proxy factories of workflows/cpu-activities.ts and gpu-activities.ts schedule a run's activities
 * at its task priority with its model as fairness key, on every queue (cpu, gpu, python), on the dev
 * server as the suite starts it (fair dispatch on): the keys are in each ActivityTaskScheduled event.
 */
describe('task priority and fairness key of a run’s activities', () => {
  const taskQueue = `priority-${randomUUID()}`;
  let native: NativeConnection;
  let connection: Connection;
  let client: Client;
  let workers: Worker[];
  let running: Promise<unknown>;
  let code: { code: string };

  beforeAll(async () => {
    const address = inject('temporalAddress');
    native = await NativeConnection.connect({ address });
    connection = await Connection.connect({ address });
    client = new Client({ connection });
    const trained = {
      candidateKey: 'k',
      backend: 'cpu',
      epochs: 1,
      loss: 0,
      valLoss: null,
      samplesPerSec: 1,
    };
    code = await bundleWorkflowCode({
      workflowsPath: path.join(__dirname, 'fixtures', 'run-priority-workflow.ts'),
      logger: new DefaultLogger('WARN'),
    });
    workers = await Promise.all([
      Worker.create({
        connection: native,
        taskQueue,
        workflowBundle: code,
        activities: { loadSpec: async () => ({}) },
      }),
      Worker.create({
        connection: native,
        taskQueue: gpuTaskQueueFor(taskQueue),
        activities: { trainModel: async () => trained },
      }),
      Worker.create({
        connection: native,
        taskQueue: pythonTaskQueueFor(taskQueue, undefined),
        activities: { trainModel: async () => trained },
      }),
    ]);
    running = Promise.all(workers.map((w) => w.run()));
  });

  afterAll(async () => {
    for (const worker of workers ?? []) worker.shutdown();
    await running;
    await native?.close();
    await connection?.close();
  });

  async function run(input: ScheduleOnEveryQueueInput) {
    const workflowId = `priority-${input.model}`;
    await client.workflow.execute('scheduleOnEveryQueueWorkflow', { taskQueue, workflowId, args: [input] });
    return scheduledPriorities(client, workflowId);
  }

  const queues = () => [taskQueue, gpuTaskQueueFor(taskQueue), pythonTaskQueueFor(taskQueue, undefined)];

  it('schedules each activity at the run input’s priority, its model the fairness key', async () => {
    const model = `urgent-${randomUUID().slice(0, 8)}`;
    const scheduled = await run({ model, inputPriority: 1, specPriority: 4 });
    expect(scheduled.map((s) => s.taskQueue)).toEqual(queues());
    expect(scheduled.map((s) => s.activity)).toEqual(['loadSpec', 'trainModel', 'trainModel']);
    for (const s of scheduled) expect(s).toMatchObject({ priorityKey: 1, fairnessKey: model });
  });

  it('takes the spec’s priority when the run names none, else the default', async () => {
    const fromSpec = `spec-${randomUUID().slice(0, 8)}`;
    for (const s of await run({ model: fromSpec, specPriority: 4 }))
      expect(s).toMatchObject({ priorityKey: 4, fairnessKey: fromSpec });
    const plain = `plain-${randomUUID().slice(0, 8)}`;
    for (const s of await run({ model: plain }))
      expect(s).toMatchObject({ priorityKey: DEFAULT_PRIORITY, fairnessKey: plain });
  });

  it('leaves the priority to the workflow’s (inherited) when proxied without a run', async () => {
    const scheduled = await run({ model: `inherit-${randomUUID().slice(0, 8)}`, inherit: true });
    expect(scheduled).toHaveLength(3);
    for (const s of scheduled) expect(s).toMatchObject({ priorityKey: 0, fairnessKey: '' });
  });

  it('dispatches a backlog by priority, then in turn between models, not in arrival order', async () => {
    // A queue of its own: its workflow worker polls no activities, so they wait in the backlog.
    const backlogQueue = `backlog-${randomUUID()}`;
    const tag = randomUUID().slice(0, 8);
    const [busy, other, urgent] = [`busy-${tag}`, `other-${tag}`, `urgent-${tag}`];
    const runs = [
      ...Array.from({ length: 6 }, () => ({ model: busy })),
      { model: other },
      { model: urgent, priority: 1 },
    ];
    const workflowWorker = await Worker.create({
      connection: native,
      taskQueue: backlogQueue,
      workflowBundle: code,
    });
    const order: string[] = [];
    await workflowWorker.runUntil(async () => {
      const handle = await client.workflow.start('scheduleBacklogWorkflow', {
        taskQueue: backlogQueue,
        workflowId: `backlog-${tag}`,
        args: [runs],
      });
      // All in the queue's backlog (not only in the history) before any worker takes one.
      await eventually('every loadSpec waiting in the backlog', async () => {
        const { stats } = await client.workflowService.describeTaskQueue({
          namespace: client.options.namespace,
          taskQueue: { name: backlogQueue },
          taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
          reportStats: true,
        });
        return Number(stats?.approximateBacklogCount ?? 0) === runs.length;
      });
      // One slot: the worker takes the next task only once the one before is done.
      const activityWorker = await Worker.create({
        connection: native,
        taskQueue: backlogQueue,
        maxConcurrentActivityTaskExecutions: 1,
        activities: {
          loadSpec: async ({ model }: { model: string }) => {
            order.push(model);
            return {};
          },
        },
      });
      await activityWorker.runUntil(handle.result());
    });
    expect(order).toHaveLength(runs.length);
    // Priority 1 first; then the other model's one task beside the busy model's first, not after all six.
    expect(order[0]).toBe(urgent);
    expect(order.indexOf(other)).toBeLessThanOrEqual(2);
  });
});
