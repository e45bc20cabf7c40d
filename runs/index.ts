export { cancelRun } from './cancel-run';
export { ModelBusyError, RunNotFoundError, RunNotRunningError } from './errors';
export { latestRun, listRuns, runsQuery } from './list-runs';
export { holdModel, ModelHeldError, rollbackHolder } from './model-hold';
export { modelQueue, type ModelQueue, type QueuedRun } from './model-queue';
export { describeRun, readRun, type FailureReport, type RunStatus } from './read-run';
export { runHistory, type RunHistory } from './run-history';
export { isGoing, summarize, type RunState, type RunSummary } from './run-state';
export { runningRunOf } from './running-run';
export { retrainStartOptions, workflowIdFor } from './start-options';
export { startRun, type StartedRun, type StartRunOptions } from './start-run';
export {
  checkTriggersNow,
  describeMonitorSchedule,
  pauseMonitorSchedule,
  syncMonitorSchedule,
  type MonitorScheduleState,
  type MonitorSync,
} from './monitor-schedule';
export {
  backfillWeeklySchedule,
  createWeeklySchedule,
  deleteWeeklySchedule,
  describeWeeklySchedule,
  listWeeklySchedules,
  pauseWeeklySchedule,
  triggerWeeklySchedule,
  type WeeklyScheduleRow,
  type WeeklyScheduleSpec,
  type WeeklyScheduleSummary,
} from './weekly-schedule';
export { OVERLAP_NAMES, WEEKLY_CRON, type OverlapName } from './weekly-schedule-settings';
export { monitorScheduleId } from '../common/workflow-ids';
