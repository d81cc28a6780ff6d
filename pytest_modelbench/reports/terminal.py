"""Terminal tables of the modelbench summary. Does not import pytest.

Every table fits the terminal's ``width`` (pytest's terminal writer: ``COLUMNS`` when set):
names are wrapped onto more lines, never cut, so models whose names differ only at the end
stay apart (:func:`~pytest_modelbench.core.text.table`). Missing values are ``?`` (unknown)
or ``-`` (none); one legend line at the end explains them and every abbreviation the summary
used (:class:`Legend`). Money is per 1,000 tasks (``$0.04`` for $0.0000384 a task), never in
scientific notation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..core.dimensions import DIMENSIONS
from ..core.text import table, wrap_label, wrap_text
from ..cost.summary import format_usd, format_usd_per_1k

#: The width the summary assumes when none is given.
DEFAULT_WIDTH = 100

#: What each mark and abbreviation means, in the order the legend lists them.
LEGEND_TEXT = {
    "?": "? unknown (not measured, no price, or not reported)",
    "-": "- none or not applicable",
    "*": "* measured from the runs (speed: latency and TTFT; cost: cost per task; consistency: how "
         "repeated runs agree), with the category's marked tasks if any (docs/results.md)",
    "pass/miss/err": "pass/miss/err runs that passed, missed (the test's check failed) and errored (no answer)",
    "TTFT": "TTFT time to first token",
    "$/1k tasks": "$/1k tasks cost of 1,000 tasks (cost per task × 1,000)",
    "p adj": "p adj Holm-adjusted p-value",
    "MDE": "MDE minimum detectable effect (80% power)",
    "to tell apart": "to tell apart: the MDE, and the tasks (or runs per task) that would detect the observed Δ",
    "pass^k": "pass^k share of tasks all of whose runs passed",
    "mixed runs": "mixed runs share of tasks whose runs disagree on pass/fail",
    "points/$": "points/$ score points per dollar of cost per task",
    "fits?": "fits?/over? the projection's 95% interval straddles the budget",
    "load": "in flight mean requests in flight, req/s and tok/s throughput, itl inter-token latency, "
            "e2e request latency, goodput requests/s within the latency targets",
    "client!": "client! the load generator was the bottleneck",
}


class Legend:
    """The marks and abbreviations a summary used, for its one legend line."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def add(self, *keys: str) -> None:
        self.used.update(keys)

    def note(self, lines: Sequence[str]) -> None:
        """Add ``?`` and ``-`` when a rendered table shows them as values."""
        for line in lines:
            cells = line.split()
            if cells and all(set(cell) == {"-"} for cell in cells):
                continue  # a table's rule
            if "?" in cells or any(cell.startswith("?") or cell.endswith("?") for cell in cells):
                self.used.add("?")
            if "-" in cells:
                self.used.add("-")

    def lines(self, width: int) -> list[str]:
        keys = [key for key in LEGEND_TEXT if key in self.used]
        if not keys:
            return []
        return wrap_text("legend: " + "; ".join(LEGEND_TEXT[key] for key in keys), width, indent="  ")


def fmt(value: Any, spec: str = ".1f", unknown: str = "?") -> str:
    if value is None:
        return unknown
    return format(value, spec)


def compact(value: float | int | None) -> str:
    """1234 -> 1.2k, 2500000 -> 2.5M, 0.4 -> 0.4, 0.0012 -> <0.01; '?' for unknown."""
    if value is None:
        return "?"
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.1f}{suffix}"
    if value == 0 or abs(value) >= 10:
        return f"{value:.0f}"
    return f"{value:.1f}" if abs(value) >= 0.1 else ("<0.1" if value > 0 else f"{value:.1f}")


def count_text(value: float | None) -> str:
    """A count: whole below 1,000 (``5``, not ``5.0``), else :func:`compact` (``1.2k``); ``?`` unknown."""
    return f"{value:.0f}" if value is not None and abs(value) < 1000 else compact(value)


