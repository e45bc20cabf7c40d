import type { Client } from '@temporalio/client';
import { z } from 'zod';

import { QueryBooleanSchema } from '../common/query-boolean';

import type { DataBuffer } from '../storage/buffer';
import type { ModelRegistry } from '../storage/registry';

/** What the training routes stand on: Temporal (where runs start, whom to ask about them) and the data buffer. */
export interface TrainingBackend {
  client: Client;
  taskQueue: string;
  /** For readiness and the `data_buffer` figures. */
  buffer: DataBuffer;
}

/** `true`/`false` as the daemon's clients send them (`?incremental=True` from Python's requests), or a JSON boolean. */
const Flag = QueryBooleanSchema;
const Count = z.coerce.number().int();
const JobId = z.string().min(1).max(1000);

/** Query string and JSON body alike: the daemon's documented parameters, plus retrain's own run options. */
export const TriggerSchema = z
  .object({
    model: z.unknown().optional(),
    epochs: Count.optional(),
    incremental: Flag.optional(),
    blocking: Flag.default(false),
    trials: Count.optional(),
    windowDays: Count.optional(),
    minRecords: Count.optional(),
  })
  .strict();
export const StatusSchema = z.object({ job_id: JobId.optional(), model: z.unknown().optional() }).strict();
export const StatsSchema = z.object({ model: z.unknown().optional() }).strict();
export const CancelSchema = z
  .object({
    job_id: JobId.optional(),
    model: z.unknown().optional(),
    reason: z.string().min(1).max(500).optional(),
  })
  .strict();

/** What every training handler works with. */
export interface TrainingContext {
  registry: ModelRegistry;
  temporal: TrainingBackend;
  /** The model meant when a request names none (`RETRAIN_DEFAULT_MODEL`). */
  defaultModel?: string;
}
