"""The trainModel activity's input, parsed from the JSON the TypeScript workflow sends."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import invalid_input
from .frame import TASKS


@dataclass(frozen=True)
class TrainInput:
    model: str
    workflow_id: str
    dataset_key: str
    task: str
    architecture: str
    params: dict[str, Any]
    seed: int
    device: str
    """`gpu` asks for CUDA (used only when visible); anything else trains on the CPU."""
    epochs: int
    incremental: bool
    checkpoint_prefix: str
    trial: int | None = None
    gate_metric: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


def _field(data: dict[str, Any], name: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
    if name not in data or data[name] is None:
        if default is ...:
            raise invalid_input(f"trainModel input lacks {name}", field=name)
        return default
    value = data[name]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise invalid_input(f"trainModel input field {name} has the wrong type ({type(value).__name__})", field=name)
    return value


def parse_input(data: Any) -> TrainInput:
    """A TrainInput; a missing or mistyped field is InvalidInput naming it."""
    if not isinstance(data, dict):
        raise invalid_input("trainModel input must be a JSON object")
    hp = _field(data, "hyperparams", dict)
    task = _field(data, "task", str)
    if task not in TASKS:
        raise invalid_input(f"unknown task {task!r}; expected one of {', '.join(TASKS)}", field="task")
    epochs = _field(data, "epochs", int)
    if epochs < 1:
        raise invalid_input("epochs must be at least 1", field="epochs")
    trial = _field(data, "trial", int, None)
    model, workflow_id = _field(data, "model", str), _field(data, "workflowId", str)
    default_prefix = f"checkpoints/{model}/{workflow_id}" + (f"/trial-{trial}" if trial is not None else "")
    return TrainInput(
        model=model,
        workflow_id=workflow_id,
        dataset_key=_field(data, "datasetKey", str),
        task=task,
        architecture=_field(hp, "architecture", str),
        params=dict(_field(hp, "params", dict, {})),
        seed=_field(hp, "seed", int, 42),
        device=_field(hp, "device", str, "cpu"),
        epochs=epochs,
        incremental=_field(data, "incremental", bool, False),
        checkpoint_prefix=_field(data, "checkpointPrefix", str, default_prefix).rstrip("/"),
        trial=trial,
        gate_metric=_field(data, "gateMetric", str, None),
        raw=data,
    )