def _tokens(summary: Mapping[str, Any]) -> str:
    tokens_in, tokens_out = summary.get("input_tokens"), summary.get("output_tokens")
    if tokens_in is None and tokens_out is None:
        return "?"
    return f"{compact(tokens_in)}/{compact(tokens_out)}"


def competition_ranks(values: Sequence[float | None]) -> list[int | None]:
    """Ranks of values already sorted best first: equal values share a rank ("1, 1, 3");
    None (not measured) has no rank."""
    ranks: list[int | None] = []
    previous: float | None = None
    rank = 0
    for place, value in enumerate(values, start=1):
        if value is None:
            ranks.append(None)
            continue
        if previous is None or abs(value - previous) > 1e-9 * max(1.0, abs(value)):
            rank, previous = place, value
        ranks.append(rank)
    return ranks


def table_fits(headers: Sequence[str], rows: Sequence[Sequence[str]], width: int) -> bool:
    """Whether the table fits ``width`` as it is: every header and cell on one line."""
    widths = [max([len(h), *(len(row[i]) for row in rows)]) for i, h in enumerate(headers)]
    return sum(widths) + 2 * (len(widths) - 1) <= width


def model_table(models: Mapping[str, Mapping[str, Any]], order: Sequence[str], *,
                width: int = DEFAULT_WIDTH) -> str:
    """One row per model: score, pass rate with its 95% interval, runs passed/missed/errored,
    latency, TTFT, tokens and cost per 1,000 tasks.

    Names are wrapped, not cut. When the table does not fit ``width`` on one line per model,
    it is split in two (results, then measurements), each fitting (names wrapped). Models
    with equal scores share a rank; a model without a measured run has none and says "not
    measured".
    """
    ranks = competition_ranks([models[name].get("score") if models[name].get("measured", True) else None
                               for name in order])
    results, measurements = [], []
    for rank, name in zip(ranks, order):
        summary = models[name]
        interval = summary.get("pass_rate_ci95")
        pass_rate = summary.get("pass_rate")
        pass_text = "?" if pass_rate is None else f"{100 * pass_rate:.0f}%"
        if interval:
            pass_text += f" [{100 * interval[0]:.0f}-{100 * interval[1]:.0f}]"
        latency = summary.get("latency_ms") or {}
        ttft = summary.get("ttft_ms") or {}
        measured = summary.get("measured", True)
        cost = (summary.get("cost") or {}).get("cost_per_task_usd")
        results.append(["-" if rank is None else str(rank), name, fmt(summary.get("score")) if measured
                        else "not measured", pass_text, f"{summary['passed']}/{summary['failed']}/{summary['errors']}"])
        measurements.append([f"{compact(latency.get('p50'))}/{compact(latency.get('p95'))}",
                             compact(ttft.get("p50")), _tokens(summary), format_usd_per_1k(cost)])
    result_headers = ["#", "model", "score", "pass [95% CI]", "pass/miss/err"]
    measure_headers = ["p50/p95 ms", "TTFT p50 ms", "tokens in/out", "$/1k tasks"]
    headers = [*result_headers, *measure_headers]
    rows = [a + b for a, b in zip(results, measurements)]
    aligns = ("right", "left", "right", "left", "right", "right", "right", "right", "right")
    if table_fits(headers, rows, width):
        return table(headers, rows, aligns, width=width, wrap={1: "name"})
    first = table(result_headers, results, aligns[:5], width=width, wrap={1: "name"})
    second = table(["model", *measure_headers], [[row[1], *m] for row, m in zip(results, measurements)],
                   ("left", *aligns[5:]), width=width, wrap={0: "name"})
    return first + "\n\n" + second


