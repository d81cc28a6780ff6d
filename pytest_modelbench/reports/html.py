"""A self-contained HTML report of a results document (no pytest, no network).

One file: inline CSS, inline SVG charts (:mod:`.svg`), a few lines of vanilla JavaScript for
the run-table filters, and a Content-Security-Policy that forbids loading anything at all.
Every string taken from the document is escaped with ``html.escape``. Sections appear only
when the document has their data (see docs/reports.md).
"""

from __future__ import annotations

import dataclasses
import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .markdown import (
    ModelRow,
    baseline_block,
    budget_rows,
    categories_in,
    category_weights,
    consistency_rows,
    fmt,
    fmt_interval,
    fmt_p,
    fmt_pct,
    fmt_usd,
    fmt_usd_delta,
    gate_rows,
    meta_line,
    model_rows,
    num,
    pair_rows,
    pareto_layer,
    rankings_block,
    recommendation_rows,
)
from .svg import (
    BoxGroup,
    IntervalRow,
    MatrixCell,
    ScatterPoint,
    box_plot,
    heatmap,
    interval_chart,
    matrix_chart,
    model_colors,
    scatter,
)

__all__ = ["MAX_RUN_ROWS", "render_html"]

#: The run table lists at most this many runs (the JSON file has them all).
MAX_RUN_ROWS = 5000

OUTCOMES = ("passed", "failed", "error", "skipped")

CSS = """
:root { --ink: #1f2933; --muted: #52606d; --line: #e4e7eb; --bg: #f5f7fa; --card: #ffffff;
        --accent: #2f5f8f; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; color: var(--ink); background: var(--bg);
       font: 15px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header { background: #1f2933; color: #ffffff; padding: 28px 40px 22px; }
header h1 { margin: 0; font-size: 26px; font-weight: 700; letter-spacing: -0.01em; }
header p { margin: 6px 0 0; color: #cbd2d9; font-size: 14px; }
nav { position: sticky; top: 0; z-index: 5; background: #ffffff; border-bottom: 1px solid var(--line);
      padding: 10px 40px; display: flex; flex-wrap: wrap; gap: 6px 18px; }
nav a { color: var(--accent); text-decoration: none; font-weight: 600; font-size: 14px; }
nav a:hover { text-decoration: underline; }
main { max-width: 1180px; margin: 0 auto; padding: 28px 40px 72px; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 10px;
          padding: 22px 26px; margin: 0 0 26px; box-shadow: 0 1px 2px rgba(31, 41, 51, 0.04); }
h2 { margin: 0 0 4px; font-size: 20px; letter-spacing: -0.01em; }
h3 { margin: 18px 0 6px; font-size: 16px; }
p.lead { margin: 0 0 14px; color: var(--muted); font-size: 14px; }
p.note { margin: 10px 0 0; color: var(--muted); font-size: 13px; }
table { border-collapse: collapse; width: 100%; font-size: 14px; font-variant-numeric: tabular-nums; }
th, td { padding: 7px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
thead th { position: sticky; top: 0; background: #fafbfc; font-weight: 600; color: var(--muted);
           font-size: 12px; text-transform: uppercase; letter-spacing: 0.04em; white-space: nowrap; }
td.num, th.num { text-align: right; white-space: nowrap; }
tbody tr:hover { background: #f8fafc; }
.swatch { display: inline-block; width: 11px; height: 11px; border-radius: 50%; margin-right: 7px;
          vertical-align: -1px; }
.model { font-weight: 600; white-space: nowrap; }
.model .name { display: inline-block; max-width: 240px; overflow: hidden; text-overflow: ellipsis;
               vertical-align: bottom; }
.scroll { overflow-x: auto; }
tr.details td { border-bottom: 1px solid var(--line); padding-top: 0; color: var(--muted); font-size: 13px; }
tr.has-details td { border-bottom: none; }
.chart { display: block; max-width: 100%; height: auto; margin: 10px 0 4px; }
.nowrap { white-space: nowrap; }
.legend { display: flex; flex-wrap: wrap; gap: 8px 18px; font-size: 13px; color: var(--muted); margin: 6px 0; }
.badge { display: inline-block; padding: 1px 9px; border-radius: 999px; font-size: 12px; font-weight: 700;
         white-space: nowrap; }
.badge.pass, .badge.excellent, .badge.good { background: #e3f9e5; color: #1f7a37; }
.badge.fail, .badge.not-recommended { background: #ffe3e3; color: #b42318; }
.badge.not-significant, .badge.poor, .badge.adequate { background: #fff3c4; color: #7a5200; }
.badge.unknown { background: #eef0f3; color: var(--muted); }
.banner { border-radius: 8px; padding: 12px 16px; font-weight: 700; margin: 6px 0 14px; }
.banner.pass { background: #e3f9e5; color: #1f7a37; }
.banner.fail { background: #ffe3e3; color: #b42318; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(330px, 1fr)); gap: 16px; }
.card { border: 1px solid var(--line); border-radius: 10px; padding: 16px 18px; background: #fcfcfd; }
.card h3 { margin: 0 0 2px; font-size: 16px; }
.card .desc { color: var(--muted); font-size: 13px; margin: 0 0 10px; }
.card .pick { font-size: 17px; margin: 6px 0; }
.card .why { font-size: 13.5px; margin: 10px 0 0; }
.card .alts { font-size: 13px; color: var(--muted); margin: 6px 0 0; }
.grid2 { display: grid; grid-template-columns: 1fr 1fr; gap: 10px 26px; }
@media (max-width: 960px) { .grid2 { grid-template-columns: 1fr; } main, header, nav { padding-left: 18px; padding-right: 18px; } }
.filters { display: flex; flex-wrap: wrap; gap: 10px 16px; align-items: center; margin: 6px 0 12px; font-size: 14px; }
.filters label { color: var(--muted); font-weight: 600; }
select, input[type=search] { font: inherit; font-size: 14px; padding: 5px 9px; border: 1px solid #cbd2d9;
                             border-radius: 6px; background: #ffffff; color: var(--ink); }
#filter-count { color: var(--muted); margin-left: auto; }
.table-wrap { max-height: 680px; overflow: auto; border: 1px solid var(--line); border-radius: 8px; }
.table-wrap table td, .table-wrap table th { border-bottom-color: #eef0f3; }
.outcome-passed { color: #1f7a37; font-weight: 600; }
.outcome-failed { color: #b42318; font-weight: 600; }
.outcome-error { color: #7a5200; font-weight: 600; }
.outcome-skipped { color: var(--muted); }
.task { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px;
        min-width: 260px; max-width: 420px; overflow-wrap: anywhere; }
.reason { color: var(--muted); font-size: 13px; max-width: 340px; }
"""

