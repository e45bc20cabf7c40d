import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createDeliverEvent, createEventSinks } from '../../activities/deliver-event';
import { requestCancellation } from '../../activities/request-cancellation';
import { webhookSink } from '../../events/webhook-sink';
import { FileBlobStore } from '../../storage/file-store';
import { TriggersSchema } from '../../common/triggers';
import { gpuTaskQueueFor } from '../../common/task-queues';
import { passingActivities } from './stub-activities';

// `tsx check-worker-child.ts <address> <taskQueue> <bundle.js> <hang|deliver-hang|pass> [webhook]`: a
// cpu and a gpu worker on stub activities whose trigger figures always fire. With `hang`, recording
// an evaluation prints `recording` and never returns; with `deliver-hang`, delivering an event
// prints `delivering` and never returns: the test kills the process there. With a webhook URL, run
// events go to it (signed with WEBHOOK_SECRET).
export const WEBHOOK_SECRET = 'check-worker-child-secret-0123';

async function main(): Promise<void> {
  const [address, taskQueue, codePath, mode, webhook] = process.argv.slice(2) as [
    string,
    string,
    string,
    string,
    string | undefined,
  ];
  const sinks = webhook ? [webhookSink({ url: webhook, secret: WEBHOOK_SECRET, timeoutMs: 2000 })] : [];
  const deliverEvent = createDeliverEvent({
    eventSinks: sinks,
    store: new FileBlobStore(fs.mkdtempSync(path.join(os.tmpdir(), 'check-dead-letters-'))),
  });
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
      eventSinks: createEventSinks({ eventSinks: sinks }),
      deliverEvent: async (args: Parameters<typeof deliverEvent>[0]) => {
        if (mode === 'deliver-hang') {
          process.stdout.write('delivering\n');
          await new Promise(() => undefined);
        }
        await deliverEvent(args);
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

if (require.main === module)
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
