import type { ActivityInterceptorsFactory } from '@temporalio/worker';

/** How often a cpu activity heartbeats while it runs; the SDK throttles what reaches the server. */
const HEARTBEAT_EVERY_MS = 1000;

/**
 * Heartbeats (without details) every second while an activity runs, whatever it waits on, so the
 * workflow's heartbeat timeout on the cpu activities notices within seconds an attempt that can no
 * longer finish: its worker died (SIGKILL, OOM, a lost node), or its completion was lost while the
 * Temporal server was down longer than the SDK retries a completion (about 5 s). The retry then
 * runs on any worker; every cpu activity is idempotent per workflow. Not for trainModel, whose
 * heartbeats carry its checkpoint.
 */
export const heartbeatWhileRunning: ActivityInterceptorsFactory = (ctx) => ({
  inbound: {
    async execute(input, next) {
      const timer = setInterval(() => ctx.heartbeat(), HEARTBEAT_EVERY_MS);
      try {
        return await next(input);
      } finally {
        clearInterval(timer);
      }
    },
  },
});
