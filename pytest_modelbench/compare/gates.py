"""CI gates: rules on this run's results whose failure should fail the build (no pytest).

Four gates, each evaluated per model and returned as :class:`GateResult` rows:

* ``fail-on-regression`` — against a baseline (:mod:`pytest_modelbench.compare.baseline`): fails when
  the model's score fell by at least ``tolerance`` points *and* the drop is significant (the
  paired sign-flip test of :mod:`pytest_modelbench.compare.paired`, Holm-adjusted over the
  models compared). A drop of at least ``tolerance`` that is not significant passes with the
  verdict ``not significant`` and says how many tasks (or runs per task) would tell (Miller
  2024, "Adding Error Bars to Evals", arXiv 2411.00640, §5). Runs that errored in this run (a
  failed call, a replay miss) are not in the score: they fail the gate with the verdict
  ``errors`` ("12 of 40 runs errored: ReplayMissError"), never as a regression;
* ``min-score`` — the model's overall score is at least N (globally or per model);
* ``max-p95-latency-ms`` — the model's p95 run latency is at most N ms;
* ``max-cost-per-task`` — the model's cost per task is at most N USD.

A gate that cannot be measured (no score, latency or cost; no task shared with the baseline)
has the verdict ``unknown``: it is shown, and does not fail the build unless
``gates_passed(..., unknown_fails=True)``.
"""

from __future__ import annotations

import dataclasses
import math
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tabulate import tabulate

from .._exceptions import ConfigError
from ..cost.summary import format_usd
from ..core.text import fit_labels
from .paired import detectability, interval_text, min_clusters_to_reject
from .baseline import BaselineComparison, ModelBaseline

__all__ = [
    "GATE_NAMES",
    "GateResult",
    "GateSettings",
    "MinScore",
    "VERDICTS",
    "cost_gates",
    "evaluate_gates",
    "gate_lines",
    "gates_passed",
    "latency_gates",
    "min_score_gates",
    "parse_alpha",
    "parse_max_cost_per_task",
    "parse_max_p95_latency_ms",
    "parse_min_score",
    "parse_tolerance",
    "regression_gates",
]

GATE_NAMES = ("fail-on-regression", "min-score", "max-p95-latency-ms", "max-cost-per-task")
VERDICTS = ("pass", "fail", "errors", "not significant", "unknown")
#: Verdicts that fail the build.
FAILING = ("fail", "errors")

DEFAULT_TOLERANCE = 2.0
DEFAULT_ALPHA = 0.05
DEFAULT_POWER = 0.8
_EPSILON = 1e-9  # a drop equal to the tolerance up to rounding counts as reaching it


@dataclasses.dataclass(frozen=True, slots=True)
class GateResult:
    """One gate applied to one model.

    ``measured`` and ``threshold`` are in the gate's unit (score points, the signed score
    change for ``fail-on-regression``, ms, USD); None when unknown. ``verdict`` is one of
    :data:`VERDICTS`; ``message`` explains it with the measured numbers. ``p_value`` is the
    regression test's p-value (None for other gates).
    """

    name: str
    model: str
    measured: float | None
    threshold: float | None
    verdict: str
    message: str
    p_value: float | None = None

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r} is not one of: {', '.join(VERDICTS)}")

    @property
    def failed(self) -> bool:
        return self.verdict in FAILING

    def to_dict(self) -> dict[str, Any]:
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}


def gates_passed(results: Iterable[GateResult], *, unknown_fails: bool = False) -> bool:
    """True when no gate failed (and, with ``unknown_fails``, none was unknown)."""
    bad = {*FAILING, "unknown"} if unknown_fails else set(FAILING)
    return not any(result.verdict in bad for result in results)


# ---------------------------------------------------------------------- parsing


def _number(text: Any, what: str, allowed: str, *, prefix: str = "") -> float:
    """``text`` as a finite float (``prefix`` stripped first); ConfigError repeating ``text``."""
    if isinstance(text, bool):
        raise ConfigError(f"{what} {text!r} is not a number; {allowed}")
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        cleaned = str(text).strip()
        if prefix:
            cleaned = cleaned.removeprefix(prefix).strip()
        try:
            value = float(cleaned)
        except ValueError:
            raise ConfigError(f"{what} {text!r} is not a number; {allowed}") from None
    if not math.isfinite(value):
        raise ConfigError(f"{what} {text!r} is not allowed; {allowed}")
    return value


