import type { LogLevel as TemporalLogLevel, LogMetadata, Logger as TemporalLogger } from '@temporalio/common';
import { makeTelemetryFilterString, type RuntimeOptions } from '@temporalio/worker';
import type { Logger } from 'pino';
import { STAGE_DURATION_BUCKETS_S, WorkerMetric } from '../common/metric-names';

const PINO_LEVEL = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
} as const satisfies Record<TemporalLogLevel, string>;

/**
 * The SDK's Logger over pino: every SDK, workflow (`log` from @temporalio/workflow) and activity
 * (`Context.log`) entry becomes one line with the SDK's attributes as fields (workflowId, runId,
 * activityType, attempt, taskQueue, namespace, ...), redacted like every other line.
 */
export class PinoTemporalLogger implements TemporalLogger {
  constructor(private readonly pino: Logger) {}

  log(level: TemporalLogLevel, message: string, meta?: LogMetadata): void {
    const pinoLevel = PINO_LEVEL[level];
    if (!this.pino.isLevelEnabled(pinoLevel)) return;
    // Symbol keys (the SDK's timestamp) stay out of the line; pino stamps its own time.
    this.pino[pinoLevel]({ ...meta }, message);
  }
  trace(message: string, meta?: LogMetadata): void {
    this.log('TRACE', message, meta);
  }
  debug(message: string, meta?: LogMetadata): void {
    this.log('DEBUG', message, meta);
  }
  info(message: string, meta?: LogMetadata): void {
    this.log('INFO', message, meta);
  }
  warn(message: string, meta?: LogMetadata): void {
    this.log('WARN', message, meta);
  }
  error(message: string, meta?: LogMetadata): void {
    this.log('ERROR', message, meta);
  }
}

/** Options of {@link workerRuntimeOptions}. */
export interface WorkerRuntimeSettings {
  logger: Logger;
  /** `host:port` of the Prometheus endpoint (Temporal's series and retrain's); none when absent. */
  metricsAddress?: string;
}

/**
 * The options of the process's one Temporal Runtime (`Runtime.install`): logs from the SDK and from
 * Core (forwarded, warnings and up) go to `logger`; metrics to a Prometheus endpoint.
 */
export function workerRuntimeOptions({ logger, metricsAddress }: WorkerRuntimeSettings): RuntimeOptions {
  return {
    logger: new PinoTemporalLogger(logger),
    telemetryOptions: {
      logging: { filter: makeTelemetryFilterString({ core: 'WARN', other: 'ERROR' }), forward: {} },
      ...(metricsAddress
        ? {
            metrics: {
              prometheus: {
                bindAddress: metricsAddress,
                histogramBucketOverrides: { [WorkerMetric.stageDuration]: STAGE_DURATION_BUCKETS_S },
              },
            },
          }
        : {}),
    },
  };
}
