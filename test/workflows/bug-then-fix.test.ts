import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { bundleWorkflowCode, NativeConnection, Worker, type BundleOptions } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { OUTCOME_MEMO, type RunOutcome } from '../../common/retrain';
import { gpuTaskQueueFor } from '../../common/task-queues';
import { retrainWorkflow } from '../../workflows';
import { eventually } from '../helpers/eventually';
import { historyEvents, scheduled } from '../helpers/history';
import { passingActivities } from '../helpers/stub-activities';

const WORKFLOWS = path.join(__dirname, '..', '..', 'workflows');

/** Webpack config for a bundle whose progress-details.ts is a copy that throws a TypeError in training. */
const withBuggyRenderer: BundleOptions['webpackConfigHook'] = (config) => ({
  ...config,
  resolve: {
    ...config.resolve,
    alias: {
      ...(config.resolve?.alias as Record<string, string> | undefined),
      // The request './progress-details', resolved against workflows/, without its extension.
      [path.join(WORKFLOWS, 'progress-details')]: path.join(
        __dirname,
        '..',
        'helpers',
        'buggy-progress-details.ts',
      ),
    },
  },
});

describe('a bug in workflow code fails the workflow task, not the run', () => {
  let native: NativeConnection;
  let connection: Connection;
  let client: Client;
  let buggyCode: string;
  let fixedCode: string;
  beforeAll(async () => {
    // Two workers of one queue cannot exist at once: the bundles are made first, the workers in turn.
    [buggyCode, fixedCode] = (
      await Promise.all([
        bundleWorkflowCode({ workflowsPath: WORKFLOWS, webpackConfigHook: withBuggyRenderer }),
        bundleWorkflowCode({ workflowsPath: WORKFLOWS }),
      ])
    ).map((bundle) => bundle.code) as [string, string];
    const address = inject('temporalAddress');
    native = await NativeConnection.connect({ address });
    connection = await Connection.connect({ address });
    client = new Client({ connection });
  });
  afterAll(async () => {
    await native?.close();
    await connection?.close();
  });

  it('a TypeError once training starts fails the workflow task; a worker with the fixed code on the same queue completes the same run where it was', async () => {
    const taskQueue = `bug-then-fix-${randomUUID()}`;
    const model = `m-${randomUUID().slice(0, 8)}`;
    const { trainModel, ...cpuActivities } = passingActivities();
    const cpuWorker = (code: string) =>
      Worker.create({ connection: native, taskQueue, workflowBundle: { code }, activities: cpuActivities });
    const gpu = await Worker.create({
      connection: native,
      taskQueue: gpuTaskQueueFor(taskQueue),
      activities: { trainModel },
    });

    const { handle, failedTask } = await gpu.runUntil(async () => {
      const handle = await client.workflow.start(retrainWorkflow, {
        taskQueue,
        workflowId: `retrain-${model}-bug-then-fix-${randomUUID().slice(0, 8)}`,
        args: [{ model }],
      });
      const failedTask = await (
        await cpuWorker(buggyCode)
      ).runUntil(
        eventually('a WorkflowTaskFailed event in the run history', async () =>
          (await historyEvents(handle)).find((e) => e.workflowTaskFailedEventAttributes),
        ),
      );
      await (await cpuWorker(fixedCode)).runUntil(handle.result());
      return { handle, failedTask };
    });

    const description = await handle.describe();
    const events = await historyEvents(handle);
    const { cause, failure } = failedTask.workflowTaskFailedEventAttributes ?? {};
    expect(cause).toBe(
      temporal.api.enums.v1.WorkflowTaskFailedCause
        .WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE,
    );
    expect(failure?.message).toBe("Cannot read properties of undefined (reading 'length')");
    // The stack names the error's class and that it came from the buggy module.
    expect(failure?.stackTrace).toMatch(
      /^TypeError: Cannot read properties.*\n\s+at .*buggy-progress-details\.ts/m,
    );
    expect(description.runId).toBe(handle.firstExecutionRunId);
    expect(description.status.name).toBe('COMPLETED');
    expect(await handle.result()).toMatchObject({ status: 'completed', version: 'v1' });
    expect(events.filter((e) => e.workflowExecutionFailedEventAttributes)).toEqual([]);
    // Continued where it was: the export before the bug ran once, the training after it once.
    expect(scheduled(events, 'exportDataset')).toHaveLength(1);
    expect(scheduled(events, 'trainModel')).toHaveLength(1);
    // Nothing recorded the bug as an outcome: the memo holds the completion only.
    expect(description.memo?.[OUTCOME_MEMO] as RunOutcome).toMatchObject({ status: 'completed', model });
  });
});