def category_table(models: Mapping[str, Mapping[str, Any]], order: Sequence[str],
                   weights: Mapping[str, float], *, width: int = DEFAULT_WIDTH) -> str:
    """Categories as rows, models as columns, in blocks of as many models as fit ``width``.

    Model names head their columns wrapped onto several lines (never cut); a measured
    dimension is marked ``*``.
    """
    shown = [name for name in order if models[name].get("measured", True)]
    categories = sorted({c for name in shown for c in models[name]["categories"]},
                        key=lambda c: (-weights.get(c, 0.0), c))
    if not categories or not shown:
        return ""

    def label(category: str) -> str:
        measured = any("measured_tasks" in models[name]["categories"].get(category, {}) for name in shown)
        return category + ("*" if measured else "")

    labels = [label(c) for c in categories]
    first = max(len(text) for text in labels + ["category"])
    room = (width - first - 2 - 6 - 2) // len(shown) - 2  # what each model column gets side by side
    column = max(7, min(max(len(name) for name in shown), max(room, 12), 40))
    per_block = max(1, (width - first - 2 - 6 - 2) // (column + 2))
    blocks = []
    for start in range(0, len(shown), per_block):
        names = shown[start:start + per_block]
        rows = []
        for category, text in zip(categories, labels):
            row = [text, f"{weights.get(category, 0.0):.2f}"]
            for name in names:
                entry = models[name]["categories"].get(category)
                row.append("-" if entry is None or entry.get("score") is None else fmt(entry["score"]))
            rows.append(row)
        headers = ["category", "weight", *("\n".join(wrap_label(name, column)) for name in names)]
        blocks.append(table(headers, rows, ("left", *("right",) * (len(headers) - 1)), width=width,
                            wrap={0: "name"}))
    return "\n\n".join(blocks)


def _dimension_lines(models: Mapping[str, Mapping[str, Any]], order: Sequence[str], width: int) -> list[str]:
    """Which measured dimensions have a score for every model, and why any is unknown."""
    shown = [name for name in order if models[name].get("measured", True) and models[name].get("dimensions")]
    if not shown:
        return []
    scored, unknown = [], []
    for dimension in DIMENSIONS:
        blocks = [(name, (models[name].get("dimensions") or {}).get(dimension)) for name in shown]
        blocks = [(name, block) for name, block in blocks if block is not None]
        if not blocks:
            continue
        if all(block.get("score") is not None for _, block in blocks):
            scored.append(dimension)
        for name, block in blocks:
            if block.get("score") is None:
                unknown.append(f"{dimension} of {name}: {block.get('unknown') or 'unknown'}")
    lines = []
    if scored:
        whom = "both models" if len(shown) == 2 else "every model" if len(shown) > 2 else shown[0]
        lines += wrap_text(f"measured from the runs for {whom}: {', '.join(scored)}", width, indent="  ")
    for text in unknown:
        lines += wrap_text(f"unknown: {text}", width, indent="  ")
    return lines


def _order(models: Mapping[str, Mapping[str, Any]]) -> list[str]:
    def key(name: str) -> tuple[int, float, str]:
        summary = models[name]
        measured = summary.get("measured", True) and summary["score"] is not None
        return (0 if measured else 1, -(summary["score"] if measured else 0.0), name)

    return sorted(models, key=key)


def _cost_lines(document: Mapping[str, Any], order: Sequence[str], width: int, legend: Legend) -> list[str]:
    models = document["models"]
    budget = document.get("budget") or {}
    costs = {name: models[name].get("cost") or {} for name in order}
    any_cost = any((c.get("cost_usd") or 0) > 0 for c in costs.values())
    if not (any_cost or budget):
        return []
    projections = budget.get("models") or {}
    headers = ["model", "cost", "spent", "$/1k tasks", "$/1k successes", "tokens/run", "points/$"]
    legend.add("$/1k tasks", "points/$")
    if projections:
        headers.append("monthly (95% CI)")
        if budget.get("budget_usd_per_month") is not None:
            headers.append("budget")
    rows = []
    for name in order:
        cost = costs[name]
        total = format_usd(cost.get("cost_usd"))
        if cost.get("cost_usd") is not None and cost.get("unpriced_runs"):
            total += f" (+{cost['unpriced_runs']} ?)"
        row = [name, total, format_usd(cost.get("spent_usd")),
               format_usd_per_1k(cost.get("cost_per_task_usd")), format_usd_per_1k(cost.get("cost_per_success_usd")),
               compact(cost.get("tokens_per_run")), compact(cost.get("points_per_usd"))]
        if projections:
            projection = projections.get(name)
            if projection is None:
                row.append("?")
            else:
                text = format_usd(projection["monthly_usd"])
                if projection.get("monthly_low_usd") is not None:
                    text += f" ({format_usd(projection['monthly_low_usd'])}-{format_usd(projection['monthly_high_usd'])})"
                row.append(text)
            if budget.get("budget_usd_per_month") is not None:
                fit = (projection or {}).get("budget")
                row.append("?" if fit is None else ("fits" if fit["fits"] else "over") + ("" if fit["confident"] else "?"))
                if fit is not None and not fit["confident"]:
                    legend.add("fits?")
        rows.append(row)
    rendered = table(headers, rows, ("left", *("right",) * (len(headers) - 1)), width=width,
                     wrap={0: "name", 7: "words"}).splitlines()
    legend.note(rendered)
    lines = ["--- modelbench cost", *rendered]
    tradeoff = document.get("tradeoff")
    if tradeoff and tradeoff.get("model") is not None and any_cost:
        if tradeoff["model"] == tradeoff["best_model"]:
            text = (f"trade-off: {tradeoff['best_model']} is both the best and the cheapest "
                    f"within {tradeoff['points']:g} points")
        else:
            text = (f"trade-off: {tradeoff['model']} is the cheapest model within {tradeoff['points']:g} points "
                    f"of the best ({tradeoff['best_model']}, {tradeoff['best_score']:.1f}): "
                    f"{tradeoff['score']:.1f} at {format_usd_per_1k(tradeoff['cost_usd'])} per 1k tasks")
        lines += wrap_text(text, width, indent="  ")
    if tradeoff and tradeoff.get("unknown_cost") and any_cost:
        lines += wrap_text(f"cost unknown (no price or no token counts): {', '.join(tradeoff['unknown_cost'])}",
                           width, indent="  ")
    spend = budget.get("session_spend")
    if spend:
        lines.append(f"session spend: {format_usd(spend.get('total_usd'))} of cap {format_usd(budget.get('max_cost_usd'))}")
    hosted = [(name, models[name]["cost"]["self_hosted"]) for name in order
              if (models[name].get("cost") or {}).get("self_hosted")]
    for name, tco in hosted:
        if "error" in tco:
            lines += wrap_text(f"self-hosted {name}: {tco['error']}", width, indent="  ")
            continue
        lines += wrap_text(
            f"self-hosted {name}: {format_usd(tco['usd_per_mtok_output'])} per 1M output tokens at "
            f"{tco['output_tokens_per_s']:.0f} tok/s, {format_usd(tco['monthly_usd'])}/month for {tco['gpus']} GPU(s)",
            width, indent="  ")
        for other, even in tco["break_even"].items():
            if even["tasks_per_day"] is not None:
                lines += wrap_text(f"  break-even vs {other}: {compact(even['tasks_per_day'])} tasks/day",
                                   width, indent="    ")
    return lines


def _ranking_lines(analysis: Any, headline: str, width: int) -> list[str]:
    from ..compare.rankings import ranking_rows

    ranking = analysis.comparison.rankings.ranking(headline)
    rows = ranking_rows(ranking)
    lines = [f"--- modelbench ranking: {headline}",
             *table(rows[0], rows[1:], ("right", "left", "right", "left"), width=width, wrap={1: "name"}).splitlines()]
    if ranking.note:
        lines += wrap_text(ranking.note, width, indent="  ")
    return lines


def _head_to_head_lines(analysis: Any, verbosity: int, width: int, legend: Legend) -> list[str]:
    h2h = analysis.comparison.head_to_head
    if len(h2h.models) < 2:
        return []
    lines = [f"--- modelbench head-to-head (paired on tasks, Holm-adjusted, alpha {h2h.alpha:g})"]
    for block in h2h.matrix_rows(width=width):
        lines += table(block[0], block[1:], ("left", *("center",) * (len(block[0]) - 1))).splitlines()
    lines += wrap_text("row vs column: ++/-- significantly better/worse (20% or more), +/- slightly, "
                       "= no significant difference, ? no shared task, . itself", width, indent="  ")
    if verbosity > 0 or len(h2h.models) <= 4:
        rows = h2h.rows()
        rendered = table(rows[0], rows[1:], ("left",) * len(rows[0]), width=width,
                         wrap={0: "name", 4: "words", 5: "words"}).splitlines()
        lines += ["", *rendered]
        legend.add("p adj")
        legend.note(rendered)
        levels = sorted({round(100 * c.level, 2) for c in h2h.overall if c.tasks})
        level_text = f"{levels[0]:g}%" if len(levels) == 1 else f"{levels[0]:g}-{levels[-1]:g}%"
        lines += wrap_text(f"interval: the sign-flip test's own {level_text} interval (the level Holm tests each "
                           "pair at); it excludes 0 exactly when the verdict is significant", width, indent="  ")
        if any(_to_tell(c) for c in h2h.overall):
            legend.add("MDE", "to tell apart")
    return lines


def _to_tell(comparison: Any) -> bool:
    return not comparison.significant and comparison.tasks_needed is not None


def _consistency_lines(analysis: Any, width: int, legend: Legend) -> list[str]:
    rows = analysis.comparison.consistency.rows()
    rendered = table(rows[0], rows[1:], ("left", *("right",) * (len(rows[0]) - 1)), width=width,
                     wrap={0: "name"}).splitlines()
    legend.add("pass^k", "mixed runs")
    legend.note(rendered)
    lines = ["--- modelbench consistency", *rendered]
    models = analysis.document["models"]
    for name, summary in models.items():
        block = summary.get("pass_at_k")
        if block:
            values = ", ".join(f"{key} {100 * value:.1f}%" for key, value in block.items() if key.startswith("pass@"))
            lines += wrap_text(f"coding {name}: {values} over {block['tasks']} tasks", width, indent="  ")
    return lines


def _pair_lines(analysis: Any, width: int, legend: Legend) -> list[str]:
    pair = analysis.pair
    if pair is None:
        return []
    rows = pair.rows()
    lines = [f"--- modelbench compare: A = {pair.model_a}, B = {pair.model_b}",
             *table(rows[0], rows[1:], ("left",) * len(rows[0]), width=width,
                    wrap={0: "name", 6: "words", 7: "words"}).splitlines()]
    legend.add("p adj")
    disagreements = pair.disagreement_rows()
    if len(disagreements) > 1:
        lines += ["", "tasks where they disagree most:",
                  *table(disagreements[0], disagreements[1:], ("left",) * len(disagreements[0]), width=width,
                         wrap={0: "name", 1: "name"}).splitlines()]
    return lines


def _stat(level: Mapping[str, Any], metric: str, stat: str) -> str:
    """One latency statistic of a load level, compact ('?' when unknown)."""
    return compact((level[metric] or {}).get(stat))


def _load_lines(document: Mapping[str, Any], order: Sequence[str], width: int, legend: Legend) -> list[str]:
    rows = []
    for name in order:
        for level in document["models"][name].get("load") or ():
            label = f"c={level['level']}" if level["mode"] == "concurrency" else f"{level['level']:g}/s"
            rows.append([
                name, label, compact(level["mean_in_flight"]), compact(level["request_throughput"]),
                compact(level["output_token_throughput"]),
                f"{_stat(level, 'ttft_ms', 'p50')}/{_stat(level, 'ttft_ms', 'p99')}",
                _stat(level, "itl_ms", "p50"), f"{_stat(level, 'e2e_ms', 'p50')}/{_stat(level, 'e2e_ms', 'p99')}",
                compact(level["goodput"]), "?" if level["error_rate"] is None else f"{100 * level['error_rate']:.0f}%",
                "client!" if level["client_bottleneck"] else "",
            ])
    if not rows:
        return []
    headers = ["model", "level", "in flight", "req/s", "tok/s", "TTFT p50/99", "itl p50", "e2e p50/99",
               "goodput", "err", ""]
    rendered = table(headers, rows, ("left", *("right",) * 10), width=width, wrap={0: "name"}).splitlines()
    legend.add("load", "TTFT")
    legend.note(rendered)
    if any(row[-1] for row in rows):
        legend.add("client!")
    return ["--- modelbench load (median over runs; ms)", *rendered]


def _not_measured_lines(document: Mapping[str, Any], width: int) -> list[str]:
    """One line per model without a measured run, with why: it is not ranked or compared."""
    missing = document.get("not_measured") or []
    if not missing:
        return []
    lines = ["--- modelbench not measured (not ranked, compared or recommended)"]
    for entry in missing:  # one line each, whole: a reason is grepped for in CI logs
        lines.append(f"{entry['model']}: {entry['reason']}")
    return lines


def summary_lines(analysis: Any, records: Sequence[Any], weights: Mapping[str, float],
                  *, verbosity: int = 0, width: int = DEFAULT_WIDTH, legend: Legend | None = None) -> list[str]:
    """All lines of the terminal summary, each at most ``width`` characters; a line ``--- title``
    starts a sub-section.

    ``-q`` (verbosity < 0) shows the headline ranking only; ``-v`` also lists every pair's
    comparison and every miss and error. ``legend`` collects the marks and abbreviations used
    (the caller prints :meth:`Legend.lines` last); without one, the legend line ends these lines.
    """
    own_legend = legend is None
    legend = Legend() if legend is None else legend
    document = analysis.document
    compared = analysis.comparison is not None
    headline = document["rankings"]["headline"] if compared else None
    if verbosity < 0:
        return [*_ranking_lines(analysis, headline, width)[1:], *_not_measured_lines(document, width)] if compared \
            else _not_measured_lines(document, width)
    models = document["models"]
    order = _order(models)
    lines = model_table(models, order, width=width).splitlines()
    legend.add("pass/miss/err", "TTFT", "$/1k tasks")
    if any(models[name]["categories"] for name in order):
        categories = category_table(models, order, weights, width=width).splitlines()
        lines += ["", *categories]
        if any(line.split()[0].endswith("*") for line in categories if line.split()):
            legend.add("*")
        lines += _dimension_lines(models, order, width)
    legend.note(lines)
    lines += _not_measured_lines(document, width)
    if compared:
        lines += _ranking_lines(analysis, headline, width)
        lines += _head_to_head_lines(analysis, verbosity, width, legend)
        lines += _consistency_lines(analysis, width, legend)
    lines += _cost_lines(document, order, width, legend)
    lines += _load_lines(document, order, width, legend)
    lines += _pair_lines(analysis, width, legend)
    misses = [r for r in records if r.outcome in ("failed", "error")]
    if misses and verbosity > 0:
        lines.append("--- modelbench misses and errors")
        for record in misses:
            reason = record.error if record.outcome == "error" else record.detail
            label = "MISSED" if record.outcome == "failed" else "ERROR"
            lines.append(f"{label:6} {record.model} {record.task} run {record.run}")  # whole, never cut
            lines.append(f"       {reason}")
    elif misses:
        lines.append(f"{len(misses)} runs missed or errored; -v lists them")
    if own_legend:
        lines += legend.lines(width)
    return lines
