"""The trend report (``modelbench trend -o trend.md|trend.html``): each model's score over a
series of results files with its 95% interval, and the significant changes between
consecutive files. Renders the plain trend data of ``modelbench trend`` (files, and per model
one point or None per file). Does not import pytest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..core.files import write_text_atomic
from .svg import AXIS, GRID, INK, MUTED, _el, _Linear, _svg, _text, _tick_label, esc, model_colors, nice_ticks

__all__ = ["flag", "render_trend", "sparkline", "time_label", "trend_chart", "trend_html", "trend_markdown",
           "with_interval", "write_trend"]

_BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float | None], low: float = 0.0, high: float = 100.0) -> str:
    """One block character per value on the ``low``–``high`` scale; a space for a missing value."""
    span = (high - low) or 1.0
    return "".join(" " if value is None else _BARS[min(7, max(0, int((value - low) / span * 8)))] for value in values)


def time_label(finished_at: Any) -> str | None:
    """A results file's finish time to the minute (``2026-11-27 08:55``), None when unknown."""
    return str(finished_at)[:16].replace("T", " ") if finished_at else None


def with_interval(text: str, low: float | None, high: float | None, spec: str, sep: str) -> str:
    """``text [low<sep>high]`` (the bounds formatted with ``spec``), ``text`` when one is unknown."""
    if low is None or high is None:
        return text
    return f"{text} [{low:{spec}}{sep}{high:{spec}}]"


def flag(point: Mapping[str, Any]) -> str:
    """``▲``/``▼`` a significant rise/fall, ``=`` none, ``?`` not comparable, empty for the first file."""
    if point["first"]:
        return ""
    if not point["compared"]:
        return "?"
    if not point["significant"]:
        return "="
    return "▲" if point["delta"] > 0 else "▼"


def _score(point: Mapping[str, Any] | None) -> str:
    if point is None:
        return "–"
    if point["score"] is None:
        return "not measured"
    text = with_interval(f"{point['score']:.1f}", point["low"], point["high"], ".1f", "–")
    mark = flag(point)
    if mark and mark != "=":
        text += f" {mark} {point['delta']:+.1f} (p {point['p_adjusted']:.3g})"
    elif mark == "?":
        text += " ?"
    return text


def trend_markdown(data: Mapping[str, Any]) -> str:
    """A Markdown table: a row per model, a column per file, and a sparkline of the scores."""
    files = data["files"]
    headers = ["model", "trend", *(f"{i + 1}. {info['label']}" for i, info in enumerate(files))]
    lines = ["# modelbench trend", "",
             f"{len(files)} results files, oldest first. Score [95% interval]; ▲/▼ a significant rise/fall "
             f"against the file before (paired on shared tasks, sign-flip test, Holm over models, alpha "
             f"{data['alpha']:g}), with the change and its adjusted p; ? not comparable (no shared task).", "",
             "| " + " | ".join(headers) + " |", "|" + "|".join(["---"] * len(headers)) + "|"]
    for name, points in data["models"].items():
        spark = sparkline([None if p is None else p["score"] for p in points])
        cells = [name.replace("|", "\\|"), f"`{spark}`", *(_score(p) for p in points)]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "| # | file | finished | commit |", "|---|---|---|---|"]
    for i, info in enumerate(files):
        lines.append(f"| {i + 1} | {Path(info['path']).name} | {info['finished_at'] or '–'} | "
                     f"{(info['git_commit'] or '–')[:12]} |")
    return "\n".join(lines) + "\n"


