"""Everything computed at the end of a session, as one JSON-ready document.

``analyse()`` turns run records into the blocks of the results file (``models`` with their
``cost``, ``budget``, ``tradeoff``, and the comparison blocks); the terminal summary, the JSON
file and the reports are all rendered from this one document, so they always agree.
Does not import pytest.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

from ._records import RunRecord
from ._table import RunTable
from .cost import (
    ModelPrice,
    SelfHosting,
    break_even,
    cheapest_within,
    output_throughput,
    self_hosted_cost,
    summarize_costs,
)
from .scoring import summarise

#: The trade-off line names the cheapest model within this many score points of the best.
TRADEOFF_POINTS = 5.0


@dataclasses.dataclass(frozen=True, slots=True)
class CompareSettings:
    """How models are compared: significance level, headline ranking, seeded resampling."""

    alpha: float = 0.05
    rank: str = "weighted"
    pair: tuple[str, str] | None = None
    seed: int = 0
    bootstrap: int = 200


@dataclasses.dataclass(slots=True)
class Analysis:
    """The JSON-ready ``document`` and the objects the terminal renders rows from."""

    document: dict[str, Any]
    comparison: Any = None
    pair: Any = None


@dataclasses.dataclass(frozen=True, slots=True)
class CostSettings:
    prices: Mapping[str, ModelPrice | None] = dataclasses.field(default_factory=dict)
    self_hosting: Mapping[str, SelfHosting] = dataclasses.field(default_factory=dict)
    volume_per_day: float | None = None
    budget_usd_per_month: float | None = None
    max_cost_usd: float | None = None


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def analyse(records: Sequence[RunRecord], *, models: Sequence[str],
            category_weights: Mapping[str, float],
            cost: CostSettings | None = None, compare: CompareSettings | None = None) -> Analysis:
    """The analysis blocks of the results document, and the comparison objects behind them."""
    from .comparison import compare as compare_models
    from .comparison import compare_pair

    cost = cost or CostSettings()
    compare = compare or CompareSettings()
    table = RunTable.from_records(records, models)
    summary = summarise(records, category_weights, models, table)
    document: dict[str, Any] = {"models": summary}
    per_task = _add_costs(document, table, cost)
    latency = {name: (summary[name]["latency_ms"] or {}).get("p50") for name in table.models}
    report = compare_models(
        table, category_weights, alpha=compare.alpha, seed=compare.seed, bootstrap=compare.bootstrap,
        costs=per_task, latency_p50=latency,
    )
    blocks = report.to_dict()
    document["rankings"] = {"headline": compare.rank, **blocks["rankings"]}
    document["comparisons"] = blocks["head_to_head"]
    document["consistency"] = blocks["consistency"]
    pair = None
    if compare.pair is not None and all(name in table.models for name in compare.pair):
        pair = compare_pair(table, *compare.pair, category_weights, alpha=compare.alpha, seed=compare.seed)
        document["compare"] = pair.to_dict()
    return Analysis(document=_finite(document), comparison=report, pair=pair)


def _add_costs(document: dict[str, Any], table: RunTable, settings: CostSettings) -> dict[str, float | None]:
    """Add each model's ``cost`` block and the ``tradeoff``/``budget`` blocks; cost per task."""
    summary = document["models"]
    scores = {name: summary[name]["score"] for name in table.models}
    costs = summarize_costs(table, table.cost_usd, cached=table.cached, scores=scores)
    per_task: dict[str, float | None] = {}
    for name, model_cost in costs.items():
        block = model_cost.to_dict()
        price = settings.prices.get(name)
        block["price"] = None if price is None else price.to_dict()
        summary[name]["cost"] = block
        per_task[name] = model_cost.cost_per_task_usd
    for name, hosting in settings.self_hosting.items():
        if name not in summary:
            continue
        measured_under_load = [level["output_token_throughput"] for level in summary[name].get("load") or ()
                               if level.get("output_token_throughput") and not level.get("client_bottleneck")]
        # a load profile measures the server's aggregate capacity; sequential runs only a lower bound
        throughput = max(measured_under_load) if measured_under_load else output_throughput(table, name)
        if throughput is None:
            summary[name]["cost"]["self_hosted"] = {"error": "no output tokens/s measured (the server reported no token counts)"}
            continue
        tco = self_hosted_cost(
            hosting, throughput, tasks_per_day=settings.volume_per_day,
            output_tokens_per_task=costs[name].output_tokens_per_task,
        )
        hosted = {other: value for other, value in per_task.items()
                  if other != name and other not in settings.self_hosting}
        summary[name]["cost"]["self_hosted"] = {
            **tco.to_dict(),
            "throughput_source": "load profile" if measured_under_load else "sequential runs",
            "break_even": {other: item.to_dict() for other, item in break_even(tco, hosted).items()},
        }
    known_scores = {name: score for name, score in scores.items() if score is not None}
    if known_scores:
        document["tradeoff"] = cheapest_within(known_scores, per_task, TRADEOFF_POINTS).to_dict()
    if settings.volume_per_day is not None:
        projections = {}
        for name, model_cost in costs.items():
            projection = model_cost.projection(settings.volume_per_day)
            entry = None if projection is None else projection.to_dict()
            if entry is not None and settings.budget_usd_per_month is not None:
                entry["budget"] = projection.fits_budget(settings.budget_usd_per_month).to_dict()
            projections[name] = entry
        document["budget"] = {
            "volume_tasks_per_day": settings.volume_per_day,
            "budget_usd_per_month": settings.budget_usd_per_month,
            "models": projections,
        }
    if settings.max_cost_usd is not None:
        document.setdefault("budget", {})["max_cost_usd"] = settings.max_cost_usd
    return per_task
