import { NativeConnection, Worker } from '@temporalio/worker';
import { requestCancellation } from '../../activities/request-cancellation';
import { TriggersSchema } from '../../common/triggers';
import { gpuTaskQueueFor } from '../../common/task-queues';
import { passingActivities } from './stub-activities';

// `tsx check-worker-child.ts <address> <taskQueue> <bundle.js> <hang|pass>`: a cpu and a gpu worker
// on stub activities whose trigger figures always fire. With `hang`, recording an evaluation prints
// `recording` and never returns, so the test can kill the process in the middle of a check.
async function main(): Promise<void> {
  const [address, taskQueue, codePath, mode] = process.argv.slice(2) as [string, string, string, string];
  const connection = await NativeConnection.connect({ address });
  const { trainModel, ...cpuActivities } = passingActivities();
  const cpu = await Worker.create({
    connection,
    taskQueue,
    workflowBundle: { codePath },
    activities: {
      ...cpuActivities,
      measureTriggers: async () => ({
        triggers: TriggersSchema.parse({ newRecords: 10 }),
        figures: { production: 'v1', newRecords: 25, drift: {} },
        scanned: { predictions: 0, records: 25 },
      }),
      recordEvaluation: async () => {
        if (mode !== 'hang') return;
        process.stdout.write('recording\n');
        await new Promise(() => undefined);
      },
      requestCancellation,
    },
  });
  const gpu = await Worker.create({
    connection,
    taskQueue: gpuTaskQueueFor(taskQueue),
    activities: { trainModel },
  });
  process.stdout.write('polling\n');
  await Promise.all([cpu.run(), gpu.run()]);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
