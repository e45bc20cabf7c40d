import type { Client } from '@temporalio/client';
import { epochProgressSignal } from '../../common/messages';
import type { TrainInput } from '../../common/stages';

/** In a stub training: reports epoch 1 of `input`'s trial to its run, as a real trainer's first epoch does. */
export function reportFirstEpoch(client: Client, input: TrainInput): Promise<void> {
  return client.workflow.getHandle(input.workflowId).signal(epochProgressSignal, {
    epoch: 1,
    totalEpochs: input.epochs,
    loss: 0.5,
    valLoss: 0.6,
    samplesPerSec: 100,
    trial: input.trial ?? 1,
  });
}
