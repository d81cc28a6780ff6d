"""GitHub-flavoured Markdown report of a results document, plus the shared document view.

The first half of this module reads a results document (docs/results.md) defensively into
small row objects that both the Markdown and the HTML report render: optional blocks
(``rankings``, ``head_to_head`` / ``comparisons``, ``consistency``, ``cost``, ``budget``,
``tradeoff``, ``baseline``, ``gates``, ``recommendations``) are used when present and in a
recognised shape, and skipped otherwise. The second half renders Markdown. Does not import
pytest.
"""

from __future__ import annotations

import dataclasses
import html
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..cost.summary import format_usd, format_usd_per_1k
from .terminal import competition_ranks

__all__ = [
    "ModelRow",
    "PairRow",
    "append_github_summary",
    "baseline_block",
    "budget_rows",
    "category_weights",
    "consistency_rows",
    "fmt_per_1k",
    "gate_rows",
    "mapping",
    "md",
    "measured_categories",
    "meta_line",
    "model_rows",
    "pair_rows",
    "pareto_layer",
    "rankings_block",
    "recommendation_rows",
    "render_markdown",
]


# =============================================================== reading the document


def mapping(value: Any) -> Mapping[str, Any]:
    """``value`` when it is a mapping (a JSON object), else an empty one."""
    return value if isinstance(value, Mapping) else {}


def num(value: Any) -> float | None:
    """A finite float, or None for anything else (None, NaN, strings, booleans)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else 0


@dataclasses.dataclass(frozen=True, slots=True)
class ModelRow:
    """One model's headline numbers, ``rank`` 1-based in the report's order."""

    name: str
    rank: int
    score: float | None
    low: float | None
    high: float | None
    pass_rate: float | None
    pass_low: float | None
    pass_high: float | None
    passed: int
    failed: int
    errors: int
    runs: int
    latency_p50: float | None
    latency_p95: float | None
    ttft_p50: float | None
    ttft_p95: float | None
    cost_per_task: float | None
    categories: Mapping[str, float]


def rankings_block(document: Mapping[str, Any]) -> Mapping[str, Any]:
    """The rankings block (``rankings`` or ``comparisons.rankings``); {} when absent."""
    block = document.get("rankings")
    if not isinstance(block, Mapping):
        block = mapping(document.get("comparisons")).get("rankings")
    return mapping(block)


def _cost_per_task(document: Mapping[str, Any], name: str, summary: Mapping[str, Any]) -> float | None:
    """From ``models[name].cost``, else a top-level ``cost`` block, else the Pareto ranking."""
    cost = mapping(summary.get("cost"))
    if "cost_per_task_usd" in cost:
        return num(cost.get("cost_per_task_usd"))
    block = mapping(document.get("cost"))
    entries = mapping(block.get("models")) or block
    if "cost_per_task_usd" in mapping(entries.get(name)):
        return num(mapping(entries.get(name)).get("cost_per_task_usd"))
    pareto = mapping(mapping(rankings_block(document).get("pareto")).get("models"))
    return num(mapping(pareto.get(name)).get("cost_per_task_usd"))


def pareto_layer(document: Mapping[str, Any], name: str) -> int | None:
    """The model's Pareto layer from the rankings block (1 = front), or None."""
    pareto = mapping(mapping(rankings_block(document).get("pareto")).get("models"))
    layer = mapping(pareto.get(name)).get("layer")
    return layer if isinstance(layer, int) and not isinstance(layer, bool) else None


