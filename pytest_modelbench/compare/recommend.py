"""Which model to use for what: use-case profiles and recommendations (no pytest).

A *use case* weights the benchmark's categories (and may set hard constraints). A model's
use-case score is the weighted mean of its category scores (the results document's
``models[name]["categories"][cat]["score"]``, 0-100), the weights renormalised over the
profile's categories that this benchmark measured:

    U_m = Σ_c α_c S_{m,c},   α_c = w_c / Σ_{c' used} w_{c'}

A category the profile weights but no model has tasks in is dropped (and reported: the
score then covers only part of the profile). A model without tasks in a category that other
models were measured on is *not measured* for the use case, never scored 0 there.

Models failing a constraint (p95 latency, cost per task, pass rate; an unknown value fails
too: it cannot be shown to meet the limit) are excluded. The best remaining model is
recommended with a fit label; whether its lead over the runner-up is statistically
significant is decided from the run records, when given, by the one paired test every verdict
uses (:mod:`pytest_modelbench.compare.paired`: the sign-flip test of the per-task
contributions to the lead, tasks as the unit of evidence; Miller 2024, "Adding Error Bars to
Evals", arXiv 2411.00640, §4), here with the use case's category weights, as one planned
comparison. Its weights differ from the overall score's, so its verdict may differ from the
head-to-head's; the rationale says so.
"""

from __future__ import annotations

import dataclasses
import math
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from .._exceptions import ConfigError
from ..core.config import DEFAULT_CATEGORY_WEIGHTS
from ..core.records import RunRecord
from ..core.dimensions import Dimensions
from ..core.scoring import ScoreColumns, score_columns
from ..core.table import RunTable
from ..cost.summary import format_cost_per_task, format_usd
from .baseline import WeightedDelta, cost_per_task_by_model, weighted_paired_delta
from .paired import interval_text

__all__ = [
    "BUILTIN_USE_CASES",
    "Candidate",
    "Exclusion",
    "FIT_LEVELS",
    "UseCase",
    "UseCaseRecommendation",
    "costs_from_document",
    "fit_label",
    "parse_use_cases",
    "recommend",
    "recommendation_lines",
    "resolve_use_case",
]

#: Fit labels by use-case score (lower bounds, best first); below the last: "not recommended".
FIT_LEVELS = ((90.0, "excellent"), (75.0, "good"), (60.0, "adequate"), (40.0, "poor"))
NOT_RECOMMENDED = "not recommended"

#: Share of a profile's weight the measured categories must carry for a recommendation.
DEFAULT_MIN_COVERAGE = 0.5

USE_CASE_KEYS = ("weights", "description", "max_p95_latency_ms", "max_cost_per_task", "min_pass_rate")


def fit_label(score: float) -> str:
    """excellent >= 90, good >= 75, adequate >= 60, poor >= 40, else not recommended."""
    for bound, label in FIT_LEVELS:
        if score >= bound:
            return label
    return NOT_RECOMMENDED


@dataclasses.dataclass(frozen=True, slots=True)
class UseCase:
    """A use-case profile: category weights (>= 0) and optional hard constraints."""

    name: str
    weights: Mapping[str, float]
    description: str = ""
    max_p95_latency_ms: float | None = None
    max_cost_per_task: float | None = None
    min_pass_rate: float | None = None

    @property
    def needed(self) -> tuple[str, ...]:
        """Categories with weight > 0, heaviest first."""
        return tuple(sorted((c for c, w in self.weights.items() if w > 0),
                            key=lambda c: (-self.weights[c], c)))

    def constraints(self) -> dict[str, float]:
        return {key: value for key, value in (("max_p95_latency_ms", self.max_p95_latency_ms),
                                              ("max_cost_per_task", self.max_cost_per_task),
                                              ("min_pass_rate", self.min_pass_rate))
                if value is not None}

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "weights": dict(self.weights),
                "constraints": self.constraints()}


def _builtin(name: str, description: str, **weights: float) -> UseCase:
    return UseCase(name, weights, description)


