"""Per-model summary of run records: counts, pass rate, scores, latency, tokens.

Scores (documented in docs/results.md):

* task score = 0.6 × pass rate + 0.4 × mean quality over the task's runs (an ``error`` run
  counts as a miss with quality 0; skipped runs are not counted);
* category score = 100 × weighted mean of task scores over the category's tasks, each task
  weighted by marker weight × difficulty multiplier;
* overall score = weighted mean of category scores over the categories the model has tasks
  in, category weights renormalised over those categories.

Numpy only; does not import pytest.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ._records import RunRecord
from ._table import RunTable
from .stats import pass_at_k, wilson_interval

#: Categories whose tasks report pass@k (Chen et al. 2021) when they have several runs.
PASS_AT_K_CATEGORIES = ("coding",)
PASS_AT_K_VALUES = (1, 5, 10)

PASS_SHARE = 0.6
QUALITY_SHARE = 0.4


def category_scores(table: RunTable) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per (model, category): score (0-100), weighted pass rate, tasks run. NaN when none.

    The point estimates of :func:`pytest_modelbench.rankings.weighted_category_mean`, which
    also gives their task-clustered standard errors: the score is defined in one place.
    """
    from .rankings import task_scores, weighted_category_mean

    def category_means(values: np.ndarray) -> Any:
        return weighted_category_mean(
            values, table.task_weight, table.task_category, np.ones(len(table.categories)),
            np.arange(table.n_tasks), table.n_tasks, category_se=False, overall_se=False,
        )

    scores = category_means(task_scores(table))
    pass_rate = category_means(table.cell_means(table.passed)).category
    return scores.category, pass_rate, scores.tasks


