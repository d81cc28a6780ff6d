"""Compare this run with a saved baseline results file (numpy only; does not import pytest).

For every model present in both runs, the comparison is paired on the tasks both runs
measured (Miller 2024, "Adding Error Bars to Evals", arXiv 2411.00640, §4: a task is the unit
of sampling, the runs of a task are one cluster, and the same tasks measured twice are
compared through their per-task differences). The test, its interval and its verdict are
:func:`~pytest_modelbench.compare.paired.paired_deltas`, the one paired test every verdict
uses: the score change Δ = Σ_t π_t (x_t(current) − x_t(baseline)) with this run's category
and task weights, the sign-flip permutation test of the per-task (per-group) contributions to
it, and the interval that inverts the same test. The models form one Holm family (a gate
that checks several models must not fail by chance more often than α); each model's
categories form another.

Errored runs (a failed model call, a replay miss) measure nothing: they are left out of the
scores on both sides and counted apart (``errors_current``, ``error_reasons``), so a drop
caused by errors is reported as errors, never as a change in the answers.

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

from .._exceptions import ConfigError
from ..core.config import DEFAULT_CATEGORY_WEIGHTS
from ..core.text import table
from ..cost.summary import format_usd_delta
from ..core.records import RunRecord
from ..core.results import read_results, write_json_atomic
from ..core.dimensions import Dimensions
from ..core.measured import task_cost_usd
from ..core.scoring import PASS_SHARE, QUALITY_SHARE, clean_float, score_columns, task_scores, task_shares
from ..core.table import RunTable
from ..stats import VarianceComponents, variance_components
from .paired import PairedDelta, detectability, interval_text, paired_deltas

__all__ = [
    "Baseline",
    "BaselineComparison",
    "CategoryDelta",
    "ModelBaseline",
    "WeightedDelta",
    "baseline_document",
    "compare_to_baseline",
    "cost_per_task_by_model",
    "load_baseline",
    "weighted_paired_delta",
    "write_baseline",
]

#: Blocks of a results document that describe a comparison with an older baseline; they are
#: dropped when the document itself becomes the new baseline.
BASELINE_ONLY_BLOCKS = ("baseline", "gates")


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


def cost_per_task_by_model(records: Sequence[RunRecord]) -> dict[str, float | None]:
    """Cost per task (USD) of each model: the mean over its tasks of each task's mean run cost.

    The same definition as ``cost.ModelCost.cost_per_task_usd``, but strict: None (unknown)
    when any task's cost is unknown (see :func:`~pytest_modelbench.core.measured.task_cost_usd`).
    """
    table = RunTable.from_records(records)
    cells = task_cost_usd(table)
    ran = ~np.isnan(task_scores(table))
    result: dict[str, float | None] = {}
    for i, name in enumerate(table.models):
        values = cells[i, ran[i]]
        result[name] = None if values.size == 0 or np.isnan(values).any() else float(values.mean())
    return result


# -------------------------------------------------------------- weighted paired delta


#: The comparison of two weighted scores on shared tasks (kept under its former name).
WeightedDelta = PairedDelta


def weighted_paired_delta(
    a_scores: np.ndarray,
    b_scores: np.ndarray,
    task_weight: np.ndarray,
    task_category: np.ndarray,
    category_weight: np.ndarray,
    groups: Sequence[str] | np.ndarray | None = None,
    *,
    alpha: float = 0.05,
    n_resamples: int = 10_000,
    seed: int = 0,
    column_task: np.ndarray | None = None,
) -> PairedDelta:
    """One paired comparison of the weighted scores Σ π_t a_t and Σ π_t b_t over the same
    tasks (a single planned comparison: no multiplicity adjustment); see
    :func:`~pytest_modelbench.compare.paired.paired_deltas`. ``groups`` clusters the tasks
    (tasks of one group are flipped together); with score columns, ``column_task`` names each
    column's task."""
    a = np.asarray(a_scores, dtype=np.float64)
    b = np.asarray(b_scores, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape or a.shape[0] == 0:
        raise ValueError(f"a paired comparison needs the same tasks on both sides (at least one), "
                         f"got {a.shape} and {b.shape}")
    cluster = np.arange(a.shape[0]) if groups is None else np.asarray(groups, dtype=object).astype(str)
    return paired_deltas(a[np.newaxis, :], b[np.newaxis, :], task_weight, task_category, category_weight,
                         cluster, alpha=alpha, adjust=False, n_resamples=n_resamples, seed=seed,
                         column_task=column_task)[0]


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

    ``score`` is None when the model shares no measured task with the baseline. ``variance``
    holds the variance components of the (n·π-scaled) per-run scores for power calculations
    (None when fewer than 2 shared tasks or fewer than 2 runs per task); ``runs_current`` /
    ``runs_baseline`` are the median runs per shared task; ``mde`` the smallest true change
    this comparison detects with 80% power, read off its own interval
    (:func:`~pytest_modelbench.compare.paired.detectability`; infinite when too few tasks).
    ``errors_current`` counts this run's errored runs on the tasks the baseline has (of
    ``runs_checked``), ``error_reasons`` their reasons (``ReplayMissError: …``) by count:
    errors are not in the score, they are reported apart.
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
    errors_current: int = 0
    runs_checked: int = 0
    error_reasons: tuple[tuple[str, int], ...] = ()

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
            "current": None if score is None else clean_float(score.a),
            "baseline": None if score is None else clean_float(score.b),
            "delta": None if score is None else clean_float(score.delta),
            "ci": None if score is None else [clean_float(score.ci.low), clean_float(score.ci.high)],
            "p_value": None if score is None else clean_float(score.p_value),
            "p_adjusted": None if score is None else clean_float(score.p_adjusted),
            "significant": None if score is None else score.significant,
            "score": None if score is None else score.to_dict(),
            "categories": {entry.category: entry.delta.to_dict() for entry in self.categories},
            "latency_p95_ms": {"current": clean_float(self.latency_p95_ms_current),
                               "baseline": clean_float(self.latency_p95_ms_baseline),
                               "delta": clean_float(self.latency_p95_ms_delta)},
            "cost_per_task_usd": {"current": clean_float(self.cost_per_task_usd_current),
                                  "baseline": clean_float(self.cost_per_task_usd_baseline),
                                  "delta": clean_float(self.cost_per_task_usd_delta)},
            "variance": variance,
            "runs_current": self.runs_current,
            "runs_baseline": self.runs_baseline,
            "mde": clean_float(self.mde),
            "errors_current": self.errors_current,
            "runs_checked": self.runs_checked,
            "error_reasons": [{"reason": reason, "runs": count} for reason, count in self.error_reasons],
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
            "method": "paired over shared tasks (task = unit of evidence, Miller 2024); sign-flip "
                      "permutation test of the contributions to the weighted score change, its "
                      "inverted interval; Holm over models",
            "models": {entry.model: entry.to_dict() for entry in self.models},
            "only_current_models": list(self.only_current_models),
            "only_baseline_models": list(self.only_baseline_models),
        }

    def rows(self) -> list[list[str]]:
        """Rows (header first), names whole; the cost change is per 1,000 tasks."""
        rows = [["model", "tasks", "base", "now", "Δ score [interval]", "p adj", "errors", "Δ p95 ms",
                 "Δ $/1k tasks"]]
        labels = {e.model: e.model for e in self.models}
        for entry in self.models:
            score = entry.score
            errors = f"{entry.errors_current}/{entry.runs_checked}" if entry.runs_checked else "-"
            if score is None:
                rows.append([labels[entry.model], "0", "-", "-", "no shared measured task", "-", errors, "-", "-"])
                continue
            interval = "" if math.isnan(score.ci.low) else f" {interval_text(score.ci.low, score.ci.high)}"
            rows.append([
                labels[entry.model],
                str(entry.shared_tasks),
                f"{score.b:.1f}",
                f"{score.a:.1f}",
                f"{score.delta:+.1f}{interval}",
                _p(score.p_adjusted),
                errors,
                "?" if entry.latency_p95_ms_delta is None else f"{entry.latency_p95_ms_delta:+.0f}",
                format_usd_delta(None if entry.cost_per_task_usd_delta is None
                                 else 1000.0 * entry.cost_per_task_usd_delta),
            ])
        return rows

    def table(self, width: int = 100) -> str:
        """The rows as a plain-text table ``width`` columns wide (names wrapped, not cut)."""
        rows = self.rows()
        return table(rows[0], rows[1:], ("left", *["right"] * (len(rows[0]) - 1)), width=width,
                     wrap={0: "name", 4: "words"})