#: The built-in profiles (docs/recommendations.md explains each choice of weights).
BUILTIN_USE_CASES: dict[str, UseCase] = {
    case.name: case
    for case in (
        _builtin("complex_reasoning",
                 "multi-step analysis, maths, planning: correctness of hard problems first",
                 reasoning=0.40, accuracy=0.25, quality=0.15, instruction_following=0.10,
                 consistency=0.10),
        _builtin("high_volume",
                 "many cheap, fast requests (classification, extraction, routing)",
                 speed=0.30, cost=0.30, accuracy=0.20, consistency=0.10, instruction_following=0.10),
        _builtin("code_generation",
                 "writing and fixing code: passing tests matters most",
                 coding=0.50, reasoning=0.15, accuracy=0.15, instruction_following=0.10,
                 consistency=0.10),
        _builtin("content_creation",
                 "drafting and rewriting text for people to read",
                 creativity=0.35, quality=0.30, instruction_following=0.20, safety=0.10, accuracy=0.05),
        _builtin("safety_critical",
                 "answers that must be safe, correct and the same every time",
                 safety=0.40, accuracy=0.25, consistency=0.20, instruction_following=0.10, quality=0.05),
    )
}


# ---------------------------------------------------------------------- parsing


def _where(name: str) -> str:
    return f"use case {name!r} in [tool.modelbench.use_cases]"


