"""Head-to-head comparison of models and the comparison report (numpy only; no pytest).

For every pair of models (and again within every category) :func:`head_to_head` reports the
score difference on the tasks both models ran, its interval, the paired test, the
Holm-adjusted p-value over all pairs and a verdict; :func:`compare_pair` is the detailed
two-model report behind ``--modelbench-compare=A,B`` (its overall and per-category rows are
the head-to-head's own, so the two sections never disagree); :func:`compare` bundles
rankings, head-to-head and consistency into one :class:`ComparisonReport`. Users'
description: docs/comparison.md.

Method: :mod:`pytest_modelbench.compare.paired`, the one paired test every verdict uses. Per
task, a model's score is 100 × (0.6 × pass rate + 0.4 × mean quality) over its runs; on the
shared tasks the difference Δ = S_A − S_B uses the same category and task weights as the
overall score; the test is the sign-flip permutation test of the per-task (per-group)
contributions to that Δ, and the interval inverts the same test at the level Holm's procedure
tests the pair. Repeated runs of a task are one observation (Miller 2024, "Adding Error Bars
to Evals", arXiv 2411.00640). Verdict: see :func:`verdict`.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..core.dimensions import Dimensions
from ..core.scoring import (
    PASS_SHARE,
    QUALITY_SHARE,
    ScoreColumns,
    category_weight_vector,
    clean_float,
    score_columns,
    score_model,
)
from ..core.text import wrap_label
from ..core.table import RunTable
from ..profile.consistency import ConsistencyReport, consistency
from .paired import PairedDelta, detectability, interval_text, paired_deltas
from .paired import signed as _signed
from .rankings import Rankings, rank_models, run_grid

#: Relative difference (|Δ| / the lower score) from which a significant difference is "significant", not "slight".
LARGE_RELATIVE = 0.20
#: Power used for the minimum detectable effect and the tasks/runs needed.
POWER = 0.8
DEFAULT_PERMUTATIONS = 10_000

SIGNIFICANTLY_BETTER = "significantly better"
SLIGHTLY_BETTER = "slightly better"
NO_DIFFERENCE = "no significant difference"
SLIGHTLY_WORSE = "slightly worse"
SIGNIFICANTLY_WORSE = "significantly worse"
NOT_COMPARABLE = "not comparable"
VERDICTS = (SIGNIFICANTLY_BETTER, SLIGHTLY_BETTER, NO_DIFFERENCE, SLIGHTLY_WORSE, SIGNIFICANTLY_WORSE,
            NOT_COMPARABLE)
_FLIP = {SIGNIFICANTLY_BETTER: SIGNIFICANTLY_WORSE, SLIGHTLY_BETTER: SLIGHTLY_WORSE,
         SIGNIFICANTLY_WORSE: SIGNIFICANTLY_BETTER, SLIGHTLY_WORSE: SLIGHTLY_BETTER}
_MARK = {SIGNIFICANTLY_BETTER: "++", SLIGHTLY_BETTER: "+", NO_DIFFERENCE: "=", SLIGHTLY_WORSE: "-",
         SIGNIFICANTLY_WORSE: "--", NOT_COMPARABLE: "?"}
_SHORT = {SIGNIFICANTLY_BETTER: "sig. better", SLIGHTLY_BETTER: "slightly better",
          NO_DIFFERENCE: "no sig. diff.", SLIGHTLY_WORSE: "slightly worse",
          SIGNIFICANTLY_WORSE: "sig. worse", NOT_COMPARABLE: "no shared tasks"}
_EDGE = 1e-12  # relative-difference boundaries are inclusive up to rounding


def verdict(delta: float, relative: float, significant: bool) -> str:
    """The verdict of A against B.

    Not significant (the Holm-adjusted p-value above α, so the interval holds 0): ``no
    significant difference``. Significant: ``significantly better``/``worse`` when the
    relative difference |Δ| / min(S_A, S_B) is at least 20%, else ``slightly better``/``worse``.
    NaN Δ (no shared tasks): ``not comparable``.
    """
    if math.isnan(delta):
        return NOT_COMPARABLE
    if not significant or delta == 0.0:
        return NO_DIFFERENCE
    better = delta > 0
    if relative >= LARGE_RELATIVE - _EDGE:
        return SIGNIFICANTLY_BETTER if better else SIGNIFICANTLY_WORSE
    return SLIGHTLY_BETTER if better else SLIGHTLY_WORSE


def relative_difference(score_a: float, score_b: float) -> float:
    """|S_A − S_B| / min(S_A, S_B): how much higher the better score is than the lower one.

    0 when the scores are equal, infinite when the lower score is 0 and the other is not.
    """
    if math.isnan(score_a) or math.isnan(score_b):
        return math.nan
    difference = abs(score_a - score_b)
    if difference == 0.0:
        return 0.0
    low = min(score_a, score_b)
    return math.inf if low <= 0.0 else difference / low


@dataclasses.dataclass(frozen=True, slots=True)
class PairComparison:
    """Model A against model B in one scope (``overall``, a category or a difficulty).

    Scores are on the tasks both ran (0–100); ``delta`` = A − B with its interval ``low`` …
    ``high`` at confidence ``level`` (the inverted sign-flip test at the level Holm's procedure
    tests this pair: 95% for a family of one); ``test`` names the test, ``p_value`` its
    two-sided p-value and ``p_adjusted`` the Holm-adjusted one within the family;
    ``significant`` is ``p_adjusted ≤ α``, which holds exactly when the interval excludes 0.
    ``relative`` is |Δ| / min(score_a, score_b) (infinite, ``None`` in ``to_dict()``, when the
    lower score is 0). ``mde`` is the minimum detectable effect (score points, power 0.8, at
    the pair's level); ``tasks_needed``/``runs_needed`` what would detect the observed Δ (None
    when not estimable, or no number of runs suffices; repeating runs only narrows each
    task's own estimate, so it helps only when run-to-run noise dominates).
    """

    model_a: str
    model_b: str
    scope: str
    scope_value: str | None
    score_a: float
    score_b: float
    delta: float
    se: float
    low: float
    high: float
    level: float
    relative: float
    tasks: int
    clusters: int
    test: str
    p_value: float
    p_adjusted: float
    significant: bool
    verdict: str
    mde: float
    tasks_needed: int | None
    runs_needed: int | None

    def flipped(self) -> PairComparison:
        """The same comparison seen from B."""
        return dataclasses.replace(
            self,
            model_a=self.model_b,
            model_b=self.model_a,
            score_a=self.score_b,
            score_b=self.score_a,
            delta=-self.delta,
            low=-self.high,
            high=-self.low,
            verdict=_FLIP.get(self.verdict, self.verdict),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_a": self.model_a,
            "model_b": self.model_b,
            "scope": self.scope,
            "scope_value": self.scope_value,
            "score_a": clean_float(self.score_a),
            "score_b": clean_float(self.score_b),
            "delta": clean_float(self.delta),
            "se": clean_float(self.se),
            "low": clean_float(self.low),
            "high": clean_float(self.high),
            "level": clean_float(self.level),
            "relative": clean_float(self.relative),
            "tasks": self.tasks,
            "clusters": self.clusters,
            "test": self.test,
            "p_value": clean_float(self.p_value),
            "p_adjusted": clean_float(self.p_adjusted),
            "significant": self.significant,
            "verdict": self.verdict,
            "mde": clean_float(self.mde),
            "tasks_needed": self.tasks_needed,
            "runs_needed": self.runs_needed,
        }


# ---------------------------------------------------------------------------- engine


@dataclasses.dataclass(frozen=True, slots=True)
class _Context:
    """Everything the pair blocks share, computed once per table. ``task_score``, ``runs`` and
    ``run_variance`` are per (model, column) of ``columns``: the answer columns carry their
    task's runs and within-task variance of run scores, the measured columns only their runs."""

    table: RunTable
    columns: ScoreColumns
    task_score: np.ndarray
    runs: np.ndarray
    run_variance: np.ndarray
    pair_a: np.ndarray
    pair_b: np.ndarray
    category_weight: np.ndarray
    cluster: np.ndarray
    grouped: bool
    alpha: float
    permutations: int
    seed: int


def _context(table: RunTable, category_weights: Mapping[str, float], *, alpha: float,
             permutations: int, seed: int, cluster_by_group: bool,
             dimensions: Dimensions | None = None, columns: ScoreColumns | None = None) -> _Context:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha {alpha!r} is not allowed; it must be a number in (0, 1)")
    if isinstance(permutations, bool) or not isinstance(permutations, int) or permutations < 1:
        raise ValueError(f"permutations {permutations!r} is not allowed; it must be a whole number >= 1")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed {seed!r} is not allowed; it must be a whole number >= 0")
    columns = columns if columns is not None else score_columns(table, dimensions)
    weights = category_weight_vector(columns, category_weights)
    m, t = table.n_models, table.n_tasks
    measured = table.measured
    run_score = 100.0 * (PASS_SHARE * table.passed + QUALITY_SHARE * table.quality)
    flat = (table.model * t + table.task)[measured]
    size = m * t
    runs = np.bincount(flat, minlength=size).reshape(m, t)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(flat, weights=run_score[measured], minlength=size) / runs.reshape(-1)
        deviation = run_score[measured] - mean[flat]
        squares = np.bincount(flat, weights=deviation * deviation, minlength=size).reshape(m, t)
        run_variance = np.where(runs >= 2, squares / (runs - 1), np.nan)
    pair_a, pair_b = np.triu_indices(m, k=1)
    cluster, n_clusters = columns.cluster(table, cluster_by_group)
    return _Context(
        table=table,
        columns=columns,
        task_score=columns.values,
        runs=runs[:, columns.task],
        run_variance=np.where(columns.answers, run_variance[:, columns.task], np.nan),
        pair_a=pair_a,
        pair_b=pair_b,
        category_weight=weights,
        cluster=cluster,
        grouped=n_clusters < t,
        alpha=float(alpha),
        permutations=permutations,
        seed=seed,
    )


def _comparisons(ctx: _Context, pa: np.ndarray, pb: np.ndarray, xa: np.ndarray, xb: np.ndarray,
                 scope: str, scope_value: str | None, *, adjust: bool = True) -> list[PairComparison]:
    """Compare model rows ``pa`` with ``pb`` given their task scores ``xa``/``xb`` (rows × all
    tasks, NaN outside the scope): one family, Holm-adjusted unless ``adjust`` is False."""
    table, columns = ctx.table, ctx.columns
    paired = paired_deltas(xa, xb, columns.weight, columns.category, ctx.category_weight, ctx.cluster,
                           alpha=ctx.alpha, adjust=adjust, n_resamples=ctx.permutations, seed=ctx.seed,
                           column_task=columns.task)
    shared = ~np.isnan(xa) & ~np.isnan(xb)
    difference = np.where(shared, xa - xb, np.nan)
    power = _power(ctx, pa, pb, shared, difference, paired)
    comparisons = []
    for k, result in enumerate(paired):
        relative = relative_difference(result.a, result.b)
        label = verdict(result.delta, relative, result.significant)
        comparisons.append(
            PairComparison(
                model_a=table.models[pa[k]],
                model_b=table.models[pb[k]],
                scope=scope,
                scope_value=scope_value,
                score_a=result.a,
                score_b=result.b,
                delta=result.delta,
                se=result.se,
                low=max(result.ci.low, -100.0),
                high=min(result.ci.high, 100.0),
                level=result.confidence,
                relative=relative,
                tasks=result.n_tasks,
                clusters=result.n_clusters,
                test=result.test,
                p_value=result.p_value,
                p_adjusted=result.p_adjusted,
                significant=result.significant,
                verdict=label,
                mde=power[k][0],
                tasks_needed=power[k][1],
                runs_needed=power[k][2],
            )
        )
    return comparisons


def _block(ctx: _Context, pairs: np.ndarray, columns: np.ndarray, scope: str,
           scope_value: str | None) -> list[PairComparison]:
    """Every pair in ``pairs`` (indices into ctx.pair_a/pair_b) on the score columns
    ``columns``: one Holm family."""
    pa, pb = ctx.pair_a[pairs], ctx.pair_b[pairs]
    outside = np.ones(ctx.columns.n_columns, dtype=bool)
    outside[columns] = False
    xa = np.where(outside, np.nan, ctx.task_score[pa])
    xb = np.where(outside, np.nan, ctx.task_score[pb])
    return _comparisons(ctx, pa, pb, xa, xb, scope, scope_value)


def _masked_median(counts: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Median of each row of integer ``counts`` over the entries where ``mask`` (NaN if none)."""
    n = mask.sum(axis=1)
    if counts.shape[1] == 0:
        return np.full(len(counts), np.nan)
    ordered = np.sort(np.where(mask, counts, np.iinfo(np.int64).max), axis=1)
    rows = np.arange(len(counts))
    low = ordered[rows, np.maximum(n - 1, 0) // 2].astype(np.float64)
    high = ordered[rows, np.minimum(n // 2, max(counts.shape[1] - 1, 0))].astype(np.float64)
    return np.where(n > 0, (low + high) / 2.0, np.nan)


def _power(ctx: _Context, pa: np.ndarray, pb: np.ndarray, shared: np.ndarray, difference: np.ndarray,
           paired: Sequence[PairedDelta]) -> list[tuple[float, int | None, int | None]]:
    """Minimum detectable effect and tasks/runs needed per pair, from the pair's own interval
    (:func:`~pytest_modelbench.compare.paired.detectability`), so they agree with its verdict.

    The variance components that size the effect of more runs are estimated by the method of
    moments of ``stats.variance_components`` (here for ragged runs and all pairs at once):
    σ² = mean within-task variance of run scores (ddof=1, tasks with ≥ 2 runs), K = median
    runs per shared task, ω² = max(0, var(d, ddof=1) − σ_A²/K_A − σ_B²/K_B) (Miller 2024 §5).
    """
    n = shared.sum(axis=1)
    answers = ctx.columns.answers  # runs of an answer column are its task's runs; measured columns have none
    shared = shared & answers
    difference = np.where(answers, difference, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows give NaN, handled below
        var_a = np.where(shared, ctx.run_variance[pa], np.nan)
        var_b = np.where(shared, ctx.run_variance[pb], np.nan)
        known = ((~np.isnan(var_a)).sum(axis=1) > 0) & ((~np.isnan(var_b)).sum(axis=1) > 0)
        sigma2_a = np.where(known, np.nanmean(var_a, axis=1), 0.0)
        sigma2_b = np.where(known, np.nanmean(var_b, axis=1), 0.0)
        k_a = _masked_median(ctx.runs[pa], shared)
        k_b = _masked_median(ctx.runs[pb], shared)
        var_d = np.nanvar(difference, axis=1, ddof=1)
    results: list[tuple[float, int | None, int | None]] = []
    for k, result in enumerate(paired):
        if n[k] == 0:
            results.append((math.nan, None, None))
            continue
        runs_a = max(1, int(k_a[k])) if not math.isnan(k_a[k]) else 1
        runs_b = max(1, int(k_b[k])) if not math.isnan(k_b[k]) else 1
        omega2 = None
        if known[k] and shared[k].sum() >= 2:
            omega2 = max(0.0, float(var_d[k]) - sigma2_a[k] / runs_a - sigma2_b[k] / runs_b)
        found = detectability(result.delta, result.ci.low, result.ci.high, result.level, n_tasks=result.n_tasks,
                              n_clusters=result.n_clusters, omega2=omega2, sigma2_a=float(sigma2_a[k]),
                              sigma2_b=float(sigma2_b[k]), runs_a=runs_a, runs_b=runs_b, power=POWER)
        results.append((found.mde, found.tasks_needed, found.runs_needed))
    return results


# ----------------------------------------------------------------------- head-to-head


@dataclasses.dataclass(frozen=True, slots=True)
class HeadToHead:
    """Every pair (A before B in the table's model order), overall and per category."""

    models: tuple[str, ...]
    alpha: float
    confidence: float
    overall: tuple[PairComparison, ...]
    categories: Mapping[str, tuple[PairComparison, ...]]

    def pair(self, model_a: str, model_b: str, category: str | None = None) -> PairComparison:
        """The comparison of ``model_a`` against ``model_b`` (overall, or in ``category``)."""
        if category is None:
            family = self.overall
        elif category in self.categories:
            family = self.categories[category]
        else:
            raise ValueError(f"category {category!r} is not one of: {', '.join(self.categories)}")
        for comparison in family:
            if (comparison.model_a, comparison.model_b) == (model_a, model_b):
                return comparison
            if (comparison.model_a, comparison.model_b) == (model_b, model_a):
                return comparison.flipped()
        raise ValueError(f"no comparison of {model_a!r} with {model_b!r}; models: {', '.join(self.models)}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "alpha": self.alpha,
            "confidence": self.confidence,
            "adjustment": "holm",
            "overall": [c.to_dict() for c in self.overall],
            "categories": {name: [c.to_dict() for c in family] for name, family in self.categories.items()},
        }

    def rows(self, category: str | None = None) -> list[list[str]]:
        """One row per pair (header first), names whole: render them with
        :func:`~pytest_modelbench.core.text.table` and a width to wrap them."""
        family = self.overall if category is None else self.categories[category]
        return comparison_rows(family)

    def matrix_rows(self, category: str | None = None, *, width: int = 100) -> list[list[list[str]]]:
        """The pairs as a matrix of marks, row model against column model.

        ``++`` significantly better, ``+`` slightly better, ``=`` no significant difference,
        ``-`` slightly worse, ``--`` significantly worse, ``?`` no shared tasks. Columns are
        model numbers; rows are the number and the whole name, wrapped (lines joined by
        ``\\n``) when the name and up to ten columns would not fit ``width``; the matrix is split
        into blocks of columns so that each block fits ``width`` characters. Each block is a list
        of rows, header first.
        """
        m = len(self.models)
        longest = max([len(name) for name in self.models] + [1]) + 1 + len(str(m))
        name_width = min(longest, max(16, width - 5 * min(m, 10) - 4))
        labels = ["\n  ".join(wrap_label(f"{i + 1} {name}", name_width)) for i, name in enumerate(self.models)]
        # tabulate pads headers by 2 and separates columns by 2 spaces.
        label_width = max([len(line) for label in labels for line in label.split("\n")] + [len("model") + 2])
        marks = [["." for _ in range(m)] for _ in range(m)]
        family = self.overall if category is None else self.categories[category]
        index = {name: i for i, name in enumerate(self.models)}
        for comparison in family:
            i, j = index[comparison.model_a], index[comparison.model_b]
            marks[i][j] = _MARK[comparison.verdict]
            marks[j][i] = _MARK[_FLIP.get(comparison.verdict, comparison.verdict)]
        blocks: list[list[list[str]]] = []
        columns: list[int] = []
        used = label_width
        for j in range(m):
            column_width = 2 + len(str(j + 1)) + 2
            if columns and used + column_width > width:
                blocks.append(self._matrix_block(labels, marks, columns))
                columns, used = [], label_width
            columns.append(j)
            used += column_width
        blocks.append(self._matrix_block(labels, marks, columns))
        return blocks

    @staticmethod
    def _matrix_block(labels: list[str], marks: list[list[str]], columns: list[int]) -> list[list[str]]:
        rows = [["model"] + [str(j + 1) for j in columns]]
        rows += [[label] + [marks[i][j] for j in columns] for i, label in enumerate(labels)]
        return rows


def head_to_head(
    table: RunTable,
    category_weights: Mapping[str, float],
    *,
    alpha: float = 0.05,
    seed: int = 0,
    permutations: int = DEFAULT_PERMUTATIONS,
    cluster_by_group: bool = True,
    dimensions: Dimensions | None = None,
    columns: ScoreColumns | None = None,
) -> HeadToHead:
    """Compare every pair of models, overall and within each category (one Holm family each).

    With ``dimensions`` (or ``columns``) the measured dimensions are categories too, and the
    overall comparison covers every column: a task's answer, speed, cost and consistency
    scores are flipped together by the one paired test.

    ``permutations`` is the least number of Monte-Carlo sign patterns of the permutation test
    (exact enumeration up to 16 task clusters); all pairs share the patterns (seeded).
    Intervals are at the level Holm's procedure tests each pair (``1 − alpha`` for a single
    pair), so each excludes 0 exactly when its verdict is significant.
    """
    ctx = _context(table, category_weights, alpha=alpha, permutations=permutations, seed=seed,
                   cluster_by_group=cluster_by_group, dimensions=dimensions, columns=columns)
    pairs = np.arange(len(ctx.pair_a))
    columns = ctx.columns
    overall = tuple(_block(ctx, pairs, np.arange(columns.n_columns), "overall", None))
    categories = {
        name: tuple(_block(ctx, pairs, np.flatnonzero(columns.category == c), "category", name))
        for c, name in enumerate(columns.categories)
    }
    return HeadToHead(models=table.models, alpha=float(alpha), confidence=1.0 - float(alpha),
                      overall=overall, categories=categories)


# -------------------------------------------------------------------- two-model report


@dataclasses.dataclass(frozen=True, slots=True)
class TaskDisagreement:
    """A task on which two models' scores differ: scores 0–100 and runs of each."""

    task: str
    category: str
    difficulty: str
    score_a: float
    score_b: float
    delta: float
    runs_a: int
    runs_b: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "category": self.category,
            "difficulty": self.difficulty,
            "score_a": clean_float(self.score_a),
            "score_b": clean_float(self.score_b),
            "delta": clean_float(self.delta),
            "runs_a": self.runs_a,
            "runs_b": self.runs_b,
        }


@dataclasses.dataclass(frozen=True, slots=True)
class PairReport:
    """The detailed comparison of two models (``--modelbench-compare=A,B``).

    ``overall`` is one planned comparison (its p-value is not adjusted); ``categories`` and
    ``difficulties`` are each one Holm family; ``disagreements`` are the shared tasks with the
    largest |score difference|, largest first.
    """

    model_a: str
    model_b: str
    overall: PairComparison
    categories: tuple[PairComparison, ...]
    difficulties: tuple[PairComparison, ...]
    disagreements: tuple[TaskDisagreement, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_a": self.model_a,
            "model_b": self.model_b,
            "overall": self.overall.to_dict(),
            "categories": [c.to_dict() for c in self.categories],
            "difficulties": [c.to_dict() for c in self.difficulties],
            "disagreements": [d.to_dict() for d in self.disagreements],
        }

    def rows(self) -> list[list[str]]:
        """Overall, per-category and per-difficulty rows (header first), names whole."""
        rows = [["scope", "A", "B", "Δ", "interval", "p adj", "verdict", "to tell apart"]]
        for comparison in (self.overall, *self.categories, *self.difficulties):
            scope = comparison.scope if comparison.scope_value is None else comparison.scope_value
            rows.append([scope, _num(comparison.score_a), _num(comparison.score_b),
                         *_comparison_cells(comparison)])
        return rows

    def disagreement_rows(self) -> list[list[str]]:
        """The most disagreeing tasks (header first), names whole."""
        rows = [["task", "category", "difficulty", "A", "B", "Δ"]]
        for item in self.disagreements:
            rows.append([item.task, item.category, item.difficulty,
                         _num(item.score_a), _num(item.score_b), _signed(item.delta)])
        return rows


def compare_pair(
    table: RunTable,
    model_a: str,
    model_b: str,
    category_weights: Mapping[str, float],
    *,
    alpha: float = 0.05,
    seed: int = 0,
    permutations: int = DEFAULT_PERMUTATIONS,
    cluster_by_group: bool = True,
    top: int = 10,
    head_to_head_result: HeadToHead | None = None,
    dimensions: Dimensions | None = None,
    columns: ScoreColumns | None = None,
) -> PairReport:
    """Detailed report of ``model_a`` against ``model_b``: overall, per category, per
    difficulty, and the ``top`` shared tasks where their scores differ most.

    The overall and per-category rows are the head-to-head's own (``head_to_head_result``, or
    computed here with the same settings), so the pair gets the same verdict in both
    sections; the difficulties are one more Holm family of this pair.
    """
    for name in (model_a, model_b):
        if name not in table.models:
            raise ValueError(f"model {name!r} is not one of: {', '.join(table.models)}")
    if model_a == model_b:
        raise ValueError(f"compare needs two different models, got {model_a!r} twice")
    if isinstance(top, bool) or not isinstance(top, int) or top < 0:
        raise ValueError(f"top {top!r} is not allowed; it must be a whole number >= 0")
    ctx = _context(table, category_weights, alpha=alpha, permutations=permutations, seed=seed,
                   cluster_by_group=cluster_by_group, dimensions=dimensions, columns=columns)
    family = head_to_head_result or head_to_head(table, category_weights, alpha=alpha, seed=seed,
                                                 permutations=permutations, cluster_by_group=cluster_by_group,
                                                 columns=ctx.columns)
    overall = family.pair(model_a, model_b)
    categories = [family.pair(model_a, model_b, name) for name in ctx.columns.categories]
    i, j = table.models.index(model_a), table.models.index(model_b)
    difficulty = np.asarray(table.task_difficulty, dtype=object).astype(str)
    names = _difficulty_order(difficulty)
    column_difficulty = difficulty[ctx.columns.task]
    inside = np.array([column_difficulty == name for name in names]).reshape(len(names), ctx.columns.n_columns)
    rows = len(names)
    xa = np.where(inside, ctx.task_score[i][np.newaxis, :], np.nan)
    xb = np.where(inside, ctx.task_score[j][np.newaxis, :], np.nan)
    found = _comparisons(ctx, np.full(rows, i), np.full(rows, j), xa, xb, "difficulty", None)
    difficulties = [dataclasses.replace(comparison, scope_value=name) for comparison, name in zip(found, names)]

    answers = ctx.columns.answers  # the answer columns are the tasks, in order
    xa, xb = ctx.task_score[i, answers], ctx.task_score[j, answers]
    runs = ctx.runs[:, answers]
    shared = np.flatnonzero(~np.isnan(xa) & ~np.isnan(xb))
    gaps = xa[shared] - xb[shared]
    task_names = np.asarray(table.tasks, dtype=object).astype(str)[shared]
    order = np.lexsort((task_names, -np.abs(gaps)))
    order = order[gaps[order] != 0][:top]
    disagreements = tuple(
        TaskDisagreement(
            task=str(task_names[k]),
            category=table.categories[table.task_category[shared[k]]],
            difficulty=str(difficulty[shared[k]]),
            score_a=float(xa[shared[k]]),
            score_b=float(xb[shared[k]]),
            delta=float(gaps[k]),
            runs_a=int(runs[i, shared[k]]),
            runs_b=int(runs[j, shared[k]]),
        )
        for k in order
    )
    return PairReport(model_a=model_a, model_b=model_b, overall=overall, categories=tuple(categories),
                      difficulties=tuple(difficulties), disagreements=disagreements)


_DIFFICULTY_ORDER = ("trivial", "easy", "medium", "hard", "expert")


def _difficulty_order(difficulty: np.ndarray) -> list[str]:
    present = set(difficulty.tolist())
    known = [name for name in _DIFFICULTY_ORDER if name in present]
    return known + sorted(present - set(known))


# --------------------------------------------------------------------------- report


@dataclasses.dataclass(frozen=True, slots=True)
class ComparisonReport:
    """Rankings, head-to-head comparisons and consistency of one benchmark run."""

    rankings: Rankings
    head_to_head: HeadToHead
    consistency: ConsistencyReport

    def to_dict(self) -> dict[str, Any]:
        return {
            "rankings": self.rankings.to_dict(),
            "head_to_head": self.head_to_head.to_dict(),
            "consistency": self.consistency.to_dict(),
        }


def compare(
    table: RunTable,
    category_weights: Mapping[str, float],
    *,
    alpha: float = 0.05,
    seed: int = 0,
    bootstrap: int = 200,
    costs: Mapping[str, float | None] | None = None,
    latency_p50: Mapping[str, float | None] | None = None,
    confidence: float = 0.95,
    permutations: int = DEFAULT_PERMUTATIONS,
    cluster_by_group: bool = True,
    dimensions: Dimensions | None = None,
) -> ComparisonReport:
    """Everything the plugin reports about a run: all rankings (``bootstrap`` resamples for
    Bradley–Terry), every pair head-to-head, and consistency. ``costs`` is USD per task per
    model and ``latency_p50`` overrides the measured median latency (ms); both may omit
    models (unknown). ``dimensions`` adds the measured dimensions to every score."""
    columns = score_columns(table, dimensions)
    scores = score_model(table, category_weights, confidence=confidence, cluster_by_group=cluster_by_group,
                         columns=columns)
    grid = run_grid(table)
    return ComparisonReport(
        rankings=rank_models(table, category_weights, seed=seed, bootstrap=bootstrap, confidence=confidence,
                             costs=costs, latency_p50_ms=latency_p50, scores=scores, grid=grid,
                             cluster_by_group=cluster_by_group),
        head_to_head=head_to_head(table, category_weights, alpha=alpha, seed=seed, permutations=permutations,
                                  cluster_by_group=cluster_by_group, columns=columns),
        consistency=consistency(table),
    )


# ------------------------------------------------------------------------ terminal rows


def comparison_rows(comparisons: Sequence[PairComparison]) -> list[list[str]]:
    """One row per comparison (header first), names whole; :func:`~pytest_modelbench.core.text.table`
    with a width wraps them (column 0 as a name, the verdict and "to tell apart" as words)."""
    rows = [["A vs B", "Δ", "interval", "p adj", "verdict", "to tell apart"]]
    for comparison in comparisons:
        rows.append([f"{comparison.model_a} vs {comparison.model_b}", *_comparison_cells(comparison)])
    return rows


def _comparison_cells(comparison: PairComparison) -> list[str]:
    p = "-" if math.isnan(comparison.p_adjusted) else _p(comparison.p_adjusted)
    return [_signed(comparison.delta), interval_text(comparison.low, comparison.high), p,
            _SHORT[comparison.verdict], _to_detect(comparison)]


def _to_detect(comparison: PairComparison) -> str:
    """What would settle a non-significant verdict: the minimum detectable effect with these
    tasks, and the tasks (or runs per task) that would detect the observed difference."""
    if comparison.verdict != NO_DIFFERENCE or math.isnan(comparison.mde):
        return ""
    text = "MDE none" if math.isinf(comparison.mde) else f"MDE {comparison.mde:.1f}"
    if comparison.tasks_needed is not None:
        text += f"; {_count(comparison.tasks_needed)} tasks"
    if comparison.runs_needed is not None:
        text += f" or {_count(comparison.runs_needed)} runs"
    return text


def _count(value: int) -> str:
    return str(value) if value <= 99_999 else ">1e5"


def _p(value: float) -> str:
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _num(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1f}"



