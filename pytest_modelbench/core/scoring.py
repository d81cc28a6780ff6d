"""The score: one estimator that every score, ranking and comparison uses.

Scores (documented in docs/results.md):

* task score = 0.6 × pass rate + 0.4 × mean quality over the task's runs (an ``error`` run
  counts as a miss with quality 0; skipped runs are not counted);
* category score = 100 × weighted mean of task scores over the category's tasks, each task
  weighted by marker weight × difficulty multiplier;
* overall score = weighted mean of category scores over the categories the model has tasks
  in, category weights renormalised over those categories.

:func:`task_scores` gives the task scores, :func:`score_columns` every score of the benchmark
as columns (a column per task for its answers and, with the measured dimensions of
:mod:`.dimensions`, a column per task for its speed, cost and consistency),
:func:`weighted_category_mean` the category and overall means of columns with their
task-clustered standard errors (Miller 2024), :func:`score_model` every model's scores with
intervals, :func:`task_shares` each column's share of the overall score. Rankings,
head-to-head, baseline comparisons and recommendations all call these; none defines a score
of its own. Numpy only; does not import pytest.

**Measured dimensions.** A category named after a measured dimension (speed, cost,
consistency) holds one column per task the model ran, each task counting once (as in cost
per task), and the tasks marked with that category, if any. When a category has both, the
measured columns and the marked tasks each carry half of its weight (over the benchmark's
tasks: the measured columns weigh 1/N each, a marked task w_t / W over the marked tasks), so
that neither drowns the other; within each half the usual weights apply.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..stats import normal_ppf, pass_at_k
from .dimensions import DIMENSIONS, Dimensions
from .measured import dimension_values
from .table import RunTable

#: Categories whose tasks report pass@k (Chen et al. 2021) when they have several runs.
PASS_AT_K_CATEGORIES = ("coding",)
PASS_AT_K_VALUES = (1, 5, 10)

PASS_SHARE = 0.6
QUALITY_SHARE = 0.4


def clean_float(value: Any) -> float | None:
    """A JSON-ready float: numpy scalars to ``float``, NaN and infinities to None."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def clean_list(values: np.ndarray) -> list:
    """``ndarray.tolist()`` with NaN (at any depth) turned into None."""
    array = np.asarray(values)
    if array.dtype.kind in "biu":
        return array.tolist()
    listed = array.astype(np.float64).tolist()

    def fix(item: Any) -> Any:
        if isinstance(item, list):
            return [fix(inner) for inner in item]
        return clean_float(item)

    return fix(listed)


def check_confidence(confidence: float) -> float:
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not (
        0.0 < float(confidence) < 1.0
    ):
        raise ValueError(f"confidence {confidence!r} is not allowed; it must be a number in (0, 1)")
    return float(confidence)


def category_weight_vector(table: RunTable | ScoreColumns | Sequence[str],
                           category_weights: Mapping[str, float]) -> np.ndarray:
    """Weights of the categories (``table.categories``, or the names given) in order; every
    category needs one."""
    categories = tuple(table if isinstance(table, (list, tuple)) else table.categories)
    missing = [name for name in categories if name not in category_weights]
    if missing:
        raise ValueError(
            f"category {missing[0]!r} has runs but no weight; weighted categories: "
            f"{', '.join(sorted(category_weights)) or '(none)'}"
        )
    weights = np.array([category_weights[name] for name in categories], dtype=np.float64)
    bad = [(name, w) for name, w in zip(categories, weights) if not (math.isfinite(w) and w > 0)]
    if bad:
        raise ValueError(f"weight {bad[0][1]!r} of category {bad[0][0]!r} is not allowed; it must be > 0")
    return weights


def task_clusters(table: RunTable, by_group: bool = True) -> tuple[np.ndarray, int]:
    """Integer cluster id per task and the number of clusters.

    With ``by_group`` the cluster is the task's group (a task without ``group=`` is its own
    cluster); otherwise every task is its own cluster.
    """
    if not by_group or table.n_tasks == 0:
        return np.arange(table.n_tasks, dtype=np.int64), table.n_tasks
    names, cluster = np.unique(np.asarray(table.task_group, dtype=object).astype(str), return_inverse=True)
    return cluster.astype(np.int64).reshape(-1), len(names)


