import { Context } from '@temporalio/activity';

/** In a stub activity: heartbeats until `done` says so; a cancel of the activity throws out of it. */
export async function heartbeatUntil(done: () => boolean): Promise<void> {
  const ctx = Context.current();
  while (!done()) {
    ctx.heartbeat({ alive: true });
    await ctx.sleep(50);
  }
}
