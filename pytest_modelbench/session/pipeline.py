"""The end of a session: records → analysis → baseline and gates → files → terminal.

:func:`finish` runs the analysis of a session's run records, compares them with the
baseline, evaluates the gates and the recommendations; :func:`write_outputs` writes the
results file, the reports and the new baseline; :func:`terminal_lines` renders the summary.
The pytest plugin calls these at the end of a session; the ``modelbench`` command line calls
the same functions on a saved results file, so both give the same numbers.

Exit codes follow pytest's: 1 when a gate fails or a model was not measured because every run
of it errored (an unreachable model is a broken benchmark, not a bad model), 4 (usage error)
when the baseline could not be compared or an output file could not be written (the other
outputs and the summary still are). Does not import pytest.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .._exceptions import ConfigError
from ..core.records import RunRecord, sort_key
from .analysis import Analysis, CompareSettings, CostSettings, analyse
from .settings import Settings

#: Exit codes (pytest's values): a failed gate, and a baseline that could not be compared.
EXIT_GATE_FAILED = 1
EXIT_USAGE_ERROR = 4


@dataclasses.dataclass(slots=True)
class Line:
    """One line of the terminal summary: ``sep`` ("=" or "-") makes it a section title;
    ``color`` is "green", "red" or "yellow" (or None)."""

    text: str
    sep: str | None = None
    color: str | None = None


@dataclasses.dataclass(slots=True)
class SessionResult:
    """Everything the end of a session computed, and what it decided."""

    records: list[RunRecord]
    analysis: Analysis
    document: dict[str, Any]
    baseline_comparison: Any = None
    baseline_error: str | None = None
    gate_results: list[Any] = dataclasses.field(default_factory=list)
    recommendations: list[Any] = dataclasses.field(default_factory=list)
    baseline_note: str | None = None
    exit_code: int | None = None
    partial: str | None = None
    written: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    write_errors: list[str] = dataclasses.field(default_factory=list)


def finish(records: Sequence[RunRecord], settings: Settings, *, prices: Mapping[str, Any] | None = None,
           self_hosting: Mapping[str, Any] | None = None, baseline: Any = None,
           session_spend: Mapping[str, Any] | None = None, partial: str | None = None) -> SessionResult | None:
    """Analyse ``records`` (None when there are none), compare with ``baseline``, evaluate the
    gates and recommend a model per use case.

    ``partial`` says why the session stopped before running every item (Ctrl-C, ``-x``): its
    results are marked partial, its gates are not evaluated and it never updates a baseline.
    """
    records = sorted(records, key=sort_key)
    if not records:
        return None
    analysis = analyse(
        records, models=[spec.name for spec in settings.models], category_weights=settings.categories,
        cost=CostSettings(
            prices=prices or {}, self_hosting=self_hosting or {},
            volume_per_day=settings.volume_per_day,
            budget_usd_per_month=settings.budget_usd_per_month,
            max_cost_usd=settings.max_cost_usd,
        ),
        compare=CompareSettings(alpha=settings.alpha, rank=settings.rank, pair=settings.compare),
        dimensions=settings.dimensions,
    )
    document = analysis.document
    if session_spend is not None:
        document.setdefault("budget", {})["session_spend"] = dict(session_spend)
    document["partial"] = partial
    result = SessionResult(records=records, analysis=analysis, document=document, partial=partial)
    _baseline_gates_and_recommendations(result, settings, baseline)
    if any(entry["errors"] for entry in document.get("not_measured") or ()):
        result.exit_code = result.exit_code or EXIT_GATE_FAILED
    if result.gate_results:
        from ..compare.gates import gates_passed

        if not gates_passed(result.gate_results):
            result.exit_code = result.exit_code or EXIT_GATE_FAILED
    return result


def _baseline_gates_and_recommendations(result: SessionResult, settings: Settings, baseline: Any) -> None:
    from ..compare.recommend import recommend, resolve_use_case

    document = result.document
    comparison = None
    if baseline is not None:
        from ..compare.baseline import compare_to_baseline

        try:
            comparison = compare_to_baseline(result.records, baseline, category_weights=settings.categories,
                                             alpha=settings.alpha, dimensions=settings.dimensions)
        except ConfigError as exc:
            result.baseline_error = str(exc)
            if not settings.replaces_baseline:
                result.exit_code = EXIT_USAGE_ERROR
        else:
            document["baseline"] = comparison.to_dict()
            result.baseline_comparison = comparison
    if settings.gates is not None and result.partial is None:
        from ..compare.baseline import cost_per_task_by_model
        from ..compare.gates import evaluate_gates

        gates = settings.gates
        if comparison is None and gates.fail_on_regression:
            # The baseline could not be compared (baseline_error, exit 4): the other gates still run.
            gates = dataclasses.replace(gates, fail_on_regression=False)
        result.gate_results = evaluate_gates(
            gates, models=document["models"], comparison=comparison,
            cost_per_task=cost_per_task_by_model(result.records),
        ) if gates.active else []
        document["gates"] = [gate.to_dict() for gate in result.gate_results]
    cases = None
    if settings.use_case is not None:
        cases = [resolve_use_case(settings.use_case, settings.use_cases)]
    elif settings.use_cases:
        cases = list(settings.use_cases.values())
    if result.analysis.comparison is not None:  # at least one model was measured
        result.recommendations = recommend(document, cases, records=result.records, alpha=settings.alpha,
                                           dimensions=settings.dimensions)
    document["recommendations"] = [item.to_dict() for item in result.recommendations]


def wants_files(settings: Settings) -> bool:
    """Whether the end of the session writes any file (results, reports, job summary, baseline)."""
    return bool(settings.json_path is not None or settings.reports or os.environ.get("GITHUB_STEP_SUMMARY")
                or settings.update_baseline)


def results_document(result: SessionResult, meta: Mapping[str, Any]) -> dict[str, Any]:
    """The results file's document of ``result`` (core/results.py), with ``meta``."""
    from ..core.results import build_document

    document = dict(result.document)
    models = document.pop("models")
    return build_document(meta, models, result.records, **document)


