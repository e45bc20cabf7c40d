/**
 * retrain's own series on the workers' Prometheus endpoints, emitted through the Temporal SDK's metric
 * meter and exported by name exactly as written here (the SDK's `temporal_` prefix applies only to its
 * own series). Besides the labels named below, the SDK tags the workflow's with `namespace`,
 * `taskQueue` and `workflowType`, the activities' with `namespace`, `taskQueue` and `activityType`
 * (camelCase, where Temporal's own series say `task_queue`).
 */
export const WorkerMetric = {
  /** Counter: runs admitted, by `model`. */
  runsStarted: 'retrain_runs_started_total',
  /** Counter: runs ended, by `model` and `outcome` (completed | rejected | cancelled | failed). */
  runsEnded: 'retrain_runs_ended_total',
  /** Histogram, seconds: how long each stage took, by `stage`, `model` and `status`. */
  stageDuration: 'retrain_stage_duration_seconds',
  /** Counter: validation gate decisions, by `model` and `decision` (passed | rejected). */
  gateDecisions: 'retrain_gate_decisions_total',
  /**
   * Counter: reloadServers stages, by `model` and `outcome` (success | failure: a server refused and
   * production was rolled back, or the stage failed otherwise).
   */
  rollouts: 'retrain_rollouts_total',
  /** Gauge: training throughput of the last epoch, samples per second, by `model`. */
  trainingSamplesPerSecond: 'retrain_training_samples_per_second',
  /** Gauge: the last epoch training finished, by `model`. */
  trainingEpoch: 'retrain_training_epoch',
  /**
   * Counter: run events an event relay gave up delivering (a dead letter each), by `sink` and `reason`
   * (refused | expired).
   */
  eventDeadLetters: 'retrain_event_dead_letters_total',
} as const;

/** Bucket bounds of {@link WorkerMetric.stageDuration}: a second to a four-hour training. */
export const STAGE_DURATION_BUCKETS_S = [0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400];
