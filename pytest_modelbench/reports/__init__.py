"""Reports people read: the terminal summary (:mod:`.terminal`), Markdown for the GitHub job
summary (:mod:`.markdown`), one self-contained HTML file with SVG charts (:mod:`.html`,
:mod:`.svg`), and JUnit XML properties of a run.

All render the results document (docs/results.md). May import: ``compare``, ``profile``,
``design``, ``models``, ``cost``, ``core`` and the foundation. Does not import pytest.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .._exceptions import ConfigError
from ..core.files import write_text_atomic
from ..core.records import RunRecord
from .html import render_html, trend_from_documents
from .markdown import append_github_summary, render_markdown

__all__ = [
    "REPORT_FORMATS",
    "append_github_summary",
    "junit_properties",
    "parse_report_path",
    "render_html",
    "render_markdown",
    "render_report",
    "trend_from_documents",
    "write_report",
]

#: Report file suffixes and the format each selects.
REPORT_FORMATS = {".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html"}


def parse_report_path(text: str | Path, what: str = "--modelbench-report") -> Path:
    """A report path whose suffix picks the format (.md or .html); ConfigError otherwise."""
    path = Path(text)
    if not str(text).strip() or path.suffix.lower() not in REPORT_FORMATS:
        raise ConfigError(f"{what} {str(text)!r} must end in .md or .html (the suffix picks the format)")
    return path


def render_report(document: Mapping[str, Any], path: str | Path, *,
                  trend: Sequence[Mapping[str, Any]] | None = None) -> str:
    """The report text for ``path``'s format (``trend``: see :func:`trend_from_documents`)."""
    kind = REPORT_FORMATS[parse_report_path(path).suffix.lower()]
    return render_markdown(document) if kind == "markdown" else render_html(document, trend=trend)


def write_report(document: Mapping[str, Any], path: str | Path, *,
                 trend: Sequence[Mapping[str, Any]] | None = None) -> Path:
    """Render and write the report (UTF-8, atomically, parent directories created: see
    core/files.py); returns the path. ``document`` is plain data, as the results file holds it."""
    target = parse_report_path(path)
    text = render_report(document, target, trend=trend)
    write_text_atomic(target, lambda stream: stream.write(text), "report")
    return target


def _number(value: int | float) -> str:
    """Integers as they are; floats with 10 significant digits (``0.8``, ``812.4``, ``1.5e-05``)."""
    return str(value) if isinstance(value, int) else format(float(value), ".10g")


def junit_properties(record: RunRecord | Mapping[str, Any]) -> list[tuple[str, str]]:
    """A run's measurements as JUnit XML ``<property>`` pairs, names prefixed ``modelbench.``.

    Always: model, run, outcome. When known: quality, latency_ms, ttft_ms, input_tokens,
    output_tokens, cost_usd (an unknown value is left out, never written as 0).
    """
    data = record.to_dict() if isinstance(record, RunRecord) else dict(record)
    properties = [("modelbench.model", str(data.get("model"))),
                  ("modelbench.run", str(data.get("run"))),
                  ("modelbench.outcome", str(data.get("outcome")))]
    for key in ("quality", "latency_ms", "ttft_ms", "input_tokens", "output_tokens", "cost_usd"):
        value = data.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            continue
        properties.append((f"modelbench.{key}", _number(value)))
    return properties