def _p(value: float) -> str:
    if value is None or math.isnan(value):
        return "-"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


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
    """(tasks × runs) per-run scores of ``model`` on ``tasks`` (first ``runs`` measured runs by
    run number), minus ``shift`` and times ``scale`` per task."""
    rows = np.flatnonzero((table.model == model) & table.measured)
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


def _error_reason(text: str | None) -> str:
    """The kind of an error (``ReplayMissError``), from a record's ``error`` text."""
    if not text:
        return "error"
    head = text.split(":", 1)[0].strip()
    return head if head and " " not in head else text[:60]


def _errors(records: Sequence[RunRecord], model: str, tasks: set[str]) -> tuple[int, int, tuple[tuple[str, int], ...]]:
    """This run's errored runs of ``model`` on ``tasks``: (errors, runs, reasons by count)."""
    runs = errors = 0
    reasons: dict[str, int] = {}
    for record in records:
        if record.model != model or record.task not in tasks or record.outcome == "skipped":
            continue
        runs += 1
        if record.outcome == "error":
            errors += 1
            reason = _error_reason(record.error)
            reasons[reason] = reasons.get(reason, 0) + 1
    ordered = tuple(sorted(reasons.items(), key=lambda item: (-item[1], item[0])))
    return errors, runs, ordered