def overall_scores(category_score: np.ndarray, categories: Sequence[str],
                   category_weights: Mapping[str, float]) -> np.ndarray:
    """Weighted mean over the categories each model has, weights renormalised."""
    weights = np.array([category_weights[name] for name in categories], dtype=np.float64)
    present = ~np.isnan(category_score)
    used = np.where(present, weights[None, :], 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (np.where(present, category_score, 0.0) * used).sum(axis=1) / used.sum(axis=1)


def pass_at_k_block(table: RunTable, model: int) -> dict[str, Any] | None:
    """pass@k over the model's coding tasks, for k in 1, 5, 10 and the fewest runs of a task.

    Unbiased estimator of Chen et al. (2021), averaged over tasks; only k ≤ the smallest run
    count of those tasks. None when the model ran no coding task more than once.
    """
    coding = [c for c, name in enumerate(table.categories) if name in PASS_AT_K_CATEGORIES]
    if not coding:
        return None
    runs = table.cell_counts()[model]
    passes = np.bincount(table.task[(table.model == model) & table.passed], minlength=table.n_tasks)
    tasks = np.isin(table.task_category, coding) & (runs > 0)
    if not tasks.any() or runs[tasks].min() < 2:
        return None
    n, c = runs[tasks], passes[tasks]
    smallest = int(n.min())
    ks = sorted({k for k in (*PASS_AT_K_VALUES, smallest) if k <= smallest})
    return {"tasks": int(tasks.sum()), "runs_min": smallest,
            **{f"pass@{k}": pass_at_k(n, c, k) for k in ks}}


LOAD_METRICS = ("request_throughput", "output_token_throughput", "goodput", "error_rate", "mean_in_flight")
LOAD_LATENCIES = ("ttft_ms", "itl_ms", "tpot_ms", "e2e_ms")


def summarise_loads(levels: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One entry per (task, concurrency or rate) level: the median of each metric over the runs
    that measured it (median, so one disturbed run does not move the summary), and how many
    runs that was; flags a level where any run found the client to be the bottleneck."""
    groups: dict[tuple[str, str, Any], list[Mapping[str, Any]]] = {}
    for level in levels:
        key = (level["task"], level["mode"], level["concurrency"] if level["mode"] == "concurrency" else level["rate"])
        groups.setdefault(key, []).append(level)

    def median(values: list[Any]) -> float | None:
        known = [float(v) for v in values if v is not None]
        return float(np.median(known)) if known else None

    summary = []
    for (task, mode, value), runs in groups.items():
        entry: dict[str, Any] = {"task": task, "mode": mode, "level": value, "runs": len(runs)}
        for metric in LOAD_METRICS:
            entry[metric] = median([run.get(metric) for run in runs])
        for metric in LOAD_LATENCIES:
            entry[metric] = {
                stat: median([(run.get(metric) or {}).get(stat) for run in runs])
                for stat in ("mean", "p50", "p95", "p99")
            }
        entry["client_bottleneck"] = any(run.get("client_bottleneck") for run in runs)
        summary.append(entry)
    summary.sort(key=lambda item: (item["task"], item["mode"], item["level"]))
    return summary


def _percentiles(values: np.ndarray) -> dict[str, float] | None:
    known = values[~np.isnan(values)]
    if known.size == 0:
        return None
    p50, p95, p99 = np.percentile(known, [50, 95, 99])  # linear interpolation (numpy default)
    return {"p50": float(p50), "p95": float(p95), "p99": float(p99), "mean": float(known.mean())}


def _total(values: np.ndarray) -> int | None:
    if values.size == 0 or np.isnan(values).any():
        return None
    return int(values.sum())


def _clean(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def summarise(records: Sequence[RunRecord], category_weights: Mapping[str, float],
              models: Sequence[str] | None = None, table: RunTable | None = None) -> dict[str, dict[str, Any]]:
    """The ``models`` block of the results file: one entry per model, JSON builtins only.

    ``table`` is ``RunTable.from_records(records, models)`` when the caller has it already.
    """
    names = list(models) if models is not None else sorted({r.model for r in records})
    if table is None:
        table = RunTable.from_records(records, names)
    cat_score, cat_pass, cat_tasks = category_scores(table)
    overall = overall_scores(cat_score, table.categories, category_weights)
    by_outcome = np.zeros((table.n_models, 3), dtype=np.int64)
    np.add.at(by_outcome, (table.model, table.outcome.astype(np.int64)), 1)
    skipped: dict[str, int] = {}
    judged: dict[str, list[RunRecord]] = {}
    cpu: dict[str, float] = {}
    rss: dict[str, float] = {}
    loads: dict[str, list[dict[str, Any]]] = {}
    for record in records:  # one pass for what the table leaves out: skips, judge, resources
        if record.outcome == "skipped":
            skipped[record.model] = skipped.get(record.model, 0) + 1
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
    cat_runs = np.zeros((table.n_models, len(table.categories)), dtype=np.int64)
    np.add.at(cat_runs, (table.model, table.task_category[table.task]), 1)

    summary: dict[str, dict[str, Any]] = {}
    for i, name in enumerate(names):
        rows = table.model == i
        count = counts[name]
        counted = count["passed"] + count["failed"] + count["errors"]
        interval = wilson_interval(count["passed"], counted) if counted else None
        called = rows & ~np.isnan(table.latency_ms)
        summary[name] = {
            "model": name,
            **count,
            "pass_rate": count["passed"] / counted if counted else None,
            "pass_rate_ci95": [interval.low, interval.high] if interval else None,
            "quality_mean": float(table.quality[rows].mean()) if counted else None,
            "score": _clean(overall[i]),
            "categories": {
                category: {
                    "score": _clean(cat_score[i, c]),
                    "pass_rate": _clean(cat_pass[i, c]),
                    "tasks": int(cat_tasks[i, c]),
                    "runs": int(cat_runs[i, c]),
                }
                for c, category in enumerate(table.categories)
                if cat_tasks[i, c] > 0
            },
            "latency_ms": _percentiles(table.latency_ms[called]),
            "ttft_ms": _percentiles(table.ttft_ms[called]),
            "input_tokens": _total(table.input_tokens[called]),
            "output_tokens": _total(table.output_tokens[called]),
        }
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
