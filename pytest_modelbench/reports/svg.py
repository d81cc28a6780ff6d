"""Inline SVG charts for the HTML report: plain strings, no libraries, no external resources.

Every piece of text that reaches the output goes through :func:`esc` (``html.escape`` with
quotes), so a task or model name can never inject markup. Charts take plain Python data
(already extracted from the results document) and return one ``<svg>`` element each, with a
``<title>`` for screen readers, axis labels and, where colours carry meaning, a legend.
Names are shown whole: a long one is wrapped onto several lines
(:func:`~pytest_modelbench.core.text.wrap_label`), and the charts make room for the lines
(:func:`text_width` estimates how wide a text is drawn) so that no label overlaps another.

Charts:

* :func:`interval_chart` — one row per model: the score as a dot with its confidence interval;
* :func:`heatmap` — rows × columns of values 0–100 on a sequential (viridis) colour scale;
* :func:`scatter` — points with labels, optional log x axis, point area ∝ a size value, and a
  highlighted Pareto front line;
* :func:`box_plot` — Tukey box plots (quartiles, whiskers to the most extreme value within
  1.5 IQR; Tukey 1977, *Exploratory Data Analysis*) with the runs overlaid as a strip;
* :func:`matrix_chart` — a square model × model matrix on a diverging colour scale;
* :func:`line_chart` — series of points over ordered x values (load levels, a trend of runs).
"""

from __future__ import annotations

import dataclasses
import html
import math
from collections.abc import Mapping, Sequence

import numpy as np

from ..core.text import wrap_label

__all__ = [
    "BoxGroup",
    "IntervalRow",
    "MatrixCell",
    "PALETTE",
    "ScatterPoint",
    "Series",
    "box_plot",
    "box_stats",
    "diverging_color",
    "esc",
    "heatmap",
    "interval_chart",
    "line_chart",
    "matrix_chart",
    "model_colors",
    "nice_ticks",
    "scatter",
    "sequential_color",
    "text_width",
]

#: Categorical colours (Tableau 10, designed to be told apart on white; Stone 2016).
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
           "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
INK = "#1f2933"
MUTED = "#52606d"
GRID = "#e4e7eb"
AXIS = "#9aa5b1"

# viridis at 0, .25, .5, .75, 1 (matplotlib's colormap, van der Walt & Smith 2015)
_VIRIDIS = ((68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37))
# diverging red - white - blue (ColorBrewer RdBu, Brewer 2003)
_RDBU = ((178, 24, 43), (239, 138, 98), (247, 247, 247), (103, 169, 207), (33, 102, 172))


def esc(text: object) -> str:
    """Escape text for SVG/HTML content and attribute values."""
    return html.escape(str(text), quote=True)


def _num(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _attrs(attributes: Mapping[str, object]) -> str:
    parts = []
    for key, value in attributes.items():
        if value is None:
            continue
        name = key.rstrip("_").replace("_", "-")
        shown = _num(value) if isinstance(value, float) else value
        parts.append(f' {name}="{esc(shown)}"')
    return "".join(parts)


def _el(tag: str, content: str | None = None, **attributes: object) -> str:
    if content is None:
        return f"<{tag}{_attrs(attributes)}/>"
    return f"<{tag}{_attrs(attributes)}>{content}</{tag}>"


def _text(x: float, y: float, content: object, **attributes: object) -> str:
    attributes.setdefault("fill", INK)
    return _el("text", esc(content), x=float(x), y=float(y), **attributes)


#: Drawn widths (px at 12 px) of narrow and wide characters; everything else is :data:`_CHAR`.
_NARROW = frozenset("ijlft.,:;'|!()[]{} -_/1rI")
_WIDE = frozenset("mwMWQGOCD@%&")
_CHAR = 7.0
LINE_HEIGHT = 14.0


def text_width(text: str, *, size: float = 12.0, bold: bool = False) -> float:
    """An upper estimate of how wide ``text`` is drawn in the charts' sans-serif font (px).

    Measured against DejaVu Sans and the system UI fonts: narrow letters about 4 px, wide
    ones about 11 px, the rest at most 7 px at 12 px; bold adds 12%.
    """
    width = sum(4.2 if char in _NARROW else 11.0 if char in _WIDE or char.isupper() else _CHAR for char in str(text))
    return width * size / 12.0 * (1.12 if bold else 1.0)


def _wrap_to(text: str, pixels: float, *, bold: bool = False) -> list[str]:
    """``text`` wrapped (never cut) into lines each drawn at most ``pixels`` wide: the longest
    lines that fit (by :func:`text_width`), broken after separators where possible."""
    text = str(text)
    if text_width(text, bold=bold) <= pixels:
        return [text]
    chars = len(text)
    lines = wrap_label(text, chars)
    while chars > 4 and max(text_width(line, bold=bold) for line in lines) > pixels:
        chars -= 1
        lines = wrap_label(text, chars)
    return lines


def _text_lines(x: float, y: float, lines: Sequence[str], **attributes: object) -> str:
    """A text of several lines (tspans) whose block is vertically centred on ``y``."""
    attributes.setdefault("fill", INK)
    first = y + 4 - (len(lines) - 1) * LINE_HEIGHT / 2
    spans = "".join(_el("tspan", esc(line), x=float(x), dy=(None if k == 0 else LINE_HEIGHT))
                    for k, line in enumerate(lines))
    return _el("text", spans, x=float(x), y=float(first), **attributes)


def _svg(width: float, height: float, title: str, body: Sequence[str], css_class: str) -> str:
    head = (f'<svg class="{esc(css_class)}" role="img" '
            f'viewBox="0 0 {_num(width)} {_num(height)}" width="{_num(width)}" height="{_num(height)}" '
            f'font-family="{esc(FONT)}" font-size="12">')
    return head + _el("title", esc(title)) + "".join(body) + "</svg>"


def model_colors(models: Sequence[str]) -> dict[str, str]:
    """A colour per model, in the given order (cycling through :data:`PALETTE`)."""
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(models)}


