"""Error types of docs/trainers.md, shared with the TypeScript side's common/errors.ts."""

from __future__ import annotations

from typing import Any

from temporalio.exceptions import ApplicationError

INVALID_INPUT = "InvalidInput"
CORRUPT_ARTEFACT = "CorruptArtefact"
TRAINING_DIVERGED = "TrainingDiverged"
TRAINING_INTERRUPTED = "TrainingInterrupted"


def invalid_input(message: str, **details: Any) -> ApplicationError:
    """Input the trainer cannot use (kind, parameter, task); non-retryable: a retry sends the same input."""
    return ApplicationError(message, details or None, type=INVALID_INPUT, non_retryable=True)


def corrupt_artefact(message: str) -> ApplicationError:
    """A frame or checkpoint that cannot be read as what it should be; non-retryable: the bytes stay the same."""
    return ApplicationError(message, type=CORRUPT_ARTEFACT, non_retryable=True)


def training_diverged(message: str) -> ApplicationError:
    """A loss became NaN or infinite; non-retryable: the data or the learning rate is at fault."""
    return ApplicationError(
        f"Training diverged: {message}; lower the learning rate or check the data for extreme values",
        type=TRAINING_DIVERGED,
        non_retryable=True,
    )


def training_interrupted(checkpoint_key: str | None) -> ApplicationError:
    """The worker shut down mid-training; retryable: the retry resumes from the checkpoint in the heartbeat."""
    return ApplicationError(
        "Training interrupted by worker shutdown; checkpoint "
        f"{checkpoint_key or 'none'} is in the last heartbeat and a retry resumes from it",
        type=TRAINING_INTERRUPTED,
        non_retryable=False,
    )
