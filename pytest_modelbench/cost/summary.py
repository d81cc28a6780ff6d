"""Per-model cost summaries and the cost/score trade-off.

:func:`summarize_costs` gives one :class:`ModelCost` per model: total, what this session
spent, cost per task, cost per success, token efficiency and score points per dollar;
:func:`cheapest_within` picks the cheapest model scoring within N points of the best;
:func:`cost_rows` and :func:`format_usd` render them for the terminal.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ..core.table import RunTable
from .budget import BudgetProjection, project_budget

# --------------------------------------------------------------------------------------------
# Per-model summary


def _known_or_none(value: float) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value


def _divide(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


@dataclasses.dataclass(frozen=True, slots=True)
class ModelCost:
    """Cost and token efficiency of one model over a benchmark session.

    Runs whose cost is unknown (unknown price or token count) are left out of every cost
    figure and counted in ``unpriced_runs``; when that is > 0, ``cost_usd`` is a lower bound.

    - ``cost_usd``: what all priced runs cost (cached/replayed runs at what they would cost).
    - ``spent_usd``: what this session paid: priced runs that were not cached.
    - ``cost_per_task_usd``: expected cost of running one task once, averaged over tasks:
      the mean over tasks of each task's mean run cost. ``cost_per_task_se_usd`` is its
      standard error over tasks, sqrt(var(task costs, ddof=1) / n_tasks) (None below 2 tasks).
    - ``cost_per_success_usd``: ``cost_usd`` / passed runs among the priced runs
      (None when none passed).
    - ``tokens_per_run``: mean input + output tokens over runs with both counts known;
      ``output_tokens_per_run`` likewise; ``tokens_per_success``: their total / passed runs
      among those runs; ``output_tokens_per_task``: mean over tasks of each task's mean
      output tokens.
    - ``points_per_usd``: ``score`` / ``cost_per_task_usd``: score points per dollar of
      per-task cost (None when either is unknown or the cost is 0).
    """

    model: str
    runs: int
    priced_runs: int
    cached_runs: int
    passed_runs: int
    cost_usd: float | None
    spent_usd: float | None
    tasks: int
    priced_tasks: int
    cost_per_task_usd: float | None
    cost_per_task_se_usd: float | None
    cost_per_success_usd: float | None
    tokens_per_run: float | None
    output_tokens_per_run: float | None
    tokens_per_success: float | None
    output_tokens_per_task: float | None
    score: float | None = None
    points_per_usd: float | None = None

    @property
    def unpriced_runs(self) -> int:
        return self.runs - self.priced_runs

    def projection(self, tasks_per_day: float, confidence: float = 0.95) -> BudgetProjection | None:
        """Monthly cost at ``tasks_per_day`` for this task mix; None when the cost is unknown."""
        if self.cost_per_task_usd is None:
            return None
        return project_budget(self.cost_per_task_usd, self.cost_per_task_se_usd, tasks_per_day,
                              confidence=confidence, tasks=self.priced_tasks)

    def to_dict(self) -> dict[str, Any]:
        data = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        data["unpriced_runs"] = self.unpriced_runs
        return data


def _cell_means(flat: np.ndarray, values: np.ndarray, known: np.ndarray,
                n_models: int, n_tasks: int) -> np.ndarray:
    """Mean of the known ``values`` per (model, task); NaN where there is none."""
    size = n_models * n_tasks
    sums = np.bincount(flat, weights=np.where(known, values, 0.0), minlength=size)
    counts = np.bincount(flat, weights=known.astype(np.float64), minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts
    means[counts == 0] = np.nan
    return means.reshape(n_models, n_tasks)


def _over_tasks(cell_means: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per model: mean over tasks, SE over tasks (ddof=1), number of tasks with a value."""
    present = ~np.isnan(cell_means)
    counts = present.sum(axis=1)
    filled = np.where(present, cell_means, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = filled.sum(axis=1) / counts
        squares = np.where(present, (cell_means - means[:, None]) ** 2, 0.0).sum(axis=1)
        se = np.sqrt(squares / (counts - 1) / counts)
    means[counts == 0] = np.nan
    se[counts < 2] = np.nan
    return means, se, counts


def summarize_costs(table: RunTable, run_cost_usd: np.ndarray, *, cached: np.ndarray | None = None,
                    scores: Mapping[str, float | None] | None = None) -> dict[str, ModelCost]:
    """One :class:`ModelCost` per model of ``table`` (in ``table.models`` order).

    ``run_cost_usd`` is the per-run cost (NaN unknown, e.g. from :func:`run_costs`);
    ``cached`` a per-run bool mask of runs replayed from a cache (they count in ``cost_usd``
    but not in ``spent_usd``); ``scores`` the model's score for ``points_per_usd``.
    Vectorised with ``np.bincount`` over runs: no per-run Python loop.

    Cost per task follows the clustered view of Miller (2024), "Adding Error Bars to Evals"
    (arXiv:2411.00640): a task's K runs are one cluster, averaged first; the standard error is
    taken over task means.
    """
    n_runs = len(table.model)
    n_models, n_tasks = table.n_models, table.n_tasks
    cost = np.asarray(run_cost_usd, dtype=np.float64)
    if cost.shape != (n_runs,):
        raise ValueError(f"run_cost_usd has shape {cost.shape}; it needs one value per run ({n_runs},)")
    if np.any(np.isinf(cost)) or np.any(cost < 0):
        bad = int(np.flatnonzero(np.isinf(cost) | (cost < 0))[0])
        raise ValueError(
            f"run_cost_usd {float(cost[bad])!r} of run {bad} is not allowed; a cost is a finite number >= 0 "
            "or NaN when unknown"
        )
    if cached is None:
        cached_mask = np.zeros(n_runs, dtype=bool)
    else:
        cached_mask = np.asarray(cached)
        if cached_mask.shape != (n_runs,) or cached_mask.dtype != np.bool_:
            raise ValueError(
                f"cached must be a bool array with one value per run ({n_runs},), "
                f"got dtype {cached_mask.dtype} and shape {cached_mask.shape}"
            )
    scores = scores or {}
    model = table.model
    passed = np.asarray(table.passed, dtype=bool)

    def per_model(weights: np.ndarray) -> np.ndarray:
        return np.bincount(model, weights=weights.astype(np.float64), minlength=n_models)

    priced = ~np.isnan(cost)
    cost_known = np.where(priced, cost, 0.0)
    runs = np.bincount(model, minlength=n_models)
    priced_runs = per_model(priced)
    cost_sum = per_model(cost_known)
    spent_sum = per_model(np.where(cached_mask, 0.0, cost_known))
    priced_passes = per_model(priced & passed)
    cached_runs = per_model(cached_mask)
    passed_runs = per_model(passed)

    tokens = np.asarray(table.input_tokens, dtype=np.float64) + np.asarray(table.output_tokens, dtype=np.float64)
    tokens_known = ~np.isnan(tokens)
    token_runs = per_model(tokens_known)
    token_sum = per_model(np.where(tokens_known, tokens, 0.0))
    token_passes = per_model(tokens_known & passed)
    output_tokens = np.asarray(table.output_tokens, dtype=np.float64)
    output_known = ~np.isnan(output_tokens)
    output_runs = per_model(output_known)
    output_sum = per_model(np.where(output_known, output_tokens, 0.0))

    flat = model * n_tasks + table.task
    task_cost, task_cost_se, priced_tasks = _over_tasks(_cell_means(flat, cost, priced, n_models, n_tasks))
    task_output, _, _ = _over_tasks(_cell_means(flat, output_tokens, output_known, n_models, n_tasks))
    tasks_run = (table.cell_counts(measured_only=False) > 0).sum(axis=1)

    result: dict[str, ModelCost] = {}
    for index, name in enumerate(table.models):
        has_cost = priced_runs[index] > 0
        cost_usd = float(cost_sum[index]) if has_cost else None
        cost_per_task = _known_or_none(task_cost[index])
        score = scores.get(name)
        score = None if score is None or math.isnan(float(score)) else float(score)
        result[name] = ModelCost(
            model=name,
            runs=int(runs[index]),
            priced_runs=int(priced_runs[index]),
            cached_runs=int(cached_runs[index]),
            passed_runs=int(passed_runs[index]),
            cost_usd=cost_usd,
            spent_usd=float(spent_sum[index]) if has_cost else None,
            tasks=int(tasks_run[index]),
            priced_tasks=int(priced_tasks[index]),
            cost_per_task_usd=cost_per_task,
            cost_per_task_se_usd=_known_or_none(task_cost_se[index]),
            cost_per_success_usd=_divide(cost_usd, float(priced_passes[index])),
            tokens_per_run=_divide(float(token_sum[index]), float(token_runs[index])),
            output_tokens_per_run=_divide(float(output_sum[index]), float(output_runs[index])),
            tokens_per_success=_divide(float(token_sum[index]) if token_runs[index] else None,
                                       float(token_passes[index])),
            output_tokens_per_task=_known_or_none(task_output[index]),
            score=score,
            points_per_usd=_divide(score, cost_per_task),
        )
    return result


# --------------------------------------------------------------------------------------------
# Trade-off


@dataclasses.dataclass(frozen=True, slots=True)
class CheapestWithin:
    """The cheapest model scoring within ``points`` of the best score.

    ``best_model`` is the best-scoring model among all given (its cost may be unknown);
    ``model`` the cheapest among models with a known cost and score >= best_score − points
    (None when no such model); ``unknown_cost`` the models left out for an unknown cost.
    Ties on cost go to the higher score, then to the name.
    """

    model: str | None
    score: float | None
    cost_usd: float | None
    best_model: str
    best_score: float
    points: float
    unknown_cost: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        data = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        data["unknown_cost"] = list(self.unknown_cost)
        return data


def cheapest_within(scores: Mapping[str, float], costs: Mapping[str, float | None],
                    points: float) -> CheapestWithin:
    """The cheapest model whose score is within ``points`` of the best (see :class:`CheapestWithin`).

    ``costs`` are comparable per-model costs (e.g. cost per task); a model missing from
    ``costs`` or with None has an unknown cost and is excluded from the choice.
    """
    if isinstance(points, bool) or not isinstance(points, (int, float)) or not math.isfinite(points) or points < 0:
        raise ValueError(f"points {points!r} is not allowed; it must be a finite number >= 0")
    if not scores:
        raise ValueError("cheapest_within() needs at least one model score, got none")
    for model, score in scores.items():
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
            raise ValueError(f"score {score!r} of model {model!r} is not allowed; it must be a finite number")
    for model, cost in costs.items():
        if cost is not None and (isinstance(cost, bool) or not isinstance(cost, (int, float))
                                 or not math.isfinite(cost) or cost < 0):
            raise ValueError(
                f"cost {cost!r} of model {model!r} is not allowed; it must be a finite number >= 0 or None"
            )
    best_model = min(scores, key=lambda name: (-scores[name], name))
    best_score = float(scores[best_model])
    unknown = tuple(sorted(name for name in scores if costs.get(name) is None))
    candidates = [name for name in scores
                  if costs.get(name) is not None and scores[name] >= best_score - points]
    if not candidates:
        return CheapestWithin(None, None, None, best_model, best_score, float(points), unknown)
    chosen = min(candidates, key=lambda name: (costs[name], -scores[name], name))
    return CheapestWithin(chosen, float(scores[chosen]), float(costs[chosen]),  # type: ignore[arg-type]
                          best_model, best_score, float(points), unknown)


# --------------------------------------------------------------------------------------------
# Terminal formatting

UNKNOWN = "?"


def format_usd(value: float | None) -> str:
    """``$1,234``, ``$12.34``, ``$0.50``, ``$0.0051``, ``$0.00123`` (3 significant digits below
    $1, trailing zeros dropped past the cents; never scientific notation); ``?`` when unknown."""
    if value is None or math.isnan(value):
        return UNKNOWN
    if value == 0:
        return "$0"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"${value:,.0f}"
    if magnitude >= 1:
        return f"${value:,.2f}"
    decimals = 2 - math.floor(math.log10(magnitude))
    text = f"{value:.{decimals}f}".rstrip("0")
    whole, _, fraction = text.partition(".")
    return f"${whole}.{fraction.ljust(2, '0')}"


def format_usd_per_1k(value: float | None) -> str:
    """A per-item amount as USD per 1,000 items, without scientific notation: 0.0000384 per task
    gives ``$0.04``, 0.0021 ``$2.10``, 1.7 ``$1,700``; two significant digits below a cent
    (``$0.0038``); ``$0`` for free; ``?`` when unknown."""
    if value is None or math.isnan(value):
        return UNKNOWN
    per = 1000.0 * value
    if per == 0:
        return "$0"
    magnitude = abs(per)
    if magnitude >= 1000:
        return f"${per:,.0f}"
    if magnitude >= 0.01:
        return f"${per:,.2f}"
    return f"${per:.{1 - math.floor(math.log10(magnitude))}f}"


def format_cost_per_task(value: float | None, item: str = "tasks") -> str:
    """``$0.04 per 1k tasks`` (see :func:`format_usd_per_1k`); ``cost unknown`` when unknown."""
    if value is None or math.isnan(value):
        return "cost unknown"
    return f"{format_usd_per_1k(value)} per 1k {item}"


def format_usd_delta(value: float | None) -> str:
    """A signed amount: ``+$0.04``, ``-$1.20``, ``$0``; ``?`` when unknown."""
    if value is None or math.isnan(value):
        return UNKNOWN
    if value == 0:
        return "$0"
    return ("+" if value > 0 else "-") + format_usd(abs(value))


def format_count(value: float | None) -> str:
    """``1,234`` (rounded); ``?`` when unknown."""
    if value is None or math.isnan(value):
        return UNKNOWN
    return f"{value:,.0f}"


@dataclasses.dataclass(frozen=True, slots=True)
class CostRows:
    """Header and rows of the terminal cost section, ready for ``tabulate(rows, headers)``."""

    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


def cost_rows(costs: Iterable[ModelCost], *,
              projections: Mapping[str, BudgetProjection | None] | None = None,
              budget_usd_per_month: float | None = None) -> CostRows:
    """Rows of the cost section, one per model; ``?`` marks an unknown value.

    A total with unpriced runs reads ``$1.20 (+3 ?)``: a lower bound, 3 runs unpriced.
    With ``projections`` a ``monthly (95% CI)`` column is added; with a budget as well, a
    ``budget`` column reading ``fits``, ``over``, or ``fits?`` / ``over?`` when the interval
    straddles the budget.
    """
    headers = ["model", "cost", "spent", "per task", "per success", "tokens/run",
               "tokens/success", "points/$"]
    if projections is not None:
        headers.append("monthly (95% CI)")
        if budget_usd_per_month is not None:
            headers.append("budget")
    rows = []
    for cost in costs:
        total = format_usd(cost.cost_usd)
        if cost.cost_usd is not None and cost.unpriced_runs:
            total += f" (+{cost.unpriced_runs} ?)"
        row = [cost.model, total, format_usd(cost.spent_usd), format_usd(cost.cost_per_task_usd),
               format_usd(cost.cost_per_success_usd), format_count(cost.tokens_per_run),
               format_count(cost.tokens_per_success), format_count(cost.points_per_usd)]
        if projections is not None:
            projection = projections.get(cost.model)
            if projection is None:
                row.append(UNKNOWN)
            elif projection.monthly_low_usd is None or projection.monthly_high_usd is None:
                row.append(format_usd(projection.monthly_usd))
            else:
                row.append(f"{format_usd(projection.monthly_usd)} "
                           f"({format_usd(projection.monthly_low_usd)}–{format_usd(projection.monthly_high_usd)})")
            if budget_usd_per_month is not None:
                if projection is None:
                    row.append(UNKNOWN)
                else:
                    fit = projection.fits_budget(budget_usd_per_month)
                    row.append(("fits" if fit.fits else "over") + ("" if fit.confident else "?"))
        rows.append(tuple(row))
    return CostRows(tuple(headers), tuple(rows))
