"""A self-contained HTML report of a results document (no pytest, no network).

One file: inline CSS, inline SVG charts (:mod:`.svg`), a small vanilla script for the run
table (paged, filtered by model, outcome, task and text; prompts and replies expandable), and
a Content-Security-Policy that forbids loading anything at all and runs only that script (by
its SHA-256 hash). Every string taken from the document is escaped with ``html.escape``; the
runs travel as a JSON data block the script reads and writes with ``textContent``. The report
renders the plain data of the results file (what ``json.load`` gives back), so the report a
session writes equals the report of its saved JSON file. Sections appear only when the
document has their data (see docs/reports.md).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import html
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..core.dimensions import DIMENSIONS
from ..cost.summary import format_usd, format_usd_per_1k
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
    fmt_per_1k,
    fmt_usd_delta,
    gate_rows,
    mapping,
    measured_categories,
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
    Series,
    box_plot,
    heatmap,
    interval_chart,
    line_chart,
    matrix_chart,
    model_colors,
    scatter,
)
from .trend import time_label

__all__ = ["MAX_RUN_ROWS", "MAX_TEXT", "render_html", "trend_from_documents"]

#: The run table holds at most this many runs (the JSON file has them all); it shows them a
#: page at a time, so 10,000 runs stay quick to filter and read.
MAX_RUN_ROWS = 50_000
#: A prompt or reply longer than this many characters is shown up to there (the JSON file has it whole).
MAX_TEXT = 20_000

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
.model { font-weight: 600; display: inline-flex; align-items: baseline; min-width: 9em; overflow-wrap: anywhere; }
.model .swatch { flex: none; }
.model .name { overflow-wrap: anywhere; min-width: 0; }
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
        min-width: 220px; max-width: 420px; overflow-wrap: anywhere; }
.task small { display: block; font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
              color: var(--muted); font-size: 12px; }
.reason { color: var(--muted); font-size: 13px; min-width: 160px; max-width: 340px; overflow-wrap: anywhere; }
#runs-table td.model-cell { min-width: 120px; max-width: 220px; }
#runs-table th, #runs-table td { padding: 6px 7px; }
#runs-table .task { min-width: 200px; }
.pager { display: flex; align-items: center; gap: 12px; margin: 0 0 10px; font-size: 14px; color: var(--muted); }
.pager button, button.toggle { font: inherit; font-size: 13px; padding: 3px 10px; border: 1px solid #cbd2d9;
                               border-radius: 6px; background: #ffffff; color: var(--accent); cursor: pointer; }
.pager button:disabled { color: #9aa5b1; cursor: default; }
tr.io td { background: #fafbfc; }
.io h4 { margin: 6px 0 4px; font-size: 12px; text-transform: uppercase; letter-spacing: 0.04em; color: var(--muted); }
.io pre { margin: 0 0 8px; padding: 8px 10px; background: #ffffff; border: 1px solid var(--line); border-radius: 6px;
          white-space: pre-wrap; overflow-wrap: anywhere; max-height: 360px; overflow: auto;
          font: 12.5px/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
td.wrap, th.wrap { white-space: normal; overflow-wrap: anywhere; }
small.sub { display: block; color: var(--muted); font-size: 12px; font-weight: 400; overflow-wrap: anywhere;
            text-transform: none; letter-spacing: 0; }
"""

