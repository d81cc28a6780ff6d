"""Compare this run with a saved baseline results file (numpy only; does not import pytest).

For every model present in both runs, the comparison is paired on the tasks both runs ran
(Miller 2024, "Adding Error Bars to Evals", arXiv 2411.00640, §4: a task is the unit of
sampling, the runs of a task are one cluster, and the same tasks measured twice are compared
through their per-task differences):

* each task's score is 100 × (0.6 × pass rate + 0.4 × mean quality) over its runs, as in the
  score definition of docs/results.md;
* the overall score is a weighted mean of task scores, S = Σ_t π_t x_t, with
  π_t = α_c · w_t / W_c (α_c the category weight renormalised over the categories present,
  w_t the task's marker weight × difficulty multiplier, W_c the sum of w_t over the
  category's tasks). Restricted to the shared tasks, the score change is
  Δ = Σ_t π_t d_t with d_t = x_t(current) − x_t(baseline);
* its standard error and normal interval come from
  :func:`~pytest_modelbench.stats.paired_difference` applied to per-task contributions whose
  mean is Δ (the linearised, category-stratified, task-clustered SE; see
  :func:`weighted_paired_delta`), and its p-value is the sign-flip permutation test
  (:func:`~pytest_modelbench.stats.sign_flip_test_batch`) of y_t = n · π_t · d_t (of its
  task-group sums when tasks carry ``group=``, since tasks of one group are not
  independent). With equal weights in one category this is exactly Miller's paired
  analysis of d.

Latency and cost are compared on the same shared tasks: p95 of run latency (numpy's linear
interpolation) and cost per task (mean over tasks of each task's mean run cost; unknown when a
run that called the model has no ``cost_usd``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tabulate import tabulate

from .._exceptions import ConfigError
from ..core.config import DEFAULT_CATEGORY_WEIGHTS
from ..core.records import RunRecord
from ..core.results import read_results, write_json_atomic
from ..core.scoring import PASS_SHARE, QUALITY_SHARE, task_scores, task_shares
from ..core.table import RunTable
from ..stats import (
    Interval,
    VarianceComponents,
    minimum_detectable_effect,
    paired_difference,
    sign_flip_test_batch,
    variance_components,
)

__all__ = [
    "Baseline",
    "BaselineComparison",
    "CategoryDelta",
    "ModelBaseline",
    "WeightedDelta",
    "baseline_document",
    "category_centred",
    "compare_to_baseline",
    "cost_per_task_by_model",
    "load_baseline",
    "run_costs",
    "weighted_paired_delta",
    "write_baseline",
]

#: Blocks of a results document that describe a comparison with an older baseline; they are
#: dropped when the document itself becomes the new baseline.
BASELINE_ONLY_BLOCKS = ("baseline", "gates")


def _clean(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


# ------------------------------------------------------------------------- loading


@dataclasses.dataclass(frozen=True, slots=True)
class Baseline:
    """A saved results file: where it came from, the document and its run records."""

    path: str
    document: Mapping[str, Any]
    records: tuple[RunRecord, ...]

    @property
    def git_commit(self) -> str | None:
        meta = self.document.get("meta")
        return meta.get("git_commit") if isinstance(meta, Mapping) else None

    @property
    def finished_at(self) -> str | None:
        meta = self.document.get("meta")
        return meta.get("finished_at") if isinstance(meta, Mapping) else None


def load_baseline(path: str | Path) -> Baseline:
    """Read a baseline results file (``_results.read_results``: ConfigError naming the file)."""
    document, records = read_results(Path(path))
    return Baseline(str(path), document, tuple(records))


def baseline_document(document: Mapping[str, Any]) -> dict[str, Any]:
    """The document to save as the next baseline: this run without its baseline/gate blocks."""
    return {key: value for key, value in document.items() if key not in BASELINE_ONLY_BLOCKS}


def write_baseline(path: str | Path, document: Mapping[str, Any]) -> None:
    """Save ``document`` as the baseline at ``path`` (atomically; the directory is created)."""
    write_json_atomic(Path(path), baseline_document(document))


# ------------------------------------------------------------------ per-task scores


def run_costs(records: Sequence[RunRecord], table: RunTable) -> np.ndarray:
    """Mean run cost (USD) per (model, task) of ``table``; NaN when unknown or not run.

    A run that made no model call costs 0; a run that called the model without a
    ``cost_usd`` (no price, or a token count the server did not report) is unknown, and makes
    its task's cost unknown: a mean over the priced runs only would understate the cost.
    """
    model_index = {name: i for i, name in enumerate(table.models)}
    task_index = {name: i for i, name in enumerate(table.tasks)}
    counted = [r for r in records
               if r.outcome != "skipped" and r.model in model_index and r.task in task_index]
    size = table.n_models * table.n_tasks
    if not counted:
        return np.full((table.n_models, table.n_tasks), np.nan)
    flat = np.fromiter((model_index[r.model] * table.n_tasks + task_index[r.task] for r in counted),
                       dtype=np.int64, count=len(counted))
    cost = np.fromiter(
        (r.cost_usd if r.cost_usd is not None else (0.0 if not r.calls else np.nan) for r in counted),
        dtype=np.float64, count=len(counted),
    )
    known = ~np.isnan(cost)
    sums = np.bincount(flat, weights=np.where(known, cost, 0.0), minlength=size)
    counts = np.bincount(flat, minlength=size)
    unknown = np.bincount(flat, weights=(~known).astype(np.float64), minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts
    means[(counts == 0) | (unknown > 0)] = np.nan
    return means.reshape(table.n_models, table.n_tasks)


def cost_per_task_by_model(records: Sequence[RunRecord]) -> dict[str, float | None]:
    """Cost per task (USD) of each model: the mean over its tasks of each task's mean run cost.

    The same definition as ``cost.ModelCost.cost_per_task_usd``, but strict: None (unknown)
    when any task's cost is unknown (see :func:`run_costs`).
    """
    table = RunTable.from_records(records)
    cells = run_costs(records, table)
    ran = ~np.isnan(task_scores(table))
    result: dict[str, float | None] = {}
    for i, name in enumerate(table.models):
        values = cells[i, ran[i]]
        result[name] = None if values.size == 0 or np.isnan(values).any() else float(values.mean())
    return result


# -------------------------------------------------------------- weighted paired delta


@dataclasses.dataclass(frozen=True, slots=True)
class WeightedDelta:
    """A paired comparison of two weighted scores on the same tasks.

    ``a`` and ``b`` are the two sides' weighted scores over the shared tasks, ``delta = a − b``.
    ``se``/``ci`` come from :func:`~pytest_modelbench.stats.paired_difference` (NaN below two
    tasks or task groups); ``p_value`` is the sign-flip permutation test (``test`` names the
    variant), ``p_value_normal`` the normal-approximation p-value of the same SE.
    """

    a: float
    b: float
    delta: float
    se: float
    ci: Interval
    p_value: float
    p_value_normal: float
    test: str
    n_tasks: int
    n_clusters: int | None
    confidence: float

    def significant(self, alpha: float) -> bool:
        """True when the permutation p-value is at most ``alpha``."""
        return not math.isnan(self.p_value) and self.p_value <= alpha

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": _clean(self.a),
            "b": _clean(self.b),
            "delta": _clean(self.delta),
            "se": _clean(self.se),
            "ci": [_clean(self.ci.low), _clean(self.ci.high)],
            "p_value": _clean(self.p_value),
            "p_value_normal": _clean(self.p_value_normal),
            "test": self.test,
            "n_tasks": self.n_tasks,
            "n_clusters": self.n_clusters,
            "confidence": self.confidence,
        }


def _cluster_sums(values: np.ndarray, groups: np.ndarray | None) -> np.ndarray:
    if groups is None:
        return values
    _, index = np.unique(groups, return_inverse=True)
    return np.bincount(index.reshape(-1), weights=values)


def category_centred(differences: np.ndarray, share: np.ndarray, task_category: np.ndarray) -> np.ndarray:
    """D_c(t): the weighted mean difference of each task's category, Σ_{s∈c} π_s d_s / Σ_{s∈c} π_s."""
    codes = np.asarray(task_category, dtype=np.int64)
    size = int(codes.max()) + 1
    totals = np.bincount(codes, weights=share * differences, minlength=size)
    weights = np.bincount(codes, weights=share, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (totals / weights)[codes]


def weighted_paired_delta(
    a_scores: np.ndarray,
    b_scores: np.ndarray,
    task_weight: np.ndarray,
    task_category: np.ndarray,
    category_weight: np.ndarray,
    groups: Sequence[str] | np.ndarray | None = None,
    *,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> WeightedDelta:
    """Paired comparison of the weighted scores Σ π_t a_t and Σ π_t b_t over the same tasks.

    With π from :func:`task_shares`, d_t = a_t − b_t and Δ = Σ π_t d_t:

    * SE and interval: :func:`~pytest_modelbench.stats.paired_difference` of
      z_t = Δ + n·π_t·(d_t − D_c(t)) (D_c the weighted mean difference in t's category), whose
      mean is Δ. Its SE, sqrt(n/(n−1) · Σ u_t²) with u_t = π_t (d_t − D_c), is the
      linearised (delta-method) SE of this stratified ratio estimator (Cochran 1977,
      *Sampling Techniques* §6.11), clustered by task group when ``groups`` has a group of
      several tasks (Miller 2024 §2.3, CR1). With one category and equal weights z_t = d_t:
      Miller's paired SE sqrt(var(d, ddof=1)/n) (2024 §4).
    * p-value: the sign-flip permutation test (Fisher 1935; Good 2005) of y_t = n·π_t·d_t,
      whose mean is Δ (flipping whole group sums when clustered, so dependent tasks move
      together); exact up to 16 tasks or groups, else ``n_resamples`` seeded sign patterns.
    """
    estimate, contributions, labels = _weighted_estimate(a_scores, b_scores, task_weight, task_category,
                                                         category_weight, groups, confidence)
    sums = _cluster_sums(contributions, labels)
    test = sign_flip_test_batch(sums[np.newaxis, :], n_resamples=n_resamples, seed=seed)
    return _with_test(estimate, float(test.p_value[0]), test.method, sums.shape[0] if labels is not None else None)


def _with_test(estimate: WeightedDelta, p_value: float, method: str, n_groups: int | None) -> WeightedDelta:
    test = method + (f" over {n_groups} task groups" if n_groups is not None else "")
    return dataclasses.replace(estimate, p_value=p_value, test=test)


def _weighted_estimate(
    a_scores: np.ndarray, b_scores: np.ndarray, task_weight: np.ndarray, task_category: np.ndarray,
    category_weight: np.ndarray, groups: Sequence[str] | np.ndarray | None, confidence: float,
) -> tuple[WeightedDelta, np.ndarray, np.ndarray | None]:
    """Δ with its SE and interval (p-value not yet tested), the per-task contributions
    y_t = n·π_t·d_t to the sign-flip test, and the cluster labels (None: one task each)."""
    a = np.asarray(a_scores, dtype=np.float64)
    b = np.asarray(b_scores, dtype=np.float64)
    n = a.shape[0]
    if n == 0 or b.shape != a.shape:
        raise ValueError(f"a paired comparison needs the same tasks on both sides (at least one), "
                         f"got {a.shape[0]} and {b.shape[0]}")
    share = task_shares(task_weight, task_category, category_weight)
    differences = a - b
    delta = float(np.dot(share, differences))
    centred = delta + n * share * (differences - category_centred(differences, share, task_category))
    labels = None
    if groups is not None:
        labels = np.asarray(groups, dtype=object).astype(str)
        if np.unique(labels).shape[0] == n:
            labels = None  # every task its own cluster: the plain paired analysis
    paired = paired_difference(centred, np.zeros(n), labels, confidence)
    estimate = WeightedDelta(
        a=float(np.dot(share, a)),
        b=float(np.dot(share, b)),
        delta=delta,
        se=paired.se,
        ci=Interval(delta + paired.ci.low - paired.delta, delta + paired.ci.high - paired.delta),
        p_value=math.nan,
        p_value_normal=paired.p_value,
        test="",
        n_tasks=n,
        n_clusters=paired.n_clusters,
        confidence=confidence,
    )
    return estimate, n * share * differences, labels


# ---------------------------------------------------------------------- comparison


@dataclasses.dataclass(frozen=True, slots=True)
class CategoryDelta:
    """Score change of one category on the tasks of that category both runs ran."""

    category: str
    delta: WeightedDelta

    def to_dict(self) -> dict[str, Any]:
        return {"category": self.category, **self.delta.to_dict()}


@dataclasses.dataclass(frozen=True, slots=True)
class ModelBaseline:
    """One model now versus in the baseline, on the tasks both runs ran.

    ``score`` is None when the model shares no task with the baseline. ``variance`` holds the
    variance components of the (n·π-scaled) per-run scores for power calculations (None when
    fewer than 2 shared tasks or fewer than 2 runs per task); ``runs_current`` /
    ``runs_baseline`` are the median runs per shared task; ``mde`` the smallest true change
    this comparison detects at 1 − confidence with 80% power (Miller 2024 §5).
    """

    model: str
    shared_tasks: int
    only_current_tasks: int
    only_baseline_tasks: int
    score: WeightedDelta | None
    categories: tuple[CategoryDelta, ...]
    latency_p95_ms_current: float | None
    latency_p95_ms_baseline: float | None
    cost_per_task_usd_current: float | None
    cost_per_task_usd_baseline: float | None
    variance: VarianceComponents | None
    runs_current: int
    runs_baseline: int
    mde: float | None

    @property
    def delta(self) -> float | None:
        return None if self.score is None else self.score.delta

    @property
    def latency_p95_ms_delta(self) -> float | None:
        if self.latency_p95_ms_current is None or self.latency_p95_ms_baseline is None:
            return None
        return self.latency_p95_ms_current - self.latency_p95_ms_baseline

    @property
    def cost_per_task_usd_delta(self) -> float | None:
        if self.cost_per_task_usd_current is None or self.cost_per_task_usd_baseline is None:
            return None
        return self.cost_per_task_usd_current - self.cost_per_task_usd_baseline

    def to_dict(self) -> dict[str, Any]:
        variance = None
        if self.variance is not None:
            variance = {field.name: getattr(self.variance, field.name)
                        for field in dataclasses.fields(self.variance)}
        score = self.score
        return {
            "model": self.model,
            "shared_tasks": self.shared_tasks,
            "only_current_tasks": self.only_current_tasks,
            "only_baseline_tasks": self.only_baseline_tasks,
            "current": None if score is None else _clean(score.a),
            "baseline": None if score is None else _clean(score.b),
            "delta": None if score is None else _clean(score.delta),
            "ci": None if score is None else [_clean(score.ci.low), _clean(score.ci.high)],
            "p_value": None if score is None else _clean(score.p_value),
            "score": None if score is None else score.to_dict(),
            "categories": {entry.category: entry.delta.to_dict() for entry in self.categories},
            "latency_p95_ms": {"current": _clean(self.latency_p95_ms_current),
                               "baseline": _clean(self.latency_p95_ms_baseline),
                               "delta": _clean(self.latency_p95_ms_delta)},
            "cost_per_task_usd": {"current": _clean(self.cost_per_task_usd_current),
                                  "baseline": _clean(self.cost_per_task_usd_baseline),
                                  "delta": _clean(self.cost_per_task_usd_delta)},
            "variance": variance,
            "runs_current": self.runs_current,
            "runs_baseline": self.runs_baseline,
            "mde": _clean(self.mde),
        }


@dataclasses.dataclass(frozen=True, slots=True)
class BaselineComparison:
    """This run versus a baseline file, model by model (models of both runs only)."""

    path: str
    git_commit: str | None
    finished_at: str | None
    confidence: float
    models: tuple[ModelBaseline, ...]
    only_current_models: tuple[str, ...]
    only_baseline_models: tuple[str, ...]

    def get(self, model: str) -> ModelBaseline:
        for entry in self.models:
            if entry.model == model:
                return entry
        raise KeyError(f"model {model!r} is not in both runs; compared: "
                       f"{', '.join(entry.model for entry in self.models)}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "git_commit": self.git_commit,
            "finished_at": self.finished_at,
            "confidence": self.confidence,
            "method": "paired over shared tasks; task-clustered SE (Miller 2024); "
                      "sign-flip permutation p-value",
            "models": {entry.model: entry.to_dict() for entry in self.models},
            "only_current_models": list(self.only_current_models),
            "only_baseline_models": list(self.only_baseline_models),
        }

    def rows(self) -> list[list[str]]:
        """Rows for ``tabulate`` (header first), fitting 100 columns."""
        level = f"{self.confidence:.0%}"
        rows = [["model", "tasks", "base", "now", f"Δ score [{level} CI]", "p",
                 "Δ p95 ms", "Δ $/task"]]
        for entry in self.models:
            score = entry.score
            if score is None:
                rows.append([_short(entry.model, 22), "0", "-", "-", "no shared task", "-", "-", "-"])
                continue
            interval = ("" if math.isnan(score.ci.low)
                        else f" [{score.ci.low:+.1f}, {score.ci.high:+.1f}]")
            rows.append([
                _short(entry.model, 22),
                str(entry.shared_tasks),
                f"{score.b:.1f}",
                f"{score.a:.1f}",
                f"{score.delta:+.1f}{interval}",
                _p(score.p_value),
                "?" if entry.latency_p95_ms_delta is None else f"{entry.latency_p95_ms_delta:+.0f}",
                "?" if entry.cost_per_task_usd_delta is None else f"{entry.cost_per_task_usd_delta:+.4g}",
            ])
        return rows


    def table(self) -> str:
        """The rows as a plain-text table (tabulate "simple"), at most 100 columns wide."""
        rows = self.rows()
        return tabulate(rows[1:], headers=rows[0], tablefmt="simple", disable_numparse=True,
                        colalign=("left", "right", "right", "right", "right", "right", "right", "right"))


def _p(value: float) -> str:
    if value is None or math.isnan(value):
        return "-"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _category_weight_vector(categories: Sequence[str], weights: Mapping[str, float]) -> np.ndarray:
    missing = [name for name in categories if name not in weights]
    if missing:
        raise ConfigError(f"category {missing[0]!r} has runs but no weight; weighted categories: "
                          f"{', '.join(sorted(weights))}")
    return np.array([float(weights[name]) for name in categories], dtype=np.float64)


def _p95(values: np.ndarray) -> float | None:
    known = values[~np.isnan(values)]
    return float(np.percentile(known, 95)) if known.size else None


def _run_matrix(table: RunTable, model: int, tasks: np.ndarray, runs: int, scale: np.ndarray,
                shift: np.ndarray | None = None) -> np.ndarray:
    """(tasks × runs) per-run scores of ``model`` on ``tasks`` (first ``runs`` runs by run
    number), minus ``shift`` and times ``scale`` per task."""
    rows = np.flatnonzero(table.model == model)
    position = np.full(table.n_tasks, -1, dtype=np.int64)
    position[tasks] = np.arange(tasks.shape[0])
    rows = rows[position[table.task[rows]] >= 0]
    order = np.lexsort((table.run[rows], position[table.task[rows]]))
    rows = rows[order]
    slot = position[table.task[rows]]
    starts = np.searchsorted(slot, np.arange(tasks.shape[0]))
    rank = np.arange(rows.shape[0]) - starts[slot]
    rows = rows[rank < runs]
    score = 100.0 * (PASS_SHARE * table.passed[rows] + QUALITY_SHARE * table.quality[rows])
    matrix = score.reshape(tasks.shape[0], runs)
    if shift is not None:
        matrix = matrix - shift[:, np.newaxis]
    return matrix * scale[:, np.newaxis]


def compare_to_baseline(
    current: Sequence[RunRecord],
    baseline: Baseline,
    *,
    category_weights: Mapping[str, float] | None = None,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
    power: float = 0.8,
) -> BaselineComparison:
    """Compare ``current`` run records with ``baseline`` model by model (see the module doc).

    Task categories, weights and groups are this run's. ``category_weights`` defaults to the
    built-in weights. Raises ConfigError naming the baseline file when the runs share no
    model, or no (model, task) pair.
    """
    weights = dict(DEFAULT_CATEGORY_WEIGHTS if category_weights is None else category_weights)
    now = RunTable.from_records(current)
    then = RunTable.from_records(baseline.records)
    shared_models = sorted(set(now.models) & set(then.models))
    if not shared_models:
        raise ConfigError(
            f"baseline {baseline.path!r} shares no model with this run: the baseline has "
            f"{', '.join(then.models) or '(no runs)'}, this run has {', '.join(now.models) or '(no runs)'}; "
            "save a new baseline with --modelbench-update-baseline"
        )
    _, now_task, then_task = np.intersect1d(np.asarray(now.tasks, dtype=object).astype(str),
                                            np.asarray(then.tasks, dtype=object).astype(str),
                                            return_indices=True)
    category_weight = _category_weight_vector(now.categories, weights)
    now_scores, then_scores = task_scores(now), task_scores(then)
    now_costs, then_costs = run_costs(current, now), run_costs(baseline.records, then)
    now_counts, then_counts = now.cell_counts(), then.cell_counts()
    alpha = 1.0 - confidence
    # Every (model, scope) test shares one batch of sign patterns (one matrix product): the
    # columns are this run's task clusters (a task's group, or the task itself); a row holds
    # the cluster sums of its contributions and 0 elsewhere (a 0 is unchanged by a flip).
    _, cluster_of_task = np.unique(np.asarray(now.task_group, dtype=object).astype(str), return_inverse=True)
    cluster_of_task = cluster_of_task.reshape(-1)
    n_clusters = int(cluster_of_task.max()) + 1 if cluster_of_task.size else 0
    test_rows: list[np.ndarray] = []

    def tested(estimate: WeightedDelta, contributions: np.ndarray, labels: np.ndarray | None,
               tasks: np.ndarray) -> tuple[WeightedDelta, int, int | None]:
        row = np.bincount(cluster_of_task[tasks], weights=contributions, minlength=n_clusters)
        test_rows.append(row)
        groups_used = None if labels is None else int(np.unique(cluster_of_task[tasks]).shape[0])
        return estimate, len(test_rows) - 1, groups_used

    pending: list[tuple[int, int, int | None, list[tuple[int, int | None]]]] = []
    entries = []
    for name in shared_models:
        i, j = now.models.index(name), then.models.index(name)
        a_all, b_all = now_scores[i, now_task], then_scores[j, then_task]
        both = ~np.isnan(a_all) & ~np.isnan(b_all)
        tasks_now, tasks_then = now_task[both], then_task[both]
        only_now = int((~np.isnan(now_scores[i])).sum()) - int(both.sum())
        only_then = int((~np.isnan(then_scores[j])).sum()) - int(both.sum())
        if not both.any():
            entries.append(ModelBaseline(name, 0, only_now, only_then, None, (), None, None, None, None,
                                         None, 0, 0, None))
            continue
        a, b = a_all[both], b_all[both]
        task_weight = now.task_weight[tasks_now]
        task_category = now.task_category[tasks_now]
        groups = np.asarray(now.task_group, dtype=object)[tasks_now]
        score, score_row, score_groups = tested(
            *_weighted_estimate(a, b, task_weight, task_category, category_weight, groups, confidence), tasks_now)
        categories, category_rows = [], []
        for c in np.unique(task_category):
            inside = task_category == c
            estimate, row, used = tested(
                *_weighted_estimate(a[inside], b[inside], task_weight[inside],
                                    np.zeros(int(inside.sum()), dtype=np.int64), np.ones(1), groups[inside],
                                    confidence),
                tasks_now[inside])
            categories.append(CategoryDelta(now.categories[c], estimate))
            category_rows.append((row, used))
        now_rows = (now.model == i) & np.isin(now.task, tasks_now)
        then_rows = (then.model == j) & np.isin(then.task, tasks_then)
        cost_now, cost_then = now_costs[i, tasks_now], then_costs[j, tasks_then]
        runs_now, runs_then = now_counts[i, tasks_now], then_counts[j, tasks_then]
        variance, mde = None, None
        fewest = int(min(runs_now.min(), runs_then.min()))
        if tasks_now.shape[0] >= 2 and fewest >= 2:
            # The same scaling as the SE above: per-task contributions n·π_t·(d_t − D_c), so
            # ω² and σ² are on the scale of the score change (Miller 2024 §5).
            share = task_shares(task_weight, task_category, category_weight)
            shift = category_centred(a - b, share, task_category)
            scale = tasks_now.shape[0] * share
            variance = variance_components(_run_matrix(now, i, tasks_now, fewest, scale, shift),
                                           _run_matrix(then, j, tasks_then, fewest, scale))
        runs_current, runs_baseline = int(np.median(runs_now)), int(np.median(runs_then))
        if variance is not None and (variance.omega2 > 0 or variance.sigma2_a > 0 or variance.sigma2_b > 0):
            mde = minimum_detectable_effect(tasks_now.shape[0], omega2=variance.omega2,
                                            sigma2_a=variance.sigma2_a, sigma2_b=variance.sigma2_b,
                                            runs_a=runs_current, runs_b=runs_baseline,
                                            alpha=alpha, power=power)
        pending.append((len(entries), score_row, score_groups, category_rows))
        entries.append(ModelBaseline(
            model=name,
            shared_tasks=int(both.sum()),
            only_current_tasks=only_now,
            only_baseline_tasks=only_then,
            score=score,
            categories=tuple(categories),
            latency_p95_ms_current=_p95(now.latency_ms[now_rows]),
            latency_p95_ms_baseline=_p95(then.latency_ms[then_rows]),
            cost_per_task_usd_current=None if np.isnan(cost_now).any() else float(cost_now.mean()),
            cost_per_task_usd_baseline=None if np.isnan(cost_then).any() else float(cost_then.mean()),
            variance=variance,
            runs_current=runs_current,
            runs_baseline=runs_baseline,
            mde=mde,
        ))
    if all(entry.score is None for entry in entries):
        raise ConfigError(
            f"baseline {baseline.path!r} shares no task with this run for any of its models "
            f"({', '.join(shared_models)}); save a new baseline with --modelbench-update-baseline"
        )
    matrix = np.vstack(test_rows)
    used_columns = np.flatnonzero(np.any(matrix != 0.0, axis=0))
    if used_columns.size == 0:  # every difference is 0: nothing can be significant
        p_values, method = np.ones(matrix.shape[0]), "sign-flip permutation (all differences 0)"
    else:
        batch = sign_flip_test_batch(matrix[:, used_columns], n_resamples=n_resamples, seed=seed)
        p_values, method = batch.p_value, batch.method
    for index, score_row, score_groups, category_rows in pending:
        entry = entries[index]
        entries[index] = dataclasses.replace(
            entry,
            score=_with_test(entry.score, float(p_values[score_row]), method, score_groups),
            categories=tuple(
                dataclasses.replace(category, delta=_with_test(category.delta, float(p_values[row]), method, used))
                for category, (row, used) in zip(entry.categories, category_rows)
            ),
        )
    return BaselineComparison(
        path=baseline.path,
        git_commit=baseline.git_commit,
        finished_at=baseline.finished_at,
        confidence=confidence,
        models=tuple(entries),
        only_current_models=tuple(sorted(set(now.models) - set(then.models))),
        only_baseline_models=tuple(sorted(set(then.models) - set(now.models))),
    )
