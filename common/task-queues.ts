/** Task queue of the cpu worker: the workflow and every activity but training. */
export const CPU_TASK_QUEUE = 'retrain';
/** Task queue of the gpu workers: `trainModel` only. */
export const GPU_TASK_QUEUE = gpuTaskQueueFor(CPU_TASK_QUEUE);

/**
 * The gpu queue paired with a workflow's own queue (`retrain` -> `retrain-gpu`), so isolated
 * deployments and tests get their own pair.
 */
export function gpuTaskQueueFor(cpuTaskQueue: string): string {
  return `${cpuTaskQueue}-gpu`;
}