SCRIPT = """
(function () {
  var model = document.getElementById("filter-model");
  var outcome = document.getElementById("filter-outcome");
  var task = document.getElementById("filter-task");
  var count = document.getElementById("filter-count");
  if (!model || !outcome || !task || !count) { return; }
  var rows = Array.prototype.slice.call(document.querySelectorAll("#runs-table tbody tr"));
  function apply() {
    var m = model.value, o = outcome.value, t = task.value.toLowerCase(), shown = 0;
    rows.forEach(function (row) {
      var ok = (!m || row.getAttribute("data-model") === m) &&
               (!o || row.getAttribute("data-outcome") === o) &&
               (!t || row.getAttribute("data-task").toLowerCase().indexOf(t) !== -1);
      row.hidden = !ok;
      if (ok) { shown += 1; }
    });
    count.textContent = shown + " of " + rows.length + " runs shown";
  }
  model.addEventListener("change", apply);
  outcome.addEventListener("change", apply);
  task.addEventListener("input", apply);
  apply();
})();
"""

NUM = ' class="num"'

CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"


def e(text: Any) -> str:
    """Escape for HTML text and attribute values."""
    return html.escape(str(text), quote=True)


def _swatch(color: str) -> str:
    return f'<span class="swatch" style="background:{e(color)}"></span>'


def _model(name: str, colors: Mapping[str, str]) -> str:
    return (f'<span class="model" title="{e(name)}">{_swatch(colors.get(name, "#9aa5b1"))}'
            f'<span class="name">{e(name)}</span></span>')


def _badge(text: str, css: str | None = None) -> str:
    css = text.lower().replace(" ", "-") if css is None else css
    return f'<span class="badge {e(css)}">{e(text)}</span>'


def _table(headers: Sequence[tuple[str, bool]], rows: Sequence[Sequence[tuple[str, bool]]],
           table_id: str | None = None) -> str:
    """Cells are (already-escaped html, numeric?)."""
    head = "".join(f'<th{NUM if numeric else ""}>{label}</th>' for label, numeric in headers)
    body = []
    for row in rows:
        body.append("<tr>" + "".join(f'<td{NUM if numeric else ""}>{cell}</td>'
                                     for cell, numeric in row) + "</tr>")
    ident = f' id="{e(table_id)}"' if table_id else ""
    return f'<div class="scroll"><table{ident}><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _section(ident: str, title: str, lead: str, body: str) -> str:
    lead_html = f'<p class="lead">{lead}</p>' if lead else ""
    return f'<section id="{e(ident)}"><h2>{e(title)}</h2>{lead_html}{body}</section>'


# ------------------------------------------------------------------------ sections