SCRIPT = """
(function () {
  "use strict";
  var node = document.getElementById("runs-data");
  if (!node) { return; }
  var data = JSON.parse(node.textContent);
  var F = {};
  data.fields.forEach(function (name, i) { F[name] = i; });
  function byId(id) { return document.getElementById(id); }
  var model = byId("filter-model"), outcome = byId("filter-outcome"), task = byId("filter-task");
  var text = byId("filter-text"), size = byId("page-size"), count = byId("runs-count");
  var prev = byId("page-prev"), next = byId("page-next");
  var body = document.querySelector("#runs-table tbody");
  var lowerTasks = data.tasks.map(function (name) { return name.toLowerCase(); });
  var haystack = null, matching = [], page = 0;
  function apply() {
    var m = model.value, o = outcome.value, t = task.value.toLowerCase(), q = text ? text.value.toLowerCase() : "";
    if (q && haystack === null) {
      haystack = data.runs.map(function (run) {
        return [data.tasks[run[F.task]], run[F.reason], run[F.prompt], run[F.reply]].join("\\n").toLowerCase();
      });
    }
    matching = [];
    for (var i = 0; i < data.runs.length; i += 1) {
      var run = data.runs[i];
      if (m !== "" && run[F.model] !== +m) { continue; }
      if (o !== "" && run[F.outcome] !== +o) { continue; }
      if (t && lowerTasks[run[F.task]].indexOf(t) === -1) { continue; }
      if (q && haystack[i].indexOf(q) === -1) { continue; }
      matching.push(i);
    }
    page = 0;
    render();
  }
  function cell(row, value, css) {
    var td = document.createElement("td");
    if (css) { td.className = css; }
    td.textContent = value === null ? "" : value;
    row.appendChild(td);
    return td;
  }
  function block(parent, title, value) {
    var heading = document.createElement("h4");
    heading.textContent = title;
    var pre = document.createElement("pre");
    pre.textContent = value;
    parent.appendChild(heading);
    parent.appendChild(pre);
  }
  function toggle(button, run, row) {
    var open = button.getAttribute("aria-expanded") === "true";
    if (open) {
      row.parentNode.removeChild(row.nextSibling);
    } else {
      var detail = document.createElement("tr");
      detail.className = "io";
      var td = document.createElement("td");
      td.colSpan = data.fields.length;
      var box = document.createElement("div");
      box.className = "io";
      if (run[F.prompt] !== null) { block(box, "prompt", run[F.prompt]); }
      if (run[F.reply] !== null) { block(box, "reply", run[F.reply]); }
      td.appendChild(box);
      detail.appendChild(td);
      row.parentNode.insertBefore(detail, row.nextSibling);
    }
    button.setAttribute("aria-expanded", open ? "false" : "true");
    button.textContent = open ? "show reply" : "hide reply";
  }
  function line(run) {
    var row = document.createElement("tr");
    row.className = "run";
    var name = cell(row, data.tasks[run[F.task]], "task");
    var note = document.createElement("small");
    note.textContent = data.categories[run[F.category]] + " \\u00b7 " + data.difficulties[run[F.difficulty]];
    name.appendChild(note);
    var who = cell(row, "", "model-cell");
    var label = document.createElement("span");
    label.className = "model";
    var swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = data.colors[run[F.model]];
    var words = document.createElement("span");
    words.className = "name";
    words.textContent = data.models[run[F.model]];
    label.appendChild(swatch);
    label.appendChild(words);
    who.appendChild(label);
    cell(row, run[F.run], "num");
    cell(row, data.outcomes[run[F.outcome]], "outcome-" + data.outcomes[run[F.outcome]]);
    ["quality", "latency", "ttft", "tokens", "cost"].forEach(function (key) { cell(row, run[F[key]], "num"); });
    var last = cell(row, run[F.reason], "reason");
    if (run[F.prompt] !== null || run[F.reply] !== null) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "toggle";
      button.setAttribute("aria-expanded", "false");
      button.textContent = "show reply";
      button.addEventListener("click", function () { toggle(button, run, row); });
      if (run[F.reason]) { last.appendChild(document.createElement("br")); }
      last.appendChild(button);
    }
    return row;
  }
  function render() {
    var per = +size.value || matching.length || 1;
    var pages = Math.max(1, Math.ceil(matching.length / per));
    page = Math.max(0, Math.min(page, pages - 1));
    var start = page * per, end = Math.min(matching.length, start + per);
    var rows = document.createDocumentFragment();
    for (var k = start; k < end; k += 1) { rows.appendChild(line(data.runs[matching[k]])); }
    body.textContent = "";
    body.appendChild(rows);
    count.textContent = matching.length + " of " + data.total + " runs" +
      (matching.length ? " \\u00b7 showing " + (start + 1) + "\\u2013" + end : "");
    prev.disabled = page === 0;
    next.disabled = page >= pages - 1;
  }
  model.addEventListener("change", apply);
  outcome.addEventListener("change", apply);
  task.addEventListener("input", apply);
  if (text) { text.addEventListener("input", apply); }
  size.addEventListener("change", function () { page = 0; render(); });
  prev.addEventListener("click", function () { page -= 1; render(); });
  next.addEventListener("click", function () { page += 1; render(); });
  apply();
})();
"""

NUM = ' class="num"'