def sum_by_cluster(per_task: np.ndarray, cluster: np.ndarray, n_clusters: int) -> np.ndarray:
    """Sum the columns (tasks) of ``per_task`` (rows, tasks) within each cluster."""
    rows = per_task.shape[0]
    if n_clusters == per_task.shape[1] and np.array_equal(cluster, np.arange(n_clusters)):
        return per_task.astype(np.float64)
    result = np.zeros((rows, n_clusters))
    if per_task.shape[1]:
        order = np.argsort(cluster, kind="stable")
        sorted_cluster = cluster[order]
        starts = np.flatnonzero(np.r_[True, sorted_cluster[1:] != sorted_cluster[:-1]])
        result[:, sorted_cluster[starts]] = np.add.reduceat(
            per_task[:, order].astype(np.float64), starts, axis=1
        )
    return result


def task_scores(table: RunTable) -> np.ndarray:
    """Per (model, task) score in [0, 100]: 100 × (0.6 × pass rate + 0.4 × mean quality) over
    the task's measured runs.

    NaN where the model has no measured run of the task. ``error`` runs (a failed model call,
    a replay miss) are not measurements of the model's answer and count nowhere; they are
    reported as errors instead.
    """
    return 100.0 * (
        PASS_SHARE * table.cell_means(table.passed) + QUALITY_SHARE * table.cell_means(table.quality)
    )


#: ``ScoreColumns.kind`` of a task's answer column; measured dimension k has kind k + 1.
ANSWERS = 0


@dataclasses.dataclass(frozen=True, slots=True)
class ScoreColumns:
    """Every score of a benchmark as the columns of one (models × columns) matrix.

    A column per task holds its answer score (:func:`task_scores`, in the category of its
    marker); with measured dimensions, a column per task and dimension holds the task's
    speed, cost or consistency score (:mod:`.dimensions`, in the category named after the
    dimension). ``task`` is each column's task (index into the table's tasks), ``kind``
    :data:`ANSWERS` or 1 + the index of its dimension in ``dimensions``, ``weight`` its
    weight within its category, ``category`` an index into ``categories``.
    """

    values: np.ndarray
    task: np.ndarray
    kind: np.ndarray
    weight: np.ndarray
    category: np.ndarray
    categories: tuple[str, ...]
    dimensions: tuple[str, ...] = ()

    @property
    def n_columns(self) -> int:
        return int(self.task.shape[0])

    @property
    def answers(self) -> np.ndarray:
        """Mask of the answer columns (one per task, in task order)."""
        return self.kind == ANSWERS

    def kind_name(self, kind: int) -> str:
        return "answers" if kind == ANSWERS else self.dimensions[kind - 1]

    def cluster(self, table: RunTable, by_group: bool = True) -> tuple[np.ndarray, int]:
        """The cluster of each column (its task's: the task, or its group) and their number."""
        cluster, n_clusters = task_clusters(table, by_group)
        return cluster[self.task], n_clusters

    def measured_part(self, model: int, dimension: str) -> np.ndarray:
        """The values of ``model`` in the measured columns of ``dimension`` (tasks order)."""
        kind = 1 + self.dimensions.index(dimension)
        return self.values[model, self.kind == kind]


def score_columns(table: RunTable, dimensions: Dimensions | None = None) -> ScoreColumns:
    """The answer columns of ``table`` and, with ``dimensions``, the measured columns.

    A measured column exists for every task some model has a value for; a model has a value
    there only where it also has an answer (a measured run) for the task. Weights: an answer
    column weighs the task's weight (marker weight × difficulty multiplier); a measured column
    weighs 1 (every task once); in a category holding both, the two halves are scaled to carry
    half of the category each (measured 1/N, marked w_t / W).
    """
    answers = task_scores(table)
    tasks = np.arange(table.n_tasks, dtype=np.int64)
    values = dimension_values(table, dimensions) if dimensions is not None else {}
    # only measurements are measured: a task none of whose runs measured an answer (every one
    # errored) has no measured scores either, and a model that answered nothing has no score
    values = {name: np.where(np.isnan(answers), np.nan, value) for name, value in values.items()}
    measured = {name: value for name, value in values.items() if (~np.isnan(value)).any()}
    if not measured:
        return ScoreColumns(answers, tasks, np.zeros(table.n_tasks, dtype=np.int64),
                            np.asarray(table.task_weight, dtype=np.float64),
                            np.asarray(table.task_category, dtype=np.int64), tuple(table.categories),
                            tuple(values))
    names = tuple(name for name in DIMENSIONS if name in values)
    categories = tuple(sorted(set(table.categories) | set(measured)))
    index = {name: i for i, name in enumerate(categories)}
    answer_category = np.array([index[table.categories[c]] for c in table.task_category], dtype=np.int64)
    blocks, task_ids, kinds, weights, column_category = [answers], [tasks], [np.zeros(table.n_tasks, np.int64)],         [np.asarray(table.task_weight, dtype=np.float64).copy()], [answer_category]
    for name, value in measured.items():
        present = np.flatnonzero((~np.isnan(value)).any(axis=0))
        marked = answer_category == index[name]
        weight = np.ones(present.shape[0])
        if marked.any():  # half the category each: the measured columns and the marked tasks
            weight /= present.shape[0]
            weights[0][marked] = table.task_weight[marked] / table.task_weight[marked].sum()
        blocks.append(value[:, present])
        task_ids.append(present)
        kinds.append(np.full(present.shape[0], 1 + names.index(name), dtype=np.int64))
        weights.append(weight)
        column_category.append(np.full(present.shape[0], index[name], dtype=np.int64))
    return ScoreColumns(np.concatenate(blocks, axis=1), np.concatenate(task_ids), np.concatenate(kinds),
                        np.concatenate(weights), np.concatenate(column_category), categories, names)