def _interpolate(stops: Sequence[tuple[int, int, int]], t: float) -> tuple[int, int, int]:
    t = min(1.0, max(0.0, t)) * (len(stops) - 1)
    low = min(int(math.floor(t)), len(stops) - 2)
    frac = t - low
    return tuple(round(a + (b - a) * frac) for a, b in zip(stops[low], stops[low + 1]))  # type: ignore[return-value]


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def _text_on(rgb: tuple[int, int, int]) -> str:
    """Dark or white text, whichever contrasts more with the background (WCAG luminance)."""
    def channel(c: int) -> float:
        s = c / 255.0
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4
    luminance = 0.2126 * channel(rgb[0]) + 0.7152 * channel(rgb[1]) + 0.0722 * channel(rgb[2])
    return INK if luminance > 0.35 else "#ffffff"


def sequential_color(t: float) -> str:
    """viridis colour for t in [0, 1]."""
    return _hex(_interpolate(_VIRIDIS, t))


def diverging_color(t: float) -> str:
    """Red (t = −1) through white (0) to blue (t = +1)."""
    return _hex(_interpolate(_RDBU, (t + 1.0) / 2.0))


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (Heckbert 1990, "Nice numbers for graph labels")."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return [0.0, 1.0]
    if high <= low:
        high = low + (abs(low) if low else 1.0)

    def nice(value: float, round_it: bool) -> float:
        exponent = math.floor(math.log10(value))
        fraction = value / 10**exponent
        if round_it:
            step = 1 if fraction < 1.5 else 2 if fraction < 3 else 5 if fraction < 7 else 10
        else:
            step = 1 if fraction <= 1 else 2 if fraction <= 2 else 5 if fraction <= 5 else 10
        return step * 10**exponent

    span = nice(high - low, False)
    step = nice(span / max(1, count - 1), True)
    start = math.floor(low / step) * step
    stop = math.ceil(high / step) * step
    n = int(round((stop - start) / step))
    return [round(start + i * step, 10) for i in range(n + 1)]


def _log_ticks(low: float, high: float) -> list[float]:
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
    ticks = []
    for exponent in range(first, last + 1):
        for mantissa in (1, 2, 5) if last - first <= 2 else (1,):
            ticks.append(mantissa * 10.0**exponent)
    return [t for t in ticks if low / 1.0001 <= t <= high * 1.0001] or [low, high]


def _tick_label(value: float, unit: str = "") -> str:
    """A tick: ``$0.0001`` (never scientific notation), ``12k``, ``2.5k``, ``0.25``."""
    if unit == "$":
        if value == 0:
            return "$0"
        if value >= 1:
            return f"${value:,.2f}".rstrip("0").rstrip(".")
        return "$" + f"{value:.{max(0, 2 - math.floor(math.log10(value)))}f}".rstrip("0").rstrip(".")
    if abs(value) >= 10000:
        return f"{value / 1000:.0f}k{unit}"
    if abs(value) >= 1000:
        return f"{value / 1000:.1f}k{unit}".replace(".0k", "k")
    if value != 0 and abs(value) < 0.001:
        return f"{value:.{2 - math.floor(math.log10(abs(value)))}f}".rstrip("0") + unit
    return f"{value:g}{unit}"


class _Linear:
    def __init__(self, domain: tuple[float, float], pixels: tuple[float, float]) -> None:
        self.d0, self.d1 = domain
        self.p0, self.p1 = pixels

    def __call__(self, value: float) -> float:
        span = self.d1 - self.d0 or 1.0
        return self.p0 + (value - self.d0) / span * (self.p1 - self.p0)


