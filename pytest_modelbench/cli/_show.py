"""``modelbench show``: the terminal summary of a saved results file, one model's report, or
the replies of every model to one task side by side."""

from __future__ import annotations

import difflib
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

from .._exceptions import ConfigError
from ..core.text import table, wrap_text
from ._output import Writer
from ._saved import Saved, rerun, settings_for, weighted_interval

#: Grade bands of a score (0-100 points): the lowest score of each grade.
GRADES = (("A", 90.0), ("B", 80.0), ("C", 70.0), ("D", 60.0), ("F", 0.0))
GRADE_LEGEND = "grades: A >= 90, B >= 80, C >= 70, D >= 60, F < 60 (score points)"


def grade(score: float | None) -> str:
    """The letter of a score (``GRADES``); ``-`` when there is no score."""
    if score is None:
        return "-"
    for letter, lowest in GRADES:
        if score >= lowest:
            return letter
    return "F"


def show(saved: Saved, out: Writer, *, rank: str | None = None, use_case: str | None = None,
         model: str | None = None, task: str | None = None, verbosity: int = 0) -> int:
    if task is not None:
        return show_task(saved, out, task, model=model)
    settings = settings_for(saved, rank=rank, use_case=use_case)
    if model is not None:
        check_model(saved, model)
    result = rerun(saved, settings)
    if result is None:
        out.line(f"{saved.path}: no benchmark runs")
        return 0
    if model is not None:
        model_report(saved, result, settings, model, out, verbosity=verbosity)
        return 0
    out.lines(wrap_text(describe(saved), out.width, "  "))
    gates = saved.document.get("gates")
    if isinstance(gates, list) and gates:
        from ..compare.gates import GateResult

        try:
            result.gate_results = [GateResult(**gate) for gate in gates]
        except TypeError as exc:
            raise ConfigError(f"results file {str(saved.path)!r} has a malformed gate: {exc}") from None
    from ..session.pipeline import terminal_lines

    out.pipeline(terminal_lines(result, settings, verbosity=verbosity, width=out.width))
    baseline = saved.document.get("baseline")
    if isinstance(baseline, Mapping) and baseline.get("path"):
        out.line(f"compared with baseline {baseline['path']} in the session; "
                 f"modelbench compare {baseline['path']} {saved.path} recomputes it")
    return 0


def describe(saved: Saved) -> str:
    meta = saved.meta
    parts = [str(saved.path)]
    for key, label in (("finished_at", "finished"), ("git_commit", "commit"), ("plugin_version", "pytest-modelbench")):
        value = meta.get(key)
        if value:
            parts.append(f"{label} {str(value)[:12] if key == 'git_commit' else value}")
    shard = saved.saved_settings.get("shard")
    if shard:
        parts.append(f"shard {shard}")
    merged = meta.get("merged_from")
    if merged:
        parts.append(f"merged from {len(merged)} files")
    return ", ".join(parts)


def check_model(saved: Saved, model: str) -> None:
    names = saved.model_names
    if model not in names:
        raise ConfigError(f"model {model!r} is not in results file {str(saved.path)!r}; "
                          f"it has: {', '.join(names) or 'no models'}")


# ------------------------------------------------------------------ one model


