"""The `suggestTrial` activity: the next trial's parameters from Optuna's TPE, rebuilt from the trial log.

Stateless: every call builds an in-memory study, adds the logged trials to it (ask-and-tell's "tell" done
after the fact, with `create_trial`), and asks a TPESampler seeded from the run's seed and the trial number
for one point. The same log therefore always gives the same answer, whichever worker answers, and a
retried or replayed workflow loses nothing.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from typing import Any, Literal

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState
from temporalio import activity

from .errors import invalid_input

log = logging.getLogger("retrain_trainer.suggest")

# Optuna reports every trial it is told about at INFO; the worker's own log says what matters.
optuna.logging.set_verbosity(optuna.logging.WARNING)

SEED_MODULUS = 2**32


@dataclass(frozen=True)
class Dimension:
    """One searched parameter: an int or float range (log-scaled or not) or a list of JSON choices."""

    distribution: BaseDistribution
    choices: tuple[Any, ...] = ()
    """The choices themselves, for a choice list (the distribution holds their JSON text)."""

    def internal(self, value: Any) -> Any | None:
        """`value` as the distribution holds it, or None when it lies outside (a trial before the search)."""
        dist = self.distribution
        if isinstance(dist, CategoricalDistribution):
            key = _choice_key(value)
            return key if key in dist.choices else None
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return None
        if isinstance(dist, IntDistribution):
            return int(value) if value == int(value) and dist.low <= value <= dist.high else None
        assert isinstance(dist, FloatDistribution)
        return float(value) if dist.low <= value <= dist.high else None

    def external(self, value: Any) -> Any:
        """A sampled value as the workflow reads it: the choice itself, an int, a float."""
        if isinstance(self.distribution, CategoricalDistribution):
            return self.choices[list(self.distribution.choices).index(value)]
        return int(value) if isinstance(self.distribution, IntDistribution) else float(value)


def _choice_key(value: Any) -> str:
    # Choices may be lists (`hidden`, calendar features): Optuna's categories are scalars, so each
    # choice is its canonical JSON text.
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _bound(spec: dict[str, Any], name: str, key: str, integer: bool) -> int | float:
    value = spec.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not integer and isinstance(value, float) and math.isfinite(value):
        return value
    kind = "an integer" if integer else "a number"
    raise invalid_input(f"search space {name}: {key} must be {kind}", field=f"space.{name}.{key}")


def parse_dimension(name: str, spec: Any) -> Dimension:
    """One entry of the input's `space`; a malformed one is InvalidInput naming it."""
    if not isinstance(spec, dict):
        raise invalid_input(f"search space {name} must be an object", field=f"space.{name}")
    kind = spec.get("type")
    if kind == "choice":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise invalid_input(f"search space {name}: choices must be a non-empty list", field=f"space.{name}")
        keys = [_choice_key(c) for c in choices]
        if len(set(keys)) != len(keys):
            raise invalid_input(f"search space {name}: choices must be distinct", field=f"space.{name}")
        return Dimension(CategoricalDistribution(keys), tuple(choices))
    if kind not in ("int", "float"):
        raise invalid_input(
            f"search space {name}: type must be int, float or choice, not {kind!r}", field=f"space.{name}.type"
        )
    integer = kind == "int"
    low, high = _bound(spec, name, "min", integer), _bound(spec, name, "max", integer)
    scaled = spec.get("log", False)
    if not isinstance(scaled, bool):
        raise invalid_input(f"search space {name}: log must be true or false", field=f"space.{name}.log")
    if low > high or (scaled and low <= 0):
        why = "min must be above 0 on a log scale" if low <= high else "min must not be above max"
        raise invalid_input(f"search space {name}: {why}", field=f"space.{name}")
    if integer:
        return Dimension(IntDistribution(int(low), int(high), log=scaled))
    return Dimension(FloatDistribution(float(low), float(high), log=scaled))


@dataclass(frozen=True)
class LoggedTrial:
    trial: int
    params: dict[str, Any]
    score: float | None
    completed: bool


@dataclass(frozen=True)
class SuggestInput:
    space: dict[str, Dimension]
    trials: list[LoggedTrial]
    direction: Literal["minimize", "maximize"]
    seed: int
    trial: int
    startup_trials: int