class _Log(_Linear):
    def __call__(self, value: float) -> float:
        span = math.log10(self.d1) - math.log10(self.d0) or 1.0
        return self.p0 + (math.log10(value) - math.log10(self.d0)) / span * (self.p1 - self.p0)


# --------------------------------------------------------------------- interval chart


@dataclasses.dataclass(frozen=True, slots=True)
class IntervalRow:
    """One row of :func:`interval_chart`: a value with an optional interval."""

    label: str
    value: float | None
    low: float | None
    high: float | None
    color: str


def interval_chart(rows: Sequence[IntervalRow], *, title: str, axis_label: str,
                   domain: tuple[float, float] = (0.0, 100.0), width: int = 1060,
                   reference: float | None = None, value_format: str = ".1f") -> str:
    """Dot-and-whisker chart: one row per entry, in the order given; ``reference`` draws a
    vertical line (e.g. at 0 for changes). Labels are whole, wrapped to the label column."""
    longest = max([text_width(r.label) for r in rows] + [40.0])
    label_width = int(min(300.0, longest + 24))
    labels = [_wrap_to(r.label, label_width - 20) for r in rows]
    heights = [max(30.0, LINE_HEIGHT * len(lines) + 12) for lines in labels]
    left, right, top = label_width, 56, 16
    offsets = np.concatenate(([0.0], np.cumsum(heights))) + top if rows else np.array([top, top + 30.0])
    height = float(offsets[-1]) + 48
    x = _Linear(domain, (left, width - right))
    body = []
    ticks = nice_ticks(*domain, count=6)
    ticks = [t for t in ticks if domain[0] <= t <= domain[1]]
    bottom = float(offsets[-1])
    for i in range(0, len(rows), 2):
        body.append(_el("rect", x=0.0, y=float(offsets[i]), width=float(width),
                        height=float(heights[i]), fill="#f8f9fb"))
    for tick in ticks:
        body.append(_el("line", x1=x(tick), x2=x(tick), y1=float(top - 4), y2=float(bottom), stroke=GRID))
        body.append(_text(x(tick), bottom + 16, _tick_label(tick), text_anchor="middle", fill=MUTED))
    body.append(_el("line", x1=float(left), x2=float(width - right), y1=float(bottom), y2=float(bottom), stroke=AXIS))
    body.append(_text((left + width - right) / 2, bottom + 36, axis_label, text_anchor="middle", fill=MUTED))
    if reference is not None and domain[0] <= reference <= domain[1]:
        body.append(_el("line", x1=x(reference), x2=x(reference), y1=float(top - 4), y2=float(bottom),
                        stroke=INK, stroke_width=1.5, stroke_dasharray="4 3"))
    for i, row in enumerate(rows):
        cy = float(offsets[i]) + heights[i] / 2
        body.append(_text_lines(left - 10, cy, labels[i], text_anchor="end"))
        if row.value is None:
            body.append(_text(x(domain[0]) + 4, cy + 4, "no score", fill=MUTED, font_style="italic"))
            continue
        if row.low is not None and row.high is not None:
            lo, hi = max(domain[0], row.low), min(domain[1], row.high)
            body.append(_el("line", x1=x(lo), x2=x(hi), y1=cy, y2=cy, stroke=row.color, stroke_width=3.0,
                            stroke_linecap="round", opacity="0.55"))
            for end in (lo, hi):
                body.append(_el("line", x1=x(end), x2=x(end), y1=cy - 6, y2=cy + 6, stroke=row.color,
                                stroke_width=2.0))
        value = min(domain[1], max(domain[0], row.value))
        body.append(_el("circle", cx=x(value), cy=cy, r=6.0, fill=row.color, stroke="#ffffff", stroke_width=1.5))
        body.append(_text(width - right + 8, cy + 4, format(row.value, value_format), font_weight="600"))
    return _svg(width, height, title, body, "chart interval-chart")


# ---------------------------------------------------------------------------- heatmap


