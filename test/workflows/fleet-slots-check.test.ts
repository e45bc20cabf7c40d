import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { FleetSlotsInput } from '../../common/fleet-slots';
import { fleetSlotsQuery, slotGrantedSignal, slotReleaseSignal } from '../../common/messages';
import { fleetSlotsWorkflow } from '../../workflows';
import { eventually } from '../helpers/eventually';
import { historyEvents, signals } from '../helpers/history';
import { ownWorker } from '../helpers/own-worker';

/**
 * A coordinator on a worker of its own whose `runningRuns` check holds until the test lets it answer,
 * so that a signal can arrive while the check is under way.
 */
async function coordinatorWorker() {
  let answering = false;
  let checks = 0;
  const worker = await ownWorker('fleet-check', {
    // Every run the book names still runs, as Temporal answered when the check began.
    runningRuns: async ({ workflowIds }: { workflowIds: string[] }) => {
      checks += 1;
      while (!answering) await new Promise((resolve) => setTimeout(resolve, 20));
      return workflowIds;
    },
  });
  const start = (workflowId: string, input: FleetSlotsInput) =>
    worker.client.workflow.start(fleetSlotsWorkflow, {
      taskQueue: worker.taskQueue,
      workflowId,
      args: [input],
    });
  return {
    client: worker.client,
    start,
    checks: () => checks,
    answer: () => {
      answering = true;
    },
    close: () => worker.close(),
  };
}

describe('the fleet-slots coordinator', () => {
  it('grants the slot a holder releases while a check for ended runs is under way', async () => {
    const env = await coordinatorWorker();
    const started: { terminate(): Promise<unknown> }[] = [];
    try {
      // The waiting run only has to be a workflow that runs, to be told its grant: an idle coordinator of its own.
      const waitingId = `waiting-${randomUUID()}`;
      started.push(await env.start(waitingId, { capacity: 1, checkEveryMs: 600_000 }));
      const coordinator = await env.start(`coordinator-${randomUUID()}`, {
        capacity: 1,
        holders: ['holder-run'],
        waiting: [{ workflowId: waitingId, priority: 3, queuedAt: new Date().toISOString() }],
        checkEveryMs: 200,
      });
      started.push(coordinator);

      await eventually('a check for ended runs to begin', () => env.checks() === 1);
      await coordinator.signal(slotReleaseSignal, { workflowId: 'holder-run' });
      await eventually(
        'the release to be booked',
        async () => (await coordinator.query(fleetSlotsQuery)).holders.length === 0,
      );
      env.answer();
      // The check after next has begun: the loop went past the one the release arrived during.
      await eventually('the next check to begin', () => env.checks() >= 2);

      expect(await coordinator.query(fleetSlotsQuery)).toEqual({
        capacity: 1,
        holders: [waitingId],
        waiting: [],
      });
      const told = await historyEvents(env.client.workflow.getHandle(waitingId));
      expect(signals(told, slotGrantedSignal.name)).toHaveLength(1);
    } finally {
      for (const handle of started) await handle.terminate().catch(() => undefined);
      await env.close();
    }
  });
});