def compare_to_baseline(
    current: Sequence[RunRecord],
    baseline: Baseline,
    *,
    category_weights: Mapping[str, float] | None = None,
    alpha: float = 0.05,
    n_resamples: int = 10_000,
    seed: int = 0,
    power: float = 0.8,
    dimensions: Dimensions | None = None,
) -> BaselineComparison:
    """Compare ``current`` run records with ``baseline`` model by model (see the module doc).

    Task categories, weights and groups are this run's. ``category_weights`` defaults to the
    built-in weights. With ``dimensions`` the measured dimensions of both runs are scored
    with the same (this run's) transforms and compared column by column with the answers:
    the change of the score is the change of everything the score counts. Raises
    ConfigError naming the baseline file when the runs share no model, or no measured
    (model, task) pair.
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
    now_columns, then_columns = score_columns(now, dimensions), score_columns(then, dimensions)
    # a baseline column is matched by its task's name and its kind (answers, speed, ...)
    then_key = {(then.tasks[task], then_columns.kind_name(kind)): j
                for j, (task, kind) in enumerate(zip(then_columns.task.tolist(), then_columns.kind.tolist()))}
    to_then = np.array([then_key.get((now.tasks[task], now_columns.kind_name(kind)), -1)
                        for task, kind in zip(now_columns.task.tolist(), now_columns.kind.tolist())], dtype=np.int64)
    in_both = to_then >= 0
    now_scores, then_raw = now_columns.values, then_columns.values
    then_scores = np.full((then.n_models, now_columns.n_columns), np.nan)
    then_scores[:, in_both] = then_raw[:, to_then[in_both]]
    category_weight = _category_weight_vector(now_columns.categories, weights)
    cluster = np.asarray(now.task_group, dtype=object).astype(str)[now_columns.task]
    model_now = np.array([now.models.index(name) for name in shared_models])
    model_then = np.array([then.models.index(name) for name in shared_models])
    a_rows, b_rows = now_scores[model_now], then_scores[model_then]
    column_weight, column_category = now_columns.weight, now_columns.category
    family = paired_deltas(a_rows, b_rows, column_weight, column_category, category_weight, cluster,
                           alpha=alpha, n_resamples=n_resamples, seed=seed, column_task=now_columns.task)
    answers = now_columns.answers
    then_answers = then_columns.answers
    now_costs, then_costs = task_cost_usd(now), task_cost_usd(then)
    now_counts, then_counts = now.cell_counts(), then.cell_counts()
    baseline_tasks = set(then.tasks)
    entries = []
    for k, name in enumerate(shared_models):
        i, j = int(model_now[k]), int(model_then[k])
        a_all, b_all = a_rows[k], b_rows[k]
        both = ~np.isnan(a_all) & ~np.isnan(b_all)
        both_answers = both & answers
        errors, checked, reasons = _errors(current, name, baseline_tasks)
        only_now = int((~np.isnan(now_scores[i, answers])).sum()) - int(both_answers.sum())
        only_then = int((~np.isnan(then_raw[j, then_answers])).sum()) - int(both_answers.sum())
        if not both_answers.any():
            entries.append(ModelBaseline(name, 0, only_now, only_then, None, (), None, None, None, None,
                                         None, 0, 0, None, errors, checked, reasons))
            continue
        tasks_now = now_columns.task[both_answers]  # the answer columns are the tasks, in order
        tasks_then = then_columns.task[to_then[both_answers]]
        score = family[k]
        categories = []
        present = np.unique(column_category[both])
        if present.size:
            inside = column_category[np.newaxis, :] == present[:, np.newaxis]
            found = paired_deltas(np.where(inside, a_all, np.nan), np.where(inside, b_all, np.nan),
                                  column_weight, column_category, category_weight, cluster,
                                  alpha=alpha, n_resamples=n_resamples, seed=seed, column_task=now_columns.task)
            categories = [CategoryDelta(now_columns.categories[c], delta) for c, delta in zip(present, found)]
        now_rows = (now.model == i) & np.isin(now.task, tasks_now)
        then_rows = (then.model == j) & np.isin(then.task, tasks_then)
        cost_now, cost_then = now_costs[i, tasks_now], then_costs[j, tasks_then]
        runs_now, runs_then = now_counts[i, tasks_now], then_counts[j, tasks_then]
        variance, mde = None, None
        fewest = int(min(runs_now.min(), runs_then.min()))
        task_weight, task_category = column_weight[both_answers], column_category[both_answers]
        if tasks_now.shape[0] >= 2 and fewest >= 2:
            # Per-task contributions n·π_t·(d_t − D_c) of the answers, so ω² and σ² are on the
            # scale of the score change (Miller 2024 §5).
            share = task_shares(task_weight, task_category, category_weight)
            differences = a_all[both_answers] - b_all[both_answers]
            shift = _category_centred(differences, share, task_category)
            scale = tasks_now.shape[0] * share
            variance = variance_components(_run_matrix(now, i, tasks_now, fewest, scale, shift),
                                           _run_matrix(then, j, tasks_then, fewest, scale))
        runs_current, runs_baseline = int(np.median(runs_now)), int(np.median(runs_then))
        mde = detectability(score.delta, score.ci.low, score.ci.high, score.level, n_tasks=score.n_tasks,
                            n_clusters=score.n_clusters, power=power).mde
        entries.append(ModelBaseline(
            model=name,
            shared_tasks=int(both_answers.sum()),
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
            errors_current=errors,
            runs_checked=checked,
            error_reasons=reasons,
        ))
    if all(entry.score is None for entry in entries) and not any(entry.errors_current for entry in entries):
        raise ConfigError(
            f"baseline {baseline.path!r} shares no task with this run for any of its models "
            f"({', '.join(shared_models)}); save a new baseline with --modelbench-update-baseline"
        )
    return BaselineComparison(
        path=baseline.path,
        git_commit=baseline.git_commit,
        finished_at=baseline.finished_at,
        confidence=1.0 - alpha,
        models=tuple(entries),
        only_current_models=tuple(sorted(set(now.models) - set(then.models))),
        only_baseline_models=tuple(sorted(set(then.models) - set(now.models))),
    )


def _category_centred(differences: np.ndarray, share: np.ndarray, task_category: np.ndarray) -> np.ndarray:
    """D_c(t): the weighted mean difference of each task's category, Σ_{s∈c} π_s d_s / Σ_{s∈c} π_s."""
    codes = np.asarray(task_category, dtype=np.int64)
    size = int(codes.max()) + 1
    totals = np.bincount(codes, weights=share * differences, minlength=size)
    weights = np.bincount(codes, weights=share, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (totals / weights)[codes]
