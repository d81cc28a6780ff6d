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

import numpy as np

from ..core.dimensions import Dimensions
from ..core.records import RunRecord
from ..core.scoring import (
    ScoreColumns,
    category_scores,
    clean_float,
    overall_scores,
    pass_at_k_block,
    score_columns,
    task_clusters,
    weighted_category_mean,
)
from ..core.table import RunTable
from ..cost import (
    ModelPrice,
    SelfHosting,
    break_even,
    cheapest_within,
    output_throughput,
    self_hosted_cost,
    summarize_costs,
)
from ..profile.summary import percentiles, summarise_loads, token_total
from ..stats import clustered_wilson_interval, normal_ppf

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


def summarise(records: Sequence[RunRecord], category_weights: Mapping[str, float],
              models: Sequence[str] | None = None, table: RunTable | None = None, *,
              dimensions: Dimensions | None = None, columns: ScoreColumns | None = None) -> dict[str, dict[str, Any]]:
    """The ``models`` block of the results file: one entry per model, JSON builtins only.

    ``table`` is ``RunTable.from_records(records, models)`` when the caller has it already.
    With ``dimensions`` (or ``columns``) the measured dimensions are categories of the score,
    and each model gains a ``dimensions`` block (docs/results.md).
    """
    names = list(models) if models is not None else sorted({r.model for r in records})
    if table is None:
        table = RunTable.from_records(records, names)
    if columns is None:
        columns = score_columns(table, dimensions)
    cat_score, cat_pass, cat_tasks = category_scores(table, columns)
    overall = overall_scores(cat_score, columns.categories, category_weights)
    by_outcome = np.zeros((table.n_models, 3), dtype=np.int64)
    np.add.at(by_outcome, (table.model, table.outcome.astype(np.int64)), 1)
    skipped: dict[str, int] = {}
    judged: dict[str, list[RunRecord]] = {}
    cpu: dict[str, float] = {}
    rss: dict[str, float] = {}
    loads: dict[str, list[dict[str, Any]]] = {}
    first_error: dict[str, str] = {}
    for record in records:  # one pass for what the table leaves out: skips, errors, judge, resources
        if record.outcome == "skipped":
            skipped[record.model] = skipped.get(record.model, 0) + 1
        elif record.outcome == "error" and record.model not in first_error:
            first_error[record.model] = record.error or "error"
        if record.judge_calls:
            judged.setdefault(record.model, []).append(record)
        if record.cpu_s is not None:
            cpu[record.model] = cpu.get(record.model, 0.0) + record.cpu_s
        if record.peak_rss_mb is not None:
            rss[record.model] = max(rss.get(record.model, 0.0), record.peak_rss_mb)
        for level in record.load or ():
            loads.setdefault(record.model, []).append({"task": record.task, "run": record.run, **level})
    counts = {}
    for i, name in enumerate(names):
        passed, failed, errors = (int(value) for value in by_outcome[i])
        count_skipped = skipped.get(name, 0)
        counts[name] = {"runs": passed + failed + errors + count_skipped, "passed": passed,
                        "failed": failed, "errors": errors, "skipped": count_skipped}
    cat_runs = np.zeros((table.n_models, len(columns.categories)), dtype=np.int64)
    measured = table.measured
    answer_category = columns.category[columns.answers]  # the answer columns are the tasks, in order
    np.add.at(cat_runs, (table.model[measured], answer_category[table.task[measured]]), 1)
    marked_tasks = np.zeros((table.n_models, len(columns.categories)), dtype=np.int64)
    np.add.at(marked_tasks, (slice(None), answer_category), ~np.isnan(columns.values[:, columns.answers]))
    measured_blocks = _dimension_blocks(table, columns, dimensions)
    task_runs = table.cell_counts()
    task_passes = np.zeros((table.n_models, table.n_tasks))
    np.add.at(task_passes, (table.model[measured], table.task[measured]), table.passed[measured])

    summary: dict[str, dict[str, Any]] = {}
    for i, name in enumerate(names):
        rows = table.model == i
        count = counts[name]
        counted = count["passed"] + count["failed"]  # measured runs: errors measure nothing
        ran = task_runs[i] > 0
        proportion = clustered_wilson_interval(task_passes[i, ran], task_runs[i, ran]) if counted else None
        called = rows & ~np.isnan(table.latency_ms)
        summary[name] = {
            "model": name,
            **count,
            "measured": counted > 0,
            "not_measured": None if counted else _not_measured_reason(count, first_error.get(name)),
            "pass_rate": count["passed"] / counted if counted else None,
            "pass_rate_ci95": [proportion.interval.low, proportion.interval.high] if proportion else None,
            "pass_rate_effective_n": proportion.effective_n if proportion else None,
            "quality_mean": float(table.quality[rows & measured].mean()) if counted else None,
            "score": clean_float(overall[i]),
            "categories": {
                category: _category_entry(cat_score[i, c], cat_pass[i, c], int(cat_tasks[i, c]),
                                          int(marked_tasks[i, c]), int(cat_runs[i, c]),
                                          measured_blocks.get(category, [None] * len(names))[i])
                for c, category in enumerate(columns.categories)
                if cat_tasks[i, c] > 0
            },
            "latency_ms": percentiles(table.latency_ms[called]),
            "ttft_ms": percentiles(table.ttft_ms[called]),
            "input_tokens": token_total(table.input_tokens[called]),
            "output_tokens": token_total(table.output_tokens[called]),
        }
        if measured_blocks:
            summary[name]["dimensions"] = {dimension: blocks[i] for dimension, blocks in measured_blocks.items()}
        if name in cpu:
            summary[name]["resources"] = {"client_cpu_s": cpu[name], "client_peak_rss_mb": rss.get(name)}
        if name in loads:
            summary[name]["load"] = summarise_loads(loads[name])
        block = pass_at_k_block(table, i)
        if block is not None:
            summary[name]["pass_at_k"] = block
        if name in judged:
            runs = judged[name]
            costs = [r.judge_cost_usd for r in runs]
            summary[name]["judge"] = {
                "calls": sum(r.judge_calls for r in runs),
                "runs": len(runs),
                "latency_ms_mean": sum(r.judge_latency_ms or 0.0 for r in runs) / len(runs),
                "cost_usd": None if any(c is None for c in costs) else sum(costs),
            }
    return summary


