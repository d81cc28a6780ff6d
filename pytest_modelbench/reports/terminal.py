"""Terminal tables of the modelbench summary (tabulate). Does not import pytest."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


from ..core.text import fit_labels, table


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


def model_table(models: Mapping[str, Mapping[str, Any]], order: Sequence[str]) -> str:
    """One row per model: score, pass rate with its 95% interval, latency, TTFT, tokens, errors.

    Fits 100 columns with model names up to 24 characters (longer ones are cut in the middle,
    and stay distinguishable). Models with equal scores share a rank; a model without a
    measured run has none and says "not measured".
    """
    rows = []
    labels = dict(zip(order, fit_labels(order, 24)))
    ranks = competition_ranks([models[name].get("score") if models[name].get("measured", True) else None
                               for name in order])
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
        rows.append([
            "-" if rank is None else rank,
            labels[name],
            fmt(summary.get("score")) if measured else "not measured",
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
    shown = [name for name in order if models[name].get("measured", True)][:6]
    rows = []
    for category in categories:
        row = [category, f"{weights.get(category, 0.0):.2f}"]
        for name in shown:
            entry = models[name]["categories"].get(category)
            row.append("-" if entry is None else fmt(entry["score"]))
        rows.append(row)
    headers = ["category", "weight", *fit_labels(shown, 14)]
    return table(headers, rows, ("left", *("right",) * (len(headers) - 1)))


def _order(models: Mapping[str, Mapping[str, Any]]) -> list[str]:
    def key(name: str) -> tuple[int, float, str]:
        summary = models[name]
        measured = summary.get("measured", True) and summary["score"] is not None
        return (0 if measured else 1, -(summary["score"] if measured else 0.0), name)

    return sorted(models, key=key)


def _cost_lines(document: Mapping[str, Any], order: Sequence[str]) -> list[str]:
    from ..cost import format_usd

    models = document["models"]
    budget = document.get("budget") or {}
    costs = {name: models[name].get("cost") or {} for name in order}
    any_cost = any((c.get("cost_usd") or 0) > 0 for c in costs.values())
    if not (any_cost or budget):
        return []
    projections = budget.get("models") or {}
    headers = ["model", "cost", "spent", "per task", "per success", "tokens/run", "points/$"]
    if projections:
        headers.append("monthly (95% CI)")
        if budget.get("budget_usd_per_month") is not None:
            headers.append("budget")
    rows = []
    for name in order:
        cost = costs[name]
        total = format_usd(cost.get("cost_usd"))
        if cost.get("cost_usd") is not None and cost.get("unpriced_runs"):
            total += f" (+{cost['unpriced_runs']}?)"
        row = [_short(name, 24), total, format_usd(cost.get("spent_usd")),
               format_usd(cost.get("cost_per_task_usd")), format_usd(cost.get("cost_per_success_usd")),
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
        rows.append(row)
    lines = ["--- modelbench cost", *table(headers, rows, ("left", *("right",) * (len(headers) - 1))).splitlines()]
    tradeoff = document.get("tradeoff")
    if tradeoff and tradeoff.get("model") is not None and any_cost:
        if tradeoff["model"] == tradeoff["best_model"]:
            lines.append(f"trade-off: {tradeoff['best_model']} is both the best and the cheapest "
                         f"within {tradeoff['points']:g} points")
        else:
            lines.append(
                f"trade-off: {tradeoff['model']} is the cheapest model within {tradeoff['points']:g} points "
                f"of the best ({tradeoff['best_model']}, {tradeoff['best_score']:.1f}): "
                f"{tradeoff['score']:.1f} at {format_usd(tradeoff['cost_usd'])} per task"
            )
    if tradeoff and tradeoff.get("unknown_cost") and any_cost:
        lines.append(f"cost unknown (no price or no token counts): {', '.join(tradeoff['unknown_cost'])}")
    spend = budget.get("session_spend")
    if spend:
        lines.append(f"session spend: {format_usd(spend.get('total_usd'))} of cap {format_usd(budget.get('max_cost_usd'))}")
    hosted = [(name, models[name]["cost"]["self_hosted"]) for name in order
              if (models[name].get("cost") or {}).get("self_hosted")]
    for name, tco in hosted:
        if "error" in tco:
            lines.append(f"self-hosted {name}: {tco['error']}")
            continue
        lines.append(
            f"self-hosted {name}: {format_usd(tco['usd_per_mtok_output'])} per 1M output tokens at "
            f"{tco['output_tokens_per_s']:.0f} tok/s, {format_usd(tco['monthly_usd'])}/month for {tco['gpus']} GPU(s)"
        )
        for other, even in tco["break_even"].items():
            if even["tasks_per_day"] is not None:
                lines.append(f"  break-even vs {other}: {compact(even['tasks_per_day'])} tasks/day")
    return lines


def _ranking_lines(analysis: Any, headline: str) -> list[str]:
    from ..compare.rankings import ranking_rows

    ranking = analysis.comparison.rankings.ranking(headline)
    rows = ranking_rows(ranking)
    lines = [f"--- modelbench ranking: {headline}",
             *table(rows[0], rows[1:], ("right", "left", "right", "left")).splitlines()]
    if ranking.note:
        lines.append(ranking.note)
    return lines


def _head_to_head_lines(analysis: Any, verbosity: int) -> list[str]:
    h2h = analysis.comparison.head_to_head
    if len(h2h.models) < 2:
        return []
    lines = [f"--- modelbench head-to-head (paired on tasks, Holm-adjusted, alpha {h2h.alpha:g})"]
    for block in h2h.matrix_rows(width=100):
        lines += table(block[0], block[1:], ("left", *("center",) * (len(block[0]) - 1))).splitlines()
    lines.append("row vs column: ++/-- significantly better/worse (20% or more), +/- slightly, "
                 "= no significant difference")
    if verbosity > 0 or len(h2h.models) <= 4:
        rows = h2h.rows()
        lines += ["", *table(rows[0], rows[1:], ("left",) * len(rows[0])).splitlines()]
        levels = sorted({round(100 * c.level, 2) for c in h2h.overall if c.tasks})
        level_text = f"{levels[0]:g}%" if len(levels) == 1 else f"{levels[0]:g}-{levels[-1]:g}%"
        lines.append(f"interval: the sign-flip test's own {level_text} interval (the level Holm tests each pair "
                     "at); it excludes 0 exactly when the verdict is significant")
        if any(_to_tell(c) for c in h2h.overall):
            lines.append("to tell apart: MDE = the smallest difference these tasks detect (80% power); "
                         "N tasks (or runs per task) would detect the one observed")
    return lines


def _to_tell(comparison: Any) -> bool:
    return not comparison.significant and comparison.tasks_needed is not None


def _consistency_lines(analysis: Any) -> list[str]:
    rows = analysis.comparison.consistency.rows()
    lines = ["--- modelbench consistency",
             *table(rows[0], rows[1:], ("left", *("right",) * (len(rows[0]) - 1))).splitlines()]
    models = analysis.document["models"]
    for name, summary in models.items():
        block = summary.get("pass_at_k")
        if block:
            values = ", ".join(f"{key} {100 * value:.1f}%" for key, value in block.items() if key.startswith("pass@"))
            lines.append(f"coding {name}: {values} over {block['tasks']} tasks")
    return lines


def _pair_lines(analysis: Any) -> list[str]:
    pair = analysis.pair
    if pair is None:
        return []
    rows = pair.rows()
    lines = [f"--- modelbench compare: A = {pair.model_a}, B = {pair.model_b}",
             *table(rows[0], rows[1:], ("left",) * len(rows[0])).splitlines()]
    disagreements = pair.disagreement_rows()
    if len(disagreements) > 1:
        lines += ["", "tasks where they disagree most:",
                  *table(disagreements[0], disagreements[1:], ("left",) * len(disagreements[0])).splitlines()]
    return lines


def _stat(level: Mapping[str, Any], metric: str, stat: str) -> str:
    """One latency statistic of a load level, compact ('?' when unknown)."""
    return compact((level[metric] or {}).get(stat))


def _load_lines(document: Mapping[str, Any], order: Sequence[str]) -> list[str]:
    rows = []
    for name in order:
        for level in document["models"][name].get("load") or ():
            label = f"c={level['level']}" if level["mode"] == "concurrency" else f"{level['level']:g}/s"
            rows.append([
                _short(name, 20), label, compact(level["mean_in_flight"]), compact(level["request_throughput"]),
                compact(level["output_token_throughput"]),
                f"{_stat(level, 'ttft_ms', 'p50')}/{_stat(level, 'ttft_ms', 'p99')}",
                _stat(level, "itl_ms", "p50"), f"{_stat(level, 'e2e_ms', 'p50')}/{_stat(level, 'e2e_ms', 'p99')}",
                compact(level["goodput"]), "?" if level["error_rate"] is None else f"{100 * level['error_rate']:.0f}%",
                "client!" if level["client_bottleneck"] else "",
            ])
    if not rows:
        return []
    headers = ["model", "level", "in flight", "req/s", "tok/s", "ttft p50/99", "itl p50", "e2e p50/99",
               "goodput", "err", ""]
    lines = ["--- modelbench load (median over runs; ms)",
             *table(headers, rows, ("left", *("right",) * 10)).splitlines()]
    if any(row[-1] for row in rows):
        lines.append("client!: the load generator itself was the bottleneck; its latencies are inflated")
    return lines


def _not_measured_lines(document: Mapping[str, Any]) -> list[str]:
    """One line per model without a measured run, with why: it is not ranked or compared."""
    missing = document.get("not_measured") or []
    if not missing:
        return []
    lines = ["--- modelbench not measured (not ranked, compared or recommended)"]
    for entry in missing:
        lines.append(f"{entry['model']}: {entry['reason']}")
    return lines


def summary_lines(analysis: Any, records: Sequence[Any], weights: Mapping[str, float],
                  *, verbosity: int = 0) -> list[str]:
    """All lines of the terminal summary; a line ``--- title`` starts a sub-section.

    ``-q`` (verbosity < 0) shows the headline ranking only; ``-v`` also lists every pair's
    comparison and every miss and error.
    """
    document = analysis.document
    compared = analysis.comparison is not None
    headline = document["rankings"]["headline"] if compared else None
    if verbosity < 0:
        return [*_ranking_lines(analysis, headline)[1:], *_not_measured_lines(document)] if compared \
            else _not_measured_lines(document)
    models = document["models"]
    order = _order(models)
    lines = model_table(models, order).splitlines()
    if any(models[name]["categories"] for name in order):
        lines += ["", *category_table(models, order, weights).splitlines()]
    lines += _not_measured_lines(document)
    if compared:
        lines += _ranking_lines(analysis, headline)
        lines += _head_to_head_lines(analysis, verbosity)
        lines += _consistency_lines(analysis)
    lines += _cost_lines(document, order)
    lines += _load_lines(document, order)
    lines += _pair_lines(analysis)
    misses = [r for r in records if r.outcome in ("failed", "error")]
    if misses and verbosity > 0:
        lines.append("--- modelbench misses and errors")
        for record in misses:
            reason = record.error if record.outcome == "error" else record.detail
            label = "MISSED" if record.outcome == "failed" else "ERROR"
            lines.append(_short(f"{label:6} {record.model} {record.task} run {record.run}", 100))
            lines.append(_short(f"       {reason}", 100))
    elif misses:
        lines.append(f"{len(misses)} runs missed or errored; -v lists them")
    return lines
