"""Head-to-head comparison of models and the comparison report (numpy only; no pytest).

For every pair of models (and again within every category) :func:`head_to_head` reports the
score difference on the tasks both models ran, its confidence interval, a paired test, the
Holm-adjusted p-value over all pairs and a verdict; :func:`compare_pair` is the detailed
two-model report behind ``--modelbench-compare=A,B``; :func:`compare` bundles rankings,
head-to-head and consistency into one :class:`ComparisonReport`. Users' description:
docs/comparison.md.

Method (Miller 2024, "Adding Error Bars to Evals", arXiv 2411.00640):

* per task, the score of a model is 100 × (0.6 × pass rate + 0.4 × mean quality) over its runs;
  on the shared tasks the difference Δ = S_A − S_B uses the same category and task weights as
  the overall score, so Δ is the difference of the two overall scores restricted to shared
  tasks;
* its standard error is the task-clustered (or task-group-clustered) linearised SE of
  :func:`pytest_modelbench.compare.rankings.weighted_category_mean`, paired because it is computed
  on the per-task differences; the interval is Δ ± z·SE;
* the test: when every shared run of both models is pass/fail (run score 0 or 100) the exact
  McNemar test on the shared (task, run) pairs; otherwise a sign-flip permutation test of the
  per-task contributions to Δ (signs flipped per task cluster);
* p-values are Holm-adjusted over all pairs of one family (overall; each category);
* verdict: see :func:`verdict`.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..core.scoring import (
    PASS_SHARE,
    QUALITY_SHARE,
    category_weight_vector,
    clean_float,
    score_model,
    sum_by_cluster,
    task_clusters,
    task_scores,
    weighted_category_mean,
)
from ..core.table import RunTable
from ..profile.consistency import ConsistencyReport, consistency
from ..stats import (
    holm,
    mcnemar_exact,
    minimum_detectable_effect,
    normal_ppf,
    runs_needed,
    sign_flip_test_batch,
    tasks_needed,
)
from .rankings import Rankings, RunGrid, pair_counts, rank_models, run_grid

#: Relative differences (|Δ| / the lower score) that size a significant verdict.
LARGE_RELATIVE = 0.20
SMALL_RELATIVE = 0.05
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


def verdict(delta: float, relative: float, p_adjusted: float, alpha: float, direction: float | None = None) -> str:
    """The verdict of A against B.

    ``significantly better``/``worse`` when the adjusted p-value is below ``alpha`` and the
    relative difference |Δ| / min(S_A, S_B) is at least 20%; ``slightly better``/``worse`` when
    it is significant and at least 5%; otherwise ``no significant difference`` (this includes
    statistically detectable differences under 5%, which are too small to matter). When the
    test has a direction of its own (McNemar: b − c) that disagrees with Δ, no verdict of a
    difference is given. NaN p-value (no shared tasks): ``not comparable``.
    """
    if math.isnan(p_adjusted) or math.isnan(delta):
        return NOT_COMPARABLE
    significant = p_adjusted < alpha
    if direction is not None and direction * delta <= 0:
        significant = False
    if not significant or relative < SMALL_RELATIVE - _EDGE:
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
    ``high``; ``test`` names the test, ``p_value`` its two-sided p-value and ``p_adjusted`` the
    Holm-adjusted one within the family; ``discordant`` is McNemar's (b, c) when it was used.
    ``relative`` is |Δ| / min(score_a, score_b) (infinite, ``None`` in ``to_dict()``, when the
    lower score is 0).
    ``mde`` is the minimum detectable effect (score points, power 0.8, level alpha);
    ``tasks_needed``/``runs_needed`` what would detect the observed Δ (None when not
    estimable, or no number of runs suffices).
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
    relative: float
    tasks: int
    clusters: int
    test: str
    p_value: float
    p_adjusted: float
    discordant: tuple[int, int] | None
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
            discordant=None if self.discordant is None else (self.discordant[1], self.discordant[0]),
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
            "relative": clean_float(self.relative),
            "tasks": self.tasks,
            "clusters": self.clusters,
            "test": self.test,
            "p_value": clean_float(self.p_value),
            "p_adjusted": clean_float(self.p_adjusted),
            "discordant": None if self.discordant is None else list(self.discordant),
            "significant": self.significant,
            "verdict": self.verdict,
            "mde": clean_float(self.mde),
            "tasks_needed": self.tasks_needed,
            "runs_needed": self.runs_needed,
        }


# ---------------------------------------------------------------------------- engine


@dataclasses.dataclass(frozen=True, slots=True)
class _Context:
    """Everything the pair blocks share, computed once per table."""

    table: RunTable
    task_score: np.ndarray
    runs: np.ndarray
    run_variance: np.ndarray
    binary: np.ndarray
    pair_a: np.ndarray
    pair_b: np.ndarray
    greater: np.ndarray
    less: np.ndarray
    category_weight: np.ndarray
    cluster: np.ndarray
    confidence: float
    alpha: float
    permutations: int
    seed: int


def _context(table: RunTable, category_weights: Mapping[str, float], *, alpha: float, confidence: float,
             permutations: int, seed: int, cluster_by_group: bool, grid: RunGrid | None = None) -> _Context:
    for name, value in (("alpha", alpha), ("confidence", confidence)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value < 1.0:
            raise ValueError(f"{name} {value!r} is not allowed; it must be a number in (0, 1)")
    if isinstance(permutations, bool) or not isinstance(permutations, int) or permutations < 1:
        raise ValueError(f"permutations {permutations!r} is not allowed; it must be a whole number >= 1")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed {seed!r} is not allowed; it must be a whole number >= 0")
    weights = category_weight_vector(table, category_weights)
    m, t = table.n_models, table.n_tasks
    run_score = 100.0 * (PASS_SHARE * table.passed + QUALITY_SHARE * table.quality)
    flat = table.model * t + table.task
    size = m * t
    runs = np.bincount(flat, minlength=size).reshape(m, t)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(flat, weights=run_score, minlength=size) / runs.reshape(-1)
        deviation = run_score - mean[flat]
        squares = np.bincount(flat, weights=deviation * deviation, minlength=size).reshape(m, t)
        run_variance = np.where(runs >= 2, squares / (runs - 1), np.nan)
    is_binary = (run_score == 0.0) | (run_score == 100.0)
    non_binary = np.bincount(flat, weights=(~is_binary).astype(np.float64), minlength=size).reshape(m, t)
    counts = pair_counts(run_grid(table, run_score) if grid is None else grid.with_values(run_score), t)
    cluster, _ = task_clusters(table, cluster_by_group)
    return _Context(
        table=table,
        task_score=task_scores(table),
        runs=runs,
        run_variance=run_variance,
        binary=(runs > 0) & (non_binary == 0),
        pair_a=counts.pair_a,
        pair_b=counts.pair_b,
        greater=counts.greater,
        less=counts.less,
        category_weight=weights,
        cluster=cluster,
        confidence=float(confidence),
        alpha=float(alpha),
        permutations=permutations,
        seed=seed,
    )


def _block(ctx: _Context, pairs: np.ndarray, columns: np.ndarray, scope: str,
           scope_value: str | None, *, adjust: bool = True) -> list[PairComparison]:
    """Compare the pairs ``pairs`` (indices into ctx.pair_a/pair_b) on the tasks ``columns``.

    One family: Holm adjustment over these pairs (unless ``adjust`` is False).
    """
    table = ctx.table
    n_pairs = len(pairs)
    pa, pb = ctx.pair_a[pairs], ctx.pair_b[pairs]
    xa = ctx.task_score[pa][:, columns]
    xb = ctx.task_score[pb][:, columns]
    shared = ~np.isnan(xa) & ~np.isnan(xb)
    difference = np.where(shared, xa - xb, np.nan)
    names, sub_cluster = np.unique(ctx.cluster[columns], return_inverse=True)
    sub_cluster = sub_cluster.reshape(-1)
    weights = (table.task_weight[columns], table.task_category[columns], ctx.category_weight)
    result = weighted_category_mean(difference, *weights, sub_cluster, len(names), category_se=False)
    baseline = weighted_category_mean(np.where(shared, xb, np.nan), *weights, sub_cluster, len(names),
                                      category_se=False, overall_se=False)
    delta = result.overall
    se = result.overall_se
    score_b = baseline.overall
    score_a = score_b + delta
    n_shared = shared.sum(axis=1)
    z = normal_ppf(0.5 + ctx.confidence / 2.0)

    # Tests: exact McNemar when all shared runs are pass/fail, else sign-flip permutation.
    binary = ~(shared & ~(ctx.binary[pa][:, columns] & ctx.binary[pb][:, columns])).any(axis=1)
    b_count = ctx.greater[pairs][:, columns].sum(axis=1, dtype=np.float64)
    c_count = ctx.less[pairs][:, columns].sum(axis=1, dtype=np.float64)
    p_value = np.full(n_pairs, np.nan)
    tests = ["none"] * n_pairs
    discordant: list[tuple[int, int] | None] = [None] * n_pairs
    for k in np.flatnonzero(binary & (n_shared > 0)):
        b, c = int(b_count[k]), int(c_count[k])
        outcome = mcnemar_exact(b, c)
        p_value[k], tests[k], discordant[k] = outcome.p_value, outcome.method, (b, c)
    graded = np.flatnonzero(~binary & (n_shared > 0))
    if graded.size and len(names):
        contribution = result.coefficient[graded] * np.nan_to_num(difference[graded])
        per_cluster = sum_by_cluster(contribution, sub_cluster, len(names))
        batch = sign_flip_test_batch(per_cluster, n_resamples=_resamples(ctx, n_pairs), seed=ctx.seed)
        p_value[graded] = batch.p_value
        for k in graded:
            tests[k] = batch.method
    valid = ~np.isnan(p_value)
    adjusted = np.full(n_pairs, np.nan)
    if valid.any():
        adjusted[valid] = holm(p_value[valid]) if adjust else p_value[valid]

    power = _power(ctx, pa, pb, columns, shared, difference, se, delta)
    low = np.clip(delta - z * se, -100.0, 100.0)  # NaN stays NaN
    high = np.clip(delta + z * se, -100.0, 100.0)
    comparisons = []
    for k in range(n_pairs):
        relative = relative_difference(float(score_a[k]), float(score_b[k]))
        direction = None if discordant[k] is None else float(discordant[k][0] - discordant[k][1])
        label = verdict(float(delta[k]), relative, float(adjusted[k]), ctx.alpha, direction)
        comparisons.append(
            PairComparison(
                model_a=table.models[pa[k]],
                model_b=table.models[pb[k]],
                scope=scope,
                scope_value=scope_value,
                score_a=float(score_a[k]),
                score_b=float(score_b[k]),
                delta=float(delta[k]),
                se=float(se[k]),
                low=float(low[k]),
                high=float(high[k]),
                relative=relative,
                tasks=int(n_shared[k]),
                clusters=int(result.clusters[k]),
                test=tests[k],
                p_value=float(p_value[k]),
                p_adjusted=float(adjusted[k]),
                discordant=discordant[k],
                significant=label in _FLIP,
                verdict=label,
                mde=power[k][0],
                tasks_needed=power[k][1],
                runs_needed=power[k][2],
            )
        )
    return comparisons


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


def _resamples(ctx: _Context, family: int) -> int:
    """Monte-Carlo sign patterns: at least ``permutations`` and enough that the smallest
    attainable p-value, 1/(R + 1) (Phipson & Smyth 2010), stays below α/2 after Holm's
    multiplication by the family size (R ≥ 2·family/α)."""
    return max(ctx.permutations, math.ceil(2.0 * family / ctx.alpha))


def _power(ctx: _Context, pa: np.ndarray, pb: np.ndarray, columns: np.ndarray, shared: np.ndarray,
           difference: np.ndarray, se: np.ndarray, delta: np.ndarray) -> list[tuple[float, int | None, int | None]]:
    """Minimum detectable effect and tasks/runs needed per pair (Miller 2024 §5).

    Variance components by the method of moments of ``stats.variance_components`` (here for
    ragged runs and all pairs at once): σ² = mean within-task variance of run scores (ddof=1,
    tasks with ≥ 2 runs), K = median runs per shared task, ω² = max(0, var(d, ddof=1) −
    σ_A²/K_A − σ_B²/K_B). Task weights and clustering enter as a design effect (Kish 1965):
    deff = SE² / (var(d, ddof=1)/n), the ratio of the actual (weighted, clustered) variance to
    that of a plain mean; the formulas are applied to δ/√deff, which scales the MDE by √deff.
    """
    n = shared.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows give NaN, handled below
        var_a = np.where(shared, ctx.run_variance[pa][:, columns], np.nan)
        var_b = np.where(shared, ctx.run_variance[pb][:, columns], np.nan)
        known_a = (~np.isnan(var_a)).sum(axis=1)
        known_b = (~np.isnan(var_b)).sum(axis=1)
        sigma2_a = np.where(known_a > 0, np.nanmean(var_a, axis=1), 0.0)
        sigma2_b = np.where(known_b > 0, np.nanmean(var_b, axis=1), 0.0)
        k_a = _masked_median(ctx.runs[pa][:, columns], shared)
        k_b = _masked_median(ctx.runs[pb][:, columns], shared)
        var_d = np.nanvar(difference, axis=1, ddof=1)
    results: list[tuple[float, int | None, int | None]] = []
    for k in range(len(pa)):
        if n[k] < 2:
            results.append((math.nan, None, None))
            continue
        runs_a, runs_b = max(1, int(k_a[k])), max(1, int(k_b[k]))
        components = {"omega2": 0.0, "sigma2_a": float(sigma2_a[k]), "sigma2_b": float(sigma2_b[k])}
        within = components["sigma2_a"] / runs_a + components["sigma2_b"] / runs_b
        components["omega2"] = max(0.0, float(var_d[k]) - within)
        if components["omega2"] + within <= 0.0:
            results.append((math.nan, None, None))
            continue
        plain_se = math.sqrt(float(var_d[k]) / n[k])
        deff = (float(se[k]) / plain_se) ** 2 if plain_se > 0 and math.isfinite(se[k]) and se[k] > 0 else 1.0
        scale = math.sqrt(deff)
        design = {"alpha": ctx.alpha, "power": POWER, **components}
        mde = scale * minimum_detectable_effect(int(n[k]), runs_a=runs_a, runs_b=runs_b, **design)
        observed = float(delta[k])
        need_tasks = need_runs = None
        if observed != 0.0 and math.isfinite(observed):
            target = observed / scale
            need_tasks = tasks_needed(target, runs_a=runs_a, runs_b=runs_b, **design)
            if known_a[k] and known_b[k] and components["sigma2_a"] + components["sigma2_b"] > 0:
                need_runs = runs_needed(target, int(n[k]), **design)
        results.append((float(mde), need_tasks, need_runs))
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
        """One row per pair for ``tabulate`` (header first), fitting 100 columns."""
        family = self.overall if category is None else self.categories[category]
        return comparison_rows(family)

    def matrix_rows(self, category: str | None = None, *, width: int = 100) -> list[list[list[str]]]:
        """The pairs as a matrix of marks, row model against column model.

        ``++`` significantly better, ``+`` slightly better, ``=`` no significant difference,
        ``-`` slightly worse, ``--`` significantly worse, ``?`` no shared tasks. Columns are
        model numbers; the matrix is split into blocks of columns so that each block fits
        ``width`` characters (tabulate's plain format). Each block is a list of rows, header
        first.
        """
        m = len(self.models)
        labels = [_short(f"{i + 1} {name}", 24) for i, name in enumerate(self.models)]
        # tabulate pads headers by 2 and separates columns by 2 spaces.
        label_width = max([len(label) for label in labels] + [len("model") + 2])
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
    confidence: float = 0.95,
    seed: int = 0,
    permutations: int = DEFAULT_PERMUTATIONS,
    cluster_by_group: bool = True,
    grid: RunGrid | None = None,
) -> HeadToHead:
    """Compare every pair of models, overall and within each category (one Holm family each).

    ``permutations`` is the least number of Monte-Carlo sign patterns of the permutation test
    (exact enumeration up to 16 task clusters); all pairs share the patterns (seeded).
    ``grid`` is any :func:`~pytest_modelbench.compare.rankings.run_grid` of the table, to reuse its
    slot layout.
    """
    ctx = _context(table, category_weights, alpha=alpha, confidence=confidence,
                   permutations=permutations, seed=seed, cluster_by_group=cluster_by_group, grid=grid)
    pairs = np.arange(len(ctx.pair_a))
    overall = tuple(_block(ctx, pairs, np.arange(table.n_tasks), "overall", None))
    categories = {
        name: tuple(_block(ctx, pairs, np.flatnonzero(table.task_category == c), "category", name))
        for c, name in enumerate(table.categories)
    }
    return HeadToHead(models=table.models, alpha=float(alpha), confidence=float(confidence),
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
        """Overall, per-category and per-difficulty rows for ``tabulate`` (header first)."""
        rows = [["scope", "A", "B", "Δ", "95% CI", "p adj", "verdict", "MDE; needed"]]
        for comparison in (self.overall, *self.categories, *self.difficulties):
            scope = comparison.scope if comparison.scope_value is None else comparison.scope_value
            rows.append([_short(scope, 12), _num(comparison.score_a), _num(comparison.score_b),
                         *_comparison_cells(comparison)])
        return rows

    def disagreement_rows(self) -> list[list[str]]:
        """The most disagreeing tasks for ``tabulate`` (header first), fitting 100 columns."""
        rows = [["task", "category", "difficulty", "A", "B", "Δ"]]
        for item in self.disagreements:
            rows.append([_short(item.task, 44), _short(item.category, 14), item.difficulty,
                         _num(item.score_a), _num(item.score_b), _signed(item.delta)])
        return rows


def compare_pair(
    table: RunTable,
    model_a: str,
    model_b: str,
    category_weights: Mapping[str, float],
    *,
    alpha: float = 0.05,
    confidence: float = 0.95,
    seed: int = 0,
    permutations: int = DEFAULT_PERMUTATIONS,
    cluster_by_group: bool = True,
    top: int = 10,
) -> PairReport:
    """Detailed report of ``model_a`` against ``model_b``: overall, per category, per
    difficulty, and the ``top`` shared tasks where their scores differ most."""
    for name in (model_a, model_b):
        if name not in table.models:
            raise ValueError(f"model {name!r} is not one of: {', '.join(table.models)}")
    if model_a == model_b:
        raise ValueError(f"compare needs two different models, got {model_a!r} twice")
    if isinstance(top, bool) or not isinstance(top, int) or top < 0:
        raise ValueError(f"top {top!r} is not allowed; it must be a whole number >= 0")
    ctx = _context(table, category_weights, alpha=alpha, confidence=confidence,
                   permutations=permutations, seed=seed, cluster_by_group=cluster_by_group)
    i, j = table.models.index(model_a), table.models.index(model_b)
    low, high = min(i, j), max(i, j)
    m = table.n_models
    pair = np.array([low * m - low * (low + 1) // 2 + (high - low - 1)])
    flip = i > j

    def oriented(comparisons: list[PairComparison]) -> list[PairComparison]:
        return [c.flipped() if flip else c for c in comparisons]

    overall = oriented(_block(ctx, pair, np.arange(table.n_tasks), "overall", None, adjust=False))[0]
    category_rows = []
    for c, name in enumerate(table.categories):
        columns = np.flatnonzero(table.task_category == c)
        category_rows.append(oriented(_block(ctx, pair, columns, "category", name, adjust=False))[0])
    difficulty = np.asarray(table.task_difficulty, dtype=object).astype(str)
    difficulty_rows = []
    for name in _difficulty_order(difficulty):
        columns = np.flatnonzero(difficulty == name)
        difficulty_rows.append(oriented(_block(ctx, pair, columns, "difficulty", name, adjust=False))[0])
    categories = _holm_family(category_rows, ctx.alpha)
    difficulties = _holm_family(difficulty_rows, ctx.alpha)

    xa, xb = ctx.task_score[i], ctx.task_score[j]
    shared = np.flatnonzero(~np.isnan(xa) & ~np.isnan(xb))
    gaps = xa[shared] - xb[shared]
    names = np.asarray(table.tasks, dtype=object).astype(str)[shared]
    order = np.lexsort((names, -np.abs(gaps)))
    order = order[gaps[order] != 0][:top]
    disagreements = tuple(
        TaskDisagreement(
            task=str(names[k]),
            category=table.categories[table.task_category[shared[k]]],
            difficulty=str(difficulty[shared[k]]),
            score_a=float(xa[shared[k]]),
            score_b=float(xb[shared[k]]),
            delta=float(gaps[k]),
            runs_a=int(ctx.runs[i, shared[k]]),
            runs_b=int(ctx.runs[j, shared[k]]),
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


def _holm_family(comparisons: list[PairComparison], alpha: float) -> list[PairComparison]:
    """Holm-adjust the p-values of ``comparisons`` as one family and redo their verdicts."""
    p_values = np.array([c.p_value for c in comparisons])
    valid = ~np.isnan(p_values)
    adjusted = np.full(len(comparisons), np.nan)
    if valid.any():
        adjusted[valid] = holm(p_values[valid])
    result = []
    for comparison, p_adjusted in zip(comparisons, adjusted):
        direction = None if comparison.discordant is None else float(
            comparison.discordant[0] - comparison.discordant[1])
        label = verdict(comparison.delta, comparison.relative, float(p_adjusted), alpha, direction)
        result.append(dataclasses.replace(comparison, p_adjusted=float(p_adjusted), verdict=label,
                                          significant=label in _FLIP))
    return result


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
) -> ComparisonReport:
    """Everything the plugin reports about a run: all rankings (``bootstrap`` resamples for
    Bradley–Terry), every pair head-to-head, and consistency. ``costs`` is USD per task per
    model and ``latency_p50`` overrides the measured median latency (ms); both may omit
    models (unknown)."""
    scores = score_model(table, category_weights, confidence=confidence, cluster_by_group=cluster_by_group)
    grid = run_grid(table)
    return ComparisonReport(
        rankings=rank_models(table, category_weights, seed=seed, bootstrap=bootstrap, confidence=confidence,
                             costs=costs, latency_p50_ms=latency_p50, scores=scores, grid=grid,
                             cluster_by_group=cluster_by_group),
        head_to_head=head_to_head(table, category_weights, alpha=alpha, confidence=confidence, seed=seed,
                                  permutations=permutations, cluster_by_group=cluster_by_group, grid=grid),
        consistency=consistency(table),
    )


# ------------------------------------------------------------------------ terminal rows


def comparison_rows(comparisons: Sequence[PairComparison]) -> list[list[str]]:
    """One row per comparison (header first) for ``tabulate``; ≤ 100 columns."""
    rows = [["A vs B", "Δ", "95% CI", "p adj", "verdict", "MDE; needed"]]
    for comparison in comparisons:
        pair = f"{_short(comparison.model_a, 11)} vs {_short(comparison.model_b, 11)}"
        rows.append([pair, *_comparison_cells(comparison)])
    return rows


def _comparison_cells(comparison: PairComparison) -> list[str]:
    interval = "" if math.isnan(comparison.low) else f"[{_signed(comparison.low)}, {_signed(comparison.high)}]"
    p = "-" if math.isnan(comparison.p_adjusted) else _p(comparison.p_adjusted)
    return [_signed(comparison.delta), interval, p, _SHORT[comparison.verdict], _to_detect(comparison)]


def _to_detect(comparison: PairComparison) -> str:
    if comparison.verdict != NO_DIFFERENCE or math.isnan(comparison.mde):
        return ""
    text = f"{comparison.mde:.1f}"
    if comparison.runs_needed is not None:
        text += f"; {_count(comparison.runs_needed)} runs"
    elif comparison.tasks_needed is not None:
        text += f"; {_count(comparison.tasks_needed)} tasks"
    return text


def _count(value: int) -> str:
    return str(value) if value <= 99_999 else ">1e5"


def _p(value: float) -> str:
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _num(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1f}"


def _signed(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:+.1f}"


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