def model_report(saved: Saved, result: Any, settings: Any, name: str, out: Writer, *, verbosity: int = 0) -> None:
    from ..cost import format_usd
    from ..reports.terminal import compact, count_text
    from ..reports.trend import with_interval

    document = result.document
    summary = document["models"][name]
    out.sep("=", f"modelbench model: {name}")
    out.lines(wrap_text(describe(saved), out.width, "  "))
    spec = next((entry for entry in saved.meta.get("models") or () if entry.get("name") == name), None)
    if spec:
        out.line(f"spec {spec.get('spec')}")
    score = summary.get("score")
    low, high = weighted_interval(document, name)
    score_text = "not measured" if score is None else with_interval(f"{score:.1f}", low, high, ".1f", "-")
    position = _position(result, name)
    out.line(f"score {score_text}   grade {grade(score)}" + (f"   rank {position}" if position else ""))
    pass_rate = summary.get("pass_rate")
    ci = summary.get("pass_rate_ci95")
    out.line(f"runs {summary['runs']}: {summary['passed']} passed, {summary['failed']} missed, "
             f"{summary['errors']} errored, {summary['skipped']} skipped"
             + ("" if pass_rate is None else f"; pass rate {100 * pass_rate:.0f}%"
                + (f" [{100 * ci[0]:.0f}-{100 * ci[1]:.0f}]" if ci else "")))
    if summary.get("not_measured"):
        out.line(f"not measured: {summary['not_measured']}", "red")
    out.sep("-", "categories")
    weights = settings.categories
    rows = []
    for category, entry in sorted(summary["categories"].items(), key=lambda item: (-weights.get(item[0], 0.0), item[0])):
        if entry.get("source") == "measured":  # a measured dimension, no marked task: every task once
            rows.append([f"{category}*", f"{weights.get(category, 0.0):.2f}", _fmt(entry.get("score")),
                         grade(entry.get("score")), "-", str(entry.get("measured_tasks")), "-"])
            continue
        marked = "*" if entry.get("source") == "measured and marked tasks" else ""
        rows.append([category + marked, f"{weights.get(category, 0.0):.2f}", _fmt(entry.get("score")),
                     grade(entry.get("score")), "?" if entry.get("pass_rate") is None else f"{100 * entry['pass_rate']:.0f}%",
                     str(entry.get("tasks")), str(entry.get("runs"))])
    out.lines(table(["category", "weight", "score", "grade", "pass rate", "tasks", "runs"], rows,
                    ("left", "right", "right", "center", "right", "right", "right"), width=out.width).splitlines())
    for dimension, block in (summary.get("dimensions") or {}).items():
        if isinstance(block, Mapping) and block.get("unknown"):
            out.line(f"{dimension} not measured: {block['unknown']}")
    if any(row[0].endswith("*") for row in rows):
        out.lines(wrap_text("* measured from the runs (speed: latency and TTFT; cost: cost per task; consistency: "
                            "how repeated runs agree), each task once: its tasks are those with a measured value "
                            "(docs/results.md)", out.width, "  "))
    out.line(GRADE_LEGEND)
    out.sep("-", "latency, tokens and cost")
    for label, key in (("latency ms", "latency_ms"), ("ttft ms", "ttft_ms")):
        block = summary.get(key)
        out.line(f"{label:11} " + ("unknown" if not block else "  ".join(
            f"{stat} {compact(block.get(stat))}" for stat in ("p50", "p95", "p99", "mean"))))
    out.line(f"{'tokens':11} in {count_text(summary.get('input_tokens'))}, "
             f"out {count_text(summary.get('output_tokens'))}")
    cost = summary.get("cost") or {}
    out.lines(wrap_text(f"{'cost':11} {format_usd(cost.get('cost_usd'))} in all, "
                        f"{format_usd(cost.get('cost_per_task_usd'))} per task, "
                        f"{format_usd(cost.get('cost_per_success_usd'))} per passed run" + _price(cost.get("price")),
                        out.width, " " * 12))
    worst = worst_tasks(result.records, name)
    limit = len(worst) if verbosity > 0 else 10
    out.sep("-", "worst tasks (lowest task score first)")
    rows = [[task, _fmt(value), f"{passed}/{runs}", _short(reason or "", 40)]
            for task, value, passed, runs, reason in worst[:limit]]
    out.lines(table(["task", "score", "passed", "last miss or error"], rows,
                    ("left", "right", "right", "left"), width=out.width, wrap={0: "name", 3: "words"}).splitlines())
    if len(worst) > limit:
        out.line(f"{len(worst) - limit} more tasks; -v lists them all; "
                 f"modelbench show {saved.path} --task ID shows the replies")
    else:
        out.line(f"modelbench show {saved.path} --task ID shows the replies")


def _position(result: Any, name: str) -> str:
    """The model's position in the headline ranking (tied models share one), e.g. ``2 of 4 (weighted)``."""
    if result.analysis.comparison is None:
        return ""
    from ..compare.rankings import ranking_rows

    headline = result.document["rankings"]["headline"]
    rows = ranking_rows(result.analysis.comparison.rankings.ranking(headline))
    for row in rows[1:]:
        if row[1] == name:
            return f"{row[0]} of {len(rows) - 1} ({headline})"
    return ""


def _price(price: Any) -> str:
    """The price the session used, as it says it (a zero price is free: a local model)."""
    if not isinstance(price, Mapping):
        return ""
    paid = (price.get("input_usd_per_mtok"), price.get("output_usd_per_mtok"))
    if not any(paid):
        return f" ({price['source']})" if price.get("source") else " (free)"
    return f" (price {paid[0]:g}/{paid[1]:g} USD per 1M tokens in/out)"


def _fmt(value: float | None) -> str:
    return "?" if value is None else f"{value:.1f}"


