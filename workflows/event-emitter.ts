import {
  CancellationScope,
  ParentClosePolicy,
  startChild,
  workflowInfo,
  type ChildWorkflowHandle,
} from '@temporalio/workflow';
import { EVENT_SPEC_VERSION, runEventSignal, type RunEvent, type RunEventType } from '../common/run-events';
import { eventRelayId } from '../common/workflow-ids';
import { rethrowUnlessFailure } from './failures';
import { runEventsWorkflow } from './run-events-workflow';

/** What a workflow emits its lifecycle through: `emit` never waits for a sink; `flush` before it ends. */
export interface EventEmitter {
  emit(type: RunEventType, data: Record<string, unknown>): void;
  /** Resolves once the relay has every event emitted so far (not once the sinks have them). */
  flush(): Promise<void>;
}

/**
 * The events of this workflow, handed in order to its relay child `retrain-events-<id>-<runId>`
 * (started with the first event, abandoned so it outlives the run) which delivers them. Ids are
 * `<workflowId>/<runId>/<n>`: a replay makes the same ones. `labels` (the run input's) go on every event.
 */
export function eventEmitter(model: string, labels?: Record<string, string>): EventEmitter {
  const { workflowId, runId, taskQueue } = workflowInfo();
  let relay: ChildWorkflowHandle<typeof runEventsWorkflow> | undefined;
  let stopped = false;
  let sequence = 0;
  let chain: Promise<void> = Promise.resolve();
  const send = async (event: RunEvent): Promise<void> => {
    if (stopped) return;
    try {
      if (relay) await relay.signal(runEventSignal, event);
      else
        relay = await startChild(runEventsWorkflow, {
          workflowId: eventRelayId(workflowId, runId),
          taskQueue,
          args: [event],
          parentClosePolicy: ParentClosePolicy.ABANDON,
          staticSummary: `Deliver the events of ${workflowId}`,
        });
    } catch (err) {
      rethrowUnlessFailure(err);
      // The relay ended: no sink is configured. Nothing more to send.
      stopped = true;
    }
  };
  return {
    emit(type, data) {
      const event: RunEvent = {
        specversion: EVENT_SPEC_VERSION,
        id: `${workflowId}/${runId}/${++sequence}`,
        type,
        time: new Date().toISOString(),
        model,
        workflowId,
        runId,
        ...(labels && Object.keys(labels).length > 0 ? { labels } : {}),
        data,
      };
      chain = chain.then(() => CancellationScope.nonCancellable(() => send(event)));
    },
    flush: () => chain,
  };
}
