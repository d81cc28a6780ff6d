"""The per-task scores of the measured dimensions (:mod:`.dimensions` defines them and their
transforms): speed from the task's latency percentiles and TTFT, cost from its mean run
cost, consistency from how its repeated runs agree. Numpy only; does not import pytest.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .dimensions import DEFAULT_SPEED, Dimensions, SpeedComponent
from .table import RunTable


def cell_percentiles(table: RunTable, values: np.ndarray, quantiles: tuple[float, ...],
                     rows: np.ndarray | None = None) -> np.ndarray:
    """Percentiles of ``values`` per (model, task) over the ``rows`` where the value is known:
    shape (len(quantiles), models, tasks), NaN where a cell has none.

    numpy's default linear interpolation (``np.percentile``), vectorised over all cells: a
    cell with sorted values v_0 … v_{n−1} gives v_⌊h⌋ + (h − ⌊h⌋)(v_⌊h⌋+1 − v_⌊h⌋) at
    h = (n − 1)·q/100.
    """
    values = np.asarray(values, dtype=np.float64)
    keep = ~np.isnan(values) if rows is None else (rows & ~np.isnan(values))
    m, t = table.n_models, table.n_tasks
    cell = (table.model * t + table.task)[keep]
    known = values[keep]
    order = np.lexsort((known, cell))
    cell, known = cell[order], known[order]
    counts = np.bincount(cell, minlength=m * t)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    result = np.full((len(quantiles), m * t), np.nan)
    present = np.flatnonzero(counts)
    n = counts[present]
    for k, q in enumerate(quantiles):
        position = (n - 1) * (q / 100.0)
        low = np.floor(position).astype(np.int64)
        high = np.minimum(low + 1, n - 1)
        base = starts[present]
        lower, upper = known[base + low], known[base + high]
        result[k, present] = lower + (position - low) * (upper - lower)
    return result.reshape(len(quantiles), m, t)


@dataclasses.dataclass(frozen=True, slots=True)
class SpeedValues:
    """Per (model, task): the speed score and the statistics it came from (ms; NaN unknown)."""

    score: np.ndarray
    latency_p50: np.ndarray
    latency_p95: np.ndarray
    ttft_p50: np.ndarray


def task_speed(table: RunTable, components: tuple[SpeedComponent, ...] = DEFAULT_SPEED) -> SpeedValues:
    """Speed score per (model, task): Σ_k ω_k s_k / Σ_k ω_k over the components k the task
    measured, with s_k the component's log-linear transform of the task's statistic (p50 or
    p95 of the latency of its runs that called the model, errored ones included: their time
    was spent; p50 of their time to first token). NaN when the task measured none."""
    latency = cell_percentiles(table, table.latency_ms, (50.0, 95.0))
    ttft = cell_percentiles(table, table.ttft_ms, (50.0,))[0]
    statistics = {"latency_p50": latency[0], "latency_p95": latency[1], "ttft_p50": ttft}
    total = np.zeros((table.n_models, table.n_tasks))
    weights = np.zeros_like(total)
    for component in components:
        points = component.transform(statistics[component.name])
        known = ~np.isnan(points)
        total += np.where(known, component.weight * points, 0.0)
        weights += np.where(known, component.weight, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(weights > 0, total / weights, np.nan)
    return SpeedValues(score, latency[0], latency[1], ttft)


def task_cost_usd(table: RunTable) -> np.ndarray:
    """Mean run cost (USD) per (model, task) over its counted runs; NaN when the task was not
    run or any of its runs called the model without a known cost. A run without a model call
    costs 0."""
    cost = np.where(np.isnan(table.cost_usd) & (table.calls == 0), 0.0, table.cost_usd)
    m, t = table.n_models, table.n_tasks
    cell = table.model * t + table.task
    unknown = np.bincount(cell, weights=np.isnan(cost).astype(np.float64), minlength=m * t)
    sums = np.bincount(cell, weights=np.nan_to_num(cost), minlength=m * t)
    counts = np.bincount(cell, minlength=m * t)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts
    means[(counts == 0) | (unknown > 0)] = np.nan
    return means.reshape(m, t)


@dataclasses.dataclass(frozen=True, slots=True)
class RunAgreement:
    """How the measured runs of each (model, task) agree, shape (models, tasks).

    ``runs``, ``passes``: counts; ``quality_mean``; ``sample_variance`` / ``population_variance``
    of quality (ddof 1 / 0; NaN below 2 runs); ``disagree``: some runs passed and some failed;
    ``inconsistency``: ``½ · disagree + ½ · 4 · population_variance`` (NaN below 2 runs).
    """

    runs: np.ndarray
    passes: np.ndarray
    quality_mean: np.ndarray
    sample_variance: np.ndarray
    population_variance: np.ndarray
    disagree: np.ndarray
    inconsistency: np.ndarray

    @property
    def repeated(self) -> np.ndarray:
        return self.runs >= 2


def run_agreement(table: RunTable) -> RunAgreement:
    """Per (model, task) agreement of the measured runs (an errored run measured no answer)."""
    m, t = table.n_models, table.n_tasks
    measured = table.measured
    flat = (table.model * t + table.task)[measured]
    quality = table.quality[measured]
    size = m * t
    runs = np.bincount(flat, minlength=size).reshape(m, t)
    passes = np.bincount(flat, weights=table.passed[measured].astype(np.float64), minlength=size).reshape(m, t)
    total = np.bincount(flat, weights=quality, minlength=size).reshape(m, t)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / runs
    # Sum of squared deviations from the cell mean (two-pass: no catastrophic cancellation).
    deviation = quality - mean.reshape(-1)[flat]
    squares = np.bincount(flat, weights=deviation * deviation, minlength=size).reshape(m, t)
    repeated = runs >= 2
    with np.errstate(invalid="ignore", divide="ignore"):
        sample_variance = np.where(repeated, squares / (runs - 1), np.nan)
        population_variance = np.where(repeated, squares / runs, np.nan)
    disagree = repeated & (passes > 0) & (passes < runs)
    inconsistency = np.where(repeated, 0.5 * disagree + 0.5 * 4.0 * population_variance, np.nan)
    return RunAgreement(runs, passes, mean, sample_variance, population_variance, disagree, inconsistency)


def task_consistency(table: RunTable) -> np.ndarray:
    """Consistency score per (model, task): 100 × (1 − inconsistency); NaN below 2 measured runs."""
    return 100.0 * (1.0 - run_agreement(table).inconsistency)


def dimension_values(table: RunTable, dimensions: Dimensions) -> dict[str, np.ndarray]:
    """The per-(model, task) score of each measured dimension (0–100, NaN where unknown)."""
    values: dict[str, np.ndarray] = {}
    if dimensions.speed is not None:
        values["speed"] = task_speed(table, dimensions.speed).score
    if dimensions.cost is not None:
        values["cost"] = dimensions.cost(task_cost_usd(table))
    if dimensions.consistency:
        values["consistency"] = task_consistency(table)
    return values