@dataclasses.dataclass(frozen=True, slots=True)
class WeightedMean:
    """Category-stratified weighted means of per-task values, one row per model (or pair).

    ``category``/``category_se``: (rows, categories); ``overall``/``overall_se``: (rows,);
    ``tasks``: tasks with a value per (row, category); ``clusters``: clusters per row;
    ``coefficient``: (rows, tasks), the weight of each task in ``overall`` (overall =
    Σ_t coefficient_t · x_t; 0 where the value is missing; each row sums to 1).
    """

    category: np.ndarray
    category_se: np.ndarray
    category_clusters: np.ndarray
    overall: np.ndarray
    overall_se: np.ndarray
    tasks: np.ndarray
    clusters: np.ndarray
    coefficient: np.ndarray


def weighted_category_mean(
    values: np.ndarray,
    task_weight: np.ndarray,
    task_category: np.ndarray,
    category_weight: np.ndarray,
    cluster: np.ndarray,
    n_clusters: int,
    *,
    category_se: bool = True,
    overall_se: bool = True,
) -> WeightedMean:
    """Weighted means of per-task ``values`` (rows × tasks, NaN = missing) and their SEs.

    Point estimate (the project's score definition): within category c,
    ``S_c = Σ_t w_t x_t / Σ_t w_t`` over the row's tasks in c; overall
    ``S = Σ_c α_c S_c`` with ``α_c = W_c / Σ W`` renormalised over the categories the row has.

    Standard error: a linearisation (delta method) of this ratio estimator with tasks sampled
    in clusters (Cochran 1977, *Sampling Techniques*, §6.11 ratio estimators; the clustered
    "sandwich" form of Miller 2024, eq. for SE_cl, arXiv 2411.00640). Each task contributes
    ``u_t = α_c w_t (x_t − S_c) / Σ_{t'∈c} w_t'``; with ``U_g = Σ_{t∈g} u_t`` per cluster and
    G clusters::

        SE² = G / (G − 1) · Σ_g U_g²

    With one category, equal weights and one task per cluster this is exactly Miller's
    ``sqrt(var(x, ddof=1) / n)``; in general it equals the cluster-robust variance of the
    weighted least-squares fit of ``x`` on category dummies (statsmodels ``WLS(...).fit(
    cov_type="cluster")`` without its (N−1)/(N−K) factor) combined with the weights α.
    Category SEs use the same formula within the category (clusters split by category).
    SE is NaN with fewer than two clusters; ``category_se``/``overall_se`` False skip them
    (NaN) to save time.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"values must be a (rows, tasks) matrix, got shape {values.shape!r}")
    n_rows, n_tasks = values.shape
    n_categories = len(category_weight)
    task_category = np.asarray(task_category, dtype=np.int64)
    present = ~np.isnan(values)
    filled = np.where(present, values, 0.0)
    weight = present * task_weight[None, :]
    onehot = np.zeros((n_tasks, n_categories))
    onehot[np.arange(n_tasks), task_category] = 1.0
    weight_sum = weight @ onehot
    tasks = present.astype(np.float64) @ onehot
    has_category = tasks > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        category = np.where(has_category, (filled * weight) @ onehot / weight_sum, np.nan)
        alpha = np.where(has_category, category_weight[None, :], 0.0)
        alpha = alpha / alpha.sum(axis=1, keepdims=True)
        overall = np.where(has_category.any(axis=1), (np.nan_to_num(category) * alpha).sum(axis=1), np.nan)
        # Coefficient of each task in the overall mean, α_c w_t / Σ_{t'∈c} w_t' (0 where missing).
        scale = np.where(has_category, alpha / weight_sum, 0.0)
    coefficient = weight * scale[:, task_category]
    nan_rows = np.full(n_rows, np.nan)
    nan_cells = np.full((n_rows, n_categories), np.nan)
    clusters = np.zeros(n_rows, dtype=np.int64)
    se = nan_rows
    category_clusters = np.zeros((n_rows, n_categories), dtype=np.int64)
    se_category = nan_cells
    if overall_se or category_se:
        # Residual of each task from its category mean (0 where missing).
        residual = np.where(present, filled - np.nan_to_num(category)[:, task_category], 0.0)
        identity = n_clusters == n_tasks and np.array_equal(cluster, np.arange(n_tasks))
        if overall_se:
            sums = coefficient * residual
            hits = present
            if not identity:
                sums = sum_by_cluster(sums, cluster, n_clusters)
                hits = sum_by_cluster(present, cluster, n_clusters) > 0
            clusters = hits.sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                se = np.sqrt(clusters / (clusters - 1.0) * np.einsum("ij,ij->i", sums, sums))
            se = np.where(clusters >= 2, se, np.nan)
        if category_se:
            with np.errstate(invalid="ignore", divide="ignore"):
                within = weight * residual / weight_sum[:, task_category]
            within = np.nan_to_num(within)
            if identity:
                combo_category = task_category
                sums, hits = within, present
            else:
                combos, combo_index = np.unique(task_category * n_clusters + cluster, return_inverse=True)
                combo_index = combo_index.reshape(-1)
                combo_category = combos // max(n_clusters, 1)
                sums = sum_by_cluster(within, combo_index, len(combos))
                hits = sum_by_cluster(present, combo_index, len(combos)) > 0
            combo_onehot = np.zeros((len(combo_category), n_categories))
            combo_onehot[np.arange(len(combo_category)), combo_category] = 1.0
            counted = hits.astype(np.float64) @ combo_onehot
            with np.errstate(invalid="ignore", divide="ignore"):
                se_category = np.sqrt(counted / (counted - 1.0) * ((sums * sums) @ combo_onehot))
            se_category = np.where(counted >= 2, se_category, np.nan)
            category_clusters = counted.astype(np.int64)
    return WeightedMean(
        category=category,
        category_se=se_category,
        category_clusters=category_clusters,
        overall=overall,
        overall_se=se,
        tasks=tasks.astype(np.int64),
        clusters=clusters,
        coefficient=coefficient,
    )


@dataclasses.dataclass(frozen=True, slots=True)
class ModelScores:
    """Overall and per-category scores (0–100) of every model, with 95% intervals.

    ``overall``, ``overall_se``, ``overall_low``, ``overall_high``: shape (models,);
    ``category``, ``category_se``, ``category_low``, ``category_high``, ``tasks``: shape
    (models, categories). Intervals are ``score ± z·SE`` clipped to [0, 100]; NaN where the SE
    cannot be estimated (fewer than two task clusters).
    """

    models: tuple[str, ...]
    categories: tuple[str, ...]
    overall: np.ndarray
    overall_se: np.ndarray
    overall_low: np.ndarray
    overall_high: np.ndarray
    category: np.ndarray
    category_se: np.ndarray
    category_low: np.ndarray
    category_high: np.ndarray
    tasks: np.ndarray
    clusters: np.ndarray
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": "weighted",
            "confidence": self.confidence,
            "interval": "normal, task-clustered linearised SE (Miller 2024)",
            "models": {
                name: {
                    "score": clean_float(self.overall[i]),
                    "se": clean_float(self.overall_se[i]),
                    "low": clean_float(self.overall_low[i]),
                    "high": clean_float(self.overall_high[i]),
                    "clusters": int(self.clusters[i]),
                    "categories": {
                        category: {
                            "score": clean_float(self.category[i, c]),
                            "se": clean_float(self.category_se[i, c]),
                            "low": clean_float(self.category_low[i, c]),
                            "high": clean_float(self.category_high[i, c]),
                            "tasks": int(self.tasks[i, c]),
                        }
                        for c, category in enumerate(self.categories)
                        if self.tasks[i, c] > 0
                    },
                }
                for i, name in enumerate(self.models)
            },
        }


def score_model(
    table: RunTable,
    category_weights: Mapping[str, float],
    *,
    confidence: float = 0.95,
    cluster_by_group: bool = True,
    dimensions: Dimensions | None = None,
    columns: ScoreColumns | None = None,
) -> ModelScores:
    """Score every model at once (vectorised over models, tasks and categories).

    category score = 100 × Σ_t w_t (0.6 p_t + 0.4 q_t) / Σ_t w_t over the category's tasks the
    model ran (p_t, q_t: the task's pass rate and mean quality over its runs; w_t = marker
    weight × difficulty multiplier); overall = Σ_c W_c S_c / Σ_c W_c over the categories the
    model has tasks in. The interval is normal with the task-clustered linearised standard
    error of :func:`weighted_category_mean` (Miller 2024, "Adding Error Bars to Evals"): runs of
    a task are one cluster, tasks sharing a ``group=`` are one cluster when
    ``cluster_by_group``. A closed-form SE is used instead of a bootstrap because it is exact
    for this linear statistic up to O(1/n), needs no seed and costs one pass over the data.
    With ``dimensions`` (or ``columns`` from :func:`score_columns`) the measured dimensions
    are categories too: their columns enter every mean like any task's.
    """
    level = check_confidence(confidence)
    columns = columns if columns is not None else score_columns(table, dimensions)
    weights = category_weight_vector(columns, category_weights)
    cluster, n_clusters = columns.cluster(table, cluster_by_group)
    result = weighted_category_mean(columns.values, columns.weight, columns.category, weights, cluster, n_clusters)
    z = normal_ppf(0.5 + level / 2.0)

    def bounds(score: np.ndarray, se: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.clip(score - z * se, 0.0, 100.0), np.clip(score + z * se, 0.0, 100.0)

    overall_low, overall_high = bounds(result.overall, result.overall_se)
    category_low, category_high = bounds(result.category, result.category_se)
    return ModelScores(
        models=table.models,
        categories=columns.categories,
        overall=result.overall,
        overall_se=result.overall_se,
        overall_low=overall_low,
        overall_high=overall_high,
        category=result.category,
        category_se=result.category_se,
        category_low=category_low,
        category_high=category_high,
        tasks=result.tasks,
        clusters=result.clusters,
        confidence=level,
    )


def task_shares(task_weight: np.ndarray, task_category: np.ndarray,
                category_weight: np.ndarray) -> np.ndarray:
    """π_t = α_c · w_t / W_c: each task's share of the weighted score (the shares sum to 1).

    ``task_category`` indexes ``category_weight``; α is renormalised over the categories the
    tasks belong to, W_c is the sum of the task weights in category c. These are the
    coefficients of :func:`weighted_category_mean` (overall = Σ_t π_t x_t).
    """
    task_weight = np.asarray(task_weight, dtype=np.float64)
    task_category = np.asarray(task_category, dtype=np.int64)
    category_weight = np.asarray(category_weight, dtype=np.float64)
    present = np.bincount(task_category, minlength=category_weight.shape[0]) > 0
    if not np.where(present, category_weight, 0.0).sum() > 0:
        raise ValueError("the tasks' categories all have weight 0: there is no score to compare")
    n_tasks = task_weight.shape[0]
    return weighted_category_mean(
        np.zeros((1, n_tasks)), task_weight, task_category, category_weight,
        np.arange(n_tasks), n_tasks, category_se=False, overall_se=False,
    ).coefficient[0]


def category_scores(table: RunTable, columns: ScoreColumns | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per (model, category of ``columns``, default the table's): score (0-100), weighted pass
    rate of the marked tasks, columns with a value (tasks). NaN when none.

    The point estimates of :func:`weighted_category_mean`, which also gives their
    task-clustered standard errors: the score is defined in one place.
    """
    columns = columns if columns is not None else score_columns(table)

    def category_means(values: np.ndarray) -> Any:
        return weighted_category_mean(
            values, columns.weight, columns.category, np.ones(len(columns.categories)),
            np.arange(columns.n_columns), columns.n_columns, category_se=False, overall_se=False,
        )

    scores = category_means(columns.values)
    passes = np.where(columns.answers, table.cell_means(table.passed)[:, columns.task], np.nan)
    pass_rate = category_means(passes).category
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
    runs = table.cell_counts()[model]  # measured runs: an error is not an attempt at the task
    passes = np.bincount(table.task[(table.model == model) & table.passed], minlength=table.n_tasks)
    tasks = np.isin(table.task_category, coding) & (runs > 0)
    if not tasks.any() or runs[tasks].min() < 2:
        return None
    n, c = runs[tasks], passes[tasks]
    smallest = int(n.min())
    ks = sorted({k for k in (*PASS_AT_K_VALUES, smallest) if k <= smallest})
    return {"tasks": int(tasks.sum()), "runs_min": smallest,
            **{f"pass@{k}": pass_at_k(n, c, k) for k in ks}}