def model_rows(document: Mapping[str, Any]) -> list[ModelRow]:
    """Every model of the ``models`` block, in the weighted ranking's order when the document
    has one, else by score (unknown last), then name. Score intervals come from the
    rankings block (task-clustered); pass-rate intervals from ``pass_rate_ci95``."""
    models = mapping(document.get("models"))
    rankings = rankings_block(document)
    weighted = mapping(mapping(rankings.get("weighted")).get("models"))
    order = mapping(rankings.get("orders")).get("weighted")
    names = [str(name) for name in models]
    if isinstance(order, list) and set(order) == set(names):
        ordered = [str(name) for name in order]
    else:
        def key(name: str) -> tuple[float, str]:
            score = num(mapping(models[name]).get("score"))
            return (-score if score is not None else math.inf, name)
        ordered = sorted(names, key=key)
    rows = []
    ranks = _shared_ranks([num(mapping(models.get(name)).get("score")) for name in ordered])
    for rank, name in zip(ranks, ordered):
        summary = mapping(models.get(name))
        interval = mapping(weighted.get(name))
        pass_ci = summary.get("pass_rate_ci95")
        pass_ci = pass_ci if isinstance(pass_ci, (list, tuple)) and len(pass_ci) == 2 else (None, None)
        latency, ttft = mapping(summary.get("latency_ms")), mapping(summary.get("ttft_ms"))
        categories = {}
        for category, entry in mapping(summary.get("categories")).items():
            score = num(mapping(entry).get("score"))
            if score is not None:
                categories[str(category)] = score
        rows.append(ModelRow(
            name=name, rank=rank, score=num(summary.get("score")),
            low=num(interval.get("low")), high=num(interval.get("high")),
            pass_rate=num(summary.get("pass_rate")), pass_low=num(pass_ci[0]), pass_high=num(pass_ci[1]),
            passed=_int(summary.get("passed")), failed=_int(summary.get("failed")),
            errors=_int(summary.get("errors")), runs=_int(summary.get("runs")),
            latency_p50=num(latency.get("p50")), latency_p95=num(latency.get("p95")),
            ttft_p50=num(ttft.get("p50")), ttft_p95=num(ttft.get("p95")),
            cost_per_task=_cost_per_task(document, name, summary),
            categories=categories,
        ))
    return rows


def _shared_ranks(scores: Sequence[float | None]) -> list[int]:
    """Positions of scores sorted best first, unknown scores last; equal scores share a
    position ("1, 1, 3"), an unknown score has its own."""
    return [place if rank is None else rank for place, rank in enumerate(competition_ranks(scores), start=1)]


def category_weights(document: Mapping[str, Any]) -> dict[str, float]:
    weights = mapping(mapping(mapping(document.get("meta")).get("settings")).get("category_weights"))
    return {str(name): value for name, value in weights.items() if num(value) is not None}


def categories_in(rows: Sequence[ModelRow], document: Mapping[str, Any]) -> list[str]:
    """Categories any model has, heaviest default weight first, then by name."""
    weights = category_weights(document)
    names = {category for row in rows for category in row.categories}
    return sorted(names, key=lambda c: (-weights.get(c, 0.0), c))


@dataclasses.dataclass(frozen=True, slots=True)
class PairRow:
    """Head-to-head: model ``a`` against ``b`` (delta = a − b, on the tasks both ran)."""

    a: str
    b: str
    score_a: float | None
    score_b: float | None
    delta: float | None
    low: float | None
    high: float | None
    p_value: float | None
    p_adjusted: float | None
    verdict: str
    significant: bool
    tasks: int
    test: str


def _head_to_head(document: Mapping[str, Any]) -> Any:
    for candidate in (document.get("head_to_head"),
                      mapping(document.get("comparisons")).get("head_to_head"),
                      document.get("comparisons")):
        if isinstance(candidate, Mapping) and isinstance(candidate.get("overall"), list):
            return candidate["overall"]
        if isinstance(candidate, list):
            return candidate
    return []


def pair_rows(document: Mapping[str, Any]) -> list[PairRow]:
    """The overall head-to-head comparisons of the document ([] when absent)."""
    rows = []
    for entry in _head_to_head(document):
        if not isinstance(entry, Mapping):
            continue
        a, b = entry.get("model_a", entry.get("a")), entry.get("model_b", entry.get("b"))
        if a is None or b is None:
            continue
        ci = entry.get("ci")
        low = num(entry.get("low")) if "low" in entry else num(ci[0]) if isinstance(ci, list) and ci else None
        high = num(entry.get("high")) if "high" in entry else num(ci[1]) if isinstance(ci, list) and len(ci) > 1 else None
        p_adjusted = num(entry.get("p_adjusted"))
        significant = entry.get("significant")
        if not isinstance(significant, bool):
            significant = p_adjusted is not None and p_adjusted < 0.05
        rows.append(PairRow(
            a=str(a), b=str(b), score_a=num(entry.get("score_a")), score_b=num(entry.get("score_b")),
            delta=num(entry.get("delta")), low=low, high=high, p_value=num(entry.get("p_value")),
            p_adjusted=p_adjusted, verdict=str(entry.get("verdict") or ""), significant=significant,
            tasks=_int(entry.get("tasks")), test=str(entry.get("test") or ""),
        ))
    return rows