#: The page runs only :data:`SCRIPT` (allowed by its hash) and loads nothing.
SCRIPT_HASH = "sha256-" + base64.b64encode(hashlib.sha256(SCRIPT.encode("utf-8")).digest()).decode("ascii")
CSP = f"default-src 'none'; style-src 'unsafe-inline'; script-src '{SCRIPT_HASH}'; img-src data:"


def e(text: Any) -> str:
    """Escape for HTML text and attribute values."""
    return html.escape(str(text), quote=True)


def _swatch(color: str) -> str:
    return f'<span class="swatch" style="background:{e(color)}"></span>'


def _model(name: str, colors: Mapping[str, str]) -> str:
    return (f'<span class="model" title="{e(name)}">{_swatch(colors.get(name, "#9aa5b1"))}'
            f'<span class="name">{e(name)}</span></span>')


def _ms(value: float | None) -> str:
    """Milliseconds: ``1,234``; ``0.02`` below 10 ms (a local model), never a bare ``0``; ``–`` unknown."""
    if value is None:
        return "–"
    return f"{value:,.0f}" if value >= 10 else f"{value:.2f}"


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
            (f"{row.passed} / {row.failed} / {row.errors}", True), (_ms(row.latency_p50), True),
            (_ms(row.latency_p95), True), (_ms(row.ttft_p50), True),
            (e(fmt_per_1k(row.cost_per_task)), True),
        ])
    table = _table([("#", True), ("model", False), ("score", True), ("95% CI", True), ("pass rate", True),
                    ("pass / miss / err", True), ("p50 ms", True), ("p95 ms", True), ("TTFT p50", True),
                    ("$ / 1k tasks", True)], table_rows)
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
                 f'{e(fmt_per_1k(num(tradeoff.get("cost_usd"))))} per 1k tasks.</p>')
    return _section("rankings", "Rankings", "Models ordered by overall score.", chart + table + note + extra)


def _other_rankings(document: Mapping[str, Any], rows: Sequence[ModelRow], colors: Mapping[str, str]) -> str:
    rankings = rankings_block(document)
    orders = mapping(rankings.get("orders"))
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
    measured = measured_categories(document)
    labels = [(f"{c}*" if c in measured else c) + (f"\n({weights[c]:.2f})" if c in weights else "")
              for c in categories]
    values = [[row.categories.get(c) for c in categories] for row in rows]
    cell_width = max(64, min(130, 860 // max(1, len(categories))))
    chart = heatmap([row.name for row in rows], labels, values, title="Category score per model",
                    legend_label="category score", cell_width=cell_width)
    note = ('<p class="note">* measured from the runs (speed from latency and time to first token, cost from the '
            'cost per task, consistency from how repeated runs agree), with the tasks marked with that category if '
            'any; see <a href="#measured">Speed, cost and consistency</a>.</p>') if measured else ""
    return _section("categories", "Categories", "Score per category (weight in brackets); blank: no tasks.",
                    chart + note)


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


def _latency(runs: _Runs, rows: Sequence[ModelRow], colors: Mapping[str, str], table: str = "") -> str:
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
    return _section("latency", "Latency", "Distribution of run latency and time to first token.",
                    table + charts + note)


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
    models = mapping(document.get("models"))
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
                               (e(fmt_per_1k(num(cost.get("cost_per_task_usd")))), True),
                               (e(fmt_per_1k(num(cost.get("cost_per_success_usd")))), True),
                               (fmt(num(cost.get("points_per_usd")), ",.0f"), True)])
        body += _table([("model", False), ("total", True), ("per 1k tasks", True), ("per 1k successes", True),
                        ("points per $", True)], table_rows)
    if budget:
        block = mapping(document.get("budget"))
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
        entry = mapping(entry)
        ci = entry.get("ci") if isinstance(entry.get("ci"), list) and len(entry["ci"]) == 2 else [None, None]
        latency = mapping(entry.get("latency_p95_ms"))
        cost = mapping(entry.get("cost_per_task_usd"))
        delta = num(entry.get("delta"))
        cost_delta = num(cost.get("delta"))
        cost_delta = None if cost_delta is None else 1000.0 * cost_delta  # per 1k tasks
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
                    ("Δ $ / 1k tasks", True)], rows)
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


