export { modelLeaseWorkflow } from './model-lease-workflow';
export { retrainWorkflow } from './retrain-workflow';
