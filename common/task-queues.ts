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

/** Task queues of the python trainer's workers: `trainModel` on both, and `suggestTrial` (TPE search) on the cpu one. */
export const PY_TASK_QUEUE = pythonTaskQueueFor(CPU_TASK_QUEUE, 'cpu');
export const PY_GPU_TASK_QUEUE = pythonTaskQueueFor(CPU_TASK_QUEUE, 'gpu');

/**
 * The python trainer's queue paired with a workflow's own queue: `retrain` -> `retrain-py`, or
 * `retrain-py-gpu` for `device: gpu`.
 */
export function pythonTaskQueueFor(cpuTaskQueue: string, device: 'cpu' | 'gpu' | undefined): string {
  return `${cpuTaskQueue}-py${device === 'gpu' ? '-gpu' : ''}`;
}

/**
 * Where `trainModel` of a run on `cpuTaskQueue` goes (docs/trainers.md "Task queues"): the gpu queue
 * for TensorFlow.js, whatever the device; the python trainer's cpu or gpu queue by `device`.
 */
export function trainingTaskQueueFor(
  cpuTaskQueue: string,
  trainer: 'tfjs' | 'python',
  device: 'cpu' | 'gpu' | undefined,
): string {
  return trainer === 'python' ? pythonTaskQueueFor(cpuTaskQueue, device) : gpuTaskQueueFor(cpuTaskQueue);
}
