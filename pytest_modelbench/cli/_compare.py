"""``modelbench compare BASELINE CURRENT``: the paired baseline comparison and the CI gates of
a saved results file, as the session computes them with ``--modelbench-baseline``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .._exceptions import ConfigError
from ..session.settings import gate_settings
from ._output import Writer
from ._saved import Saved, rerun, settings_for


def compare(baseline_path: Path, current: Saved, out: Writer, *, alpha: float | None, gates: dict[str, Any],
            output: Path | None = None, verbosity: int = 0) -> int:
    """Print the comparison and the gate table; 1 when a gate failed (or a model of CURRENT was
    not measured, as the session fails), else 0. ``output`` receives CURRENT's results with the
    ``baseline`` and ``gates`` blocks."""
    from ..compare.baseline import load_baseline

    baseline = load_baseline(baseline_path)
    first = settings_for(current, alpha=alpha, baseline_path=baseline_path)
    settings = settings_for(current, alpha=first.alpha, baseline_path=baseline_path,
                            gates=gate_settings(alpha=first.alpha, models=current.model_names, option_prefix="--",
                                                **gates))
    shared = {record.model for record in baseline.records} & set(current.model_names)
    if not shared:
        raise ConfigError(
            f"baseline {str(baseline_path)!r} shares no model with {str(current.path)!r}: the baseline has "
            f"{', '.join(sorted({r.model for r in baseline.records})) or 'no runs'}, the current file has "
            f"{', '.join(current.model_names) or 'no runs'}")
    result = rerun(current, settings, baseline=baseline)
    if result is None:
        raise ConfigError(f"results file {str(current.path)!r} has no benchmark runs to compare")
    if result.baseline_error is not None:
        raise ConfigError(result.baseline_error)
    comparison = result.baseline_comparison
    out.sep("=", f"modelbench baseline: {baseline_path}")
    out.line(f"current {current.path} against baseline {baseline_path}"
             + (f" (commit {str(comparison.git_commit)[:12]})" if comparison.git_commit else ""))
    out.lines(comparison.table(width=out.width).splitlines())
    if verbosity > 0:
        for entry in comparison.models:
            for category in entry.categories:
                delta = category.delta
                out.line(f"  {entry.model} {category.category}: {delta.b:.1f} -> {delta.a:.1f} "
                         f"({delta.delta:+.1f}, p adj {delta.p_adjusted:.3g})")
    for name in comparison.only_current_models:
        out.line(f"{name}: only in the current file (no baseline to compare with)")
    for name in comparison.only_baseline_models:
        out.line(f"{name}: only in the baseline")
    for entry in result.document.get("not_measured") or ():
        if entry["errors"]:
            out.line(f"modelbench: model {entry['model']!r} was not measured: {entry['reason']}", "red")
    if result.gate_results:
        from ..session.pipeline import gate_section

        out.pipeline(gate_section(result, out.width))
    else:
        out.line("no gate asked for (--fail-on-regression, --min-score, --max-p95-latency-ms, "
                 "--max-cost-per-task): nothing can fail")
    if output is not None:
        from ..core.results import write_json_atomic
        from ..session.pipeline import results_document

        write_json_atomic(output, results_document(result, current.meta))
        out.line(f"results with the comparison written to {output}")
    return 1 if result.exit_code == 1 else 0