def parse_tolerance(text: Any, what: str = "--modelbench-tolerance") -> float:
    """Score points a model may lose before a significant drop fails: a number >= 0."""
    allowed = "it must be a number of score points >= 0 (e.g. 2)"
    value = _number(text, what, allowed)
    if value < 0:
        raise ConfigError(f"{what} {text!r} is not allowed; {allowed}")
    return value


def parse_alpha(text: Any, what: str = "--modelbench-alpha") -> float:
    """Significance level: a number strictly between 0 and 1."""
    allowed = "it must be a significance level strictly between 0 and 1 (e.g. 0.05)"
    value = _number(text, what, allowed)
    if not 0.0 < value < 1.0:
        raise ConfigError(f"{what} {text!r} is not allowed; {allowed}")
    return value


def parse_max_p95_latency_ms(text: Any, what: str = "--modelbench-max-p95-latency-ms") -> float:
    """Largest allowed p95 run latency: milliseconds > 0."""
    allowed = "it must be a number of milliseconds > 0 (e.g. 2500)"
    value = _number(text, what, allowed)
    if value <= 0:
        raise ConfigError(f"{what} {text!r} is not allowed; {allowed}")
    return value


def parse_max_cost_per_task(text: Any, what: str = "--modelbench-max-cost-per-task") -> float:
    """Largest allowed cost per task: USD >= 0 (a leading ``$`` is accepted)."""
    allowed = "it must be an amount of USD >= 0 (e.g. 0.01 or $0.01)"
    value = _number(text, what, allowed, prefix="$")
    if value < 0:
        raise ConfigError(f"{what} {text!r} is not allowed; {allowed}")
    return value


@dataclasses.dataclass(frozen=True, slots=True)
class MinScore:
    """Minimum overall scores: ``default`` for every model, ``per_model`` overriding it."""

    default: float | None = None
    per_model: Mapping[str, float] = dataclasses.field(default_factory=dict)

    def threshold(self, model: str) -> float | None:
        return self.per_model.get(model, self.default)

    def check_models(self, models: Iterable[str], what: str = "--modelbench-min-score") -> None:
        """ConfigError when a per-model minimum names a model that is not configured."""
        known = list(models)
        for name in self.per_model:
            if name not in known:
                raise ConfigError(f"{what} names model {name!r}, which is not one of the models: "
                                  f"{', '.join(known) or '(none)'}")


def _score(text: str, whole: str, what: str) -> float:
    allowed = "a minimum score is a number from 0 to 100; write N or MODEL=N[,MODEL=N...]"
    try:
        value = float(text.strip())
    except ValueError:
        raise ConfigError(f"{what} {whole!r}: {text.strip()!r} is not a number; {allowed}") from None
    if not (math.isfinite(value) and 0.0 <= value <= 100.0):
        raise ConfigError(f"{what} {whole!r}: {text.strip()!r} is not allowed; {allowed}")
    return value


