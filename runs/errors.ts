/** Thrown when no retrain run has the given workflow id (or the id belongs to another workflow type). */
export class RunNotFoundError extends Error {
  override readonly name = 'RunNotFoundError';
}

/** Thrown by a cancel of a run that has already ended. */
export class RunNotRunningError extends Error {
  override readonly name = 'RunNotRunningError';
  constructor(
    message: string,
    readonly status: string,
  ) {
    super(message);
  }
}

/** Thrown by a start that found another run of the model going: one run per model at a time. */
export class ModelBusyError extends Error {
  override readonly name = 'ModelBusyError';
  constructor(
    readonly model: string,
    /** The run that holds the model. */
    readonly runningWorkflowId: string,
    /** The refused run, when one was started (it ended `rejected` at once). */
    readonly refusedWorkflowId?: string,
  ) {
    super(`${model} is already being retrained by ${runningWorkflowId}; one run per model at a time`);
  }
}