def _category_entry(score: float, pass_rate: float, columns: int, marked: int, runs: int,
                    dimension: Mapping[str, Any] | None) -> dict[str, Any]:
    """A model's entry in ``categories``: its score, and for a measured dimension where the
    score came from (the measured part, the marked tasks, or both halves)."""
    entry = {"score": clean_float(score), "pass_rate": clean_float(pass_rate), "tasks": marked or columns,
             "runs": runs}
    if dimension is not None:
        entry["tasks"] = marked
        entry["measured_tasks"] = dimension["tasks"]
        entry["source"] = ("measured and marked tasks" if marked and dimension["score"] is not None
                           else "marked tasks" if marked else "measured")
    return entry


Z95 = normal_ppf(0.975)

#: Why a measured dimension has no score, by dimension (the cost reason is refined in ``analyse``).
UNKNOWN_REASONS = {
    "speed": "no run called the model, so no latency was measured",
    "cost": "no run's cost is known (no price, or the server reported no token counts)",
    "consistency": "no task was run twice (consistency compares repeated runs of a task)",
}


def _dimension_blocks(table: RunTable, columns: ScoreColumns,
                      dimensions: Dimensions | None) -> dict[str, list[dict[str, Any]]]:
    """Per measured dimension, one block per model: its measured score (the mean over tasks of
    the task scores, every task once) with its task-clustered 95% interval, the tasks it
    covers, and why it is unknown when it is."""
    if dimensions is None:
        return {}
    cluster, n_clusters = task_clusters(table)
    blocks: dict[str, list[dict[str, Any]]] = {}
    for name in dimensions.measured:
        kind = 1 + columns.dimensions.index(name) if name in columns.dimensions else -1
        inside = columns.kind == kind
        values = columns.values[:, inside]
        mean = weighted_category_mean(values, np.ones(values.shape[1]), np.zeros(values.shape[1], dtype=np.int64),
                                      np.ones(1), cluster[columns.task[inside]], n_clusters, category_se=False)
        tasks = (~np.isnan(values)).sum(axis=1)
        entries = []
        for i in range(table.n_models):
            score, se = clean_float(mean.overall[i]), clean_float(mean.overall_se[i])
            interval = [None, None] if se is None or score is None else \
                [max(0.0, score - Z95 * se), min(100.0, score + Z95 * se)]
            entries.append({"score": score, "ci95": interval, "tasks": int(tasks[i]),
                            "unknown": None if score is not None else UNKNOWN_REASONS[name]})
        blocks[name] = entries
    return blocks