def parse_min_score(text: Any, what: str = "--modelbench-min-score") -> MinScore:
    """``N`` (every model), ``MODEL=N,MODEL=N`` (per model) or both, e.g. ``60,gpt-4o=75``.

    Model names are split at their last ``=``; every score is a number in [0, 100].
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return MinScore(_score(str(text), str(text), what))
    whole = str(text)
    default: float | None = None
    per_model: dict[str, float] = {}
    items = [item.strip() for item in whole.split(",")]
    if not whole.strip() or any(not item for item in items):
        raise ConfigError(f"{what} {whole!r} has an empty entry; write N or MODEL=N[,MODEL=N...]")
    for item in items:
        if "=" in item:
            name, _, value = item.rpartition("=")
            name = name.strip()
            if not name:
                raise ConfigError(f"{what} {whole!r}: {item!r} has no model name before '='")
            if name in per_model:
                raise ConfigError(f"{what} {whole!r} gives model {name!r} twice")
            per_model[name] = _score(value, whole, what)
        else:
            if default is not None:
                raise ConfigError(f"{what} {whole!r} gives more than one score for every model")
            default = _score(item, whole, what)
    return MinScore(default, per_model)


@dataclasses.dataclass(frozen=True, slots=True)
class GateSettings:
    """Which gates are on, and their thresholds (None = gate off)."""

    fail_on_regression: bool = False
    tolerance: float = DEFAULT_TOLERANCE
    alpha: float = DEFAULT_ALPHA
    power: float = DEFAULT_POWER
    min_score: MinScore | None = None
    max_p95_latency_ms: float | None = None
    max_cost_per_task: float | None = None

    @property
    def active(self) -> bool:
        return (self.fail_on_regression or self.min_score is not None
                or self.max_p95_latency_ms is not None or self.max_cost_per_task is not None)


# ------------------------------------------------------------------- evaluation


def _p(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _p_text(value: float | None) -> str:
    """``p = 0.123`` or ``p < 0.001``."""
    text = _p(value)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def _power_advice(entry: ModelBaseline, tolerance: float, drop: float, power: float) -> str:
    """How many tasks (or runs per task) would tell a drop of ``tolerance`` points, read off the
    comparison's own interval (:func:`~pytest_modelbench.compare.paired.detectability`)."""
    score = entry.score
    assert score is not None
    effect = tolerance if tolerance > 0 else drop
    variance = entry.variance
    found = detectability(
        -effect, score.ci.low, score.ci.high, score.level, n_tasks=score.n_tasks, n_clusters=score.n_clusters,
        omega2=None if variance is None else variance.omega2,
        sigma2_a=0.0 if variance is None else variance.sigma2_a,
        sigma2_b=0.0 if variance is None else variance.sigma2_b,
        runs_a=max(1, entry.runs_current), runs_b=max(1, entry.runs_baseline), power=power,
    )
    units = "task groups" if score.grouped else "tasks"
    needed = min_clusters_to_reject(score.level)
    if score.n_clusters < needed:
        return (f"with {score.n_clusters} {units} the permutation test cannot reach p <= {score.level:.3g} "
                f"(its smallest p is {2.0 / 2.0 ** score.n_clusters:.3g}); at least {needed} are needed")
    if math.isinf(found.mde):
        return f"with {score.n_tasks} tasks no drop is detectable; add tasks"
    parts = [f"the smallest drop these {score.n_tasks} tasks detect with {power:.0%} power is {found.mde:.1f} points"]
    if found.mde <= effect:
        parts.append(f"so a {effect:.1f}-point drop would likely have been significant")
        return "; ".join(parts)
    if found.tasks_needed is not None:
        parts.append(f"about {found.tasks_needed} tasks would detect a {effect:.1f}-point drop")
    if found.runs_needed is not None:
        parts.append(f"or about {found.runs_needed} runs per task (now {entry.runs_current}) in both this run "
                     "and the baseline")
    elif variance is not None:
        parts.append("more runs per task would not (task-to-task spread dominates)")
    return "; ".join(parts)


def regression_gates(comparison: BaselineComparison, *, tolerance: float = DEFAULT_TOLERANCE,
                     alpha: float = DEFAULT_ALPHA, power: float = DEFAULT_POWER) -> list[GateResult]:
    """``fail-on-regression`` for every model of ``comparison`` (see the module doc).

    ``measured`` is the score change (current − baseline, points) over the shared measured
    tasks and ``threshold`` is −``tolerance``. Fails ("errors") when runs errored, and
    ("fail") when change <= −tolerance and the drop is significant (Holm-adjusted p <= alpha).
    """
    tolerance = parse_tolerance(tolerance, "tolerance")
    alpha = parse_alpha(alpha, "alpha")
    results = []
    for entry in comparison.models:
        score = entry.score
        if score is not None and abs(score.alpha - alpha) > 1e-12:
            raise ValueError(f"the baseline comparison was tested at alpha {score.alpha:g}, the gate asks for "
                             f"{alpha:g}: compare with alpha={alpha:g} so that its intervals and verdicts agree")
        errors = None
        if entry.errors_current:
            reasons = ", ".join(f"{reason} ({count})" if len(entry.error_reasons) > 1 else reason
                                for reason, count in entry.error_reasons)
            errors = (f"{entry.errors_current} of {entry.runs_checked} runs errored: {reasons}; errored "
                      "runs measure nothing and are not in the score")
        if score is None:
            results.append(GateResult(
                "fail-on-regression", entry.model, None, -tolerance, "errors" if errors else "unknown",
                errors or f"{entry.model} shares no task with the baseline {comparison.path!r}: nothing to compare",
            ))
            continue
        drop = -score.delta
        interval = ("" if math.isnan(score.ci.low) else
                    f", {score.confidence:.1%} interval {interval_text(score.ci.low, score.ci.high)}")
        change = (f"score {score.b:.1f} -> {score.a:.1f} ({score.delta:+.1f} points{interval}) "
                  f"on {score.n_tasks} shared tasks")
        adjusted = "" if score.family == 1 else f", Holm over {score.family} models"
        significance = ("significant" if score.significant else "not significant") + \
            f" at alpha {alpha:g} ({_p_text(score.p_adjusted)}{adjusted}, {score.test})"
        if drop + _EPSILON >= tolerance and drop > 0:
            if score.significant:
                verdict = "fail"
                message = (f"regression: {change}, {significance}; the drop reaches the tolerance "
                           f"of {tolerance:g} points")
            else:
                verdict = "not significant"
                message = (f"{change}, {significance}: the drop reaches the tolerance of "
                           f"{tolerance:g} points but may be noise; "
                           + _power_advice(entry, tolerance, drop, power))
        else:
            verdict = "pass"
            message = f"{change}, {significance}; within the tolerance of {tolerance:g} points"
        if errors is not None:
            message = f"{errors}. On the measured runs: {message}"
            verdict = "errors" if verdict != "fail" else verdict
        results.append(GateResult("fail-on-regression", entry.model, score.delta, -tolerance,
                                  verdict, message, p_value=score.p_adjusted))
    return results