def _int(data: dict[str, Any], name: str, low: int, default: int | None = None) -> int:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise invalid_input(f"suggestTrial input field {name} must be an integer of at least {low}", field=name)
    return value


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _logged(entry: Any, at: int) -> LoggedTrial:
    if not isinstance(entry, dict) or not isinstance(entry.get("params"), dict):
        raise invalid_input(f"suggestTrial trials[{at}] must be an object with params", field=f"trials.{at}")
    status, raw = entry.get("status"), entry.get("score")
    if status not in ("completed", "failed"):
        raise invalid_input(f"suggestTrial trials[{at}].status must be completed or failed", field=f"trials.{at}")
    score = _finite(raw)
    return LoggedTrial(
        trial=_int(entry, "trial", 1),
        params=dict(entry["params"]),
        score=score,
        # A completed trial without a finite score told the search nothing better than a failure.
        completed=status == "completed" and score is not None,
    )


def parse_suggest_input(data: Any) -> SuggestInput:
    """A SuggestInput; a missing or malformed field is InvalidInput naming it."""
    if not isinstance(data, dict) or not isinstance(data.get("space"), dict):
        raise invalid_input("suggestTrial input must be an object with a space", field="space")
    trials = data.get("trials", [])
    if not isinstance(trials, list):
        raise invalid_input("suggestTrial input field trials must be a list", field="trials")
    direction = data.get("direction", "minimize")
    if direction != "minimize" and direction != "maximize":
        raise invalid_input(f"direction must be minimize or maximize, not {direction!r}", field="direction")
    return SuggestInput(
        space={str(name): parse_dimension(str(name), spec) for name, spec in data["space"].items()},
        trials=[_logged(entry, i) for i, entry in enumerate(trials)],
        direction=direction,
        seed=_int(data, "seed", 0),
        trial=_int(data, "trial", 1),
        startup_trials=_int(data, "startupTrials", 1, 10),
    )


def _frozen(entry: LoggedTrial, space: dict[str, Dimension]) -> optuna.trial.FrozenTrial:
    # Only the values inside today's space: trial 1 is the spec's own, which may lie outside its ranges,
    # and TPE models each parameter from the trials that have it.
    params: dict[str, Any] = {}
    distributions: dict[str, BaseDistribution] = {}
    for name, dim in space.items():
        internal = dim.internal(entry.params.get(name)) if name in entry.params else None
        if internal is not None:
            params[name] = internal
            distributions[name] = dim.distribution
    if entry.completed:
        return optuna.trial.create_trial(params=params, distributions=distributions, value=entry.score)
    return optuna.trial.create_trial(params=params, distributions=distributions, state=TrialState.FAIL)


def suggest(inp: SuggestInput) -> dict[str, Any]:
    """The next trial's values by name; the same input gives the same answer."""
    sampler = optuna.samplers.TPESampler(
        # Each call builds a fresh sampler: a seed fixed across calls would repeat the same point while
        # the search is still in its random start-up trials, so the trial number is part of it.
        seed=(inp.seed * 1_000_003 + inp.trial) % SEED_MODULUS,
        n_startup_trials=inp.startup_trials,
    )
    study = optuna.create_study(direction=inp.direction, sampler=sampler)
    for entry in sorted(inp.trials, key=lambda t: t.trial):
        study.add_trial(_frozen(entry, inp.space))
    asked = study.ask({name: dim.distribution for name, dim in inp.space.items()})
    return {name: dim.external(asked.params[name]) for name, dim in inp.space.items()}


@activity.defn(name="suggestTrial")
def suggest_trial(input: dict[str, Any]) -> dict[str, Any]:
    """docs/models.md "Hyperparameter search": `{trial, params}` for the trial the input names."""
    parsed = parse_suggest_input(input)
    params = suggest(parsed)
    info = activity.info()
    log.info(
        "trial suggested",
        extra={
            "workflowId": info.workflow_id,
            "trial": parsed.trial,
            "logged": len(parsed.trials),
            "params": params,
        },
    )
    return {"trial": parsed.trial, "params": params}
