"""The measured dimensions: speed, cost and consistency, scored from what the runs measured.

Besides its answer score (in the category its marker names), every task a model ran gives up
to three *measured* scores on 0–100, each from that task's own runs only:

* **speed**: the task's p50 and p95 run latency and p50 time to first token, each through a
  log-linear transform (:class:`LogLinear`: 100 at or below ``best``, 0 at or above
  ``worst``, linear in the logarithm between), combined as a weighted mean over the
  components the task measured (default weights 0.4, 0.4, 0.2; TTFT needs streaming);
* **cost**: the task's mean run cost (USD) through a log-linear transform; a run that made
  no model call costs 0; a run that called the model without a known cost (no price, or
  token counts the server did not report) makes the task's cost unknown;
* **consistency**: 100 × (1 − the task's inconsistency), with the inconsistency
  ``½ · [its runs disagree on pass/fail] + ½ · 4 · the population variance of its quality``
  over its measured runs (tasks run at least twice; Popoviciu 1935 bounds the variance of a
  value in [0, 1] by ¼, so the term lies in [0, 1]).

The transforms are fixed reference points (defaults below, overridable in
``[tool.modelbench.speed]`` and ``[tool.modelbench.cost]``), never relative to the other
models of a session: a model's speed score does not change when another model is added, a
baseline file scored again gives the same numbers, and swapping two models' runs of one task
swaps that task's scores, which is what the paired sign-flip test of every verdict assumes
(docs/methodology.md). This module holds the transforms and their configuration;
:mod:`.measured` computes the per-task scores and
:func:`~pytest_modelbench.core.scoring.score_columns` turns them into columns of the one
score estimator. Does not import numpy at import time, nor pytest.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from .._exceptions import ConfigError

#: The measured dimensions, in the order their columns are built.
DIMENSIONS = ("speed", "cost", "consistency")

#: Speed components: the run statistic each one transforms, and its unit.
SPEED_COMPONENTS = ("latency_p50", "latency_p95", "ttft_p50")


@dataclasses.dataclass(frozen=True, slots=True)
class LogLinear:
    """A score on 0–100 from a measured value: 100 at or below ``best``, 0 at or above
    ``worst``, and between them ``100 · log(worst / v) / log(worst / best)``, so every
    factor of 10 costs the same number of points. ``best`` and ``worst`` are > 0."""

    best: float
    worst: float

    def __call__(self, values: Any) -> Any:
        import numpy as np  # lazily: settings hold transforms in sessions that never score

        values = np.asarray(values, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            inside = 100.0 * np.log(self.worst / np.maximum(values, self.best)) / math.log(self.worst / self.best)
        scores = np.clip(inside, 0.0, 100.0)
        return np.where(np.isnan(values), np.nan, np.where(values <= self.best, 100.0, scores))

    def points_per_decade(self) -> float:
        return 100.0 / math.log10(self.worst / self.best)


@dataclasses.dataclass(frozen=True, slots=True)
class SpeedComponent:
    """One statistic of a task's runs in the speed score: ``name`` is one of
    :data:`SPEED_COMPONENTS`, ``transform`` maps milliseconds to points, ``weight`` ≥ 0 is its
    share of the speed score (0 leaves it out)."""

    name: str
    transform: LogLinear
    weight: float

    def to_dict(self) -> dict[str, Any]:
        return {"best_ms": self.transform.best, "worst_ms": self.transform.worst, "weight": self.weight}


DEFAULT_SPEED = (
    SpeedComponent("latency_p50", LogLinear(200.0, 5_000.0), 0.4),
    SpeedComponent("latency_p95", LogLinear(300.0, 10_000.0), 0.4),
    SpeedComponent("ttft_p50", LogLinear(100.0, 2_000.0), 0.2),
)
#: Cost per task in USD: 100 points at $0.0001 ($0.10 per 1k tasks) or less, 0 at $0.10 or more.
DEFAULT_COST = LogLinear(0.0001, 0.1)


@dataclasses.dataclass(frozen=True, slots=True)
class Dimensions:
    """Which measured dimensions are scored, and their transforms.

    ``speed`` is None when speed is not scored from the runs, ``cost`` likewise;
    ``consistency`` says whether consistency is.
    """

    speed: tuple[SpeedComponent, ...] | None = DEFAULT_SPEED
    cost: LogLinear | None = DEFAULT_COST
    consistency: bool = True

    @property
    def measured(self) -> tuple[str, ...]:
        """The dimensions scored from the runs, in :data:`DIMENSIONS` order."""
        on = {"speed": self.speed is not None, "cost": self.cost is not None, "consistency": self.consistency}
        return tuple(name for name in DIMENSIONS if on[name])

    def to_dict(self) -> dict[str, Any]:
        return {
            "speed": None if self.speed is None else {c.name: c.to_dict() for c in self.speed},
            "cost": None if self.cost is None else {"best_usd": self.cost.best, "worst_usd": self.cost.worst},
            "consistency": self.consistency,
            "transform": "log-linear: 100 at or below best, 0 at or above worst, linear in log(value) between",
        }


#: No measured dimension: every score from the answers only (what a results file written
#: before the measured dimensions scored: its ``meta.settings`` has no ``dimensions``).
ANSWERS_ONLY = Dimensions(speed=None, cost=None, consistency=False)


# ----------------------------------------------------------------------------- parsing


def _positive(value: Any, where: str, key: str, unit: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{where}: {key} = {value!r} is not allowed; it must be a number > 0 ({unit})")
    return float(value)


def _log_linear(entry: Mapping[str, Any], default: LogLinear, where: str, unit: str, suffix: str) -> LogLinear:
    best_key, worst_key = f"best_{suffix}", f"worst_{suffix}"
    best = _positive(entry[best_key], where, best_key, unit) if best_key in entry else default.best
    worst = _positive(entry[worst_key], where, worst_key, unit) if worst_key in entry else default.worst
    if worst <= best:
        raise ConfigError(f"{where}: {worst_key} = {worst:g} is not allowed; it must be more than "
                          f"{best_key} = {best:g} (100 points at {best_key}, 0 at {worst_key})")
    return LogLinear(best, worst)


def _measured_flag(table: Mapping[str, Any], where: str) -> bool:
    value = table.get("measured", True)
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: measured = {value!r} is not allowed; use true or false")
    return value


def _table(tool: Mapping[str, Any], name: str, allowed: tuple[str, ...]) -> Mapping[str, Any]:
    table = tool.get(name)
    where = f"[tool.modelbench.{name}]"
    if table is None:
        return {}
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table, got {table!r}")
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise ConfigError(f"{where} has unknown key {unknown[0]!r}; allowed: {', '.join(allowed)}")
    return table


def parse_dimensions(tool: Mapping[str, Any] | None) -> Dimensions:
    """The measured dimensions from ``[tool.modelbench.speed]``, ``[tool.modelbench.cost]`` and
    ``[tool.modelbench.consistency]`` (defaults for whatever is not set)::

        [tool.modelbench.speed]
        latency_p95 = { best_ms = 300, worst_ms = 10000, weight = 0.4 }
        [tool.modelbench.cost]
        best_usd = 0.0001     # per task: 100 points at or below
        worst_usd = 0.1       # per task: 0 points at or above
        [tool.modelbench.consistency]
        measured = false      # (each table takes measured = false)

    Every mistake is a ConfigError naming the table, the key and the value.
    """
    tool = tool or {}
    speed_table = _table(tool, "speed", ("measured", *SPEED_COMPONENTS))
    speed: tuple[SpeedComponent, ...] | None = None
    if _measured_flag(speed_table, "[tool.modelbench.speed]"):
        components = []
        for default in DEFAULT_SPEED:
            where = f"[tool.modelbench.speed] {default.name}"
            entry = speed_table.get(default.name, {})
            if not isinstance(entry, Mapping):
                raise ConfigError(f"{where} = {entry!r} is not allowed; it must be a table such as "
                                  "{ best_ms = 300, worst_ms = 10000, weight = 0.4 }")
            unknown = sorted(set(entry) - {"best_ms", "worst_ms", "weight"})
            if unknown:
                raise ConfigError(f"{where} has unknown key {unknown[0]!r}; allowed: best_ms, worst_ms, weight")
            weight = entry.get("weight", default.weight)
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) \
                    or weight < 0:
                raise ConfigError(f"{where}: weight = {weight!r} is not allowed; it must be a number >= 0 "
                                  "(0 leaves the component out)")
            components.append(SpeedComponent(default.name, _log_linear(entry, default.transform, where,
                                                                       "milliseconds", "ms"), float(weight)))
        if not any(c.weight > 0 for c in components):
            raise ConfigError("[tool.modelbench.speed]: every component has weight 0; give one a weight > 0, "
                              "or set measured = false to leave speed out of the score")
        speed = tuple(c for c in components if c.weight > 0)
    cost_table = _table(tool, "cost", ("measured", "best_usd", "worst_usd"))
    cost = None
    if _measured_flag(cost_table, "[tool.modelbench.cost]"):
        cost = _log_linear(cost_table, DEFAULT_COST, "[tool.modelbench.cost]", "USD per task", "usd")
    consistency_table = _table(tool, "consistency", ("measured",))
    return Dimensions(speed=speed, cost=cost,
                      consistency=_measured_flag(consistency_table, "[tool.modelbench.consistency]"))


def dimensions_from_dict(data: Any, where: str = "dimensions") -> Dimensions:
    """The inverse of :meth:`Dimensions.to_dict` (a results file's ``meta.settings.dimensions``),
    so a saved session is scored again with its own reference points. A component missing from
    ``speed`` had weight 0. ConfigError naming ``where`` and the bad value."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where} = {data!r:.80} is not allowed; it must be an object "
                          "with speed, cost and consistency")
    tool: dict[str, Any] = {}
    speed = data.get("speed")
    if speed is None:
        tool["speed"] = {"measured": False}
    elif isinstance(speed, Mapping):
        tool["speed"] = {**{name: {"weight": 0} for name in SPEED_COMPONENTS}, **speed}
    else:
        raise ConfigError(f"{where}: speed = {speed!r:.80} is not allowed; it must be an object or null")
    cost = data.get("cost")
    if cost is None:
        tool["cost"] = {"measured": False}
    elif isinstance(cost, Mapping):
        tool["cost"] = dict(cost)
    else:
        raise ConfigError(f"{where}: cost = {cost!r:.80} is not allowed; it must be an object or null")
    tool["consistency"] = {"measured": data.get("consistency", True)}
    try:
        return parse_dimensions(tool)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
