import type { RunEvent } from '../common/run-events';

/** Somewhere run events go. `deliver` resolves once the sink has the event, and throws otherwise. */
export interface EventSink {
  /** `webhook` or `redis`: what a relay names when it asks an activity to deliver to it. */
  readonly name: string;
  deliver(event: RunEvent): Promise<void>;
  close(): Promise<void>;
}
