"""The one paired test behind every verdict: head-to-head, ``--modelbench-compare``,
baseline comparisons, CI gates and recommendations (numpy only; no pytest).

Two score columns (model A and model B, or this run and the baseline) are compared on the
tasks both have. The reported difference is the weighted score difference

    Δ = S_A − S_B = Σ_t π_t d_t,   d_t = x_A,t − x_B,t,

with x the task scores and π_t the task's share of the score
(:func:`~pytest_modelbench.core.scoring.task_shares`: category weight × task weight,
renormalised over the shared tasks), exactly as the overall score is computed. The unit of
evidence is the task, or the task group when tasks carry ``group=``: a task's repeated runs
are averaged into x_t first and never count as separate observations (Miller 2024, "Adding
Error Bars to Evals", arXiv 2411.00640, §3–4), so repeating deterministic runs cannot change a
verdict.

The test is the sign-flip permutation test of the per-cluster contributions c_g = Σ_{t∈g}
π_t d_t to that same Δ (exact up to 16 clusters, else seeded Monte Carlo;
:func:`~pytest_modelbench.stats.sign_flip_inference_batch`), and the interval is the set of
shifts δ that test does not reject. Within a family (all pairs of models; a model's
categories) p-values are Holm-adjusted and each interval is computed at the level Holm tests
its hypothesis (:func:`~pytest_modelbench.stats.holm_levels`). So the interval excludes 0
exactly when the verdict is "significant", in every section that shows the pair.

The standard error reported beside it is the task-clustered linearised SE of Δ
(:func:`~pytest_modelbench.core.scoring.weighted_category_mean`); it sizes the minimum
detectable effect and the tasks needed, not the verdict.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from ..core.scoring import clean_float, sum_by_cluster, weighted_category_mean
from ..stats import Interval, SignFlipPatterns, holm, holm_levels, normal_ppf

DEFAULT_RESAMPLES = 10_000


@dataclasses.dataclass(frozen=True, slots=True)
class PairedDelta:
    """A paired comparison of two weighted scores on the tasks both sides have.

    ``a``/``b`` are the weighted scores over the shared tasks and ``delta = a − b``; ``se`` the
    task-clustered SE of ``delta``; ``ci`` the interval of the sign-flip test inverted at level
    ``level`` (the α Holm's procedure tests this comparison at; 1 − level is its confidence);
    ``p_value`` the test's p-value, ``p_adjusted`` Holm's within the family (the p-value itself
    for a single comparison); ``significant`` is ``p_adjusted ≤ alpha``. ``n_clusters`` counts
    task groups when ``grouped``, else tasks.
    """

    a: float
    b: float
    delta: float
    se: float
    ci: Interval
    level: float
    p_value: float
    p_adjusted: float
    significant: bool
    test: str
    n_tasks: int
    n_clusters: int
    grouped: bool
    alpha: float
    family: int

    @property
    def confidence(self) -> float:
        return 1.0 - self.level

    @property
    def comparable(self) -> bool:
        return self.n_tasks > 0 and not math.isnan(self.delta)

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": clean_float(self.a),
            "b": clean_float(self.b),
            "delta": clean_float(self.delta),
            "se": clean_float(self.se),
            "ci": [clean_float(self.ci.low), clean_float(self.ci.high)],
            "ci_level": clean_float(self.confidence),
            "p_value": clean_float(self.p_value),
            "p_adjusted": clean_float(self.p_adjusted),
            "significant": self.significant,
            "test": self.test,
            "n_tasks": self.n_tasks,
            "n_clusters": self.n_clusters,
            "grouped": self.grouped,
            "alpha": self.alpha,
            "family": self.family,
        }


def resamples_for(family: int, alpha: float, least: int = DEFAULT_RESAMPLES) -> int:
    """Monte-Carlo sign patterns: at least ``least``, and enough that the smallest attainable
    p-value 1/(R + 1) (Phipson & Smyth 2010) stays below α/(2·family), the smallest level Holm
    may test at (R ≥ 2·family/α)."""
    return max(least, math.ceil(2.0 * max(family, 1) / alpha))


def paired_deltas(
    a_scores: np.ndarray,
    b_scores: np.ndarray,
    task_weight: np.ndarray,
    task_category: np.ndarray,
    category_weight: np.ndarray,
    cluster: np.ndarray,
    *,
    alpha: float = 0.05,
    adjust: bool = True,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    column_task: np.ndarray | None = None,
) -> list[PairedDelta]:
    """Compare row r of ``a_scores`` with row r of ``b_scores`` (rows × columns, NaN = not run).

    A column is a task's answer score or one of its measured scores
    (:func:`~pytest_modelbench.core.scoring.score_columns`); ``column_task`` says whose task
    each column is (default: every column is a task of its own). ``task_weight`` (the
    column's weight within its category), ``task_category`` (index into ``category_weight``)
    and ``cluster`` (any label per column: its task's group, or its task) describe the
    columns: a cluster's columns are flipped together, so a task's answer, speed, cost and
    consistency scores count as the one observation they are. The rows are one family: with
    ``adjust`` their p-values are Holm-adjusted and their intervals computed at Holm's levels;
    without, each is a single comparison at ``alpha``. A row's sign patterns depend only on
    its own clusters and the seed.
    """
    a = np.atleast_2d(np.asarray(a_scores, dtype=np.float64))
    b = np.atleast_2d(np.asarray(b_scores, dtype=np.float64))
    if a.shape != b.shape:
        raise ValueError(f"a_scores has shape {a.shape} but b_scores {b.shape}: a paired comparison "
                         "needs the same tasks on both sides")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha {alpha!r} is not allowed; it must be a number in (0, 1)")
    n_rows, n_columns = a.shape
    labels, cluster_index = np.unique(np.asarray(cluster), return_inverse=True)
    cluster_index = cluster_index.reshape(-1)
    n_clusters = len(labels)
    task_labels, task_index = np.unique(np.arange(n_columns) if column_task is None else np.asarray(column_task),
                                        return_inverse=True)
    task_index = task_index.reshape(-1)
    grouped = n_clusters < len(task_labels)
    shared = ~np.isnan(a) & ~np.isnan(b)
    difference = np.where(shared, a - b, np.nan)
    weights = (np.asarray(task_weight, dtype=np.float64), np.asarray(task_category), category_weight)
    mean = weighted_category_mean(difference, *weights, cluster_index, n_clusters, category_se=False)
    base = weighted_category_mean(np.where(shared, b, np.nan), *weights, cluster_index, n_clusters,
                                  category_se=False, overall_se=False)
    share = mean.coefficient
    contributions = sum_by_cluster(share * np.nan_to_num(difference), cluster_index, n_clusters)
    cluster_weight = sum_by_cluster(share, cluster_index, n_clusters)
    tasks = (sum_by_cluster(shared.astype(np.float64), task_index, len(task_labels)) > 0).sum(axis=1)
    comparable = tasks > 0
    resamples = resamples_for(int(comparable.sum()) if adjust else 1, alpha, n_resamples)
    # Each row is tested on its own clusters (those it has tasks in), in one fixed order, so
    # the same comparison gets the same sign patterns, and the same p-value, whichever family
    # it is part of; rows with the same clusters share one batch. p-values come first (they
    # decide Holm's levels), then the intervals at those levels, from the same patterns.
    batches: dict[bytes, list[int]] = {}
    for row in np.flatnonzero(comparable):
        batches.setdefault((cluster_weight[row] > 0).tobytes(), []).append(int(row))
    p_value = np.full(n_rows, np.nan)
    patterns: dict[bytes, SignFlipPatterns] = {}
    for key, rows in batches.items():
        columns = np.frombuffer(key, dtype=bool)
        patterns[key] = SignFlipPatterns(contributions[rows][:, columns], cluster_weight[rows][:, columns],
                                         n_resamples=resamples, seed=seed)
        p_value[rows] = patterns[key].p_value
    levels = np.full(n_rows, alpha)
    p_adjusted = np.full(n_rows, np.nan)
    low = np.full(n_rows, np.nan)
    high = np.full(n_rows, np.nan)
    methods: dict[int, str] = {}
    if comparable.any():
        rows = np.flatnonzero(comparable)
        if adjust:
            p_adjusted[rows] = holm(p_value[rows])
            levels[rows] = holm_levels(p_value[rows], alpha)
        else:
            p_adjusted[rows] = p_value[rows]
        for key, batch in batches.items():
            low[batch], high[batch] = patterns[key].interval(levels[batch])
            methods.update(dict.fromkeys(batch, patterns[key].method))
    used_clusters = (sum_by_cluster(shared.astype(np.float64), cluster_index, n_clusters) > 0).sum(axis=1)
    results = []
    for row in range(n_rows):
        ok = bool(comparable[row])
        delta = float(mean.overall[row]) if ok else math.nan
        score_b = float(base.overall[row]) if ok else math.nan
        results.append(PairedDelta(
            a=score_b + delta if ok else math.nan,
            b=score_b,
            delta=delta,
            se=float(mean.overall_se[row]) if ok else math.nan,
            ci=Interval(float(low[row]), float(high[row])),
            level=float(levels[row]),
            p_value=float(p_value[row]),
            p_adjusted=float(p_adjusted[row]),
            significant=ok and bool(p_adjusted[row] <= alpha),
            test=(methods[row] + (f" over {int(used_clusters[row])} task groups" if grouped else "")) if ok else "none",
            n_tasks=int(tasks[row]),
            n_clusters=int(used_clusters[row]),
            grouped=grouped,
            alpha=float(alpha),
            family=int(comparable.sum()) if adjust else 1,
        ))
    return results


@dataclasses.dataclass(frozen=True, slots=True)
class Detectability:
    """What the paired test can detect: ``mde`` is the smallest true difference it detects with
    ``power`` (infinite when it can detect none: too few tasks); ``tasks_needed`` the tasks,
    and ``runs_needed`` the runs per task (both sides), that would detect the observed
    difference (None when not estimable, or when no number of runs suffices)."""

    mde: float
    tasks_needed: int | None
    runs_needed: int | None


def detectability(delta: float, low: float, high: float, level: float, *, n_tasks: int, n_clusters: int,
                  omega2: float | None = None, sigma2_a: float = 0.0, sigma2_b: float = 0.0,
                  runs_a: int = 1, runs_b: int = 1, power: float = 0.8) -> Detectability:
    """Minimum detectable effect and tasks/runs needed, read off the test's own interval, so
    they agree with the verdict.

    The interval [low, high] inverts the test at ``level``; its half-width h is about
    z_{1−level/2}·SE, so the SE the test works with is h / z_{1−level/2} and the minimum
    detectable effect is (z_{1−level/2} + z_{power})·SE (Miller 2024 §5). It shrinks as
    1/√n with more tasks (tasks needed = n·(MDE/|Δ|)²) and, with the variance components
    ω² (between tasks) and σ² (within a task, over K runs), as √(V(K')/V(K)) with
    V(K) = ω² + σ_A²/K_A + σ_B²/K_B when every task gets K' runs: repeating runs only narrows
    each task's own estimate, so it helps only as far as σ²/K is part of V. An exact
    sign-flip test cannot reject with fewer than log2(2/level) clusters, whatever the effect.
    """
    needed_clusters = min_clusters_to_reject(level)
    per_cluster = n_tasks / n_clusters if n_clusters else 1.0
    least_tasks = math.ceil(needed_clusters * per_cluster)
    if n_tasks < 1 or math.isnan(low) or math.isnan(high):
        return Detectability(math.nan, None, None)
    if not (math.isfinite(low) and math.isfinite(high)):
        # no finite interval: nothing is detectable with these tasks
        return Detectability(math.inf, least_tasks if n_tasks < least_tasks else None, None)
    z_level = normal_ppf(1.0 - level / 2.0)
    se = (high - low) / 2.0 / z_level
    mde = (z_level + normal_ppf(power)) * se
    tasks = runs = None
    if delta != 0.0 and math.isfinite(delta):
        ratio = mde / abs(delta)
        tasks = max(math.ceil(n_tasks * ratio * ratio * (1.0 - 1e-12)), least_tasks)
        if omega2 is not None:
            current = omega2 + sigma2_a / runs_a + sigma2_b / runs_b
            within = sigma2_a + sigma2_b
            if current > 0 and within > 0 and n_clusters >= needed_clusters:
                budget = current / (ratio * ratio) - omega2
                runs = max(1, math.ceil(within / budget * (1.0 - 1e-12))) if budget > 0 else None
    return Detectability(mde, tasks, runs)


def min_clusters_to_reject(level: float) -> int:
    """The fewest tasks (clusters) with which an exact sign-flip test can reach p ≤ ``level``:
    its smallest p-value is 2/2ⁿ (the observed pattern and its mirror image)."""
    return max(1, math.ceil(math.log2(2.0 / level)))


def signed(value: float) -> str:
    """``+1.5``; ``-`` for NaN; ``+inf``/``-inf`` for an end the test cannot bound."""
    if math.isnan(value):
        return "-"
    if math.isinf(value):
        return "+inf" if value > 0 else "-inf"
    return f"{value:+.1f}"


def interval_text(low: float, high: float) -> str:
    """``[-3.1, +12.0]``; an end the test cannot bound (too few tasks) is ``-inf``/``+inf``."""
    if math.isnan(low) or math.isnan(high):
        return ""
    return f"[{signed(low)}, {signed(high)}]"