def _bounded(name: str, key: str, value: Any, *, low: float, high: float | None,
             low_open: bool, allowed: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{_where(name)}: {key} = {value!r} is not allowed; {allowed}")
    number = float(value)
    too_low = number <= low if low_open else number < low
    if too_low or (high is not None and number > high):
        raise ConfigError(f"{_where(name)}: {key} = {value!r} is not allowed; {allowed}")
    return number


def _parse_weights(name: str, weights: Any, categories: Sequence[str] | None) -> dict[str, float]:
    if not isinstance(weights, Mapping) or not weights:
        raise ConfigError(f"{_where(name)}: weights = {weights!r} is not allowed; it must be a "
                          "non-empty table of category = weight, e.g. weights = {accuracy = 0.5}")
    parsed = {}
    for category, weight in weights.items():
        if categories is not None and category not in categories:
            raise ConfigError(f"{_where(name)}: weights key {category!r} is not a category; "
                              f"allowed: {', '.join(categories)}")
        parsed[str(category)] = _bounded(name, f"weights.{category}", weight, low=0.0, high=None,
                                         low_open=False, allowed="a weight is a number >= 0")
    if not any(weight > 0 for weight in parsed.values()):
        raise ConfigError(f"{_where(name)}: weights = {weights!r} gives no category a weight > 0")
    return parsed


def parse_use_cases(table: Mapping[str, Any] | None,
                    categories: Iterable[str] | None = None) -> dict[str, UseCase]:
    """The built-in use cases updated with ``[tool.modelbench.use_cases]``.

    Each entry is ``NAME = {weights = {category = weight, ...}, max_p95_latency_ms = ..,
    max_cost_per_task = .., min_pass_rate = .., description = ".."}``. An entry named like a
    built-in refines it: keys it leaves out keep the built-in's values. ``categories`` (the
    known category names; default: the built-ins) validates the weight keys. Every error is a
    ConfigError naming the use case, the key and the value.
    """
    known = list(DEFAULT_CATEGORY_WEIGHTS if categories is None else categories)
    cases = dict(BUILTIN_USE_CASES)
    if table is None:
        return cases
    if not isinstance(table, Mapping):
        raise ConfigError(f"[tool.modelbench.use_cases] must be a table of use cases, got {table!r}")
    for name, entry in table.items():
        if not isinstance(name, str) or not name.replace("-", "_").isidentifier():
            raise ConfigError(f"use case name {name!r} in [tool.modelbench.use_cases] is not allowed; "
                              "use letters, digits, '_' and '-'")
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{_where(name)} must be a table (weights = {{...}}, ...), got {entry!r}")
        unknown = sorted(set(entry) - set(USE_CASE_KEYS))
        if unknown:
            raise ConfigError(f"{_where(name)} has unknown key {unknown[0]!r}; allowed: "
                              f"{', '.join(USE_CASE_KEYS)}")
        base = cases.get(name)
        if "weights" not in entry and base is None:
            raise ConfigError(f"{_where(name)} needs weights = {{category = weight, ...}} "
                              f"(only the built-ins {', '.join(BUILTIN_USE_CASES)} have default weights)")
        weights = _parse_weights(name, entry["weights"], known) if "weights" in entry else dict(base.weights)
        description = entry.get("description", base.description if base else "")
        if not isinstance(description, str):
            raise ConfigError(f"{_where(name)}: description = {description!r} is not a string")

        def constraint(key: str, **bounds: Any) -> float | None:
            if key in entry:
                return _bounded(name, key, entry[key], **bounds)
            return getattr(base, key) if base is not None else None

        cases[name] = UseCase(
            name=name,
            weights=weights,
            description=description,
            max_p95_latency_ms=constraint("max_p95_latency_ms", low=0.0, high=None, low_open=True,
                                          allowed="it must be a number of milliseconds > 0"),
            max_cost_per_task=constraint("max_cost_per_task", low=0.0, high=None, low_open=False,
                                         allowed="it must be an amount of USD >= 0"),
            min_pass_rate=constraint("min_pass_rate", low=0.0, high=1.0, low_open=False,
                                     allowed="it must be a fraction from 0 to 1 (0.9 = 90%)"),
        )
    return cases


def resolve_use_case(name: str, use_cases: Mapping[str, UseCase],
                     what: str = "--modelbench-use-case") -> UseCase:
    """The use case called ``name``; ConfigError listing the known ones otherwise."""
    if name not in use_cases:
        raise ConfigError(f"{what} {name!r} is not one of: {', '.join(sorted(use_cases))} "
                          "(declare more in [tool.modelbench.use_cases])")
    return use_cases[name]


# ------------------------------------------------------------------ recommending


@dataclasses.dataclass(frozen=True, slots=True)
class Candidate:
    """A model that qualifies for a use case, with its use-case score and fit."""

    model: str
    score: float
    fit: str
    categories: Mapping[str, float]
    pass_rate: float | None
    latency_p95_ms: float | None
    cost_per_task_usd: float | None

    def to_dict(self) -> dict[str, Any]:
        return {field.name: (dict(getattr(self, field.name)) if field.name == "categories"
                             else getattr(self, field.name))
                for field in dataclasses.fields(self)}


@dataclasses.dataclass(frozen=True, slots=True)
class Exclusion:
    """A model left out of a use case, and why."""

    model: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "reason": self.reason}