def _gates(document: Mapping[str, Any], colors: Mapping[str, str]) -> str:
    gates = gate_rows(document)
    if not gates:
        return ""
    failed = any(g.get("verdict") == "fail" for g in gates)
    banner = (f'<div class="banner {"fail" if failed else "pass"}">'
              f'{"Gates failed" if failed else "Gates passed"}</div>')
    body = []
    for gate in gates:
        verdict = str(gate.get("verdict", "unknown"))
        # every gate that did not plainly pass, and every regression gate, explains itself
        explain = bool(gate.get("message")) and (verdict != "pass" or gate.get("name") == "fail-on-regression")
        row_class = ' class="has-details"' if explain else ""
        body.append(
            f'<tr{row_class}>'
            f'<td class="nowrap">{e(gate.get("name", ""))}</td><td>{_model(str(gate.get("model", "")), colors)}</td>'
            f'<td class="num">{e(_gate_value(gate, "measured"))}</td>'
            f'<td class="num">{e(_gate_value(gate, "threshold"))}</td><td>{_badge(verdict)}</td></tr>'
        )
        if explain:
            body.append(f'<tr class="details"><td></td><td colspan="4">{e(gate["message"])}</td></tr>')
    head = "".join(f"<th{NUM if numeric else ''}>{label}</th>" for label, numeric in (
        ("gate", False), ("model", False), ("measured", True), ("threshold", True), ("verdict", False)))
    table = (f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
             f'<tbody>{"".join(body)}</tbody></table></div>')
    return _section("gates", "Gates", "CI rules evaluated on this run.", banner + table)


def _gate_value(gate: Mapping[str, Any], key: str) -> str:
    value = num(gate.get(key))
    if value is None:
        return "?" if key == "measured" else "–"
    name = gate.get("name")
    if name == "fail-on-regression":
        return f"{value:+.1f} pts (p {fmt_p(num(gate.get('p_value')))})" if key == "measured" \
            else f"drop < {-value:g} pts"
    if name == "max-p95-latency-ms":
        return f"{value:.0f} ms" if key == "measured" else f"≤ {value:g} ms"
    if name == "max-cost-per-task":
        return fmt_usd(value) if key == "measured" else f"≤ {fmt_usd(value)}"
    return f"{value:.1f}" if key == "measured" else f"≥ {value:g}"


def _rankings(document: Mapping[str, Any], rows: Sequence[ModelRow], colors: Mapping[str, str]) -> str:
    table_rows = []
    for row in rows:
        pass_text = fmt_pct(row.pass_rate)
        if row.pass_low is not None and row.pass_high is not None:
            pass_text += f" <small>({fmt_pct(row.pass_low)}–{fmt_pct(row.pass_high)})</small>"
        table_rows.append([
            (str(row.rank), True), (_model(row.name, colors), False), (f"<b>{fmt(row.score)}</b>", True),
            (e(fmt_interval(row.low, row.high)), True), (pass_text, True),
            (f"{row.passed} / {row.failed} / {row.errors}", True), (fmt(row.latency_p50, ",.0f"), True),
            (fmt(row.latency_p95, ",.0f"), True), (fmt(row.ttft_p50, ",.0f"), True),
            (e(fmt_usd(row.cost_per_task)), True),
        ])
    table = _table([("#", True), ("model", False), ("score", True), ("95% CI", True), ("pass rate", True),
                    ("pass / miss / err", True), ("p50 ms", True), ("p95 ms", True), ("TTFT p50", True),
                    ("$ / task", True)], table_rows)
    chart = interval_chart(
        [IntervalRow(row.name, row.score, row.low, row.high, colors[row.name]) for row in rows],
        title="Overall score per model with its 95% confidence interval",
        axis_label="overall score (0–100), bars: 95% task-clustered confidence interval",
    )
    extra = _other_rankings(document, rows, colors)
    note = ('<p class="note">Score = 60% pass rate + 40% quality, weighted by category. Intervals are '
            'task-clustered (Miller 2024): the runs of one task are not independent. Pass-rate intervals '
            'are Wilson intervals over runs.</p>')
    tradeoff = document.get("tradeoff")
    if isinstance(tradeoff, Mapping) and tradeoff.get("model") and tradeoff.get("best_model") \
            and tradeoff["model"] != tradeoff["best_model"]:
        note += (f'<p class="note">Cheapest within {e(fmt(num(tradeoff.get("points")), "g"))} points of the best '
                 f'({e(tradeoff["best_model"])}): <b>{e(tradeoff["model"])}</b> at '
                 f'{e(fmt_usd(num(tradeoff.get("cost_usd"))))} per task.</p>')
    return _section("rankings", "Rankings", "Models ordered by overall score.", chart + table + note + extra)


