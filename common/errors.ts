import { ApplicationFailure } from '@temporalio/workflow';

/** Error types carried by non-retryable ApplicationFailures, so callers can branch on them. */
export const ErrorType = {
  /** Input to a workflow or activity failed validation. */
  InvalidInput: 'InvalidInput',
  /** The model named in the input has no spec in the store. */
  ModelNotFound: 'ModelNotFound',
  /** A stored artefact (dataset, model, spec) is missing or does not match its schema. */
  CorruptArtefact: 'CorruptArtefact',
  /** Training produced a NaN or infinite loss. */
  TrainingDiverged: 'TrainingDiverged',
  /** An inference server refused or failed to load a version. */
  ReloadFailed: 'ReloadFailed',
  /** A run-event sink refused an event (a webhook's 4xx other than 408 and 429, or a redirect): it is dead-lettered. */
  EventRefused: 'EventRefused',
} as const;

export type ErrorType = (typeof ErrorType)[keyof typeof ErrorType];

/** Error types of retryable failures: a retry is expected to succeed. */
export const RetryableErrorType = {
  /** Training stopped because its worker shut down; it checkpointed, and the retry resumes there. */
  TrainingInterrupted: 'TrainingInterrupted',
} as const;

/**
 * Thrown when a stored artefact (a model's model.json or weights.bin, say) cannot be read as what it
 * should be; the message names the key. Non-retryable: a retry reads the same bytes.
 */
export class CorruptArtefactError extends ApplicationFailure {
  constructor(message: string, options?: { cause?: unknown }) {
    const cause = options?.cause instanceof Error ? options.cause : undefined;
    super(message, ErrorType.CorruptArtefact, true, undefined, cause);
  }
}
