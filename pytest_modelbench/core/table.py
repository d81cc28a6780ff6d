"""Columnar view of run records for vectorised scoring and comparison (numpy only).

``RunTable.from_records`` turns a list of :class:`RunRecord` into integer-coded numpy arrays.
Skipped runs are dropped: they measure nothing. ``error`` runs stay in the table (their
calls took time and may have cost money) but are not measurements of the model's answers:
``measured`` marks the rows that are, and every score is computed from those rows only.
Everything downstream (scores, statistics, rankings) works on these arrays, never on
per-record Python loops.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from .config import DIFFICULTIES
from .records import RunRecord

OUTCOME_CODES = {"passed": 0, "failed": 1, "error": 2}


@dataclasses.dataclass(frozen=True)
class RunTable:
    """One row per counted (not skipped) run.

    Per row: ``model`` and ``task`` (indices into ``models`` / ``tasks``), ``run`` (1-based),
    ``outcome`` (0 passed, 1 failed, 2 error), ``passed`` (bool), ``quality`` (float; 0 for an
    error, which no score counts), ``measured`` (bool: not an error), ``latency_ms``, ``ttft_ms``, ``input_tokens``, ``output_tokens`` (float, NaN when
    unknown), ``cost_usd`` (float, NaN when unknown), ``cached`` (bool), ``calls`` (the run's
    model calls; by default 1 where a latency was measured, else 0).
    Per task: ``task_category`` (index into ``categories``), ``task_weight`` (marker weight ×
    difficulty multiplier), ``task_difficulty`` (name) and ``task_group`` (group name or the
    task itself).
    """

    models: tuple[str, ...]
    tasks: tuple[str, ...]
    categories: tuple[str, ...]
    model: np.ndarray
    task: np.ndarray
    run: np.ndarray
    outcome: np.ndarray
    passed: np.ndarray
    quality: np.ndarray
    latency_ms: np.ndarray
    ttft_ms: np.ndarray
    input_tokens: np.ndarray
    output_tokens: np.ndarray
    task_category: np.ndarray
    task_weight: np.ndarray
    task_difficulty: tuple[str, ...]
    task_group: tuple[str, ...]
    cost_usd: np.ndarray | None = None
    cached: np.ndarray | None = None
    calls: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.cost_usd is None:
            object.__setattr__(self, "cost_usd", np.full(len(self.model), np.nan))
        if self.cached is None:
            object.__setattr__(self, "cached", np.zeros(len(self.model), dtype=bool))
        if self.calls is None:
            object.__setattr__(self, "calls", (~np.isnan(self.latency_ms)).astype(np.int64))

    @classmethod
    def from_records(
        cls, records: Sequence[RunRecord], models: Sequence[str] | None = None
    ) -> RunTable:
        counted = [r for r in records if r.outcome != "skipped"]
        model_names = tuple(models) if models is not None else tuple(sorted({r.model for r in counted}))
        model_index = {name: i for i, name in enumerate(model_names)}
        counted = [r for r in counted if r.model in model_index]
        task_info: dict[str, RunRecord] = {}
        for record in counted:
            task_info.setdefault(record.task, record)
        task_names = tuple(sorted(task_info))
        task_index = {name: i for i, name in enumerate(task_names)}
        category_names = tuple(sorted({r.category for r in task_info.values()}))
        category_index = {name: i for i, name in enumerate(category_names)}

        def column(values: list, dtype) -> np.ndarray:
            return np.array(values, dtype=dtype)

        def known(value):
            return np.nan if value is None else value

        outcome = column([OUTCOME_CODES[r.outcome] for r in counted], np.int8)
        quality = column(
            [0.0 if r.outcome == "error" or r.quality is None else r.quality for r in counted],
            np.float64,
        )
        first = [task_info[name] for name in task_names]
        return cls(
            models=model_names,
            tasks=task_names,
            categories=category_names,
            model=column([model_index[r.model] for r in counted], np.int64),
            task=column([task_index[r.task] for r in counted], np.int64),
            run=column([r.run for r in counted], np.int64),
            outcome=outcome,
            passed=outcome == 0,
            quality=quality,
            latency_ms=column([known(r.latency_ms) for r in counted], np.float64),
            ttft_ms=column([known(r.ttft_ms) for r in counted], np.float64),
            input_tokens=column([known(r.input_tokens) for r in counted], np.float64),
            output_tokens=column([known(r.output_tokens) for r in counted], np.float64),
            cost_usd=column([known(r.cost_usd) for r in counted], np.float64),
            cached=column([r.cached for r in counted], bool),
            calls=column([r.calls for r in counted], np.int64),
            task_category=column([category_index[r.category] for r in first], np.int64),
            task_weight=column(
                [r.weight * DIFFICULTIES[r.difficulty].multiplier for r in first], np.float64
            ),
            task_difficulty=tuple(r.difficulty for r in first),
            task_group=tuple(r.group or r.task for r in first),
        )

    @property
    def measured(self) -> np.ndarray:
        """Rows that measured the model's answer: passed or failed (not ``error``)."""
        return self.outcome != OUTCOME_CODES["error"]

    @property
    def n_models(self) -> int:
        return len(self.models)

    @property
    def n_tasks(self) -> int:
        return len(self.tasks)

    def cell_counts(self, *, measured_only: bool = True) -> np.ndarray:
        """Runs per (model, task): shape (n_models, n_tasks); measured runs only unless
        ``measured_only`` is False (then errors count too)."""
        flat = self.model * self.n_tasks + self.task
        if measured_only:
            flat = flat[self.measured]
        return np.bincount(flat, minlength=self.n_models * self.n_tasks).reshape(
            self.n_models, self.n_tasks
        )

    def cell_means(self, values: np.ndarray) -> np.ndarray:
        """Mean of ``values`` over the measured runs per (model, task); NaN where the model has
        no measured run of the task."""
        measured = self.measured
        flat = (self.model * self.n_tasks + self.task)[measured]
        size = self.n_models * self.n_tasks
        sums = np.bincount(flat, weights=np.asarray(values, dtype=np.float64)[measured], minlength=size)
        counts = np.bincount(flat, minlength=size)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = sums / counts
        means[counts == 0] = np.nan
        return means.reshape(self.n_models, self.n_tasks)