def _other_rankings(document: Mapping[str, Any], rows: Sequence[ModelRow], colors: Mapping[str, str]) -> str:
    rankings = rankings_block(document)
    orders = rankings.get("orders") if isinstance(rankings.get("orders"), Mapping) else {}
    methods = [(key, label) for key, label in (("weighted", "weighted"), ("bradley_terry", "Bradley–Terry"),
                                               ("elo", "Elo"), ("borda", "Borda"), ("pareto", "Pareto layer"))
               if isinstance(orders.get(key), list)]
    if len(methods) < 2:
        return ""
    table_rows = []
    for row in rows:
        cells = [(_model(row.name, colors), False)]
        for key, _ in methods:
            order = orders[key]
            if key == "pareto":
                layer = pareto_layer(document, row.name)
                cells.append(("–" if layer is None else str(layer), True))
            else:
                cells.append((str(order.index(row.name) + 1) if row.name in order else "–", True))
        table_rows.append(cells)
    return ("<h3>Position by ranking method</h3>"
            + _table([("model", False), *((e(label), True) for _, label in methods)], table_rows)
            + '<p class="note">Bradley–Terry and Elo rate pairwise wins per (task, run); Borda sums '
              'category positions; the Pareto layer is 1 for models no other model beats on score, cost '
              'and latency at once.</p>')