def consistency_rows(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Per-model consistency entries ({model, score, pass_hat_k, disagreement, ...})."""
    block = document.get("consistency")
    if not isinstance(block, Mapping):
        block = mapping(document.get("comparisons")).get("consistency")
    rows = []
    for name, entry in mapping(block).items():
        if isinstance(entry, Mapping):
            rows.append({"model": str(entry.get("model", name)), **entry})
    return rows


def budget_rows(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per-model monthly projections of the ``budget`` block ([] when absent)."""
    block = mapping(document.get("budget"))
    rows = []
    for name, entry in mapping(block.get("models")).items():
        entry = mapping(entry)
        fit = mapping(entry.get("budget"))
        rows.append({
            "model": str(name),
            "monthly": num(entry.get("monthly_usd")),
            "low": num(entry.get("monthly_low_usd")),
            "high": num(entry.get("monthly_high_usd")),
            "fits": fit.get("fits") if isinstance(fit.get("fits"), bool) else None,
            "confident": fit.get("confident") if isinstance(fit.get("confident"), bool) else None,
        })
    return rows


def baseline_block(document: Mapping[str, Any]) -> Mapping[str, Any]:
    return mapping(document.get("baseline"))


def gate_rows(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Gate results (dicts of :class:`~pytest_modelbench.compare.gates.GateResult`) ([] when absent)."""
    block = document.get("gates")
    if isinstance(block, Mapping):
        block = block.get("results")
    return [entry for entry in block if isinstance(entry, Mapping)] if isinstance(block, list) else []


def recommendation_rows(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Recommendations (dicts of :class:`~pytest_modelbench.compare.recommend.UseCaseRecommendation`)."""
    block = document.get("recommendations")
    if isinstance(block, Mapping):
        block = block.get("use_cases", list(block.values()))
    return [entry for entry in block if isinstance(entry, Mapping)] if isinstance(block, list) else []


def meta_line(document: Mapping[str, Any]) -> str:
    """'3 models · 120 runs · finished … · commit … · pytest-modelbench …' (plain text)."""
    meta = mapping(document.get("meta"))
    runs = document.get("runs")
    parts = [f"{len(mapping(document.get('models')))} models"]
    if isinstance(runs, list):
        parts.append(f"{len(runs)} runs")
    if meta.get("finished_at"):
        parts.append(f"finished {meta['finished_at']}")
    if meta.get("git_commit"):
        parts.append(f"commit {str(meta['git_commit'])[:12]}")
    if meta.get("plugin_version"):
        parts.append(f"pytest-modelbench {meta['plugin_version']}")
    return " · ".join(parts)


# ----------------------------------------------------------------------- formatting


def fmt(value: float | None, spec: str = ".1f", unknown: str = "–") -> str:
    return unknown if value is None else format(value, spec)


def fmt_pct(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f}%"


def fmt_usd(value: float | None) -> str:
    """``$12.34``, ``$0.0051``, ``$0.0000384``: never scientific notation; ``?`` when unknown."""
    return format_usd(value)


def fmt_per_1k(value: float | None) -> str:
    """A per-task amount per 1,000 tasks: 0.0000384 gives ``$0.04``; ``?`` when unknown."""
    return format_usd_per_1k(value)


def fmt_p(value: float | None) -> str:
    if value is None:
        return "–"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def fmt_usd_delta(value: float | None) -> str:
    if value is None:
        return "?"
    if value == 0:
        return "$0"
    return ("+" if value > 0 else "−") + fmt_usd(abs(value))


def fmt_interval(low: float | None, high: float | None, spec: str = ".1f") -> str:
    if low is None or high is None:
        return "–"
    return f"{format(low, spec)} – {format(high, spec)}"


# ========================================================================= Markdown


_MD_SPECIAL = str.maketrans({"|": "\\|", "*": "\\*", "[": "\\[", "]": "\\]", "`": "\\`", "_": "\\_",
                             "\n": " ", "\r": " "})


def md(text: Any) -> str:
    """Text safe inside a GFM table cell: HTML-escaped, Markdown punctuation escaped."""
    return html.escape(str(text), quote=False).translate(_MD_SPECIAL)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], align: str = "") -> list[str]:
    """A GFM table; ``align`` has one letter per column (l or r), default left."""
    marks = ["---:" if (align[i:i + 1] == "r") else "---" for i in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(marks) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _verdict_mark(verdict: str) -> str:
    return {"pass": "✅ pass", "fail": "❌ FAIL", "not significant": "⚠️ not significant",
            "unknown": "❔ unknown"}.get(verdict, md(verdict))


def _gates(document: Mapping[str, Any]) -> list[str]:
    gates = gate_rows(document)
    if not gates:
        return []
    failed = any(g.get("verdict") == "fail" for g in gates)
    lines = ["## Gates", "", "**" + ("❌ Gates failed" if failed else "✅ Gates passed") + "**", ""]
    rows = []
    for gate in gates:
        rows.append([md(gate.get("name", "")), md(gate.get("model", "")), _gate_value(gate, "measured"),
                     _gate_value(gate, "threshold"), _verdict_mark(str(gate.get("verdict", ""))),
                     md(gate.get("message", ""))])
    lines += _table(["gate", "model", "measured", "threshold", "verdict", "details"], rows, "llrrll")
    return lines + [""]


def _gate_value(gate: Mapping[str, Any], key: str) -> str:
    value = num(gate.get(key))
    if value is None:
        return "?" if key == "measured" else "–"
    name = gate.get("name")
    if name == "fail-on-regression":
        return f"{value:+.1f} pts" if key == "measured" else f"drop < {-value:g} pts"
    if name == "max-p95-latency-ms":
        return f"{value:.0f} ms" if key == "measured" else f"≤ {value:g} ms"
    if name == "max-cost-per-task":
        return fmt_usd(value) if key == "measured" else f"≤ {fmt_usd(value)}"
    return f"{value:.1f}" if key == "measured" else f"≥ {value:g}"


def _ranking(document: Mapping[str, Any], rows: Sequence[ModelRow]) -> list[str]:
    lines = ["## Ranking", ""]
    table = []
    for row in rows:
        table.append([
            str(row.rank), f"**{md(row.name)}**", fmt(row.score), fmt_interval(row.low, row.high),
            fmt_pct(row.pass_rate) + (f" ({fmt_pct(row.pass_low)}–{fmt_pct(row.pass_high)})"
                                      if row.pass_low is not None else ""),
            f"{row.passed}/{row.failed}/{row.errors}", fmt(row.latency_p50, ".0f"), fmt(row.latency_p95, ".0f"),
            fmt_per_1k(row.cost_per_task),
        ])
    lines += _table(["#", "model", "score", "95% CI", "pass rate (95% CI)", "pass/miss/err", "p50 ms",
                     "p95 ms", "$/1k tasks"], table, "rlrrrrrrr")
    lines += ["", "Score 0–100 (60% pass rate, 40% quality, weighted by category). Score intervals are "
              "task-clustered (runs of a task are not independent); pass-rate intervals are Wilson "
              "intervals over runs.", ""]
    tradeoff = mapping(document.get("tradeoff"))
    if tradeoff.get("model") and tradeoff.get("best_model"):
        if tradeoff["model"] == tradeoff["best_model"]:
            lines += [f"Cheapest near the top: **{md(tradeoff['model'])}** is both the best and the "
                      "cheapest within reach.", ""]
        else:
            lines += [f"Cheapest within {fmt(num(tradeoff.get('points')), 'g')} points of the best "
                      f"({md(tradeoff['best_model'])}): **{md(tradeoff['model'])}** at "
                      f"{fmt_per_1k(num(tradeoff.get('cost_usd')))} per 1k tasks.", ""]
    return lines


def _categories(document: Mapping[str, Any], rows: Sequence[ModelRow]) -> list[str]:
    categories = categories_in(rows, document)
    if not categories:
        return []
    weights = category_weights(document)
    lines = ["## Categories", ""]
    table = []
    measured = measured_categories(document)
    for category in categories:
        scores = [row.categories.get(category) for row in rows]
        known = [s for s in scores if s is not None]
        best = max(known) if known else None
        # bold marks a best that beats someone: a row where every model scores the same has none
        leads = best is not None and any(s < best for s in known)
        cells = [("**" + fmt(s) + "**") if leads and s == best else fmt(s) for s in scores]
        label = md(category) + ("\\*" if category in measured else "")
        table.append([label, fmt(num(weights.get(category)), ".2f")] + cells)
    lines += _table(["category", "weight", *(md(row.name) for row in rows)], table, "lr" + "r" * len(rows))
    note = "Best score per category in bold (none where every model scores the same)."
    if measured:
        note += (" \\* measured from the runs: speed from latency and time to first token, cost from the cost "
                 "per task, consistency from how repeated runs agree (with the category's marked tasks, if any).")
    return lines + ["", note, ""]


def measured_categories(document: Mapping[str, Any]) -> set[str]:
    """Categories scored (at least partly) from the runs: speed, cost, consistency."""
    return {str(c) for summary in mapping(document.get("models")).values()
            for c, entry in mapping(mapping(summary).get("categories")).items()
            if isinstance(entry, Mapping) and "measured_tasks" in entry}


def _measured_md(document: Mapping[str, Any], rows: Sequence[ModelRow]) -> list[str]:
    """Speed, cost and consistency of each model, or why one is unknown."""
    models = mapping(document.get("models"))
    names = [row.name for row in rows if isinstance(mapping(models.get(row.name)).get("dimensions"), Mapping)]
    if not names:
        return []
    dimensions = [d for d in ("speed", "cost", "consistency")
                  if any(d in mapping(models[name]).get("dimensions", {}) for name in names)]
    table, unknown = [], []
    for name in names:
        blocks = mapping(mapping(models[name]).get("dimensions"))
        cells = [md(name)]
        for dimension in dimensions:
            block = mapping(blocks.get(dimension))
            score = num(block.get("score"))
            cells.append("?" if score is None else fmt(score))
            if score is None and block.get("unknown"):
                unknown.append(f"- {md(dimension)} of {md(name)}: {md(block['unknown'])}")
        table.append(cells)
    lines = ["## Speed, cost and consistency", ""]
    lines += _table(["model", *dimensions], table, "l" + "r" * len(dimensions))
    lines += ["", "Scored from what every run measured, on fixed reference points (docs/results.md); ? unknown.", ""]
    return lines + (unknown + [""] if unknown else [])


def _other_rankings(document: Mapping[str, Any], rows: Sequence[ModelRow]) -> list[str]:
    rankings = rankings_block(document)
    orders = mapping(rankings.get("orders"))
    methods = [(key, label) for key, label in (("weighted", "weighted"), ("bradley_terry", "Bradley–Terry"),
                                               ("elo", "Elo"), ("borda", "Borda"), ("pareto", "Pareto"))
               if isinstance(orders.get(key), list)]
    if len(methods) < 2:
        return []
    bt = mapping(mapping(rankings.get("bradley_terry")).get("models"))
    elo = mapping(mapping(rankings.get("elo")).get("models"))
    table = []
    for row in rows:
        cells = [md(row.name)]
        for key, _ in methods:
            order = orders[key]
            position = str(order.index(row.name) + 1) if row.name in order else "–"
            if key == "bradley_terry" and num(mapping(bt.get(row.name)).get("rating")) is not None:
                position += f" ({num(mapping(bt.get(row.name)).get('rating')):.0f})"
            elif key == "elo" and num(mapping(elo.get(row.name)).get("rating")) is not None:
                position += f" ({num(mapping(elo.get(row.name)).get('rating')):.0f})"
            elif key == "pareto":
                layer = pareto_layer(document, row.name)
                position = "–" if layer is None else f"layer {layer}" + (" (front)" if layer == 1 else "")
            cells.append(position)
        table.append(cells)
    lines = ["## Rankings by method", ""]
    lines += _table(["model", *(label for _, label in methods)], table, "l" + "r" * len(methods))
    return lines + ["", "Position in each ranking (rating in brackets). Elo is order-dependent; "
                    "Bradley–Terry is its order-free maximum-likelihood fit. Pareto layer 1 is the "
                    "front: no other model is better on score, cost and latency at once.", ""]


def _head_to_head_md(document: Mapping[str, Any]) -> list[str]:
    pairs = pair_rows(document)
    if not pairs:
        return []
    lines = ["## Head to head", ""]
    table = []
    for pair in pairs:
        table.append([md(pair.a), md(pair.b), fmt(pair.delta, "+.1f"), fmt_interval(pair.low, pair.high, "+.1f"),
                      fmt_p(pair.p_value), fmt_p(pair.p_adjusted), str(pair.tasks),
                      ("**" + md(pair.verdict) + "**") if pair.significant else md(pair.verdict)])
    lines += _table(["A", "B", "Δ (A − B)", "interval", "p", "p (Holm)", "tasks", "verdict"], table, "llrrrrrl")
    return lines + ["", "Δ is in score points on the tasks both models ran (a task's runs count once); "
                    "p-values are adjusted for the number of pairs (Holm); the interval is the same "
                    "sign-flip test's, at the level Holm tests the pair, so it excludes 0 exactly when "
                    "the verdict is significant.", ""]


def _consistency_md(document: Mapping[str, Any]) -> list[str]:
    rows = consistency_rows(document)
    if not rows:
        return []
    table = [[md(r["model"]), fmt(num(r.get("score"))), fmt_pct(num(r.get("pass_hat_k")), 1),
              fmt_pct(num(r.get("disagreement")), 1), fmt(num(r.get("quality_variance")), ".4f"),
              str(_int(r.get("tasks")))] for r in rows]
    lines = ["## Consistency", ""]
    lines += _table(["model", "consistency", "pass^k", "runs disagree", "quality variance", "tasks"], table,
                    "lrrrrr")
    return lines + [""]


def _cost_md(document: Mapping[str, Any], rows: Sequence[ModelRow]) -> list[str]:
    models = mapping(document.get("models"))
    has_cost = any(isinstance(mapping(models.get(r.name)).get("cost"), Mapping) for r in rows)
    budget = budget_rows(document)
    if not has_cost and not budget:
        return []
    lines = ["## Cost", ""]
    if has_cost:
        table = []
        for row in rows:
            cost = mapping(mapping(models.get(row.name)).get("cost"))
            unpriced = _int(cost.get("unpriced_runs"))
            table.append([md(row.name), fmt_usd(num(cost.get("cost_usd"))) + (f" (+{unpriced} ?)" if unpriced else ""),
                          fmt_per_1k(num(cost.get("cost_per_task_usd"))), fmt_per_1k(num(cost.get("cost_per_success_usd"))),
                          fmt(num(cost.get("points_per_usd")), ",.0f")])
        lines += _table(["model", "total", "per 1k tasks", "per 1k successes", "points per $"], table, "lrrrr")
        lines.append("")
    if budget:
        block = mapping(document.get("budget"))
        volume = num(block.get("volume_tasks_per_day"))
        limit = num(block.get("budget_usd_per_month"))
        lines.append(f"Monthly projection at {fmt(volume, ',.0f')} tasks/day"
                     + (f", budget {fmt_usd(limit)}/month:" if limit is not None else ":"))
        lines.append("")
        table = []
        for entry in budget:
            verdict = "–"
            if entry["fits"] is not None:
                verdict = ("fits" if entry["fits"] else "over") + ("" if entry["confident"] else "?")
            table.append([md(entry["model"]), fmt_usd(entry["monthly"]), fmt_interval(entry["low"], entry["high"], ",.0f"),
                          verdict])
        lines += _table(["model", "per month", "95% CI ($)", "budget"], table, "lrrl")
        lines.append("")
    return lines


def _baseline_md(document: Mapping[str, Any]) -> list[str]:
    block = baseline_block(document)
    models = mapping(block.get("models"))
    if not models:
        return []
    commit = block.get("git_commit")
    lines = ["## Compared with the baseline", "",
             f"Baseline `{html.escape(str(block.get('path', '')), quote=False).replace('`', '')}`"
             + (f" (commit {md(str(commit)[:12])})" if commit else "") + "; changes on the tasks both runs ran.", ""]
    table = []
    for name, entry in models.items():
        entry = mapping(entry)
        ci = entry.get("ci") if isinstance(entry.get("ci"), list) else [None, None]
        latency = mapping(entry.get("latency_p95_ms"))
        cost = mapping(entry.get("cost_per_task_usd"))
        cost_delta = num(cost.get("delta"))
        cost_delta = None if cost_delta is None else 1000.0 * cost_delta  # per 1k tasks
        table.append([md(name), str(_int(entry.get("shared_tasks"))), fmt(num(entry.get("baseline"))),
                      fmt(num(entry.get("current"))), fmt(num(entry.get("delta")), "+.1f"),
                      fmt_interval(num(ci[0]), num(ci[1]), "+.1f"),
                      fmt_p(num(entry.get("p_adjusted", entry.get("p_value")))),
                      f"{_int(entry.get('errors_current'))}/{_int(entry.get('runs_checked'))}",
                      fmt(num(latency.get("delta")), "+.0f"),
                      fmt_usd_delta(cost_delta)])
    lines += _table(["model", "tasks", "baseline", "now", "Δ score", "interval", "p (Holm)", "errors", "Δ p95 ms",
                     "Δ $/1k tasks"], table, "lrrrrrrrrr")
    only_now, only_then = block.get("only_current_models") or [], block.get("only_baseline_models") or []
    if only_now:
        lines += ["", "Not in the baseline: " + ", ".join(md(m) for m in only_now) + "."]
    if only_then:
        lines += ["", "Only in the baseline: " + ", ".join(md(m) for m in only_then) + "."]
    return lines + [""]


def _recommendations_md(document: Mapping[str, Any]) -> list[str]:
    recommendations = recommendation_rows(document)
    if not recommendations:
        return []
    lines = ["## Recommendations", ""]
    table = []
    for rec in recommendations:
        alternatives = ", ".join(f"{md(a.get('model', ''))} ({fmt(num(a.get('score')))})"
                                 for a in rec.get("alternatives") or [] if isinstance(a, Mapping))
        recommended = rec.get("recommended")
        if recommended:
            table.append([md(rec.get("use_case", "")), f"**{md(recommended)}**", md(rec.get("fit", "")),
                          fmt(num(rec.get("score"))), alternatives or "–", md(rec.get("significance", "unknown"))])
        else:
            table.append([md(rec.get("use_case", "")), "none (" + md(rec.get("status") or "no candidate") + ")",
                          "–", "–", alternatives or "–", "–"])
    lines += _table(["use case", "recommended", "fit", "score", "alternatives", "lead"], table, "lllrll")
    lines.append("")
    for rec in recommendations:
        if rec.get("rationale"):
            lines.append(f"- **{md(rec.get('use_case', ''))}**: {md(rec['rationale'])}")
    return lines + [""]


def render_markdown(document: Mapping[str, Any]) -> str:
    """A GitHub-flavoured Markdown summary of a results document (see docs/reports.md)."""
    rows = model_rows(document)
    lines = ["# modelbench report", "", md(meta_line(document)), ""]
    lines += _gates(document)
    if rows:
        lines += _ranking(document, rows)
        lines += _categories(document, rows)
        lines += _measured_md(document, rows)
        lines += _other_rankings(document, rows)
    else:
        lines += ["No model has results.", ""]
    lines += _head_to_head_md(document)
    lines += _consistency_md(document)
    lines += _cost_md(document, rows)
    lines += _baseline_md(document)
    lines += _recommendations_md(document)
    return "\n".join(lines).rstrip() + "\n"


def append_github_summary(markdown: str, environ: Mapping[str, str] | None = None) -> Path | None:
    """Append ``markdown`` to the file named by ``$GITHUB_STEP_SUMMARY`` (GitHub Actions' job
    summary); returns its path, or None when the variable is unset or empty."""
    environ = os.environ if environ is None else environ
    target = environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    path = Path(target)
    if path.exists() and not path.is_file():
        from ..core.files import OutputPathError

        raise OutputPathError(f"$GITHUB_STEP_SUMMARY {str(path)!r} is not a regular file; it was not written")
    with path.open("a", encoding="utf-8") as stream:
        stream.write(markdown if markdown.endswith("\n") else markdown + "\n")
    return path
