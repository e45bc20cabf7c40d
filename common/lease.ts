/** `retrain-lease-<model>`: the one workflow id every run of a model competes for (see workflows/lease). */
export function leaseWorkflowId(model: string): string {
  return `retrain-lease-${model}`;
}
