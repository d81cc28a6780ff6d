"""How consistent each model is across repeated runs of the same task (numpy only).

Per model, over the tasks it ran at least twice:

* ``pass_hat_k`` — pass^k at k = the task's number of runs (Yao et al. 2024, tau-bench):
  the share of tasks all of whose runs passed;
* ``disagreement`` — the share of tasks whose runs disagree (some pass, some fail);
* ``quality_variance`` — the mean within-task variance of quality (ddof = 1 over the runs:
  σ² of Miller 2024's sample-size formula);
* ``score`` — the ``consistency`` dimension in [0, 100]::

      score = 100 × (1 − ½ · disagreement − ½ · 4 · v̄)

  with v̄ the mean within-task *population* variance of quality (ddof = 0). Quality lies in
  [0, 1], so a task's population variance is at most ¼ (Popoviciu's inequality, 1935) and
  4·v̄ ∈ [0, 1]: the score is 100 when every task's runs agree on pass/fail and quality,
  and 0 when every task splits its runs and its qualities are spread as far as possible.
  Consistency is not correctness: a model that fails every run of every task scores 100.

Does not import pytest. Documented for users in docs/comparison.md.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ..core.measured import run_agreement
from ..core.scoring import clean_float
from ..core.table import RunTable
from ..stats import pass_hat_k_per_task


@dataclasses.dataclass(frozen=True, slots=True)
class InconsistentTask:
    """One task whose runs disagree: its runs, passes and quality spread."""

    task: str
    runs: int
    passed: int
    quality_mean: float
    quality_std: float
    inconsistency: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "runs": self.runs,
            "passed": self.passed,
            "quality_mean": clean_float(self.quality_mean),
            "quality_std": clean_float(self.quality_std),
            "inconsistency": clean_float(self.inconsistency),
        }


@dataclasses.dataclass(frozen=True, slots=True)
class ModelConsistency:
    """Consistency metrics of one model (NaN/None when no task was run twice)."""

    model: str
    tasks: int
    pass_hat_k: float
    disagreement: float
    quality_variance: float
    score: float
    most_inconsistent: tuple[InconsistentTask, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "tasks": self.tasks,
            "pass_hat_k": clean_float(self.pass_hat_k),
            "disagreement": clean_float(self.disagreement),
            "quality_variance": clean_float(self.quality_variance),
            "score": clean_float(self.score),
            "most_inconsistent": [task.to_dict() for task in self.most_inconsistent],
        }


@dataclasses.dataclass(frozen=True, slots=True)
class ConsistencyReport:
    """Consistency of every model, in the table's model order."""

    models: tuple[ModelConsistency, ...]

    def get(self, model: str) -> ModelConsistency:
        for entry in self.models:
            if entry.model == model:
                return entry
        raise KeyError(f"model {model!r} is not one of: {', '.join(m.model for m in self.models)}")

    def to_dict(self) -> dict[str, Any]:
        return {entry.model: entry.to_dict() for entry in self.models}

    def rows(self) -> list[list[str]]:
        """Rows (header first), names whole: :func:`~pytest_modelbench.core.text.table` with a
        width wraps them."""
        rows = [["model", "consistency", "pass^k", "mixed runs", "quality var", "tasks"]]
        for entry in self.models:
            rows.append([
                entry.model,
                _fmt(entry.score, "{:.1f}"),
                _fmt(entry.pass_hat_k, "{:.1%}"),
                _fmt(entry.disagreement, "{:.1%}"),
                _fmt(entry.quality_variance, "{:.4f}"),
                str(entry.tasks),
            ])
        return rows


def _fmt(value: float, pattern: str) -> str:
    return "-" if value is None or np.isnan(value) else pattern.format(value)


def consistency(table: RunTable, *, top: int = 5) -> ConsistencyReport:
    """Consistency metrics of every model (vectorised over runs with ``bincount``).

    ``top`` is how many of the most inconsistent tasks to list per model, ordered by the
    task's own inconsistency ``½ · [runs disagree] + ½ · 4 · population variance of quality``
    (the per-task term of the score), largest first; ties by task name. Only tasks whose runs
    disagree in pass/fail or quality are listed.
    """
    if isinstance(top, bool) or not isinstance(top, int) or top < 0:
        raise ValueError(f"top {top!r} is not allowed; it must be a whole number >= 0")
    m, t = table.n_models, table.n_tasks
    # the per-task terms are the core's, which also scores the consistency dimension
    agreement = run_agreement(table)  # an errored run says nothing about the answers' consistency
    runs, passes, mean = agreement.runs, agreement.passes, agreement.quality_mean
    repeated, disagree = agreement.repeated, agreement.disagree
    sample_variance, population_variance = agreement.sample_variance, agreement.population_variance
    # pass^k with k = the cell's own number of runs, one call per distinct run count.
    all_pass = np.full((m, t), np.nan)
    pass_count = np.rint(passes).astype(np.int64)
    for k in np.unique(runs[repeated]):
        cells = runs == k
        all_pass[cells] = pass_hat_k_per_task(runs[cells], pass_count[cells], int(k))
    per_task = agreement.inconsistency

    tasks = repeated.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_pass_hat_k = np.nansum(all_pass, axis=1) / tasks
        disagreement = disagree.sum(axis=1) / tasks
        quality_variance = np.nansum(sample_variance, axis=1) / tasks
        mean_population = np.nansum(population_variance, axis=1) / tasks
    score = 100.0 * (1.0 - 0.5 * disagreement - 0.5 * 4.0 * mean_population)
    names = np.asarray(table.tasks, dtype=object).astype(str)
    name_rank = np.empty(t, dtype=np.int64)
    name_rank[np.argsort(names, kind="stable")] = np.arange(t)
    entries = []
    for i, model in enumerate(table.models):
        listed: tuple[InconsistentTask, ...] = ()
        if top:
            candidates = np.flatnonzero(repeated[i] & (per_task[i] > 0))
            order = candidates[np.lexsort((name_rank[candidates], -per_task[i, candidates]))][:top]
            listed = tuple(
                InconsistentTask(
                    task=str(names[k]),
                    runs=int(runs[i, k]),
                    passed=int(passes[i, k]),
                    quality_mean=float(mean[i, k]),
                    quality_std=float(np.sqrt(sample_variance[i, k])),
                    inconsistency=float(per_task[i, k]),
                )
                for k in order
            )
        entries.append(
            ModelConsistency(
                model=model,
                tasks=int(tasks[i]),
                pass_hat_k=float(mean_pass_hat_k[i]),
                disagreement=float(disagreement[i]),
                quality_variance=float(quality_variance[i]),
                score=float(score[i]),
                most_inconsistent=listed,
            )
        )
    return ConsistencyReport(models=tuple(entries))
