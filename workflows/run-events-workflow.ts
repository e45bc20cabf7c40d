import { condition, proxyActivities, setHandler } from '@temporalio/workflow';
import { FINAL_EVENT_TYPES, runEventSignal, type RunEvent } from '../common/run-events';
import { cpuActivities, type Activities } from './cpu-activities';

const setup = cpuActivities();

/**
 * A sink that is down for an hour gets the event when it is back: retries 1, 2, 4 ... s apart, then
 * every minute. The activity itself gives up (a dead letter, see activities/deliver-event.ts) on a
 * refusal or once the event is older than RETRAIN_EVENTS_MAX_AGE, so a relay always ends. Deliveries
 * yield to runs on the shared queue: the lowest task priority (5), and one fairness key for every
 * relay, so relays waiting on a failing sink share the workers' slots as one model's runs would.
 */
const delivery = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  heartbeatTimeout: '20s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1 minute' },
  priority: { priorityKey: 5, fairnessKey: 'retrain.run-events' },
});

/** A relay that heard nothing for this long ends (its run died without a final event). */
const IDLE_LIMIT = '7 days';

/**
 * Delivers one run's events, in order, to every sink the workers have configured: the first event
 * is its argument, the rest arrive as {@link runEventSignal}s. Each sink has its own cursor, so a sink
 * that is down delays its own events only, and the run that emits them never waits for a sink. It
 * ends once every sink has the final event or its dead letter; without sinks it ends at once (the run
 * then stops sending).
 */
export async function runEventsWorkflow(first: RunEvent): Promise<{ sinks: string[]; delivered: number }> {
  const events: RunEvent[] = [first];
  setHandler(runEventSignal, (event) => {
    events.push(event);
  });
  const sinks = await setup.eventSinks();
  const deliverAll = async (sink: string): Promise<void> => {
    for (let i = 0; ; i++) {
      if (!(await condition(() => events.length > i, IDLE_LIMIT))) return;
      const event = events[i] as RunEvent;
      await delivery.deliverEvent({ sink, event });
      if (FINAL_EVENT_TYPES.includes(event.type)) return;
    }
  };
  await Promise.all(sinks.map(deliverAll));
  return { sinks, delivered: sinks.length === 0 ? 0 : events.length };
}