def _json_block(value: Any) -> str:
    """JSON for a ``<script type="application/json">`` block: nothing in it can close the tag
    or start markup (``<``, ``>`` and ``&`` are written as escapes)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _text_field(run: Mapping[str, Any], key: str) -> str | None:
    value = run.get(key)
    if not isinstance(value, str):
        return None
    if len(value) <= MAX_TEXT:
        return value
    return value[:MAX_TEXT] + f"\n… ({len(value) - MAX_TEXT:,} more characters in the JSON results file)"


def _run_cells(run: Mapping[str, Any]) -> tuple[str, str, str, str, str]:
    """quality, latency, TTFT, tokens and cost of a run, as the table shows them."""
    quality = num(run.get("quality"))
    latency, ttft = num(run.get("latency_ms")), num(run.get("ttft_ms"))

    ms = _ms
    tokens_in, tokens_out = run.get("input_tokens"), run.get("output_tokens")
    tokens = "–" if tokens_in is None and tokens_out is None else \
        f"{tokens_in if tokens_in is not None else '?'} / {tokens_out if tokens_out is not None else '?'}"
    cost = num(run.get("cost_usd"))
    calls = run.get("calls")
    cost_text = format_usd(cost) if cost is not None else ("?" if isinstance(calls, int) and calls > 0 else "–")
    return ("–" if quality is None else f"{quality:.2f}", ms(latency), ms(ttft), tokens, cost_text)


RUN_FIELDS = ("task", "model", "run", "category", "difficulty", "outcome", "quality", "latency", "ttft",
              "tokens", "cost", "reason", "prompt", "reply")


def _runs(document: Mapping[str, Any], colors: Mapping[str, str], limit: int) -> str:
    """Every run (up to ``limit``), a page at a time: the rows are built by :data:`SCRIPT` from
    a JSON block, filtered by model, outcome, part of the task name and text in prompts,
    replies and reasons; a run with a ``prompt`` or ``reply`` expands to show them."""
    runs = document.get("runs")
    if not isinstance(runs, list) or not runs:
        return ""
    runs = [run for run in runs if isinstance(run, Mapping)]
    if not runs:
        return ""
    shown = runs[:limit]
    models = list(colors) + sorted({str(run.get("model")) for run in shown} - set(colors))
    index = {name: i for i, name in enumerate(models)}
    tables: dict[str, dict[str, int]] = {"tasks": {}, "categories": {}, "difficulties": {}, "outcomes": {}}

    def code(kind: str, value: Any) -> int:
        return tables[kind].setdefault(str(value), len(tables[kind]))

    rows = []
    for run in shown:
        reason = run.get("error") or run.get("detail") or ""
        rows.append([code("tasks", run.get("task")), index[str(run.get("model"))], run.get("run"),
                     code("categories", run.get("category")), code("difficulties", run.get("difficulty")),
                     code("outcomes", run.get("outcome")), *_run_cells(run), str(reason),
                     _text_field(run, "prompt"), _text_field(run, "reply")])
    data = {"fields": list(RUN_FIELDS), "total": len(runs), "models": models,
            "colors": [colors.get(name, "#9aa5b1") for name in models],
            **{kind: list(values) for kind, values in tables.items()}, "runs": rows}
    texts = any(row[-1] is not None or row[-2] is not None for row in rows)
    outcomes = [o for o in OUTCOMES if o in tables["outcomes"]] + sorted(set(tables["outcomes"]) - set(OUTCOMES))
    present = {str(run.get("model")) for run in shown}
    model_options = "".join(f'<option value="{index[m]}">{e(m)}</option>' for m in models if m in present)
    outcome_options = "".join(f'<option value="{tables["outcomes"][o]}">{e(o)}</option>' for o in outcomes)
    task_names = "".join(f'<option value="{e(name)}"></option>' for name in list(tables["tasks"])[:2000])
    text_filter = ('<label for="filter-text">Text</label><input id="filter-text" type="search" '
                   'placeholder="in prompts, replies and reasons">') if texts else ""
    filters = (
        '<div class="filters">'
        f'<label for="filter-model">Model</label><select id="filter-model"><option value="">all models</option>{model_options}</select>'
        f'<label for="filter-outcome">Outcome</label><select id="filter-outcome"><option value="">all outcomes</option>{outcome_options}</select>'
        '<label for="filter-task">Task</label><input id="filter-task" type="search" list="task-names" '
        f'placeholder="part of a task name"><datalist id="task-names">{task_names}</datalist>{text_filter}'
        '<label for="page-size">Per page</label><select id="page-size"><option value="50">50</option>'
        '<option value="100" selected>100</option><option value="500">500</option><option value="0">all</option></select>'
        '</div>'
        f'<div class="pager"><button type="button" id="page-prev">‹ previous</button>'
        f'<span id="runs-count" data-total="{len(runs)}">{len(runs):,} runs</span>'
        '<button type="button" id="page-next">next ›</button></div>'
    )
    head = "".join(f'<th{NUM if numeric else ""}>{label}</th>' for label, numeric in (
        ("task", False), ("model", False), ("run", True), ("outcome", False), ("quality", True),
        ("latency", True), ("TTFT", True), ("tokens", True), ("cost", True),
        ("reason" + (" / reply" if texts else ""), False)))
    table = (f'<div class="table-wrap"><table id="runs-table"><thead><tr>{head}</tr></thead><tbody></tbody>'
             '</table></div><noscript><p class="note">The run table needs JavaScript; the JSON results file has '
             'every run.</p></noscript>'
             f'<script type="application/json" id="runs-data">{_json_block(data)}</script>')
    note = ""
    if len(runs) > len(shown):
        note = (f'<p class="note">The table holds the first {len(shown):,} of {len(runs):,} runs; the JSON results '
                'file has them all.</p>')
    lead = "Every benchmark run, a page at a time; filter by model, outcome, task" + \
        (" or text, and open a run to read its prompt and reply." if texts else ".") + \
        " Latency and TTFT in ms; tokens in / out; cost in USD."
    return _section("runs", "Runs", e(lead), filters + table + note)


def _latency_table(document: Mapping[str, Any], rows: Sequence[ModelRow], colors: Mapping[str, str]) -> str:
    models = mapping(document.get("models"))
    table_rows = []
    for row in rows:
        summary = mapping(models.get(row.name))
        latency = mapping(summary.get("latency_ms"))
        ttft = mapping(summary.get("ttft_ms"))
        if not latency and not ttft:
            continue
        cells = [(_model(row.name, colors), False)]
        for block in (latency, ttft):
            for key in ("p50", "p95", "p99"):
                cells.append((_ms(num(block.get(key))), True))
        table_rows.append(cells)
    if not table_rows:
        return ""
    return _table([("model", False), ("latency p50", True), ("p95", True), ("p99", True), ("TTFT p50", True),
                   ("p95", True), ("p99", True)], table_rows)


def _measured(document: Mapping[str, Any], rows: Sequence[ModelRow], colors: Mapping[str, str]) -> str:
    """Speed, cost and consistency measured from the runs: each model's score with its interval,
    or why it is unknown, and the reference points the scores come from."""
    models = mapping(document.get("models"))
    present = [d for d in DIMENSIONS if any(isinstance((models.get(r.name) or {}).get("dimensions"), Mapping)
                                            and d in models[r.name]["dimensions"] for r in rows)]
    if not present:
        return ""
    table_rows = []
    unknown = []
    for row in rows:
        blocks = (models.get(row.name) or {}).get("dimensions")
        if not isinstance(blocks, Mapping):
            continue
        cells = [(_model(row.name, colors), False)]
        for dimension in present:
            block = mapping(blocks.get(dimension))
            score = num(block.get("score"))
            ci = block.get("ci95") if isinstance(block.get("ci95"), list) and len(block["ci95"]) == 2 else [None, None]
            if score is None:
                cells.append(("?", True))
                if block.get("unknown"):
                    unknown.append(f"{dimension} of {row.name}: {block['unknown']}")
            else:
                interval = fmt_interval(num(ci[0]), num(ci[1]))
                cells.append((f"<b>{score:.1f}</b>" + (f" <small>({e(interval)})</small>" if interval != "–" else ""),
                              True))
        cost = (models.get(row.name) or {}).get("cost")
        per_task = num(cost.get("cost_per_task_usd")) if isinstance(cost, Mapping) else None
        cells.append((e(format_usd_per_1k(per_task)), True))
        table_rows.append(cells)
    table = _table([("model", False), *((e(d), True) for d in present), ("$ / 1k tasks", True)], table_rows)
    settings = (document.get("meta") or {}).get("settings") if isinstance(document.get("meta"), Mapping) else None
    reference = settings.get("dimensions") if isinstance(settings, Mapping) else None
    notes = []
    if isinstance(reference, Mapping):
        speed = reference.get("speed")
        if isinstance(speed, Mapping):
            parts = [f"{name.replace('_', ' ')} 100 at ≤ {num(entry.get('best_ms')):g} ms, 0 at ≥ "
                     f"{num(entry.get('worst_ms')):g} ms (weight {num(entry.get('weight')):g})"
                     for name, entry in speed.items() if isinstance(entry, Mapping)
                     and None not in (num(entry.get("best_ms")), num(entry.get("worst_ms")), num(entry.get("weight")))]
            if parts:
                notes.append("Speed: " + "; ".join(parts) + ".")
        cost = reference.get("cost")
        if isinstance(cost, Mapping) and num(cost.get("best_usd")) is not None and num(cost.get("worst_usd")) is not None:
            notes.append(f"Cost: 100 at ≤ {format_usd_per_1k(num(cost['best_usd']))} per 1k tasks, 0 at ≥ "
                         f"{format_usd_per_1k(num(cost['worst_usd']))} per 1k tasks.")
    lead = ("Scored from what every run measured, on fixed reference points (log-linear between them, so the "
            "scores do not depend on the other models); each is a category of the overall score. Intervals: 95%, "
            "task-clustered.")
    body = table + "".join(f'<p class="note">{e(note)}</p>' for note in notes)
    body += "".join(f'<p class="note">Unknown: {e(text)}</p>' for text in unknown)
    return _section("measured", "Speed, cost and consistency", e(lead), body)


def _load(document: Mapping[str, Any], rows: Sequence[ModelRow], colors: Mapping[str, str]) -> str:
    """Load profiles (``model.load``): throughput and TTFT per concurrency level, goodput."""
    models = mapping(document.get("models"))
    profiles: list[tuple[str, str, list[Mapping[str, Any]]]] = []
    for row in rows:
        levels = (models.get(row.name) or {}).get("load")
        if not isinstance(levels, list):
            continue
        by_task: dict[str, list[Mapping[str, Any]]] = {}
        for level in levels:
            if isinstance(level, Mapping):
                by_task.setdefault(str(level.get("task")), []).append(level)
        profiles += [(row.name, task, entries) for task, entries in by_task.items()]
    if not profiles:
        return ""

    def label(level: Mapping[str, Any]) -> str:
        value = level.get("level")
        return f"c={value}" if level.get("mode") == "concurrency" else f"{num(value) or 0:g}/s"

    keys = sorted({(str(level.get("mode")), num(level.get("level")) or 0.0) for _, _, entries in profiles
                   for level in entries})
    x_labels = [label({"mode": mode, "level": int(value) if mode == "concurrency" else value}) for mode, value in keys]
    many = len(profiles) > len({name for name, _, _ in profiles})

    def series(metric: str, stat: str | None = None, dashed: bool = False, suffix: str = "") -> list[Series]:
        found = []
        for name, task, entries in profiles:
            by_key = {(str(level.get("mode")), num(level.get("level")) or 0.0): level for level in entries}
            values = []
            for key in keys:
                level = by_key.get(key)
                value = None if level is None else (level.get(metric) if stat is None
                                                    else (level.get(metric) or {}).get(stat))
                values.append(num(value))
            found.append(Series(f"{name}{' · ' + task if many else ''}{suffix}", values,
                                colors.get(name, "#9aa5b1"), dashed))
        return found

    charts = line_chart(x_labels, series("output_token_throughput"), title="Output tokens per second per level",
                        x_label="load level (c = concurrent requests)", y_label="output tokens / s")
    charts += line_chart(x_labels, series("ttft_ms", "p50", suffix=" p50") + series("ttft_ms", "p99", True, " p99"),
                         title="Time to first token per level", x_label="load level (c = concurrent requests)",
                         y_label="TTFT (ms)")
    table_rows = []
    for name, task, entries in profiles:
        for level in sorted(entries, key=lambda item: (str(item.get("mode")), num(item.get("level")) or 0.0)):
            ttft = mapping(level.get("ttft_ms"))
            e2e = mapping(level.get("e2e_ms"))
            error_rate = num(level.get("error_rate"))
            table_rows.append([
                (_model(name, colors) + f'<small class="sub">{e(task)}</small>', False), (e(label(level)), True),
                (fmt(num(level.get("request_throughput")), ",.2f"), True),
                (fmt(num(level.get("output_token_throughput")), ",.0f"), True),
                (fmt(num(ttft.get("p50")), ",.0f"), True), (fmt(num(ttft.get("p99")), ",.0f"), True),
                (fmt(num(e2e.get("p50")), ",.0f"), True), (fmt(num(level.get("goodput")), ",.2f"), True),
                ("–" if error_rate is None else f"{100 * error_rate:.0f}%", True),
                ("client bottleneck" if level.get("client_bottleneck") else "", False),
            ])
    table = _table([("model · task", False), ("level", True), ("req/s", True), ("tok/s", True),
                    ("TTFT p50 ms", True), ("TTFT p99 ms", True), ("e2e p50 ms", True), ("goodput req/s", True),
                    ("errors", True), ("", False)], table_rows)
    return _section("load", "Load profiles", e("Throughput and time to first token at each concurrency level "
                                               "(median over the runs that measured it); goodput counts the "
                                               "requests per second that met the latency targets."),
                    charts + table)


def trend_from_documents(documents: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A trend for :func:`render_html`: one point per results document (oldest first), with its
    label (finish time, or its position), commit and every model's score."""
    points = []
    for number, document in enumerate(documents, start=1):
        meta = mapping(document.get("meta"))
        models = mapping(document.get("models"))
        finished = meta.get("finished_at")
        points.append({
            "label": time_label(finished) or f"run {number}",
            "finished_at": finished, "git_commit": meta.get("git_commit"),
            "scores": {str(name): num(summary.get("score")) for name, summary in models.items()
                       if isinstance(summary, Mapping)},
        })
    return points