@dataclasses.dataclass(frozen=True, slots=True)
class UseCaseRecommendation:
    """The recommendation for one use case.

    ``weights`` are the profile's weights renormalised over ``used`` (the profile's
    categories this benchmark measured); ``coverage`` is the share of the profile's weight
    they carry; below ``min_coverage`` nothing is recommended. ``candidates`` are the
    qualifying models, best first. ``lead`` is the paired
    comparison best − runner-up on the tasks both ran (None without run records or a
    runner-up); ``significance`` is "significant", "not significant" or "unknown".
    ``recommended`` is the best candidate unless its fit is "not recommended" or the
    coverage is too low.
    """

    use_case: UseCase
    used: tuple[str, ...]
    unmeasured_categories: tuple[str, ...]
    weights: Mapping[str, float]
    coverage: float
    min_coverage: float
    candidates: tuple[Candidate, ...]
    excluded: tuple[Exclusion, ...]
    not_measured: tuple[Exclusion, ...]
    lead: WeightedDelta | None
    significance: str
    alpha: float
    rationale: str

    @property
    def status(self) -> str:
        """recommended, not fit (best below 40), low coverage, no candidate or not measured."""
        if not self.used:
            return "not measured"
        if not self.candidates:
            return "no candidate"
        if self.coverage < self.min_coverage:
            return "low coverage"
        if self.candidates[0].fit == NOT_RECOMMENDED:
            return "not fit"
        return "recommended"

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None

    @property
    def recommended(self) -> str | None:
        best = self.best
        if best is None or best.fit == NOT_RECOMMENDED or self.coverage < self.min_coverage:
            return None
        return best.model

    @property
    def fit(self) -> str:
        return self.best.fit if self.best is not None else NOT_RECOMMENDED

    @property
    def alternatives(self) -> tuple[Candidate, ...]:
        return self.candidates[1:4]

    def to_dict(self) -> dict[str, Any]:
        best = self.best
        return {
            "use_case": self.use_case.name,
            "description": self.use_case.description,
            "profile": self.use_case.to_dict(),
            "used_categories": list(self.used),
            "unmeasured_categories": list(self.unmeasured_categories),
            "weights": dict(self.weights),
            "coverage": self.coverage,
            "min_coverage": self.min_coverage,
            "status": self.status,
            "recommended": self.recommended,
            "best": None if best is None else best.model,
            "fit": self.fit,
            "score": None if best is None else best.score,
            "alternatives": [candidate.to_dict() for candidate in self.alternatives],
            "candidates": [candidate.to_dict() for candidate in self.candidates],
            "excluded": [entry.to_dict() for entry in self.excluded],
            "not_measured": [entry.to_dict() for entry in self.not_measured],
            "lead": None if self.lead is None else self.lead.to_dict(),
            "significance": self.significance,
            "alpha": self.alpha,
            "rationale": self.rationale,
        }


