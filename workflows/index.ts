export { modelLeaseWorkflow } from './model-lease-workflow';
export { retrainWorkflow } from './retrain-workflow';
export { triggerCheckWorkflow } from './trigger-check-workflow';
export { runEventsWorkflow } from './run-events-workflow';
export { fleetSlotsWorkflow } from './fleet-slots-workflow';
export { bufferMaintenanceWorkflow, modelBufferMaintenanceWorkflow } from './buffer-maintenance-workflow';