def _trend(trend: Any, colors: Mapping[str, str]) -> str:
    if not isinstance(trend, list):
        return ""
    points = [point for point in trend if isinstance(point, Mapping) and isinstance(point.get("scores"), Mapping)]
    if len(points) < 2:
        return ""
    names = list(dict.fromkeys(str(name) for point in points for name in point["scores"]))
    palette = model_colors(names)
    series = [Series(name, [num(point["scores"].get(name)) for point in points], colors.get(name, palette[name]))
              for name in names]
    labels = [str(point.get("label") or f"run {k + 1}") for k, point in enumerate(points)]
    chart = line_chart(labels, series, title="Overall score over the runs of the trend", x_label="run",
                       y_label="overall score")
    rows = [[(_model(name, {**palette, **colors}), False),
             *((fmt(num(point["scores"].get(name))), True) for point in points)] for name in names]
    heads = [(e(label) + (f'<small class="sub">{e(str(point["git_commit"])[:12])}</small>'
                          if point.get("git_commit") else ""), True) for label, point in zip(labels, points)]
    table = _table([("model", False), *heads], rows)
    return _section("trend", "Trend", e("The overall score of each model in each run of the trend, oldest first."),
                    chart + table)


_TITLES = (("gates", "Gates"), ("rankings", "Rankings"), ("categories", "Categories"),
           ("measured", "Speed, cost, consistency"), ("tradeoffs", "Trade-offs"), ("latency", "Latency"),
           ("load", "Load"), ("trend", "Trend"), ("head-to-head", "Head to head"), ("consistency", "Consistency"),
           ("cost", "Cost"), ("baseline", "Baseline"), ("recommendations", "Recommendations"), ("runs", "Runs"))


def render_html(document: Mapping[str, Any], *, max_runs: int = MAX_RUN_ROWS,
                title: str = "modelbench report", trend: Sequence[Mapping[str, Any]] | None = None) -> str:
    """One self-contained HTML page for a results document (see docs/reports.md).

    ``document`` is plain data, as the JSON results file holds it; ``trend`` (or the document's
    ``trend`` block) is a list of points from :func:`trend_from_documents`.
    """
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
        "measured": _measured(document, rows, colors),
        "tradeoffs": _tradeoffs(document, rows, colors),
        "latency": _latency(runs_table, rows, colors, _latency_table(document, rows, colors)),
        "load": _load(document, rows, colors),
        "trend": _trend(list(trend) if trend is not None else document.get("trend"), colors),
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