def heatmap(row_labels: Sequence[str], column_labels: Sequence[str],
            values: Sequence[Sequence[float | None]], *, title: str, legend_label: str = "score",
            domain: tuple[float, float] = (0.0, 100.0), cell_width: int = 92, cell_height: int = 38) -> str:
    """Rows × columns of numbers coloured by viridis over ``domain``; None cells are blank.
    Row and column labels are whole, wrapped to their space."""
    longest = max([text_width(r) for r in row_labels] + [40.0])
    label_width = int(min(280.0, longest + 26))
    rows_wrapped = [_wrap_to(r, label_width - 20) for r in row_labels]
    # column labels at 11 px; a line break in a label (e.g. before its weight) is kept
    columns_wrapped = [[part for piece in str(c).split("\n") for part in _wrap_to(piece, (cell_width - 8) * 12 / 11)]
                       for c in column_labels]
    header = int(16 + LINE_HEIGHT * max([len(lines) for lines in columns_wrapped] + [1]))
    heights = [max(float(cell_height), LINE_HEIGHT * len(lines) + 10) for lines in rows_wrapped]
    offsets = np.concatenate(([0.0], np.cumsum(heights))) + header
    width = max(label_width + cell_width * max(1, len(column_labels)) + 20, label_width + 260)
    height = float(offsets[-1]) + 64
    body = []
    for j, lines in enumerate(columns_wrapped):
        cx = label_width + cell_width * j + cell_width / 2
        body.append(_text_lines(cx, header - 8 - LINE_HEIGHT * (len(lines) - 1) / 2, lines, text_anchor="middle",
                                font_size="11"))
    span = (domain[1] - domain[0]) or 1.0
    for i, row in enumerate(row_labels):
        y, row_height = float(offsets[i]), heights[i]
        body.append(_text_lines(label_width - 10, y + row_height / 2, rows_wrapped[i], text_anchor="end"))
        for j in range(len(column_labels)):
            value = values[i][j]
            x = label_width + cell_width * j
            if value is None or (isinstance(value, float) and math.isnan(value)):
                body.append(_el("rect", x=x + 1.0, y=y + 1.0, width=cell_width - 2.0, height=row_height - 2.0,
                                fill="#f1f3f5", rx=3.0))
                body.append(_text(x + cell_width / 2, y + row_height / 2 + 4, "–", text_anchor="middle",
                                  fill=MUTED))
                continue
            rgb = _interpolate(_VIRIDIS, (value - domain[0]) / span)
            body.append(_el("rect", x=x + 1.0, y=y + 1.0, width=cell_width - 2.0, height=row_height - 2.0,
                            fill=_hex(rgb), rx=3.0))
            body.append(_text(x + cell_width / 2, y + row_height / 2 + 4, f"{value:.1f}", text_anchor="middle",
                              fill=_text_on(rgb), font_weight="600"))
    # colour legend: wide enough for its three labels side by side
    legend_y = float(offsets[-1]) + 22
    legend_x, legend_w = label_width, 240
    steps = 24
    for k in range(steps):
        body.append(_el("rect", x=legend_x + legend_w * k / steps, y=float(legend_y), width=legend_w / steps + 0.5,
                        height=10.0, fill=sequential_color(k / (steps - 1))))
    body.append(_text(legend_x, legend_y + 26, _tick_label(domain[0]), fill=MUTED))
    body.append(_text(legend_x + legend_w, legend_y + 26, _tick_label(domain[1]), text_anchor="end", fill=MUTED))
    body.append(_text(legend_x + legend_w / 2, legend_y + 26, legend_label, text_anchor="middle", fill=MUTED))
    return _svg(width, height, title, body, "chart heatmap")


# ---------------------------------------------------------------------------- scatter


@dataclasses.dataclass(frozen=True, slots=True)
class ScatterPoint:
    """A labelled point; ``size`` (optional) sets its area."""

    label: str
    x: float
    y: float
    color: str
    size: float | None = None