def _categories(document: Mapping[str, Any], rows: Sequence[ModelRow]) -> str:
    categories = categories_in(rows, document)
    if not categories:
        return ""
    weights = category_weights(document)
    labels = [f"{c} ({weights[c]:.2f})" if c in weights else c for c in categories]
    values = [[row.categories.get(c) for c in categories] for row in rows]
    cell_width = max(64, min(130, 860 // max(1, len(categories))))
    chart = heatmap([row.name for row in rows], labels, values, title="Category score per model",
                    legend_label="category score", cell_width=cell_width)
    return _section("categories", "Categories", "Score per category (weight in brackets); blank: no tasks.",
                    chart)


def _pareto_front(points: Sequence[ScatterPoint]) -> list[str]:
    """Labels of points no other point beats on both y (higher) and x (lower)."""
    front = []
    for p in points:
        if not any((q.y >= p.y and q.x <= p.x) and (q.y > p.y or q.x < p.x) for q in points):
            front.append(p.label)
    return front


def _tradeoffs(document: Mapping[str, Any], rows: Sequence[ModelRow], colors: Mapping[str, str]) -> str:
    scored = [row for row in rows if row.score is not None]
    if not scored:
        return ""
    with_cost = [row for row in scored if row.cost_per_task is not None and row.cost_per_task > 0]
    if with_cost:
        points = [ScatterPoint(row.name, row.cost_per_task, row.score, colors[row.name], row.latency_p50)
                  for row in with_cost]
        pareto = rankings_block(document).get("pareto")
        front = pareto.get("front") if isinstance(pareto, Mapping) and isinstance(pareto.get("front"), list) else None
        front = [name for name in front if name in {p.label for p in points}] if front else _pareto_front(points)
        chart = scatter(points, title="Score against cost per task", x_label="cost per task (USD, log scale)",
                        y_label="overall score", x_log=True, x_unit="$", size_label="p50 latency", front=front)
        missing = [row.name for row in scored if row not in with_cost]
        lead = "Up and to the left is better. Point area shows median latency."
        note = (f'<p class="note">Not shown (cost unknown): {e(", ".join(missing))}.</p>' if missing else "")
    else:
        timed = [row for row in scored if row.latency_p50 is not None]
        if not timed:
            return ""
        points = [ScatterPoint(row.name, row.latency_p50, row.score, colors[row.name]) for row in timed]
        chart = scatter(points, title="Score against median latency", x_label="p50 run latency (ms)",
                        y_label="overall score", front=_pareto_front(points))
        lead = "No model has a known cost, so the trade-off is shown against median latency. Up and to the left is better."
        missing = [row.name for row in scored if row not in timed]
        note = (f'<p class="note">Not shown (latency unknown): {e(", ".join(missing))}.</p>' if missing else "")
    return _section("tradeoffs", "Trade-offs", e(lead), chart + note)


@dataclasses.dataclass(frozen=True, slots=True)
class _Runs:
    """Columns of the document's counted (not skipped) runs, read once per render."""

    model: np.ndarray        # str
    task: np.ndarray         # str
    passed: np.ndarray       # bool
    quality: np.ndarray      # float, an error counts 0
    latency_ms: np.ndarray   # float, NaN unknown
    ttft_ms: np.ndarray      # float, NaN unknown


def _run_columns(document: Mapping[str, Any]) -> _Runs:
    runs = document.get("runs")
    rows = [run for run in runs if isinstance(run, Mapping) and run.get("outcome") in ("passed", "failed", "error")] \
        if isinstance(runs, list) else []

    def floats(key: str, missing: float) -> np.ndarray:
        values = [run.get(key) for run in rows]
        return np.array([missing if v is None or isinstance(v, bool) or not isinstance(v, (int, float)) else v
                         for v in values], dtype=np.float64)

    return _Runs(
        model=np.array([str(run.get("model")) for run in rows], dtype=object),
        task=np.array([str(run.get("task")) for run in rows], dtype=object),
        passed=np.array([run.get("outcome") == "passed" for run in rows], dtype=bool),
        quality=np.nan_to_num(floats("quality", 0.0), nan=0.0),
        latency_ms=floats("latency_ms", np.nan),
        ttft_ms=floats("ttft_ms", np.nan),
    )


def _by_model(runs: _Runs, values: np.ndarray) -> dict[str, np.ndarray]:
    known = np.isfinite(values)
    return {str(name): values[known & (runs.model == name)] for name in np.unique(runs.model[known])}


def _latency(runs: _Runs, rows: Sequence[ModelRow], colors: Mapping[str, str]) -> str:
    latency = _by_model(runs, runs.latency_ms)
    ttft = _by_model(runs, runs.ttft_ms)
    if not latency:
        return ""
    empty = np.zeros(0)
    charts = "<h3>Run latency</h3>" + box_plot([BoxGroup(row.name, latency.get(row.name, empty), colors[row.name]) for row in rows],
                      title="Run latency per model", axis_label="run latency (ms): request sent to last byte")
    if ttft:
        charts += "<h3>Time to first token</h3>" + box_plot([BoxGroup(row.name, ttft.get(row.name, empty), colors[row.name]) for row in rows],
                           title="Time to first token per model", axis_label="time to first token (ms)")
    note = ('<p class="note">Boxes span the quartiles with the median as a bar; whiskers reach the most '
            'extreme run within 1.5 × the interquartile range (Tukey). Dots are individual runs (at most '
            '300 per model, evenly spread over the distribution).</p>')
    if not ttft:
        note += '<p class="note">No time to first token was measured (non-streaming calls).</p>'
    return _section("latency", "Latency", "Distribution of run latency and time to first token.", charts + note)


def _fallback_pairs(runs: _Runs, models: Sequence[str]) -> dict[tuple[str, str], MatrixCell]:
    """Mean per-task score difference on shared tasks, from the runs (descriptive, no test).

    Task score as everywhere: 100 × (0.6 × pass rate + 0.4 × mean quality) over its runs.
    """
    if runs.model.size == 0:
        return {}
    model_names, model_code = np.unique(runs.model, return_inverse=True)
    _, task_code = np.unique(runs.task, return_inverse=True)
    n_models, n_tasks = model_names.shape[0], int(task_code.max()) + 1
    flat = model_code.reshape(-1) * n_tasks + task_code.reshape(-1)
    size = n_models * n_tasks
    counts = np.bincount(flat, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        scores = 100.0 * (0.6 * np.bincount(flat, weights=runs.passed.astype(np.float64), minlength=size)
                          + 0.4 * np.bincount(flat, weights=runs.quality, minlength=size)) / counts
    scores = np.where(counts > 0, scores, np.nan).reshape(n_models, n_tasks)
    index = {str(name): i for i, name in enumerate(model_names)}
    cells = {}
    for a in models:
        for b in models:
            if a == b or a not in index or b not in index:
                continue
            i, j = index[a], index[b]
            both = ~np.isnan(scores[i]) & ~np.isnan(scores[j])
            if both.any():
                delta = float((scores[i, both] - scores[j, both]).mean())
                cells[(a, b)] = MatrixCell(delta, False, f"{a} − {b}: {delta:+.1f} points on {int(both.sum())} "
                                                         "shared tasks (unweighted mean, no test)")
    return cells


def _head_to_head(document: Mapping[str, Any], runs: _Runs, rows: Sequence[ModelRow],
                  colors: Mapping[str, str]) -> str:
    models = [row.name for row in rows]
    if len(models) < 2:
        return ""
    pairs = pair_rows(document)
    table = ""
    if pairs:
        cells: dict[tuple[str, str], MatrixCell] = {}
        for pair in pairs:
            note = (f"{pair.a} − {pair.b}: {fmt(pair.delta, '+.1f')} points, interval "
                    f"{fmt_interval(pair.low, pair.high, '+.1f')}, p (Holm) {fmt_p(pair.p_adjusted)}; {pair.verdict}")
            cells[(pair.a, pair.b)] = MatrixCell(pair.delta, pair.significant, note)
            flipped = None if pair.delta is None else -pair.delta
            cells.setdefault((pair.b, pair.a), MatrixCell(flipped, pair.significant,
                                                          note.replace(f"{pair.a} − {pair.b}", f"{pair.b} − {pair.a}")
                                                          if flipped is not None else note))
        lead = ("Each cell is the row model's score minus the column model's, on the tasks both ran (a task's "
                "runs count once). Outlined, bold cells are significant after Holm's adjustment; each "
                "interval is the same test's, so it excludes 0 exactly when the difference is significant.")
        table_rows = [[(_model(p.a, colors), False), (_model(p.b, colors), False), (fmt(p.delta, "+.1f"), True),
                       (e(fmt_interval(p.low, p.high, "+.1f")), True), (fmt_p(p.p_value), True),
                       (fmt_p(p.p_adjusted), True), (str(p.tasks), True),
                       (("<b>" + e(p.verdict) + "</b>") if p.significant else e(p.verdict), False)]
                      for p in pairs]
        table = _table([("A", False), ("B", False), ("Δ (A − B)", True), ("interval", True), ("p", True),
                        ("p (Holm)", True), ("tasks", True), ("verdict", False)], table_rows)
    else:
        cells = _fallback_pairs(runs, models)
        if not cells:
            return ""
        lead = ("Each cell is the row model's mean task score minus the column model's, on the tasks both "
                "ran. This document has no head-to-head tests, so no cell is marked significant.")
    chart = matrix_chart(models, cells, title="Head-to-head score differences", colors=colors)
    return _section("head-to-head", "Head to head", e(lead), chart + table)


def _consistency(document: Mapping[str, Any], colors: Mapping[str, str]) -> str:
    rows = consistency_rows(document)
    if not rows:
        return ""
    table_rows = [[(_model(r["model"], colors), False), (fmt(num(r.get("score"))), True),
                   (fmt_pct(num(r.get("pass_hat_k")), 1), True), (fmt_pct(num(r.get("disagreement")), 1), True),
                   (fmt(num(r.get("quality_variance")), ".4f"), True),
                   (str(r.get("tasks") if isinstance(r.get("tasks"), int) else "–"), True)] for r in rows]
    table = _table([("model", False), ("consistency", True), ("pass^k", True), ("runs disagree", True),
                    ("quality variance", True), ("tasks", True)], table_rows)
    return _section("consistency", "Consistency",
                    "How alike repeated runs of the same task are (100 = always the same).", table)


def _cost(document: Mapping[str, Any], rows: Sequence[ModelRow], colors: Mapping[str, str]) -> str:
    models = document.get("models") if isinstance(document.get("models"), Mapping) else {}
    costed = [row for row in rows if isinstance((models.get(row.name) or {}).get("cost"), Mapping)]
    budget = budget_rows(document)
    if not costed and not budget:
        return ""
    body = ""
    if costed:
        table_rows = []
        for row in costed:
            cost = models[row.name]["cost"]
            unpriced = cost.get("unpriced_runs") if isinstance(cost.get("unpriced_runs"), int) else 0
            total = fmt_usd(num(cost.get("cost_usd"))) + (f" (+{unpriced} unpriced)" if unpriced else "")
            table_rows.append([(_model(row.name, colors), False), (e(total), True),
                               (e(fmt_usd(num(cost.get("cost_per_task_usd")))), True),
                               (e(fmt_usd(num(cost.get("cost_per_success_usd")))), True),
                               (fmt(num(cost.get("points_per_usd")), ",.0f"), True)])
        body += _table([("model", False), ("total", True), ("per task", True), ("per success", True),
                        ("points per $", True)], table_rows)
    if budget:
        block = document.get("budget") if isinstance(document.get("budget"), Mapping) else {}
        volume, limit = num(block.get("volume_tasks_per_day")), num(block.get("budget_usd_per_month"))
        body += (f"<h3>Monthly projection at {e(fmt(volume, ',.0f'))} tasks/day"
                 + (f", budget {e(fmt_usd(limit))}/month" if limit is not None else "") + "</h3>")
        table_rows = []
        for entry in budget:
            verdict = "–"
            if entry["fits"] is not None:
                text = ("fits" if entry["fits"] else "over") + ("" if entry["confident"] else "?")
                css = ("pass" if entry["fits"] else "fail") if entry["confident"] else "not-significant"
                verdict = _badge(text, css)
            table_rows.append([(_model(entry["model"], colors), False), (e(fmt_usd(entry["monthly"])), True),
                               (e(fmt_interval(entry["low"], entry["high"], ",.0f")), True), (verdict, False)])
        body += _table([("model", False), ("per month", True), ("95% CI ($)", True), ("budget", False)], table_rows)
    return _section("cost", "Cost", "What each model costs on this benchmark (unknown prices shown as ?).", body)


def _baseline(document: Mapping[str, Any], colors: Mapping[str, str]) -> str:
    block = baseline_block(document)
    models = block.get("models")
    if not isinstance(models, Mapping) or not models:
        return ""
    rows, chart_rows = [], []
    for name, entry in models.items():
        entry = entry if isinstance(entry, Mapping) else {}
        ci = entry.get("ci") if isinstance(entry.get("ci"), list) and len(entry["ci"]) == 2 else [None, None]
        latency = entry.get("latency_p95_ms") if isinstance(entry.get("latency_p95_ms"), Mapping) else {}
        cost = entry.get("cost_per_task_usd") if isinstance(entry.get("cost_per_task_usd"), Mapping) else {}
        delta = num(entry.get("delta"))
        cost_delta = num(cost.get("delta"))
        rows.append([(_model(str(name), colors), False), (str(entry.get("shared_tasks", "–")), True),
                     (fmt(num(entry.get("baseline"))), True), (fmt(num(entry.get("current"))), True),
                     (f"<b>{fmt(delta, '+.1f')}</b>", True), (e(fmt_interval(num(ci[0]), num(ci[1]), "+.1f")), True),
                     (fmt_p(num(entry.get("p_adjusted", entry.get("p_value")))), True),
                     (f"{entry.get('errors_current', 0)}/{entry.get('runs_checked', 0)}", True),
                     (fmt(num(latency.get("delta")), "+,.0f"), True),
                     (e(fmt_usd_delta(cost_delta)), True)])
        chart_rows.append(IntervalRow(str(name), delta, num(ci[0]), num(ci[1]), colors.get(str(name), "#9aa5b1")))
    extent = max([abs(v) for r in chart_rows for v in (r.value, r.low, r.high) if v is not None] + [1.0])
    extent = math.ceil(extent * 1.15)
    chart = interval_chart(chart_rows, title="Score change against the baseline",
                           axis_label="score change (points) with the test's interval; left of the dashed line: worse",
                           domain=(-extent, extent), reference=0.0, value_format="+.1f")
    table = _table([("model", False), ("tasks", True), ("baseline", True), ("now", True), ("Δ score", True),
                    ("interval", True), ("p (Holm)", True), ("errors", True), ("Δ p95 ms", True),
                    ("Δ $ / task", True)], rows)
    commit = block.get("git_commit")
    lead = (f"Against <code>{e(block.get('path', ''))}</code>"
            + (f" (commit {e(str(commit)[:12])})" if commit else "")
            + "; paired on the tasks both runs ran.")
    return _section("baseline", "Compared with the baseline", lead, chart + table)


def _recommendations(document: Mapping[str, Any], colors: Mapping[str, str]) -> str:
    recommendations = recommendation_rows(document)
    if not recommendations:
        return ""
    cards = []
    for rec in recommendations:
        recommended = rec.get("recommended")
        fit = str(rec.get("fit") or "unknown")
        if recommended:
            pick = (f'<p class="pick">{_model(str(recommended), colors)} '
                    f'<b>{e(fmt(num(rec.get("score"))))}</b> {_badge(fit)}</p>')
        else:
            pick = f'<p class="pick">No recommendation {_badge(str(rec.get("status") or "none"), "unknown")}</p>'
        alternatives = [a for a in rec.get("alternatives") or [] if isinstance(a, Mapping)]
        alts = ""
        if alternatives:
            alts = ('<p class="alts">Alternatives: '
                    + ", ".join(f'{e(a.get("model", ""))} ({e(fmt(num(a.get("score"))))})' for a in alternatives)
                    + "</p>")
        significance = str(rec.get("significance") or "unknown")
        lead_badge = _badge(significance, {"significant": "pass", "not significant": "not-significant"}
                            .get(significance, "unknown"))
        cards.append(
            f'<div class="card"><h3>{e(str(rec.get("use_case", "")).replace("_", " "))}</h3>'
            f'<p class="desc">{e(rec.get("description") or "")}</p>{pick}{alts}'
            + (f'<p class="alts">Lead over the runner-up: {lead_badge}</p>' if recommended and alternatives else "")
            + f'<p class="why">{e(rec.get("rationale") or "")}</p></div>'
        )
    return _section("recommendations", "Recommendations",
                    "The best model per use case, from category scores weighted by the use case's profile.",
                    f'<div class="cards">{"".join(cards)}</div>')


def _runs(document: Mapping[str, Any], colors: Mapping[str, str], limit: int) -> str:
    runs = document.get("runs")
    if not isinstance(runs, list) or not runs:
        return ""
    runs = [run for run in runs if isinstance(run, Mapping)]
    shown = runs[:limit]
    models = sorted({str(run.get("model")) for run in runs})
    outcomes = [o for o in OUTCOMES if any(run.get("outcome") == o for run in runs)]
    body = []
    for run in shown:
        model, outcome, task = str(run.get("model")), str(run.get("outcome")), str(run.get("task"))
        tokens_in, tokens_out = run.get("input_tokens"), run.get("output_tokens")
        tokens = "–" if tokens_in is None and tokens_out is None else \
            f"{tokens_in if tokens_in is not None else '?'} / {tokens_out if tokens_out is not None else '?'}"
        reason = run.get("error") or run.get("detail") or ""
        cost = run.get("cost_usd")
        body.append(
            f'<tr data-model="{e(model)}" data-outcome="{e(outcome)}" data-task="{e(task)}">'
            f'<td class="task">{e(task)}</td><td>{_model(model, colors)}</td>'
            f'<td class="num">{e(run.get("run", ""))}</td><td>{e(run.get("category", ""))}</td>'
            f'<td>{e(run.get("difficulty", ""))}</td><td class="outcome-{e(outcome)}">{e(outcome)}</td>'
            f'<td class="num">{fmt(num(run.get("quality")), ".2f")}</td>'
            f'<td class="num">{fmt(num(run.get("latency_ms")), ",.0f")}</td>'
            f'<td class="num">{fmt(num(run.get("ttft_ms")), ",.0f")}</td>'
            f'<td class="num">{e(tokens)}</td>'
            f'<td class="num">{e(fmt_usd(num(cost)) if cost is not None else "–")}</td>'
            f'<td class="reason">{e(reason)}</td></tr>'
        )
    options = "".join(f'<option value="{e(m)}">{e(m)}</option>' for m in models)
    outcome_options = "".join(f'<option value="{e(o)}">{e(o)}</option>' for o in outcomes)
    filters = (
        '<div class="filters">'
        f'<label for="filter-model">Model</label><select id="filter-model"><option value="">all models</option>{options}</select>'
        f'<label for="filter-outcome">Outcome</label><select id="filter-outcome"><option value="">all outcomes</option>{outcome_options}</select>'
        '<label for="filter-task">Task</label><input id="filter-task" type="search" placeholder="part of a task name">'
        '<span id="filter-count"></span></div>'
    )
    head = "".join(f'<th{NUM if numeric else ""}>{label}</th>' for label, numeric in (
        ("task", False), ("model", False), ("run", True), ("category", False), ("difficulty", False),
        ("outcome", False), ("quality", True), ("latency ms", True), ("TTFT ms", True), ("tokens in / out", True),
        ("cost", True), ("reason", False)))
    table = (f'<div class="table-wrap"><table id="runs-table"><thead><tr>{head}</tr></thead>'
             f'<tbody>{"".join(body)}</tbody></table></div>')
    note = ""
    if len(runs) > len(shown):
        note = (f'<p class="note">Showing the first {len(shown):,} of {len(runs):,} runs; the JSON results file '
                'has them all.</p>')
    return _section("runs", "Runs", "Every benchmark run; filter by model, outcome or task.", filters + table + note)


_TITLES = (("gates", "Gates"), ("rankings", "Rankings"), ("categories", "Categories"),
           ("tradeoffs", "Trade-offs"), ("latency", "Latency"), ("head-to-head", "Head to head"),
           ("consistency", "Consistency"), ("cost", "Cost"), ("baseline", "Baseline"),
           ("recommendations", "Recommendations"), ("runs", "Runs"))


def render_html(document: Mapping[str, Any], *, max_runs: int = MAX_RUN_ROWS,
                title: str = "modelbench report") -> str:
    """One self-contained HTML page for a results document (see docs/reports.md)."""
    if isinstance(max_runs, bool) or not isinstance(max_runs, int) or max_runs < 0:
        raise ValueError(f"max_runs {max_runs!r} is not allowed; it must be a whole number >= 0")
    rows = model_rows(document)
    names = [row.name for row in rows]
    runs = document.get("runs") if isinstance(document.get("runs"), list) else []
    names += sorted({str(run.get("model")) for run in runs if isinstance(run, Mapping)} - set(names))
    colors = model_colors(names)
    runs_table = _run_columns(document)
    sections = {
        "gates": _gates(document, colors),
        "rankings": _rankings(document, rows, colors) if rows else "",
        "categories": _categories(document, rows) if rows else "",
        "tradeoffs": _tradeoffs(document, rows, colors),
        "latency": _latency(runs_table, rows, colors),
        "head-to-head": _head_to_head(document, runs_table, rows, colors),
        "consistency": _consistency(document, colors),
        "cost": _cost(document, rows, colors),
        "baseline": _baseline(document, colors),
        "recommendations": _recommendations(document, colors),
        "runs": _runs(document, colors, max_runs),
    }
    nav = "".join(f'<a href="#{ident}">{label}</a>' for ident, label in _TITLES if sections[ident])
    legend = ""
    if rows:
        legend = '<div class="legend">' + "".join(
            f"<span>{_swatch(colors[row.name])}{e(row.name)}</span>" for row in rows) + "</div>"
    body = "".join(sections[ident] for ident, _ in _TITLES)
    if not body:
        body = _section("empty", "No results", "The document has no models and no runs.", "")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{e(CSP)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{e(title)}</h1><p>{e(meta_line(document))}</p></header>"
        f"<nav>{nav}</nav><main>{legend}{body}</main>"
        f"<script>{SCRIPT}</script></body></html>\n"
    )