def _short(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def worst_tasks(records: Sequence[Any], name: str) -> list[tuple[str, float | None, int, int, str | None]]:
    """(task, task score, passed runs, measured runs, last miss or error) of ``name``, lowest
    score first; the score is the one every summary uses (core.scoring.task_scores)."""
    from ..core.scoring import task_scores
    from ..core.table import RunTable

    mine = [record for record in records if record.model == name]
    if not mine:
        return []
    table = RunTable.from_records(mine, [name])
    scores = task_scores(table)[0]
    rows = []
    for index, task in enumerate(table.tasks):
        runs = [record for record in mine if record.task == task]
        measured = [record for record in runs if record.outcome in ("passed", "failed")]
        reasons = [record.error if record.outcome == "error" else record.detail
                   for record in runs if record.outcome in ("failed", "error")]
        value = float(scores[index]) if scores[index] == scores[index] else None
        rows.append((task, value, sum(record.passed for record in measured), len(measured),
                     reasons[-1] if reasons else None))
    rows.sort(key=lambda row: (row[1] is not None, row[1] if row[1] is not None else 0.0, row[0]))
    return rows


# ------------------------------------------------------------------ one task


def find_task(saved: Saved, task: str) -> str:
    """The task id ``task`` names: itself, or the one task id containing it."""
    tasks = sorted({record.task for record in saved.records})
    if task in tasks:
        return task
    containing = [name for name in tasks if task in name]
    if len(containing) == 1:
        return containing[0]
    if containing:
        raise ConfigError(f"task {task!r} matches {len(containing)} tasks in {str(saved.path)!r} "
                          f"({', '.join(containing[:5])}{', …' if len(containing) > 5 else ''}); give the whole id")
    close = difflib.get_close_matches(task, tasks, n=3, cutoff=0.5)
    hint = f"; did you mean: {', '.join(close)}" if close else f"; it has {len(tasks)} tasks, e.g. {', '.join(tasks[:3])}"
    raise ConfigError(f"task {task!r} is not in results file {str(saved.path)!r}{hint}")


def show_task(saved: Saved, out: Writer, task: str, *, model: str | None = None) -> int:
    """Every model's replies to one task, side by side (one column per model, one row per run)."""
    task_id = find_task(saved, task)
    if model is not None:
        check_model(saved, model)
    models = [name for name in saved.model_names if model is None or name == model]
    runs = {(record.model, record.run): record for record in saved.records if record.task == task_id}
    models = [name for name in models if any(key[0] == name for key in runs)]
    out.sep("=", f"modelbench task: {task_id}")
    first = next(iter(runs.values()))
    out.line(f"category {first.category}, difficulty {first.difficulty}, weight {first.weight:g}"
             + (f", group {first.group}" if first.group else ""))
    prompts = {record.prompt for record in runs.values() if record.prompt is not None}
    if len(prompts) == 1:
        out.sep("-", "prompt (last user message)")
        out.lines(_wrap(prompts.pop(), out.width))
    elif not prompts:
        out.line("no prompt or reply was kept (--modelbench-text-limit=0, or no call was answered)")
    numbers = sorted({key[1] for key in runs})
    columns = max(1, min(len(models), (out.width + 3) // 33))
    for start in range(0, len(models), columns):
        block = models[start:start + columns]
        width = (out.width - 3 * (len(block) - 1)) // len(block)
        previous: list[list[str]] | None = None
        same: list[int] = []
        for number in numbers:
            cells = [_cell(runs.get((name, number)), name, number, width, several_prompts=len(prompts) > 1)
                     for name in block]
            if cells == previous:  # a deterministic model answers every run alike: say so once
                same.append(number)
                continue
            _same_runs(out, same)
            same, previous = [], cells
            out.sep("-", f"run {number}")
            height = max(len(cell) for cell in cells)
            for row in range(height):
                out.line(" | ".join((cell[row] if row < len(cell) else "").ljust(width) for cell in cells).rstrip())
        _same_runs(out, same)
    return 0


def _same_runs(out: Writer, numbers: list[int]) -> None:
    if numbers:
        label = f"run {numbers[0]}" if len(numbers) == 1 else f"runs {numbers[0]}-{numbers[-1]}"
        out.line(f"{label}: the same outcomes and replies as the run above")


def _cell(record: Any, name: str, number: int, width: int, *, several_prompts: bool) -> list[str]:
    if record is None:
        return _wrap(f"{name}: no run {number}", width)
    outcome = {"failed": "MISSED", "error": "ERROR", "passed": "PASSED", "skipped": "SKIPPED"}[record.outcome]
    quality = "" if record.quality is None else f", quality {record.quality:.2f}"
    lines = _wrap(f"{name}: {outcome}{quality}", width) + ["-" * min(width, 20)]
    if several_prompts and record.prompt is not None:
        lines += _wrap(f"prompt: {record.prompt}", width) + [""]
    lines += _wrap(record.reply if record.reply is not None else "(no reply kept)", width)
    reason = record.error if record.outcome == "error" else record.detail
    if reason:
        lines += [""] + _wrap(f"{'error' if record.outcome == 'error' else 'why'}: {reason}", width)
    return lines


def _wrap(text: str, width: int) -> list[str]:
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        lines += textwrap.wrap(paragraph, width=max(10, width), replace_whitespace=False,
                               drop_whitespace=True) or [""]
    return lines