def _model_names(models: Mapping[str, Any]) -> list[str]:
    return sorted(models)


def _score_text(score: float, threshold: float) -> str:
    """The score with one decimal, or more when one decimal would hide which side of the
    threshold it is on (69.95 against 70 reads "69.95", not "70.0")."""
    for digits in (1, 2, 3, 4):
        text = f"{score:.{digits}f}"
        if (float(text) >= threshold) == (score + _EPSILON >= threshold):
            return text
    return repr(score)


def min_score_gates(models: Mapping[str, Mapping[str, Any]], min_score: MinScore) -> list[GateResult]:
    """``min-score`` for each model of the results ``models`` block with a minimum."""
    results = []
    for name in _model_names(models):
        threshold = min_score.threshold(name)
        if threshold is None:
            continue
        score = models[name].get("score")
        if score is None:
            results.append(GateResult("min-score", name, None, threshold, "unknown",
                                      f"{name} has no score (no counted run); minimum {threshold:g}"))
        elif score + _EPSILON >= threshold:
            results.append(GateResult("min-score", name, float(score), threshold, "pass",
                                      f"score {_score_text(score, threshold)} >= minimum {threshold:g}"))
        else:
            results.append(GateResult("min-score", name, float(score), threshold, "fail",
                                      f"score {_score_text(score, threshold)} is below the minimum {threshold:g}"))
    for name in sorted(set(min_score.per_model) - set(models)):
        results.append(GateResult("min-score", name, None, min_score.per_model[name], "unknown",
                                  f"{name} has a minimum score but did not run in this session"))
    return results


def latency_gates(models: Mapping[str, Mapping[str, Any]], max_ms: float) -> list[GateResult]:
    """``max-p95-latency-ms`` for every model of the results ``models`` block."""
    results = []
    for name in _model_names(models):
        latency = models[name].get("latency_ms") or {}
        p95 = latency.get("p95") if isinstance(latency, Mapping) else None
        if p95 is None:
            results.append(GateResult("max-p95-latency-ms", name, None, max_ms, "unknown",
                                      f"{name} has no measured latency (no run called the model)"))
        elif p95 <= max_ms:
            results.append(GateResult("max-p95-latency-ms", name, float(p95), max_ms, "pass",
                                      f"p95 latency {p95:.0f} ms <= {max_ms:g} ms"))
        else:
            results.append(GateResult("max-p95-latency-ms", name, float(p95), max_ms, "fail",
                                      f"p95 latency {p95:.0f} ms exceeds {max_ms:g} ms"))
    return results