def scatter(points: Sequence[ScatterPoint], *, title: str, x_label: str, y_label: str,
            x_log: bool = False, x_unit: str = "", size_label: str | None = None,
            front: Sequence[str] = (), width: int = 1060, height: int = 440) -> str:
    """Scatter plot with labels; the ``front`` points are joined by a dashed line."""
    left, right, top, bottom = 64, 28, 20, 64
    body = []
    xs = np.array([p.x for p in points], dtype=float)
    ys = np.array([p.y for p in points], dtype=float)
    if x_log:
        positive = xs[xs > 0]
        x_low = float(positive.min()) if positive.size else 1e-4
        x_high = float(positive.max()) if positive.size else 1.0
        x_low, x_high = x_low / 1.6, x_high * 1.6
        x = _Log((x_low, x_high), (left, width - right))
        x_ticks = _log_ticks(x_low, x_high)
    else:
        x_low = 0.0
        x_high = float(xs.max()) * 1.12 if xs.size and xs.max() > 0 else 1.0
        x_ticks = nice_ticks(x_low, x_high, 6)
        x_high = x_ticks[-1]
        x = _Linear((x_low, x_high), (left, width - right))
    y_low = max(0.0, math.floor((float(ys.min()) - 8) / 10) * 10) if ys.size else 0.0
    y_high = min(100.0, math.ceil((float(ys.max()) + 6) / 10) * 10) if ys.size else 100.0
    if y_high <= y_low:
        y_low, y_high = 0.0, 100.0
    y = _Linear((y_low, y_high), (height - bottom, top))
    for tick in nice_ticks(y_low, y_high, 6):
        if y_low <= tick <= y_high:
            body.append(_el("line", x1=float(left), x2=float(width - right), y1=y(tick), y2=y(tick), stroke=GRID))
            body.append(_text(left - 8, y(tick) + 4, _tick_label(tick), text_anchor="end", fill=MUTED))
    for tick in x_ticks:
        if x_low <= tick <= x_high:
            body.append(_el("line", x1=x(tick), x2=x(tick), y1=float(top), y2=float(height - bottom), stroke=GRID))
            body.append(_text(x(tick), height - bottom + 18, _tick_label(tick, x_unit), text_anchor="middle",
                              fill=MUTED))
    body.append(_el("line", x1=float(left), x2=float(width - right), y1=float(height - bottom),
                    y2=float(height - bottom), stroke=AXIS))
    body.append(_el("line", x1=float(left), x2=float(left), y1=float(top), y2=float(height - bottom), stroke=AXIS))
    body.append(_text((left + width - right) / 2, height - 22, x_label, text_anchor="middle", fill=MUTED))
    body.append(_text(16, (top + height - bottom) / 2, y_label, text_anchor="middle", fill=MUTED,
                      transform=f"rotate(-90 16 {_num((top + height - bottom) / 2)})"))
    sizes = [p.size for p in points if p.size is not None and p.size > 0]
    biggest = max(sizes) if sizes else None

    def radius(point: ScatterPoint) -> float:
        if biggest is None or point.size is None or point.size <= 0:
            return 7.0
        return 5.0 + 11.0 * math.sqrt(point.size / biggest)  # area ∝ size

    on_front = [p for p in points if p.label in set(front)]
    if len(on_front) >= 2:
        ordered = sorted(on_front, key=lambda p: p.x)
        path = " ".join(f"{'M' if k == 0 else 'L'}{_num(x(p.x))},{_num(y(p.y))}" for k, p in enumerate(ordered))
        body.append(_el("path", d=path, fill="none", stroke=MUTED, stroke_width=1.5, stroke_dasharray="5 4"))
    for point in sorted(points, key=lambda p: -(p.size or 0)):
        px, py = x(point.x), y(point.y)
        body.append(_el("circle", cx=px, cy=py, r=radius(point), fill=point.color, fill_opacity="0.85",
                        stroke=INK if point.label in set(front) else "#ffffff", stroke_width=1.5))
    obstacles: list[tuple[float, float, float, float]] = []
    if front:
        obstacles.append((left + 8, top, left + 40 + text_width("Pareto front (no model is better on every axis)"),
                          top + 18))
    if size_label and biggest is not None:
        obstacles.append((width - right - text_width(f"point area ∝ {size_label}"), top, width - right, top + 18))
    for point in points:
        px, py = x(point.x), y(point.y)
        lines = _wrap_to(point.label, 220, bold=True)
        box_x, box_y = _place_label(px, py, radius(point), lines, obstacles, (left + 2, top, width - right, height - bottom))
        body.append(_text_lines(box_x, box_y + LINE_HEIGHT * len(lines) / 2, lines, text_anchor="start",
                                font_weight="600", stroke="#ffffff", stroke_width=3.0, paint_order="stroke",
                                stroke_linejoin="round"))
    if front:
        body.append(_el("path", d=f"M{left + 10},{top + 10} L{left + 34},{top + 10}", stroke=MUTED,
                        stroke_width=1.5, stroke_dasharray="5 4", fill="none"))
        body.append(_text(left + 40, top + 14, "Pareto front (no model is better on every axis)", fill=MUTED))
    if size_label and biggest is not None:
        body.append(_text(width - right, top + 14, f"point area ∝ {size_label}", text_anchor="end", fill=MUTED))
    return _svg(width, height, title, body, "chart scatter")


def _overlaps(box: tuple[float, float, float, float], others: Sequence[tuple[float, float, float, float]]) -> bool:
    x0, y0, x1, y1 = box
    return any(x0 < b[2] and b[0] < x1 and y0 < b[3] and b[1] < y1 for b in others)


