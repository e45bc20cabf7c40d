export { retrainWorkflow } from './retrain-workflow';