def trend_chart(data: Mapping[str, Any], *, width: int = 1060, height: int = 380) -> str:
    """An SVG line chart: x = the files in order, y = score 0–100; each model a line with its
    intervals as whiskers, and ▲/▼ at significant changes."""
    files = data["files"]
    models = list(data["models"])
    colors = model_colors(models)
    left, right, top, bottom = 56, 200, 20, 60
    x = _Linear((0.0, max(1.0, len(files) - 1.0)), (left + 20.0, width - right - 20.0))
    y = _Linear((0.0, 100.0), (height - bottom, top))
    body = []
    for tick in nice_ticks(0.0, 100.0, count=6):
        body.append(_el("line", x1=float(left), x2=float(width - right), y1=y(tick), y2=y(tick), stroke=GRID))
        body.append(_text(left - 8, y(tick) + 4, _tick_label(tick), text_anchor="end", fill=MUTED))
    body.append(_el("line", x1=float(left), x2=float(width - right), y1=float(height - bottom),
                    y2=float(height - bottom), stroke=AXIS))
    for i, info in enumerate(files):
        body.append(_text(x(i), height - bottom + 18, f"{i + 1}. {info['label']}", text_anchor="middle", fill=MUTED,
                          font_size="11"))
    body.append(_text((left + width - right) / 2, height - 12, "results files, oldest first", text_anchor="middle",
                      fill=MUTED))
    body.append(_text(14, (top + height - bottom) / 2, "score", fill=MUTED,
                      transform=f"rotate(-90 14 {(top + height - bottom) / 2:.0f})", text_anchor="middle"))
    for n, name in enumerate(models):
        color = colors[name]
        points = [(i, p) for i, p in enumerate(data["models"][name]) if p is not None and p["score"] is not None]
        offset = (n - (len(models) - 1) / 2) * 3.0  # whiskers of several models side by side
        if len(points) > 1:
            path = " ".join(f"{'M' if k == 0 else 'L'}{x(i) + offset:.1f},{y(p['score']):.1f}"
                            for k, (i, p) in enumerate(points))
            body.append(_el("path", d=path, fill="none", stroke=color, stroke_width=2.0))
        for i, point in points:
            cx, cy = x(i) + offset, y(point["score"])
            if point["low"] is not None and point["high"] is not None:
                body.append(_el("line", x1=cx, x2=cx, y1=y(point["low"]), y2=y(point["high"]), stroke=color,
                                stroke_width=2.0, opacity="0.5"))
            title = _el("title", esc(f"{name}: {_score(point)}"))
            body.append(_el("circle", title, cx=cx, cy=cy, r=4.5, fill=color, stroke="#ffffff", stroke_width=1.0))
            mark = flag(point)
            if mark in ("▲", "▼"):
                body.append(_text(cx, cy - 9 if mark == "▲" else cy + 17, mark, text_anchor="middle", fill=INK,
                                  font_weight="700"))
        body.append(_el("rect", x=float(width - right + 16), y=float(top + 18 * n), width=12.0, height=12.0,
                        fill=color))
        body.append(_text(width - right + 34, top + 18 * n + 10, name[:24]))
    return _svg(width, height, "score of each model over the results files", body, "chart trend-chart")


def trend_html(data: Mapping[str, Any]) -> str:
    """One self-contained HTML page: the chart and the Markdown table's content as HTML."""
    files = data["files"]
    head = "".join(f"<th>{i + 1}. {esc(info['label'])}</th>" for i, info in enumerate(files))
    rows = "".join(
        f"<tr><th scope='row'>{esc(name)}</th>" + "".join(f"<td>{esc(_score(p))}</td>" for p in points) + "</tr>"
        for name, points in data["models"].items())
    sources = "".join(f"<li>{esc(Path(info['path']).name)} — {esc(info['finished_at'] or '–')} "
                      f"{esc((info['git_commit'] or '')[:12])}</li>" for info in files)
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>modelbench trend</title>"
            "<style>body{font-family:system-ui,sans-serif;margin:2rem;color:#1f2933}"
            "table{border-collapse:collapse}td,th{border:1px solid #e4e7eb;padding:.3rem .6rem;text-align:left}"
            "svg{max-width:100%;height:auto}</style></head><body><h1>modelbench trend</h1>"
            f"<p>Score [95% interval] per results file, oldest first. ▲/▼ a significant rise/fall against the file "
            f"before (paired on shared tasks, sign-flip test, Holm over models, alpha {data['alpha']:g}); "
            "? not comparable.</p>" + trend_chart(data)
            + f"<table><thead><tr><th>model</th>{head}</tr></thead><tbody>{rows}</tbody></table>"
            f"<ol>{sources}</ol></body></html>\n")


def render_trend(data: Mapping[str, Any], path: str | Path) -> str:
    """The trend report for ``path``'s suffix (.md or .html)."""
    from . import REPORT_FORMATS, parse_report_path

    kind = REPORT_FORMATS[parse_report_path(path, "-o").suffix.lower()]
    return trend_markdown(data) if kind == "markdown" else trend_html(data)


def write_trend(data: Mapping[str, Any], path: str | Path) -> Path:
    """Render and write the trend report (UTF-8, atomically, parent directories created, as
    :func:`~pytest_modelbench.reports.write_report`); returns the path."""
    target = Path(path)
    text = render_trend(data, target)
    write_text_atomic(target, lambda stream: stream.write(text), "report")
    return target