def _place_label(px: float, py: float, r: float, lines: Sequence[str],
                 placed: list[tuple[float, float, float, float]],
                 bounds: tuple[float, float, float, float]) -> tuple[float, float]:
    """Top-left corner for a point's label: the first of right, left, above, below (then
    further down or up) that stays inside ``bounds`` and clear of the labels ``placed``
    (which it joins)."""
    w = max(text_width(line, bold=True) for line in lines) + 4
    h = LINE_HEIGHT * len(lines) + 2
    candidates = [(px + r + 5, py - h / 2), (px - r - 5 - w, py - h / 2), (px - w / 2, py - r - 4 - h),
                  (px - w / 2, py + r + 4)]
    for step in range(1, 40):
        for dx in (px + r + 5, px - r - 5 - w):
            candidates += [(dx, py - h / 2 + step * (LINE_HEIGHT + 2)), (dx, py - h / 2 - step * (LINE_HEIGHT + 2))]
    inside = [c for c in candidates if bounds[0] <= c[0] and c[0] + w <= bounds[2] and bounds[1] <= c[1]
              and c[1] + h <= bounds[3]]
    for x0, y0 in inside:
        if not _overlaps((x0, y0, x0 + w, y0 + h), placed):
            placed.append((x0, y0, x0 + w, y0 + h))
            return x0, y0
    x0, y0 = (inside or candidates)[0]
    placed.append((x0, y0, x0 + w, y0 + h))
    return x0, y0


# --------------------------------------------------------------------------- box plot


@dataclasses.dataclass(frozen=True, slots=True)
class BoxGroup:
    """The values of one box (e.g. one model's run latencies)."""

    label: str
    values: np.ndarray
    color: str


def box_stats(values: np.ndarray) -> tuple[float, float, float, float, float]:
    """(whisker low, Q1, median, Q3, whisker high): numpy linear-interpolation quartiles,
    whiskers at the most extreme values within 1.5 IQR of the box (Tukey 1977)."""
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    iqr = q3 - q1
    inside = values[(values >= q1 - 1.5 * iqr) & (values <= q3 + 1.5 * iqr)]
    return float(inside.min()), float(q1), float(median), float(q3), float(inside.max())


def _strip_sample(values: np.ndarray, limit: int) -> np.ndarray:
    if values.size <= limit:
        return values
    positions = np.linspace(0, values.size - 1, limit).round().astype(np.int64)
    return np.sort(values)[positions]


def box_plot(groups: Sequence[BoxGroup], *, title: str, axis_label: str, width: int = 1060,
             strip_limit: int = 300) -> str:
    """Horizontal box plots, one per group, with up to ``strip_limit`` runs drawn as dots
    (evenly spaced order statistics when there are more); the axis starts at 0."""
    label_width = int(min(300.0, max([text_width(g.label) for g in groups] + [40.0]) + 24))
    labels = [_wrap_to(g.label, label_width - 20) for g in groups]
    row_height = max([40.0] + [LINE_HEIGHT * len(lines) + 12 for lines in labels])
    left, right, top = label_width, 36, 12
    bottom = top + row_height * max(1, len(groups))
    height = bottom + 50
    known = [g.values[np.isfinite(g.values)] for g in groups]
    high = max([float(v.max()) for v in known if v.size] + [1.0])
    ticks = nice_ticks(0.0, high, 6)
    x = _Linear((0.0, ticks[-1]), (left, width - right))
    body = []
    for tick in ticks:
        body.append(_el("line", x1=x(tick), x2=x(tick), y1=float(top), y2=float(bottom), stroke=GRID))
        body.append(_text(x(tick), bottom + 16, _tick_label(tick), text_anchor="middle", fill=MUTED))
    body.append(_el("line", x1=float(left), x2=float(width - right), y1=float(bottom), y2=float(bottom), stroke=AXIS))
    body.append(_text((left + width - right) / 2, bottom + 38, axis_label, text_anchor="middle", fill=MUTED))
    golden = (math.sqrt(5) - 1) / 2
    for i, (group, values) in enumerate(zip(groups, known)):
        cy = top + row_height * i + row_height / 2
        body.append(_text_lines(left - 10, cy, labels[i], text_anchor="end"))
        if values.size == 0:
            body.append(_text(left + 4, cy + 4, "not measured", fill=MUTED, font_style="italic"))
            continue
        low, q1, median, q3, whisker = box_stats(values)
        strip = _strip_sample(values, strip_limit)
        jitter = ((np.arange(strip.size) * golden) % 1.0 - 0.5) * (row_height * 0.7)
        parts = [_el("title", esc(f"{group.label}: median {median:.0f}, quartiles {q1:.0f}–{q3:.0f}, "
                                  f"whiskers {low:.0f}–{whisker:.0f}, n = {values.size}"))]
        parts += [_el("circle", cx=x(v), cy=cy + float(j), r=1.8, fill=group.color, fill_opacity="0.35")
                  for v, j in zip(strip.tolist(), jitter.tolist())]
        parts.append(_el("line", x1=x(low), x2=x(q1), y1=cy, y2=cy, stroke=INK, stroke_width=1.2))
        parts.append(_el("line", x1=x(q3), x2=x(whisker), y1=cy, y2=cy, stroke=INK, stroke_width=1.2))
        for end in (low, whisker):
            parts.append(_el("line", x1=x(end), x2=x(end), y1=cy - 6, y2=cy + 6, stroke=INK, stroke_width=1.2))
        parts.append(_el("rect", x=x(q1), y=cy - 10, width=max(1.0, x(q3) - x(q1)), height=20.0, fill=group.color,
                         fill_opacity="0.45", stroke=group.color, stroke_width=1.5, rx=2.0))
        parts.append(_el("line", x1=x(median), x2=x(median), y1=cy - 10, y2=cy + 10, stroke=INK, stroke_width=2.5))
        body.append(_el("g", "".join(parts), class_="box"))
    return _svg(width, height, title, body, "chart box-plot")


