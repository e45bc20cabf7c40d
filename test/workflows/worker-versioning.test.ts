import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { RetrainInputSchema } from '../../common/retrain';
import { startRun } from '../../runs';
import { eventually } from '../helpers/eventually';
import { passingActivities, stubWorkers, type Activities, type StubWorkers } from '../helpers/stub-workers';
import { testDeployment } from '../helpers/test-deployment';

/** The build a run is Pinned to, as Temporal records it. */
async function buildIdOf(client: Client, workflowId: string): Promise<string | undefined> {
  const { raw } = await client.workflow.getHandle(workflowId).describe();
  return raw.workflowExecutionInfo?.versioningInfo?.deploymentVersion?.buildId ?? undefined;
}

describe('worker versioning: a run finishes on the build it started on', () => {
  it('after a new build becomes current, the run in flight stays on the old build and a new run starts on the new one', async () => {
    const passing = passingActivities();
    const deployment = testDeployment('build-1');
    let released = false;
    const validatedOn: string[] = [];
    const sets: StubWorkers[] = [];
    try {
      const first = await stubWorkers(undefined, { deployment });
      sets.push(first);
      const { client, taskQueue } = first;
      const inFlight = first.model({
        // Trains until the test lets it finish, heartbeating as a training does.
        trainModel: async (input: Parameters<Activities['trainModel']>[0]) => {
          while (!released) {
            Context.current().heartbeat();
            await Context.current().sleep(50);
          }
          return passing.trainModel(input);
        },
        validateModel: async (input: Parameters<Activities['validateModel']>[0]) => {
          validatedOn.push('build-1');
          return passing.validateModel(input);
        },
      });
      const old = await startRun(client, RetrainInputSchema.parse({ model: inFlight }), {
        taskQueue,
        origin: 'versioning test',
      });
      await eventually('the run on build-1 to be training', async () =>
        ((await client.workflow.getHandle(old.workflowId).describe()).raw.pendingActivities ?? []).some(
          (a) => a.activityType?.name === 'trainModel',
        ),
      );

      // The upgrade: build-2's workers poll the same queues and make their build current.
      const second = await stubWorkers(undefined, {
        taskQueue,
        deployment: { ...deployment, buildId: 'build-2' },
      });
      sets.push(second);
      const fresh = await startRun(client, RetrainInputSchema.parse({ model: second.model() }), {
        taskQueue,
        origin: 'versioning test',
      });
      const freshResult = await client.workflow.getHandle(fresh.workflowId).result();
      released = true;
      const oldResult = await client.workflow.getHandle(old.workflowId).result();

      expect(freshResult).toMatchObject({ status: 'completed' });
      expect(await buildIdOf(client, fresh.workflowId)).toBe('build-2');
      expect(oldResult).toMatchObject({ status: 'completed' });
      expect(await buildIdOf(client, old.workflowId)).toBe('build-1');
      // Build-2's workers would have run the passing stub, which records nothing.
      expect(validatedOn).toEqual(['build-1']);
    } finally {
      released = true;
      for (const set of sets) await set.close();
    }
  });
});