def write_outputs(result: SessionResult, settings: Settings, meta: Callable[[], Mapping[str, Any]]) -> None:
    """Write the results file, the reports, the GitHub job summary and the new baseline.

    ``meta`` builds the document's ``meta`` block; it is called only when a file is written
    (it may ask git for the commit). A file that cannot be written does not stop the others:
    its error is kept in ``result.write_errors`` (shown in the summary) and the exit code is
    4; the files written are listed in ``result.written``.
    """
    if not wants_files(settings):
        return
    from ..core.results import write_json_atomic

    full = results_document(result, meta())
    if settings.json_path is not None:
        _write(result, "results", settings.json_path, lambda: write_json_atomic(settings.json_path, full))
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
    if settings.reports or summary_file:
        from ..core.results import plain_document
        from ..reports import append_github_summary, render_markdown, write_report

        plain = plain_document(full)  # the reports render what the results file holds
        for path in settings.reports:
            _write(result, "report", path, lambda path=path: write_report(plain, path))
        if summary_file:
            _write(result, "job summary", summary_file, lambda: append_github_summary(render_markdown(plain)))
    if settings.update_baseline:
        _update_baseline(result, settings, full)


def _write(result: SessionResult, what: str, path: Any, write: Callable[[], Any]) -> bool:
    """Run ``write``; on failure keep a message naming ``what`` and ``path`` and set exit 4."""
    try:
        write()
    except (OSError, ConfigError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        result.write_errors.append(f"could not write the {what} file {str(path)!r}: {reason}")
        result.exit_code = result.exit_code or EXIT_USAGE_ERROR
        return False
    result.written.append((what, str(path)))
    return True


def _update_baseline(result: SessionResult, settings: Settings, document: Mapping[str, Any]) -> None:
    from ..compare.baseline import write_baseline
    from ..compare.gates import gates_passed

    if result.partial is not None:
        result.baseline_note = f"baseline not updated: {result.partial}; its results are partial"
        return
    if result.baseline_error is not None and not settings.replaces_baseline:
        result.baseline_note = "baseline not updated: it could not be compared"
        return
    if result.gate_results and not gates_passed(result.gate_results):
        result.baseline_note = "baseline not updated: a gate failed"
        return
    if _write(result, "baseline", settings.baseline_path, lambda: write_baseline(settings.baseline_path, document)):
        replaced = " (it replaces one that shared nothing with this session)" if result.baseline_error else ""
        result.baseline_note = f"baseline updated: {settings.baseline_path}{replaced}"
    else:
        result.baseline_note = "baseline not updated: its file could not be written"


def terminal_lines(result: SessionResult, settings: Settings, *, verbosity: int = 0,
                   width: int = 100) -> list[Line]:
    """The whole terminal summary, section titles included, each line at most ``width``
    characters (the terminal's width); one legend line explains the marks and abbreviations
    used."""
    from ..reports.terminal import Legend, summary_lines

    width = max(width, 40)
    legend = Legend()
    lines = [Line("modelbench summary", sep="=")]
    for text in summary_lines(result.analysis, result.records, settings.categories, verbosity=verbosity,
                              width=width, legend=legend):
        lines.append(Line(text[4:], sep="-") if text.startswith("--- ") else Line(text))
    if verbosity >= 0:
        if result.baseline_comparison is not None:
            lines.append(Line(f"modelbench baseline: {settings.baseline_path}", sep="-"))
            rendered = result.baseline_comparison.table(width=width).splitlines()
            legend.add("p adj", "$/1k tasks")
            legend.note(rendered)
            lines += [Line(text) for text in rendered]
        if result.recommendations:
            from ..compare.recommend import recommendation_lines

            lines.append(Line("modelbench recommendations", sep="-"))
            verbose = verbosity > 0
            lines += [Line(text) for text in recommendation_lines(result.recommendations, width=width,
                                                                   rationales=verbose)]
            if not verbose:
                lines.append(Line("-v shows the rationale of each recommendation"))
        lines += [Line(text) for text in legend.lines(width)]
    # reasons and errors stay on one line each: CI logs are searched for them
    if result.baseline_error is not None:
        lines.append(Line(f"baseline not compared: {result.baseline_error}", color="yellow"))
    for entry in result.document.get("not_measured") or ():
        if entry["errors"]:
            lines.append(Line(f"modelbench: model {entry['model']!r} was not measured: {entry['reason']}; "
                              "the session fails", color="red"))
    for what, path in result.written:
        if what in ("results", "report"):
            lines.append(Line(f"{what} written to {path}"))
    for error in result.write_errors:
        lines.append(Line(error, color="red"))
    if result.partial is not None:
        lines.append(Line(f"modelbench: {result.partial}; these results are partial"
                          + ("; gates not evaluated" if settings.gates is not None else ""), color="yellow"))
    lines += gate_section(result, width)
    if result.baseline_note is not None:
        lines.append(Line(result.baseline_note))
    return lines


def gate_section(result: SessionResult, width: int) -> list[Line]:
    """The gates' section of the summary: a title in green (all passed) or red, and the gate
    table; no line when no gate was evaluated."""
    if not result.gate_results:
        return []
    from ..compare.gates import gate_lines, gates_passed

    passed = gates_passed(result.gate_results)
    return [Line("modelbench gates", sep="=", color="green" if passed else "red"),
            *(Line(text) for text in gate_lines(result.gate_results, width=width))]