def cost_gates(cost_per_task: Mapping[str, float | None], max_usd: float,
               models: Sequence[str] | None = None) -> list[GateResult]:
    """``max-cost-per-task`` for every model (``models`` order, default: sorted names)."""
    results = []
    for name in (sorted(cost_per_task) if models is None else models):
        cost = cost_per_task.get(name)
        if cost is None:
            results.append(GateResult(
                "max-cost-per-task", name, None, max_usd, "unknown",
                f"{name}'s cost per task is unknown (no price for the model, or a token count the "
                "server did not report; see docs/cost.md)",
            ))
        elif cost <= max_usd + _EPSILON * max(1.0, max_usd):
            results.append(GateResult("max-cost-per-task", name, float(cost), max_usd, "pass",
                                      f"cost per task {format_usd(cost)} <= {format_usd(max_usd)}"))
        else:
            results.append(GateResult("max-cost-per-task", name, float(cost), max_usd, "fail",
                                      f"cost per task {format_usd(cost)} exceeds {format_usd(max_usd)}"))
    return results


def evaluate_gates(settings: GateSettings, *, models: Mapping[str, Mapping[str, Any]],
                   comparison: BaselineComparison | None = None,
                   cost_per_task: Mapping[str, float | None] | None = None) -> list[GateResult]:
    """Every active gate of ``settings``, in the order of :data:`GATE_NAMES`.

    ``models`` is the results document's ``models`` block; ``comparison`` is needed for
    ``fail-on-regression``; ``cost_per_task`` (model → USD or None) for ``max-cost-per-task``
    (missing models count as unknown).
    """
    results: list[GateResult] = []
    if settings.fail_on_regression:
        if comparison is None:
            raise ConfigError("--modelbench-fail-on-regression needs a baseline: "
                              "pass --modelbench-baseline=PATH")
        results += regression_gates(comparison, tolerance=settings.tolerance, alpha=settings.alpha,
                                    power=settings.power)
    if settings.min_score is not None:
        results += min_score_gates(models, settings.min_score)
    if settings.max_p95_latency_ms is not None:
        results += latency_gates(models, settings.max_p95_latency_ms)
    if settings.max_cost_per_task is not None:
        results += cost_gates(cost_per_task or {}, settings.max_cost_per_task, _model_names(models))
    return results


# ---------------------------------------------------------------------- display


def _measured(result: GateResult) -> str:
    value = result.measured
    if value is None:
        return "?"
    if result.name == "fail-on-regression":
        return f"{value:+.1f} pts, p {_p(result.p_value)}"
    if result.name == "max-p95-latency-ms":
        return f"{value:.0f} ms"
    if result.name == "max-cost-per-task":
        return format_usd(value)
    return f"{value:.1f}" if result.threshold is None else _score_text(value, result.threshold)


def _threshold(result: GateResult) -> str:
    value = result.threshold
    if value is None:
        return "-"
    if result.name == "fail-on-regression":
        return f"drop < {-value:g} or not sig."
    if result.name == "max-p95-latency-ms":
        return f"<= {value:g} ms"
    if result.name == "max-cost-per-task":
        return f"<= {format_usd(value)}"
    return f">= {value:g}"


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def gate_lines(results: Sequence[GateResult], *, width: int = 100) -> list[str]:
    """Lines of the "modelbench gates" terminal section: a table of every gate (measured
    value, threshold, verdict), a count, then the explanation of each gate that did not
    plainly pass, wrapped to ``width`` columns."""
    if not results:
        return ["no gates configured"]
    names = sorted({r.model for r in results})
    labels = dict(zip(names, fit_labels(names, 24)))  # cut names stay distinguishable
    rows = [[_short(r.name, 18), labels[r.model], _measured(r), _threshold(r), r.verdict.upper()]
            for r in results]
    table = tabulate(rows, headers=["gate", "model", "measured", "threshold", "verdict"],
                     tablefmt="simple", disable_numparse=True)
    lines = table.splitlines()
    counts = {verdict: sum(r.verdict == verdict for r in results) for verdict in VERDICTS}
    lines.append("")
    label = {"errors": "with errors"}
    lines.append(", ".join(f"{counts[v]} {label.get(v, v)}" for v in VERDICTS if counts[v]) + " -> "
                 + ("gates passed" if gates_passed(results) else "gates FAILED"))
    for result in results:
        if result.verdict == "pass":
            continue
        lines += textwrap.wrap(f"{result.verdict.upper()} {result.name} {result.model}: {result.message}",
                               width=width, subsequent_indent="    ", break_on_hyphens=False)
    return lines