def _number_or_none(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _category_scores(summary: Mapping[str, Any]) -> dict[str, float]:
    categories = summary.get("categories") if isinstance(summary, Mapping) else None
    if not isinstance(categories, Mapping):
        return {}
    scores = {}
    for name, entry in categories.items():
        score = _number_or_none(entry.get("score")) if isinstance(entry, Mapping) else None
        if score is not None:
            scores[str(name)] = score
    return scores


def _missing_reason(summary: Mapping[str, Any], missing: Sequence[str]) -> str:
    """Why a model has no score in some of a use case's categories: a measured dimension says
    why it is unknown (``cost unknown: no price known …``), a category that it has no tasks."""
    dimensions = summary.get("dimensions") if isinstance(summary.get("dimensions"), Mapping) else {}
    reasons, plain = [], []
    for category in missing:
        block = dimensions.get(category)
        if isinstance(block, Mapping) and block.get("unknown"):
            reasons.append(f"{category} unknown: {block['unknown']}")
        else:
            plain.append(category)
    if plain:
        reasons.insert(0, f"no tasks in {_join(plain)}")
    return "; ".join(reasons)


def _p95(summary: Mapping[str, Any]) -> float | None:
    latency = summary.get("latency_ms")
    return _number_or_none(latency.get("p95")) if isinstance(latency, Mapping) else None


def costs_from_document(document: Mapping[str, Any]) -> dict[str, float | None]:
    """Cost per task per model from the document: ``models[name]["cost"]["cost_per_task_usd"]``,
    else an optional top-level ``cost`` block ({model: {...}} or {"models": {model: {...}}});
    models without either are left out (unknown)."""
    costs: dict[str, float | None] = {}
    block = document.get("cost")
    if isinstance(block, Mapping):
        entries = block.get("models") if isinstance(block.get("models"), Mapping) else block
        for name, entry in entries.items():
            if isinstance(entry, Mapping) and "cost_per_task_usd" in entry:
                costs[str(name)] = _number_or_none(entry.get("cost_per_task_usd"))
    models = document.get("models")
    for name, summary in (models.items() if isinstance(models, Mapping) else ()):
        cost = summary.get("cost") if isinstance(summary, Mapping) else None
        if isinstance(cost, Mapping) and "cost_per_task_usd" in cost:
            costs[str(name)] = _number_or_none(cost.get("cost_per_task_usd"))
    return costs


def _constraint_failure(case: UseCase, pass_rate: float | None, p95: float | None,
                        cost: float | None) -> str | None:
    if case.min_pass_rate is not None:
        if pass_rate is None:
            return f"pass rate unknown (minimum {case.min_pass_rate:.0%})"
        if pass_rate < case.min_pass_rate:
            return f"pass rate {pass_rate:.1%} < minimum {case.min_pass_rate:.0%}"
    if case.max_p95_latency_ms is not None:
        if p95 is None:
            return f"p95 latency unknown (limit {case.max_p95_latency_ms:g} ms)"
        if p95 > case.max_p95_latency_ms:
            return f"p95 latency {p95:.0f} ms > {case.max_p95_latency_ms:g} ms"
    if case.max_cost_per_task is not None:
        if cost is None:
            return f"cost per task unknown (limit {format_usd(case.max_cost_per_task)})"
        if cost > case.max_cost_per_task:
            return f"cost per task {format_usd(cost)} > {format_usd(case.max_cost_per_task)}"
    return None


@dataclasses.dataclass(frozen=True, slots=True)
class _RunScores:
    """The score columns of the run records (answers and measured dimensions), built once for
    every use case."""

    table: RunTable
    columns: ScoreColumns


def _lead(runs: _RunScores | None, first: str, second: str, weights: Mapping[str, float], *,
          alpha: float, seed: int, n_resamples: int) -> WeightedDelta | None:
    if runs is None or first not in runs.table.models or second not in runs.table.models:
        return None
    table, columns = runs.table, runs.columns
    i, j = table.models.index(first), table.models.index(second)
    category_weight = np.array([weights.get(name, 0.0) for name in columns.categories])
    scores = columns.values
    both = ~np.isnan(scores[i]) & ~np.isnan(scores[j]) & (category_weight[columns.category] > 0)
    if not both.any():
        return None
    return weighted_paired_delta(
        scores[i, both], scores[j, both], columns.weight[both], columns.category[both],
        category_weight, np.asarray(table.task_group, dtype=object)[columns.task[both]],
        alpha=alpha, n_resamples=n_resamples, seed=seed, column_task=columns.task[both],
    )


def _ms(value: float) -> str:
    """``812 ms``; ``1.53 ms`` and ``< 0.01 ms`` for a local model, never a bare ``0 ms``."""
    if value >= 10:
        return f"{value:.0f} ms"
    return f"{value:.2f} ms" if value >= 0.01 else "< 0.01 ms"


def _p_text(value: float) -> str:
    return "p < 0.001" if value < 0.001 else f"p = {value:.3f}"


def _join(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _rationale(case: UseCase, used: Sequence[str], weights: Mapping[str, float], coverage: float,
               unmeasured: Sequence[str], candidates: Sequence[Candidate], excluded: Sequence[Exclusion],
               not_measured: Sequence[Exclusion], lead: WeightedDelta | None, significance: str,
               alpha: float, have_runs: bool, covered: bool, min_coverage: float) -> str:
    parts = []
    if not covered:
        parts.append(f"No recommendation for {case.name}: the categories this benchmark measured "
                     f"({_join(used)}) carry only {coverage:.0%} of the profile's weight (at least "
                     f"{min_coverage:.0%} is needed; not measured: {_join(unmeasured)}). On what was "
                     "measured:")
    if not candidates:
        parts.append(f"No model qualifies for {case.name}.")
    else:
        best = candidates[0]
        details = "weighted: " + ", ".join(f"{c} {best.categories[c]:.1f} × {weights[c]:.2f}" for c in used)
        extras = []
        if best.latency_p95_ms is not None:
            extras.append(f"p95 latency {_ms(best.latency_p95_ms)}")
        if best.cost_per_task_usd is not None:
            extras.append(format_cost_per_task(best.cost_per_task_usd))
        extra = f"; {', '.join(extras)}" if extras else ""
        if best.fit == NOT_RECOMMENDED:
            parts.append(f"No model is fit for {case.name}: the best, {best.model}, scores only "
                         f"{best.score:.1f} ({details}{extra}).")
        else:
            article = "an" if best.fit[0] in "aeiou" else "a"
            parts.append(f"{best.model} scores {best.score:.1f} for {case.name}, {article} {best.fit} fit "
                         f"({details}{extra}).")
        if len(candidates) == 1:
            parts.append("It is the only model that qualifies.")
        else:
            runner = candidates[1]
            parts.append(f"It leads the runner-up {runner.model} ({runner.score:.1f}) by "
                         f"{best.score - runner.score:.1f} points.")
            if lead is not None:
                interval = ("" if math.isnan(lead.ci.low) else
                            f", {lead.confidence:.0%} interval {interval_text(lead.ci.low, lead.ci.high)}")
                verdict = ("statistically significant" if significance == "significant"
                           else "not statistically significant")
                parts.append(f"On the {lead.n_tasks} tasks both ran, weighted by {case.name}'s category "
                             f"weights (not the overall score's, so the head-to-head may differ), the "
                             f"paired lead is {lead.delta:+.1f} points{interval}: {verdict} at alpha "
                             f"{alpha:g} ({_p_text(lead.p_value)}, {lead.test}).")
            elif have_runs:
                parts.append("Significance unknown: the two models share no task of this use case.")
            else:
                parts.append("Significance unknown: no run records were given to test the lead.")
    if unmeasured and covered:
        parts.append(f"Not measured by this benchmark: {_join(unmeasured)}; the score covers "
                     f"{coverage:.0%} of the profile's weight.")
    if not_measured:
        parts.append("Not measured for this use case: "
                     + "; ".join(f"{e.model} ({e.reason})" for e in not_measured) + ".")
    if excluded:
        parts.append("Excluded by constraints: " + "; ".join(f"{e.model} ({e.reason})" for e in excluded) + ".")
    return " ".join(parts)


def _recommend_one(case: UseCase, models: Mapping[str, Any], costs: Mapping[str, float | None],
                   runs: _RunScores | None, *, alpha: float, seed: int,
                   n_resamples: int, min_coverage: float) -> UseCaseRecommendation:
    category_scores = {name: _category_scores(summary) for name, summary in models.items()}
    measured = set().union(*category_scores.values()) if category_scores else set()
    needed = case.needed
    used = tuple(c for c in needed if c in measured)
    unmeasured = tuple(c for c in needed if c not in measured)
    total = sum(case.weights[c] for c in needed)
    used_total = sum(case.weights[c] for c in used)
    weights = {c: case.weights[c] / used_total for c in used} if used else {}
    coverage = used_total / total if total else 0.0
    candidates, excluded, not_measured = [], [], []
    for name in sorted(models):
        scores = category_scores[name]
        if not used:
            continue
        summary = models[name] if isinstance(models[name], Mapping) else {}
        missing = [c for c in used if c not in scores]
        if missing:
            not_measured.append(Exclusion(name, _missing_reason(summary, missing)))
            continue
        pass_rate = _number_or_none(summary.get("pass_rate"))
        p95, cost = _p95(summary), costs.get(name)
        failure = _constraint_failure(case, pass_rate, p95, cost)
        if failure is not None:
            excluded.append(Exclusion(name, failure))
            continue
        score = sum(weights[c] * scores[c] for c in used)
        candidates.append(Candidate(name, score, fit_label(score), {c: scores[c] for c in used},
                                    pass_rate, p95, cost))
    candidates.sort(key=lambda c: (-c.score, c.model))
    lead, significance = None, "unknown"
    if len(candidates) >= 2:
        lead = _lead(runs, candidates[0].model, candidates[1].model, weights, alpha=alpha,
                     seed=seed, n_resamples=n_resamples)
        if lead is not None:
            significance = "significant" if lead.significant else "not significant"
    if not used:
        rationale = (f"{case.name} cannot be scored: none of its categories "
                     f"({_join(needed)}) has tasks in this benchmark.")
    else:
        rationale = _rationale(case, used, weights, coverage, unmeasured, candidates, excluded,
                               not_measured, lead, significance, alpha, runs is not None,
                               coverage >= min_coverage, min_coverage)
    return UseCaseRecommendation(case, used, unmeasured, weights, coverage, min_coverage, tuple(candidates),
                                 tuple(excluded), tuple(not_measured), lead, significance, alpha, rationale)


def recommend(
    document: Mapping[str, Any],
    use_cases: Iterable[UseCase] | None = None,
    *,
    records: Sequence[RunRecord] | None = None,
    cost_per_task: Mapping[str, float | None] | None = None,
    alpha: float = 0.05,
    seed: int = 0,
    n_resamples: int = 10_000,
    min_coverage: float = DEFAULT_MIN_COVERAGE,
    dimensions: Dimensions | None = None,
) -> list[UseCaseRecommendation]:
    """Recommend a model for each use case (default: the built-ins) from a results document.

    ``records`` (this run's records) enable the significance test of the lead; without them
    significance is "unknown". ``dimensions`` are the measured dimensions the document's
    category scores include (the session's): the lead is tested on the same score columns. ``cost_per_task`` (model → USD or None) feeds the cost
    constraint; by default it comes from the records' ``cost_usd``
    (:func:`~pytest_modelbench.compare.baseline.cost_per_task_by_model`), else from the document's
    ``cost`` block, else it is unknown. A use case whose measured categories carry less than
    ``min_coverage`` of its profile's weight gets no recommendation (its candidates are still
    listed).
    """
    if isinstance(min_coverage, bool) or not isinstance(min_coverage, (int, float)) \
            or not 0.0 <= min_coverage <= 1.0:
        raise ValueError(f"min_coverage {min_coverage!r} is not allowed; it must be a fraction from 0 to 1")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha {alpha!r} is not allowed; it must be a number strictly between 0 and 1")
    models = document.get("models")
    if not isinstance(models, Mapping):
        raise ValueError("the results document has no 'models' block to recommend from")
    # only measured models are recommended (a model whose every run errored has no score)
    models = {name: summary for name, summary in models.items()
              if not isinstance(summary, Mapping) or summary.get("measured", True)}
    cases = list(BUILTIN_USE_CASES.values() if use_cases is None else use_cases)
    if cost_per_task is not None:
        costs = dict(cost_per_task)
    elif records:
        costs = cost_per_task_by_model(records)
    else:
        costs = costs_from_document(document)
    runs = None
    if records:
        table = RunTable.from_records(records, sorted(models))
        runs = _RunScores(table, score_columns(table, dimensions))
    return [_recommend_one(case, models, costs, runs, alpha=alpha, seed=seed,
                           n_resamples=n_resamples, min_coverage=min_coverage) for case in cases]


def recommendation_lines(recommendations: Sequence[UseCaseRecommendation], *, width: int = 100,
                         rationales: bool = True) -> list[str]:
    """Terminal lines: one headline per use case (the pick, its score and fit, and its
    alternatives with their scores), wrapped to ``width`` with continuation lines indented by
    two spaces; with ``rationales``, each followed by its rationale indented by four."""
    lines = []
    for rec in recommendations:
        best = rec.best
        if rec.recommended is not None and best is not None:
            alternatives = ", ".join(f"{c.model} {c.score:.1f}" for c in rec.alternatives)
            head = (f"{rec.use_case.name}: {best.model} ({best.score:.1f}, {best.fit}"
                    f"{', lead ' + rec.significance if len(rec.candidates) > 1 else ''})"
                    + (f"; alternatives: {alternatives}" if alternatives else ""))
        else:
            reason = "" if best is None else f" (best: {best.model} {best.score:.1f}, {rec.status})"
            head = f"{rec.use_case.name}: no recommendation{reason}"
        lines += textwrap.wrap(head, width=width, subsequent_indent="  ", break_on_hyphens=False)
        if rationales:
            lines += textwrap.wrap(rec.rationale, width=width, initial_indent="    ",
                                   subsequent_indent="    ", break_on_hyphens=False)
    return lines
