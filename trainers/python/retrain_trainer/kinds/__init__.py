"""The built-in kinds by hyperparams.architecture, and the lookup that also finds user trainers."""

from __future__ import annotations

from ..errors import invalid_input
from .base import Kind
from .boosting import LightGBMKind, XGBoostKind
from .sklearn_kinds import KMeansKind, LogisticKind, RandomForestKind
from .torch_kinds import LstmKind, MlpKind

BUILTIN_KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        XGBoostKind(),
        LightGBMKind(),
        LogisticKind(),
        RandomForestKind(),
        KMeansKind(),
        MlpKind(),
        LstmKind(),
    )
}


def find_kind(name: str) -> Kind:
    """The kind called `name`: built-in, else a registered user trainer; InvalidInput naming the known ones."""
    from ..user import REGISTRY, UserKind

    if name in BUILTIN_KINDS:
        return BUILTIN_KINDS[name]
    if name in REGISTRY:
        return UserKind(REGISTRY[name])
    known = ", ".join([*BUILTIN_KINDS, *sorted(REGISTRY)])
    raise invalid_input(f"unknown architecture {name!r} for the python trainer; known: {known}", architecture=name)
