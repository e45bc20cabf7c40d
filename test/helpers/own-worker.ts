import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { inject } from 'vitest';
import { pinnedTo, setCurrentVersion } from '../../workers/deployment';
import { testDeployment } from './test-deployment';
import { testWorkflowBundle } from './workflow-bundle';

/** A worker of the tests' workflow bundle with only `activities`, on a fresh queue of its own. */
export interface OwnWorker {
  client: Client;
  taskQueue: string;
  close(): Promise<void>;
}

/**
 * Starts a worker on the suite's dev server that runs every workflow with the activities given
 * (stubs of what a test is about), on a fresh `<prefix>-<uuid>` queue of a deployment of its own,
 * made current; `close()` stops it and its connections.
 */
export async function ownWorker(prefix: string, activities: Record<string, unknown>): Promise<OwnWorker> {
  const address = inject('temporalAddress');
  const connection = await Connection.connect({ address });
  const client = new Client({ connection });
  const native = await NativeConnection.connect({ address });
  const taskQueue = `${prefix}-${randomUUID()}`;
  const deployment = testDeployment();
  const worker = await Worker.create({
    connection: native,
    taskQueue,
    workflowBundle: { codePath: await testWorkflowBundle() },
    ...pinnedTo(deployment),
    activities,
  });
  const running = worker.run();
  await setCurrentVersion(client, deployment);
  return {
    client,
    taskQueue,
    close: async () => {
      worker.shutdown();
      await running;
      await native.close();
      await connection.close();
    },
  };
}
