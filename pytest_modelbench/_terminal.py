"""Terminal tables of the modelbench summary (tabulate). Does not import pytest."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tabulate import tabulate


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], colalign: Sequence[str]) -> str:
    """A compact aligned table: header, dashes, rows; two spaces between columns.

    Built with tabulate's ``plain`` format without its header padding, so that the summary
    fits 100 columns.
    """
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [max(len(str(h)), *(len(row[i]) for row in cells)) for i, h in enumerate(headers)]
    rule = ["-" * width for width in widths]
    return tabulate([list(headers), rule, *cells], tablefmt="plain", disable_numparse=True,
                    colalign=tuple(colalign))


def fmt(value: Any, spec: str = ".1f", unknown: str = "?") -> str:
    if value is None:
        return unknown
    return format(value, spec)


def _short(name: str, width: int) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"


def compact(value: float | int | None) -> str:
    """1234 -> 1.2k, 2500000 -> 2.5M; '?' for unknown."""
    if value is None:
        return "?"
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.1f}{suffix}"
    return f"{value:.0f}"


def _tokens(summary: Mapping[str, Any]) -> str:
    tokens_in, tokens_out = summary.get("input_tokens"), summary.get("output_tokens")
    if tokens_in is None and tokens_out is None:
        return "?"
    return f"{compact(tokens_in)}/{compact(tokens_out)}"


def model_table(models: Mapping[str, Mapping[str, Any]], order: Sequence[str]) -> str:
    """One row per model: score, pass rate with its 95% interval, latency, TTFT, tokens, errors.

    Fits 100 columns with model names up to 24 characters (longer ones are shortened).
    """
    rows = []
    for rank, name in enumerate(order, start=1):
        summary = models[name]
        interval = summary.get("pass_rate_ci95")
        pass_rate = summary.get("pass_rate")
        pass_text = "?" if pass_rate is None else f"{100 * pass_rate:.0f}%"
        if interval:
            pass_text += f" [{100 * interval[0]:.0f}-{100 * interval[1]:.0f}]"
        latency = summary.get("latency_ms") or {}
        ttft = summary.get("ttft_ms") or {}
        rows.append([
            rank,
            _short(name, 24),
            fmt(summary.get("score")),
            pass_text,
            f"{summary['passed']}/{summary['failed']}/{summary['errors']}",
            f"{compact(latency.get('p50'))}/{compact(latency.get('p95'))}",
            compact(ttft.get("p50")),
            _tokens(summary),
        ])
    headers = ["#", "model", "score", "pass [95% CI]", "pass/miss/err", "p50/p95 ms", "ttft ms", "tokens in/out"]
    return table(headers, rows, ("right", "left", "right", "left", "right", "right", "right", "right"))


def category_table(models: Mapping[str, Mapping[str, Any]], order: Sequence[str],
                   weights: Mapping[str, float]) -> str:
    """Categories as rows, models as columns (up to the width of a terminal)."""
    categories = sorted({c for name in order for c in models[name]["categories"]},
                        key=lambda c: (-weights.get(c, 0.0), c))
    shown = list(order[:6])
    rows = []
    for category in categories:
        row = [category, f"{weights.get(category, 0.0):.2f}"]
        for name in shown:
            entry = models[name]["categories"].get(category)
            row.append("-" if entry is None else fmt(entry["score"]))
        rows.append(row)
    headers = ["category", "weight", *(_short(name, 14) for name in shown)]
    return table(headers, rows, ("left", *("right",) * (len(headers) - 1)))
