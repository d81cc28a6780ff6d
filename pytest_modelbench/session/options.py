"""The command-line options and ini settings of pytest-modelbench, as one table.

Each :class:`Option` is both ``--modelbench-NAME`` (dest ``modelbench_NAME``) and the ini
setting ``modelbench_NAME``; the plugin registers them from :data:`OPTIONS`, and
:func:`~.settings.resolve` turns their values into :class:`~.settings.Settings`. Type parsers
reject bad values at parse time with a message naming the value. Does not import pytest.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from typing import Any


def _whole_number(minimum: int) -> Callable[[str], int]:
    """The parser of a whole number >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= {minimum}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} is not allowed; it must be >= {minimum}")
        return value

    return parse


_positive_int = _whole_number(1)
_non_negative_int = _whole_number(0)


_SIZE_UNITS = {"": 1, "b": 1, "kib": 2**10, "mib": 2**20, "gib": 2**30}


def parse_bytes(text: str) -> int:
    """A size: a whole number of bytes, or with a unit: ``32MiB``, ``512 KiB``, ``1GiB``."""
    import re

    match = re.fullmatch(r"\s*(\d+)\s*([A-Za-z]*)\s*", str(text))
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _SIZE_UNITS:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a size; write bytes (33554432) or a number with KiB, MiB or GiB (32MiB)"
        )
    value = int(match.group(1)) * _SIZE_UNITS[unit]
    if value < 1024:
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed; it must be at least 1 KiB")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed; it must be seconds > 0")
    return value


def parse_shard(text: str) -> tuple[int, int]:
    """``K/N`` (1 <= K <= N): run shard K of N."""
    parts = str(text).strip().split("/")
    try:
        index, count = (int(part) for part in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not K/N (shard K of N, whole numbers with 1 <= K <= N, e.g. 2/4)") from None
    if not 1 <= index <= count:
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed; K/N needs 1 <= K <= N (e.g. 2/4)")
    return index, count


@dataclasses.dataclass(frozen=True, slots=True)
class Option:
    """One ``--modelbench-NAME`` option (dest ``modelbench_NAME``) and its ini ``modelbench_NAME``.

    ``kind``: ``value`` (takes a value), ``flag`` (store_true, ini bool), ``append`` (repeatable,
    ini list) or ``optional`` (a value that may be left out: ``const`` is used then).
    """

    name: str
    help: str
    metavar: str | None = None
    kind: str = "value"
    type: Any = None
    const: str | None = None


OPTIONS = (
    Option("models", "Models to run benchmark tasks against: echo, python:module:function, "
            "openai:MODEL[@URL], anthropic:MODEL[@URL], ollama:MODEL[@URL], "
            "a name from [tool.modelbench.models], or ALIAS=SPEC", "SPEC[,SPEC...]"),
    Option("runs", "Runs per task and model, overriding every task's difficulty and marker", "N",
            type=_positive_int),
    Option("json", "Write the results (summary and every run) to this JSON file", "PATH"),
    Option("strict", "Make a model's miss or failed call an ordinary test failure", kind="flag"),
    Option("timeout", "Timeout of one model call unless the marker sets one (default 60)", "SECONDS",
            type=_seconds),
    Option("retries", "Retries of a failed model call (default 2)", "N", type=_non_negative_int),
    Option("concurrency", "Model calls in flight at once per model, fetched ahead of each task's run "
            "(default 16 for hosted public APIs, 1 elsewhere; 1 = one call at a time)", "N", type=_positive_int),
    Option("max_response_bytes", "Largest response body accepted from a model server, counted after "
            "decompression (default 32MiB)", "BYTES|NMiB", type=parse_bytes),
    Option("volume", "Project each model's monthly cost at this many tasks per day (also /hour, /month)",
            "N/day"),
    Option("budget", "Mark which models' projected monthly cost fits this budget (needs --modelbench-volume)",
            "USD/month"),
    Option("max_cost", "Stop calling models once the session's measured spend reaches this many dollars",
            "USD"),
    Option("cache", "Read-through response cache (default .modelbench/cache.sqlite); write "
            "--modelbench-cache=PATH to name another file", "PATH", kind="optional",
            const=".modelbench/cache.sqlite"),
    Option("replay", "Answer only from a response store, opened read-only: no model calls", "PATH"),
    Option("cache_lock_timeout", "Seconds to wait for another process's lock on the response store "
            "before giving up (default 60)", "SECONDS", type=_seconds),
    Option("rank", "Ranking shown as the headline (all are computed; default weighted)",
            "weighted|bradley_terry|elo|borda|pareto"),
    Option("alpha", "Significance level of comparisons after Holm adjustment (default 0.05)", "ALPHA"),
    Option("compare", "Print a detailed head-to-head report of two models", "A,B"),
    Option("baseline", "Compare with the results JSON of an earlier run (paired on shared tasks)", "PATH"),
    Option("fail_on_regression", "Fail when a model's score dropped by at least the tolerance, significantly",
            kind="flag"),
    Option("tolerance", "Score drop (0-100 points) the regression gate tolerates (default 2)", "POINTS"),
    Option("min_score", "Fail when a model's overall score is below N", "N|MODEL=N,..."),
    Option("max_p95_latency_ms", "Fail when a model's p95 latency exceeds this", "MS"),
    Option("max_cost_per_task", "Fail when a model's cost per task exceeds this", "USD"),
    Option("update_baseline", "Rewrite the baseline file with this run's results when every gate passes",
            kind="flag"),
    Option("report", "Write a Markdown or self-contained HTML report (repeatable)", "PATH.md|PATH.html",
            kind="append"),
    Option("use_case", "Show the recommendation for one use case only", "NAME"),
    Option("judge", "Model behind the 'judge' fixture (LLM-as-judge); any model spec", "SPEC"),
    Option("shard", "Run only shard K of N of the tasks (all models and runs of a task in one shard)", "K/N",
            type=parse_shard),
    Option("plan", "Show what the session would run and cost (tasks, runs, calls, estimates); call no model",
            kind="flag"),
    Option("text_limit", "Bytes of each run's prompt and reply kept in the results (default 4096; 0 keeps none)",
            "BYTES", type=_non_negative_int),
    Option("sandbox", "Where generated code runs (run_python and friends): auto (bubblewrap when it "
            "works, else resource limits only, with a warning), require (fail unless bubblewrap "
            "works) or off (resource limits only); default $MODELBENCH_SANDBOX, else auto",
            "auto|require|off"),
)
