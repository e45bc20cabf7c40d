"""Each kind's parameters: declared once with type, default and range, checked before training starts."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import invalid_input


@dataclass(frozen=True)
class Param:
    """One parameter a kind takes; `type` is int, float, str, bool or list (of `item`)."""

    type: type
    default: Any
    doc: str
    min: float | None = None
    max: float | None = None
    choices: tuple[Any, ...] | None = None
    item: builtins.type | None = None

    def type_name(self) -> str:
        return f"list of {self.item.__name__}" if self.type is list and self.item else self.type.__name__


def _is(value: Any, kind: type) -> bool:
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def _check(kind: str, name: str, spec: Param, value: Any) -> Any:
    wrong = invalid_input(f"{kind} parameter {name} must be a {spec.type_name()}, got {value!r}", kind=kind, param=name)
    if not _is(value, spec.type):
        raise wrong
    if spec.type is list:
        if not value or (spec.item is not None and not all(_is(v, spec.item) for v in value)):
            raise wrong
        items = list(value)
    else:
        items = [value]
    for item in items:
        if spec.choices is not None and item not in spec.choices:
            choices = ", ".join(map(str, spec.choices))
            raise invalid_input(
                f"{kind} parameter {name} must be one of {choices}, got {item!r}", kind=kind, param=name
            )
        numeric = isinstance(item, int | float) and not isinstance(item, bool)
        if numeric and ((spec.min is not None and item < spec.min) or (spec.max is not None and item > spec.max)):
            raise invalid_input(
                f"{kind} parameter {name} must be within [{spec.min}, {spec.max}], got {item!r}",
                kind=kind,
                param=name,
            )
    return float(value) if spec.type is float else value


def validate_params(kind: str, specs: Mapping[str, Param], given: Mapping[str, Any]) -> dict[str, Any]:
    """The defaults overlaid with `given`; an unknown, mistyped or out-of-range parameter is InvalidInput naming it."""
    unknown = sorted(set(given) - set(specs))
    if unknown:
        raise invalid_input(
            f"{kind} takes no parameter {', '.join(unknown)}; it takes {', '.join(sorted(specs))}",
            kind=kind,
            param=unknown[0],
        )
    merged = {name: spec.default for name, spec in specs.items()}
    for name, value in given.items():
        merged[name] = _check(kind, name, specs[name], value)
    return merged