# ---------------------------------------------------------------------- matrix chart


@dataclasses.dataclass(frozen=True, slots=True)
class MatrixCell:
    """Row model against column model: score difference (row − column) and whether it is
    significant; ``note`` is a tooltip."""

    delta: float | None
    significant: bool
    note: str = ""


def matrix_chart(models: Sequence[str], cells: Mapping[tuple[str, str], MatrixCell], *, title: str,
                 colors: Mapping[str, str], cell: int = 72) -> str:
    """Model × model matrix: cell (row, column) shows row − column in score points, coloured
    blue when the row is better and red when worse; significant cells are outlined and bold.
    Rows carry the number and the whole name of each model (wrapped); columns the numbers."""
    labels = [f"{i + 1}  {name}" for i, name in enumerate(models)]
    label_width = int(min(340.0, max([text_width(label, bold=True) for label in labels] + [60.0]) + 40))
    wrapped = [_wrap_to(label, label_width - 34, bold=True) for label in labels]
    size = max([float(cell)] + [LINE_HEIGHT * len(lines) + 12 for lines in wrapped])
    header = 30
    width = label_width + size * len(models) + 24
    height = header + size * len(models) + 56
    deltas = [abs(c.delta) for c in cells.values() if c.delta is not None and math.isfinite(c.delta)]
    scale = max(deltas + [1.0])
    body = []
    for j in range(len(models)):
        cx = label_width + size * j + size / 2
        body.append(_el("circle", cx=cx, cy=float(header - 22), r=4.0, fill=colors.get(models[j], MUTED)))
        body.append(_text(cx, header - 6, str(j + 1), text_anchor="middle", font_weight="600"))
    for i, row in enumerate(models):
        y = header + size * i
        body.append(_el("circle", cx=float(label_width - 10), cy=y + size / 2, r=4.0, fill=colors.get(row, MUTED)))
        body.append(_text_lines(label_width - 20, y + size / 2, wrapped[i], text_anchor="end", font_weight="600"))
        for j, column in enumerate(models):
            x = label_width + size * j
            if i == j:
                body.append(_el("rect", x=x + 1.0, y=y + 1.0, width=size - 2.0, height=size - 2.0, fill="#f1f3f5"))
                continue
            entry = cells.get((row, column))
            if entry is None or entry.delta is None or not math.isfinite(entry.delta):
                body.append(_el("rect", x=x + 1.0, y=y + 1.0, width=size - 2.0, height=size - 2.0, fill="#fafbfc",
                                stroke=GRID))
                body.append(_text(x + size / 2, y + size / 2 + 4, "n/a", text_anchor="middle", fill=MUTED))
                continue
            rgb = _interpolate(_RDBU, (entry.delta / scale + 1.0) / 2.0)
            parts = [_el("title", esc(entry.note))] if entry.note else []
            parts.append(_el("rect", x=x + 1.0, y=y + 1.0, width=size - 2.0, height=size - 2.0, fill=_hex(rgb),
                             stroke=INK if entry.significant else "none",
                             stroke_width=2.0 if entry.significant else None))
            parts.append(_text(x + size / 2, y + size / 2 + 4, f"{entry.delta:+.1f}", text_anchor="middle",
                               fill=_text_on(rgb), font_weight="700" if entry.significant else "400"))
            body.append(_el("g", "".join(parts), class_="cell"))
    legend_y = header + size * len(models) + 24
    body.append(_el("rect", x=float(label_width), y=float(legend_y - 10), width=14.0, height=14.0,
                    fill=diverging_color(0.8)))
    body.append(_text(label_width + 20, legend_y + 2, "row better", fill=MUTED))
    body.append(_el("rect", x=float(label_width + 110), y=float(legend_y - 10), width=14.0, height=14.0,
                    fill=diverging_color(-0.8)))
    body.append(_text(label_width + 130, legend_y + 2, "row worse", fill=MUTED))
    body.append(_el("rect", x=float(label_width + 220), y=float(legend_y - 10), width=14.0, height=14.0,
                    fill="#ffffff", stroke=INK, stroke_width=2.0))
    body.append(_text(label_width + 240, legend_y + 2, "significant", fill=MUTED))
    return _svg(max(width, label_width + 340), height, title, body, "chart matrix")