def _not_measured_reason(count: Mapping[str, int], first_error: str | None) -> str:
    """Why a model has no measured run: every run errored (with the first reason) or was skipped."""
    errors, skipped = count["errors"], count["skipped"]
    if errors and skipped:
        return f"{errors} runs errored and {skipped} were skipped (first error: {first_error})"
    if errors:
        return f"{'its only run' if errors == 1 else f'all {errors} runs'} errored (first: {first_error})"
    if skipped:
        return f"{'its only run was' if skipped == 1 else f'all {skipped} runs were'} skipped"
    return "no runs"


def analyse(records: Sequence[RunRecord], *, models: Sequence[str],
            category_weights: Mapping[str, float],
            cost: CostSettings | None = None, compare: CompareSettings | None = None,
            dimensions: Dimensions | None = None) -> Analysis:
    """The analysis blocks of the results document, and the comparison objects behind them.

    ``dimensions`` are the measured dimensions (speed, cost, consistency) every score
    includes; None scores the answers of the marked tasks only."""
    from ..compare.head_to_head import compare as compare_models
    from ..compare.head_to_head import compare_pair

    cost = cost or CostSettings()
    compare = compare or CompareSettings()
    table = RunTable.from_records(records, models)
    summary = summarise(records, category_weights, models, table, dimensions=dimensions)
    document: dict[str, Any] = {"models": summary}
    per_task = _add_costs(document, table, cost)
    for name in table.models:
        block = (summary[name].get("dimensions") or {}).get("cost")
        if block is not None and block["unknown"] is not None:
            block["unknown"] = ("no price known for this model: set one in [tool.modelbench.prices] or in "
                                "the model's price table" if cost.prices.get(name) is None else
                                "the server reported no token counts, so no run could be priced")
    # Only measurements are ranked and compared: a model without one measured run is reported
    # (with why) and left out of rankings, head-to-head and recommendations.
    measured = [name for name in table.models if summary[name]["measured"]]
    document["not_measured"] = [
        {"model": name, "reason": summary[name]["not_measured"], "errors": summary[name]["errors"],
         "skipped": summary[name]["skipped"]}
        for name in table.models if not summary[name]["measured"]
    ]
    report = pair = None
    if measured:
        compared = table if len(measured) == table.n_models else RunTable.from_records(records, measured)
        latency = {name: (summary[name]["latency_ms"] or {}).get("p50") for name in measured}
        report = compare_models(
            compared, category_weights, alpha=compare.alpha, seed=compare.seed, bootstrap=compare.bootstrap,
            costs={name: per_task.get(name) for name in measured}, latency_p50=latency, dimensions=dimensions,
        )
        blocks = report.to_dict()
        document["rankings"] = {"headline": compare.rank, **blocks["rankings"]}
        document["comparisons"] = blocks["head_to_head"]
        document["consistency"] = blocks["consistency"]
        if compare.pair is not None and all(name in compared.models for name in compare.pair):
            pair = compare_pair(compared, *compare.pair, category_weights, alpha=compare.alpha, seed=compare.seed,
                                head_to_head_result=report.head_to_head, dimensions=dimensions)
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
