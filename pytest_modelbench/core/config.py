"""Categories, difficulties and the [tool.modelbench] settings. Does not import pytest."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from .._exceptions import ConfigError

#: Built-in categories and their default weights in the overall score.
DEFAULT_CATEGORY_WEIGHTS: dict[str, float] = {
    "accuracy": 0.25,
    "speed": 0.10,
    "cost": 0.10,
    "consistency": 0.10,
    "quality": 0.20,
    "safety": 0.15,
    "reasoning": 0.05,
    "coding": 0.02,
    "creativity": 0.02,
    "instruction_following": 0.01,
    "tool_use": 0.05,
}


@dataclasses.dataclass(frozen=True, slots=True)
class Difficulty:
    name: str
    runs: int
    multiplier: float


DIFFICULTIES: dict[str, Difficulty] = {
    d.name: d
    for d in (
        Difficulty("trivial", 3, 0.5),
        Difficulty("easy", 5, 0.75),
        Difficulty("medium", 10, 1.0),
        Difficulty("hard", 15, 1.5),
        Difficulty("expert", 20, 2.0),
    )
}


def check_weight(value: Any, what: str) -> float:
    """A weight is a finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{what} {value!r} is not a number; a weight is a number > 0")
    weight = float(value)
    if not math.isfinite(weight) or weight <= 0:
        raise ConfigError(f"{what} {value!r} is not allowed; a weight is a finite number > 0")
    return weight


def check_positive_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{what} {value!r} is not allowed; it must be a whole number >= 1")
    return value


def category_weights(table: Mapping[str, Any] | None) -> dict[str, float]:
    """Built-in category weights updated with ``[tool.modelbench.categories]``.

    A project may re-weight built-in categories and declare its own.
    """
    weights = dict(DEFAULT_CATEGORY_WEIGHTS)
    if table is None:
        return weights
    if not isinstance(table, Mapping):
        raise ConfigError(
            f"[tool.modelbench] categories must be a table of name = weight, got {table!r}"
        )
    for name, value in table.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise ConfigError(
                f"category name {name!r} in [tool.modelbench.categories] is not allowed; "
                "use letters, digits and underscores"
            )
        weights[name] = check_weight(value, f"weight of category {name!r} in [tool.modelbench.categories]")
    return weights


@dataclasses.dataclass(frozen=True, slots=True)
class TaskSpec:
    """What the modelbench marker says about one task."""

    category: str
    difficulty: str
    weight: float = 1.0
    runs: int | None = None
    timeout: float | None = None
    group: str | None = None
    #: False: the task's model calls are never fetched ahead of its run (docs/concurrency.md).
    concurrent: bool = True

    @property
    def default_runs(self) -> int:
        return self.runs if self.runs is not None else DIFFICULTIES[self.difficulty].runs

    @property
    def effective_weight(self) -> float:
        """Marker weight × difficulty multiplier: the task's weight inside its category."""
        return self.weight * DIFFICULTIES[self.difficulty].multiplier


MARKER_KEYS = ("category", "difficulty", "weight", "runs", "timeout", "group", "concurrent")


def task_spec_from_marker(
    args: tuple[Any, ...], kwargs: Mapping[str, Any], categories: Mapping[str, float]
) -> TaskSpec:
    """Validate the marker's arguments. Raises ConfigError naming the bad value."""
    if args:
        raise ConfigError(
            f"modelbench marker takes keyword arguments only ({', '.join(MARKER_KEYS)}), "
            f"got positional {args!r}"
        )
    unknown = sorted(set(kwargs) - set(MARKER_KEYS))
    if unknown:
        raise ConfigError(
            f"modelbench marker argument {unknown[0]!r} is not one of: {', '.join(MARKER_KEYS)}"
        )
    if "category" not in kwargs:
        raise ConfigError(
            "modelbench marker needs category=...; allowed: " + ", ".join(categories)
        )
    category = kwargs["category"]
    if category not in categories:
        raise ConfigError(
            f"category {category!r} is not one of: {', '.join(categories)} "
            "(declare more in [tool.modelbench.categories])"
        )
    difficulty = kwargs.get("difficulty", "medium")
    if difficulty not in DIFFICULTIES:
        raise ConfigError(
            f"difficulty {difficulty!r} is not one of: {', '.join(DIFFICULTIES)}"
        )
    weight = check_weight(kwargs.get("weight", 1.0), "weight")
    runs = kwargs.get("runs")
    if runs is not None:
        runs = check_positive_int(runs, "runs")
    timeout = kwargs.get("timeout")
    if timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not (
            math.isfinite(timeout) and timeout > 0
        ):
            raise ConfigError(f"timeout {timeout!r} is not allowed; it must be seconds > 0")
        timeout = float(timeout)
    group = kwargs.get("group")
    if group is not None and not isinstance(group, str):
        raise ConfigError(f"group {group!r} is not allowed; it must be a string")
    concurrent = kwargs.get("concurrent", True)
    if not isinstance(concurrent, bool):
        raise ConfigError(f"concurrent {concurrent!r} is not allowed; it must be True or False")
    return TaskSpec(category, difficulty, weight, runs, timeout, group, concurrent)
