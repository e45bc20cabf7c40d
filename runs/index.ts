export { cancelRun } from './cancel-run';
export { ModelBusyError, RunNotFoundError, RunNotRunningError } from './errors';
export { latestRun, listRuns, runsQuery } from './list-runs';
export { describeRun, readRun, type FailureReport, type RunStatus } from './read-run';
export { runHistory, type RunHistory } from './run-history';
export { summarize, type RunState, type RunSummary } from './run-state';
export { runningRunOf } from './running-run';
export { retrainStartOptions, workflowIdFor } from './start-options';
export { startRun, type StartedRun, type StartRunOptions } from './start-run';
