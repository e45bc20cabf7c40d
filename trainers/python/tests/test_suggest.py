"""suggestTrial: Optuna's TPE rebuilt from the trial log on each call, deterministic for a log."""

from __future__ import annotations

import math
import random
from typing import Any

import optuna
import pytest
from temporalio.exceptions import ApplicationError

from retrain_trainer.suggest import parse_suggest_input, suggest

SPACE: dict[str, Any] = {
    "learningRate": {"type": "float", "min": 1e-4, "max": 1e-1, "log": True},
    "dropout": {"type": "float", "min": 0, "max": 0.5},
    "params.max_depth": {"type": "int", "min": 2, "max": 12},
    "params.num_leaves": {"type": "int", "min": 4, "max": 256, "log": True},
    "params.tree_method": {"type": "choice", "choices": ["hist", "approx"]},
    "calendar": {"type": "choice", "choices": [[], ["hourOfDay", "dayOfWeek"]]},
}


def ask(space: dict[str, Any], trials: list[dict[str, Any]], trial: int, seed: int = 7, **more: Any) -> dict[str, Any]:
    return suggest(parse_suggest_input({"space": space, "trials": trials, "seed": seed, "trial": trial, **more}))


def logged(trial: int, params: dict[str, Any], score: float | None, status: str = "completed") -> dict[str, Any]:
    return {"trial": trial, "params": params, "score": score, "status": status}


def toy(params: dict[str, Any]) -> float:
    """Best at learning rate 1e-2, max_depth 9 and hist: a bowl in log space with a categorical step."""
    return (
        (math.log10(params["learningRate"]) + 2) ** 2
        + ((params["params.max_depth"] - 9) / 4) ** 2
        + (0 if params["params.tree_method"] == "hist" else 0.5)
    )


TOY_SPACE = {name: SPACE[name] for name in ("learningRate", "params.max_depth", "params.tree_method")}


def test_the_same_log_gives_the_same_suggestion_and_another_trial_number_another() -> None:
    log = [
        logged(1, {"learningRate": 0.003, "params.max_depth": 6}, 0.8),
        logged(2, {"learningRate": 0.02, "params.max_depth": 3, "params.tree_method": "approx"}, 0.6),
        logged(3, {"learningRate": 0.0004}, None, status="failed"),
    ]
    first = ask(SPACE, log, trial=4)
    assert ask(SPACE, log, trial=4) == first
    assert ask(SPACE, list(reversed(log)), trial=4) == first
    # Still in the random start-up trials: a seed fixed across calls would repeat one point every trial.
    assert ask(SPACE, log, trial=5) != first
    assert ask(SPACE, log, trial=4, seed=8) != first


def test_suggestions_stay_in_their_ranges_scales_and_choices() -> None:
    rng = random.Random(3)
    log: list[dict[str, Any]] = []
    for trial in range(2, 32):
        params = ask(SPACE, log, trial=trial, startupTrials=5)
        assert set(params) == set(SPACE)
        assert 1e-4 <= params["learningRate"] <= 1e-1 and isinstance(params["learningRate"], float)
        assert 0 <= params["dropout"] <= 0.5
        for name, (low, high) in {"params.max_depth": (2, 12), "params.num_leaves": (4, 256)}.items():
            assert isinstance(params[name], int) and not isinstance(params[name], bool)
            assert low <= params[name] <= high
        assert params["params.tree_method"] in ("hist", "approx")
        assert params["calendar"] in ([], ["hourOfDay", "dayOfWeek"])
        log.append(logged(trial, params, rng.random()))
    # Log-scaled: a uniform draw would put about 90% of learning rates above 1e-2; log-uniform about a third.
    above = sum(1 for t in log if t["params"]["learningRate"] > 1e-2)
    assert above < 0.7 * len(log)


def test_a_first_trial_outside_the_ranges_and_unknown_names_are_left_out_not_refused() -> None:
    log = [logged(1, {"learningRate": 0.5, "params.max_depth": 99, "params.tree_method": "exact", "loss": "mse"}, 1.0)]
    params = ask(TOY_SPACE, log, trial=2)
    assert 1e-4 <= params["learningRate"] <= 1e-1 and 2 <= params["params.max_depth"] <= 12


def test_an_empty_space_suggests_nothing() -> None:
    assert ask({}, [logged(1, {}, 0.5)], trial=2) == {}


def run_search(seed: int, budget: int, sampler: str) -> float:
    """The best toy score after `budget` trials, each suggested from the log as a workflow does."""
    log: list[dict[str, Any]] = []
    if sampler == "random":
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
        space = parse_suggest_input({"space": TOY_SPACE, "seed": seed, "trial": 1}).space
        for _ in range(budget):
            trial = study.ask({name: dim.distribution for name, dim in space.items()})
            study.tell(trial, toy({name: dim.external(trial.params[name]) for name, dim in space.items()}))
        return float(study.best_value)
    for trial in range(1, budget + 1):
        params = ask(TOY_SPACE, log, trial=trial, seed=seed, startupTrials=6)
        log.append(logged(trial, params, toy(params)))
    return min(t["score"] for t in log)


def test_tpe_finds_better_points_than_random_search_on_the_same_budget() -> None:
    seeds, budget = range(6), 30
    tpe = [run_search(seed, budget, "tpe") for seed in seeds]
    rand = [run_search(seed, budget, "random") for seed in seeds]
    assert sum(tpe) / len(tpe) < sum(rand) / len(rand)
    assert sum(t < r for t, r in zip(tpe, rand, strict=True)) >= 4


def test_maximize_turns_the_search_toward_high_scores() -> None:
    space = {"x": {"type": "float", "min": 0, "max": 1}}
    log: list[dict[str, Any]] = []
    for trial in range(1, 26):
        params = ask(space, log, trial=trial, direction="maximize", startupTrials=5)
        log.append(logged(trial, params, params["x"]))
    late = [t["params"]["x"] for t in log[15:]]
    assert sum(late) / len(late) > 0.6


@pytest.mark.parametrize(
    ("inp", "named"),
    [
        ({"space": {"x": {"type": "int", "min": 1.5, "max": 3}}}, "space.x.min"),
        ({"space": {"x": {"type": "float", "min": 0, "max": 1, "log": True}}}, "space.x"),
        ({"space": {"x": {"type": "float", "min": 2, "max": 1}}}, "space.x"),
        ({"space": {"x": {"type": "choice", "choices": []}}}, "space.x"),
        ({"space": {"x": {"type": "normal"}}}, "space.x.type"),
        ({"space": {}, "direction": "up"}, "direction"),
        ({"space": {}, "trial": 0}, "trial"),
        ({"space": {}, "trials": [{"trial": 1, "params": {}, "status": "running"}]}, "trials.0"),
    ],
)
def test_a_malformed_input_is_invalid_input_naming_the_field(inp: dict[str, Any], named: str) -> None:
    with pytest.raises(ApplicationError) as raised:
        parse_suggest_input({"seed": 1, "trial": 2, **inp})
    assert raised.value.type == "InvalidInput" and raised.value.non_retryable
    assert raised.value.details and raised.value.details[0]["field"] == named