# ------------------------------------------------------------------------- line chart


@dataclasses.dataclass(frozen=True, slots=True)
class Series:
    """One line of :func:`line_chart`: a value (or None) per x position."""

    label: str
    values: Sequence[float | None]
    color: str
    dashed: bool = False


def line_chart(x_labels: Sequence[str], series: Sequence[Series], *, title: str, x_label: str, y_label: str,
               width: int = 1060, height: int = 360, y_unit: str = "") -> str:
    """Lines over ordered, evenly spaced x positions (load levels, the runs of a trend), y from 0;
    a legend of whole, wrapped series labels below, laid out so that no label overlaps another."""
    left, right, top = 70, 28, 20
    legend = [(s, _wrap_to(s.label, 300)) for s in series]
    rows: list[list[tuple[Series, list[str], float]]] = [[]]
    used = 0.0
    for entry, lines in legend:
        entry_width = 26 + max(text_width(line) for line in lines) + 24
        if rows[-1] and used + entry_width > width - left - right:
            rows.append([])
            used = 0.0
        rows[-1].append((entry, lines, used))
        used += entry_width
    row_heights = [max([LINE_HEIGHT * len(lines) for _, lines, _ in row] + [LINE_HEIGHT]) + 8 for row in rows]
    plot_bottom = height - 56
    total = plot_bottom + 56 + sum(row_heights)
    values = [v for s in series for v in s.values if v is not None and math.isfinite(v)]
    ticks = nice_ticks(0.0, max(values + [1.0]), 5)
    y = _Linear((0.0, ticks[-1]), (plot_bottom, top))
    n = max(1, len(x_labels))
    step = (width - left - right) / n

    def x(k: int) -> float:
        return left + step * (k + 0.5)

    body = []
    for tick in ticks:
        body.append(_el("line", x1=float(left), x2=float(width - right), y1=y(tick), y2=y(tick), stroke=GRID))
        body.append(_text(left - 8, y(tick) + 4, _tick_label(tick, y_unit), text_anchor="end", fill=MUTED))
    shown = max(1, int(math.ceil(max([text_width(label) for label in x_labels] + [10.0]) / (step - 6))))
    for k, label in enumerate(x_labels):
        if k % shown == 0:
            body.append(_text(x(k), plot_bottom + 18, label, text_anchor="middle", fill=MUTED))
    body.append(_el("line", x1=float(left), x2=float(width - right), y1=float(plot_bottom), y2=float(plot_bottom),
                    stroke=AXIS))
    body.append(_text((left + width - right) / 2, plot_bottom + 40, x_label, text_anchor="middle", fill=MUTED))
    body.append(_text(16, (top + plot_bottom) / 2, y_label, text_anchor="middle", fill=MUTED,
                      transform=f"rotate(-90 16 {_num((top + plot_bottom) / 2)})"))
    for entry in series:
        points = [(x(k), y(v), v) for k, v in enumerate(entry.values) if v is not None and math.isfinite(v)]
        segments: list[list[tuple[float, float, float]]] = [[]]
        for k, v in enumerate(entry.values):
            if v is None or not math.isfinite(v):
                segments.append([])
            else:
                segments[-1].append((x(k), y(v), v))
        for segment in segments:
            if len(segment) >= 2:
                path = " ".join(f"{'M' if i == 0 else 'L'}{_num(px)},{_num(py)}" for i, (px, py, _) in enumerate(segment))
                body.append(_el("path", d=path, fill="none", stroke=entry.color, stroke_width=2.0,
                                stroke_dasharray="6 4" if entry.dashed else None))
        for px, py, value in points:
            body.append(_el("g", _el("title", esc(f"{entry.label}: {value:,.2f}"))
                            + _el("circle", cx=px, cy=py, r=3.5, fill=entry.color)))
    legend_top = plot_bottom + 56
    for row, row_height in zip(rows, row_heights):
        for entry, lines, offset in row:
            lx = left + offset
            body.append(_el("line", x1=lx, x2=lx + 20, y1=legend_top + row_height / 2 - 4,
                            y2=legend_top + row_height / 2 - 4, stroke=entry.color, stroke_width=2.5,
                            stroke_dasharray="6 4" if entry.dashed else None))
            body.append(_text_lines(lx + 26, legend_top + row_height / 2 - 4, lines, text_anchor="start"))
        legend_top += row_height
    return _svg(width, total, title, body, "chart line-chart")
