"""A benchmark run in progress: what it accumulates while its test runs, and the record it
becomes. Does not import pytest (the plugin keeps one per benchmark item in its stash)."""

from __future__ import annotations

import dataclasses
import sys
import time
from typing import Any

from ..core.config import TaskSpec
from ..core.records import RunRecord
from ..models.model import CallTotals
from ..models.prefetch import RunPrefetch


@dataclasses.dataclass(slots=True)
class RunState:
    """What one benchmark run accumulates while it executes."""

    task: str
    spec: TaskSpec
    model: str
    run: int
    totals: CallTotals = dataclasses.field(default_factory=CallTotals)
    judge_totals: CallTotals = dataclasses.field(default_factory=CallTotals)
    quality: float | None = None
    recorded: bool = False
    cpu_start: float | None = None
    load: list[dict[str, Any]] | None = None
    #: The model's and the judge's calls fetched ahead of the run (``models/prefetch.py``),
    #: kept across its attempts; None when its calls are not fetched ahead.
    prefetch: RunPrefetch | None = None
    judge_prefetch: RunPrefetch | None = None
    isolation: str | None = None

    def reset(self) -> None:
        """Start a new attempt (pytest-rerunfailures runs an item again, a probe runs it
        ahead): only the last attempt's measurements make its record. The calls fetched ahead
        are kept."""
        self.totals = CallTotals()
        self.judge_totals = CallTotals()
        self.quality = None
        self.recorded = False
        self.cpu_start = None
        self.load = None
        self.isolation = None

    @property
    def prefetches(self) -> tuple[RunPrefetch, ...]:
        return tuple(prefetch for prefetch in (self.prefetch, self.judge_prefetch) if prefetch is not None)

    @property
    def probing(self) -> bool:
        """Whether the run is being probed (run ahead of its turn, never reported)."""
        return any(prefetch.probing for prefetch in self.prefetches)

    def record(self, outcome: str, *, quality: float | None = None, error: str | None = None,
               detail: str | None = None) -> RunRecord:
        fields = self.totals.as_fields()
        judge = self.judge_totals.as_fields()
        cpu_s = None if self.cpu_start is None else time.process_time() - self.cpu_start
        return RunRecord(
            task=self.task, model=self.model, run=self.run, category=self.spec.category,
            difficulty=self.spec.difficulty, weight=self.spec.weight, outcome=outcome,
            quality=quality, error=error, detail=detail, group=self.spec.group, **fields,
            judge_calls=judge["calls"], judge_latency_ms=judge["latency_ms"], judge_cost_usd=judge["cost_usd"],
            cpu_s=cpu_s, peak_rss_mb=peak_rss_mb() if cpu_s is not None else None, load=self.load or None,
            isolation=self.isolation,
        )


def peak_rss_mb() -> float | None:
    """Peak resident memory of this process in MiB (``ru_maxrss`` is KiB on Linux, bytes on macOS)."""
    try:
        import resource
    except ImportError:  # not on Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def task_id(nodeid: str, own_ids: list[str], idlist: list[str] | None = None) -> str:
    """The node id without the parts of its parametrization that name a run: the model/run
    part, and pytest-repeat's step. ``idlist`` is pytest's list of the callspec's id parts
    when available (one per parametrize call); else the parts are found in the id string."""
    base, bracket, params = nodeid.partition("[")
    if not bracket:
        return nodeid
    if idlist is not None:
        parts = list(idlist)
        for own in own_ids:
            if own in parts:
                parts.remove(own)
        return f"{base}[{'-'.join(parts)}]" if parts else base
    params = params[:-1]
    for own in own_ids:
        if params == own:
            params = ""
        elif params.endswith("-" + own):
            params = params[: -len(own) - 1]
        else:
            params = params.replace(own + "-", "", 1)
    return f"{base}[{params}]" if params else base


def failed_outside_the_test(excinfo: Any) -> bool:
    """Whether ``pytest.fail`` was called by pytest or an installed plugin (pytest-timeout's
    watchdog, pytest's "async def functions are not natively supported") rather than by the
    test's own code: the caller of ``fail()`` lives in an installed package. ``excinfo`` is
    the test call's ``ExceptionInfo`` (None when it raised nothing)."""
    if excinfo is None:
        return False
    import traceback

    frames = traceback.extract_tb(excinfo.tb)
    outcomes = next((i for i in range(len(frames) - 1, -1, -1)
                     if frames[i].filename.replace("\\", "/").endswith("_pytest/outcomes.py")), None)
    if outcomes is None or outcomes == 0:
        return False
    return installed_file(frames[outcomes - 1].filename)


def installed_file(filename: str) -> bool:
    """Whether a source file belongs to an installed package (a plugin) or to pytest itself,
    not to the project under test."""
    path = filename.replace("\\", "/")
    return "/site-packages/" in path or "/dist-packages/" in path or "/_pytest/" in path


def short_reason(exc: BaseException) -> str:
    """The first line of an exception's message (its type's name when empty), at most 200
    characters: the reason a run record keeps."""
    text = str(exc).strip() or type(exc).__name__
    first = text.splitlines()[0]
    return first if len(first) <= 200 else first[:197] + "..."


def skip_reason(report: Any) -> str | None:
    """The reason of a skipped test report (its ``longrepr`` is ``(file, line, "Skipped: why")``)."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return None
