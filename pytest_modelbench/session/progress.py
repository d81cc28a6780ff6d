"""What a concurrent session says while it runs and when it ends. Does not import pytest.

:func:`status_text` is the progress line (the plugin shows it while a test waits for an answer:
updated in place on a terminal, as a plain line now and then otherwise); :func:`summary_lines`
the lines after the run. Both read the channels' counts (``models/dispatch.py``), the limiters'
(``models/limiter.py``) and the lookahead's (``session/prefetch.py``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def _usd(amount: float) -> str:
    return f"${amount:.4f}" if amount < 1 else f"${amount:,.2f}"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def status_text(stats: Mapping[str, Any], *, runs_total: Mapping[str, int], runs_done: Mapping[str, int],
                calls_of_done: Mapping[str, int], elapsed_s: float) -> str:
    """One line: per model, calls answered of the calls expected (the runs' number times the
    calls a finished run made; ``~`` marks the estimate), calls in flight, failed calls and
    spend; then the time left at the pace of the runs finished so far (ETA)."""
    parts = []
    for name, channel in stats.items():
        answered = channel.completed + channel.failed
        total = runs_total.get(name)
        done = runs_done.get(name, 0)
        if total and done:
            expected = max(answered + channel.outstanding, math.ceil(total * calls_of_done.get(name, 0) / done))
            calls = f"{answered}/~{expected} calls"
        else:
            calls = f"{answered} calls"
        part = f"{name} {calls}, {channel.in_flight} in flight"
        if channel.failed:
            part += f", {_plural(channel.failed, 'error')}"
        if channel.cost_usd:
            part += f", {_usd(channel.cost_usd)}"
        parts.append(part)
    total_runs, done_runs = sum(runs_total.values()), sum(runs_done.values())
    if total_runs and done_runs and elapsed_s > 0:
        parts.append(f"ETA {_duration((total_runs - done_runs) * elapsed_s / done_runs)}")
    return "modelbench: " + " | ".join(parts)


def summary_lines(stats: Mapping[str, Any], limiters: Mapping[str, Any], *, probes: int, idle_probes: int,
                  fell_back: Sequence[tuple[str, str]], verbosity: int = 0) -> list[str]:
    """After the run: per model, its calls, the most in flight, the time from the first call
    sent to the last answer, failures, retries and throttles; the limiters' window decreases;
    the probes; and the runs whose calls went live (all of them with ``-v``)."""
    lines = []
    for name, channel in stats.items():
        if not channel.submitted:
            continue
        span = "" if channel.started_at is None or channel.finished_at is None else \
            f" in {channel.finished_at - channel.started_at:.1f} s"
        line = (f"{name}: {_plural(channel.completed + channel.failed, 'call')}{span}, up to "
                f"{channel.peak_in_flight} in flight (concurrency {channel.concurrency})")
        extras = []
        if channel.failed:
            extras.append(_plural(channel.failed, "failed call"))
        if channel.retries:
            extras.append(_plural(channel.retries, "retry") if channel.retries == 1 else f"{channel.retries} retries")
        if channel.throttled:
            extras.append(f"{channel.throttled} throttled (429/529 or connection closed) and retried")
        lines.append(line + (f"; {', '.join(extras)}" if extras else ""))
    for endpoint, limiter in limiters.items():
        stats_of = limiter.stats
        if stats_of.decreases:
            lines.append(f"rate limiter {endpoint}: window halved {_plural(stats_of.decreases, 'time')}, "
                         f"lowest {stats_of.lowest_window:g} of {limiter.ceiling}, {_plural(stats_of.pauses, 'pause')}")
    if probes:
        lines.append(f"lookahead: {_plural(probes, 'probe')} ({idle_probes} found every answer known)")
    if fell_back:
        lines.append(f"{_plural(len(fell_back), 'run')} made their calls live, one at a time "
                     "(a request differed from the one fetched ahead)")
        shown = fell_back if verbosity > 0 else fell_back[:3]
        lines.extend(f"  {task}" for task, _ in shown)
        if len(shown) < len(fell_back):
            lines.append(f"  ... and {len(fell_back) - len(shown)} more (-v shows all)")
    return lines


__all__ = ["status_text", "summary_lines"]
