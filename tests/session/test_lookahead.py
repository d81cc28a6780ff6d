"""The lookahead (session/prefetch.py), the progress text (session/progress.py) and the default
concurrency (session/runtime.py), without pytest's protocol: runs are stand-ins."""

from __future__ import annotations

import concurrent.futures
import dataclasses

import pytest

from pytest_modelbench.core.config import TaskSpec
from pytest_modelbench.models.dispatch import ChannelStats
from pytest_modelbench.models.limiter import LimiterStats
from pytest_modelbench.models.prefetch import RunPrefetch, RunSuspended
from pytest_modelbench.models.specs import ModelSpec
from pytest_modelbench.session.prefetch import IDLE_STREAK, Prefetcher
from pytest_modelbench.session.progress import status_text, summary_lines
from pytest_modelbench.session.runs import RunState
from pytest_modelbench.session.runtime import DEFAULT_HOSTED_CONCURRENCY, concurrency_for
from pytest_modelbench.session.settings import Settings


@dataclasses.dataclass(eq=False)
class Run:
    """A stand-in benchmark run: ``calls`` model calls in a row; a probe defers the first one
    not known yet (fetched ahead, or ``cached``)."""

    name: str
    calls: int = 1
    family: str = "test_f"
    cached: bool = False
    state: RunState = dataclasses.field(default=None)

    def __post_init__(self) -> None:
        self.state = RunState(task=self.name, spec=TaskSpec("accuracy", "medium"), model="m", run=1,
                              prefetch=RunPrefetch())


class Channel:
    def __init__(self, concurrency: int = 2) -> None:
        self.concurrency = concurrency
        self.pending: list[concurrent.futures.Future] = []

    @property
    def outstanding(self) -> int:
        return sum(not future.done() for future in self.pending)

    def answer_all(self) -> None:
        for future in self.pending:
            if not future.done():
                future.set_result("answer")


class Session:
    def __init__(self, runs: list[Run], *, concurrency: int = 2, lookahead: int = 64, probeable=None) -> None:
        self.runs = runs
        self.channel = Channel(concurrency)
        self.probed: list[str] = []
        self.probeable = probeable or (lambda run, then: True)
        self.prefetcher = Prefetcher(
            probe=self.probe, can_probe=lambda run, then: self.probeable(run, then),
            upcoming=lambda current, nextitem: self.runs[self.runs.index(current) + 1:],
            state_of=lambda run: run.state, family_of=lambda run: run.family,
            position_of=self.runs.index, channel_of=lambda state: self.channel, lookahead=lookahead,
            answers=lambda: self.waits, wait=self.wait,
        )
        self.waits = 0

    def wait(self, seen: int) -> None:
        """The lookahead waits for an answer: they all arrive."""
        self.waits += 1
        self.channel.answer_all()

    def probe(self, run: Run, then: Run) -> None:
        self.probed.append(run.name)
        prefetch = run.state.prefetch
        for index in range(run.calls):
            prefetch.reached = max(prefetch.reached, index + 1)
            if run.cached or index in prefetch.calls:
                continue
            future: concurrent.futures.Future = concurrent.futures.Future()
            self.channel.pending.append(future)
            try:
                prefetch.defer(index, f"{run.name}-{index}", future)
            except RunSuspended:
                return

    def run_all(self) -> None:
        for position, run in enumerate(self.runs):
            nextitem = self.runs[position + 1] if position + 1 < len(self.runs) else None
            self.prefetcher.before(run, nextitem)
            self.channel.answer_all()  # the answers arrive while the run runs
            run.state.totals.calls = run.calls
            self.prefetcher.after(run, "m")


def test_probes_keep_two_rounds_in_flight():
    runs = [Run(f"r{index}") for index in range(10)]
    session = Session(runs, concurrency=2)
    session.prefetcher.before(runs[0], runs[1])
    # the run in turn first, then the next ones until 2 x 2 calls are queued or in flight;
    # then it waits for an answer, and goes on: the run in turn again (until all its calls are
    # known: here its probe runs to the end), and more runs behind it
    assert session.probed[:4] == ["r0", "r1", "r2", "r3"]
    assert session.probed[4:] == ["r0", "r4", "r5", "r6", "r7"]
    assert runs[0].state.prefetch.complete and session.waits == 1


def test_each_run_is_probed_as_often_as_it_has_calls():
    runs = [Run(f"r{index}", calls=3) for index in range(6)]
    session = Session(runs, concurrency=4)
    session.run_all()
    counts = {run.name: session.probed.count(run.name) for run in runs}
    # Three calls each. A run is not probed again in its turn (its next calls are made as it
    # runs): the first runs, in turn early, have fewer probes. The others get three, and a
    # fourth (that finds everything known) only before any run of the function finished or
    # ran to its end.
    assert all(1 <= count <= 4 for count in counts.values()), counts
    assert all(count >= 3 for name, count in counts.items() if name in ("r3", "r4", "r5")), counts
    assert session.prefetcher.calls_per_family == {"test_f": 3}
    assert sum(count == 4 for count in counts.values()) <= 2


def test_the_run_in_turn_gets_all_its_calls_before_it_runs():
    runs = [Run(f"r{index}", calls=3) for index in range(4)]
    session = Session(runs, concurrency=8)
    session.prefetcher.before(runs[0], runs[1])
    prefetch = runs[0].state.prefetch
    assert sorted(prefetch.calls) == [0, 1, 2] and prefetch.complete and prefetch.outstanding == 0
    assert session.probed.count("r0") == 4  # three calls, and a probe that ran to the end
    # meanwhile the runs behind it went one call further at each answer
    assert all(sorted(run.state.prefetch.calls) == [0, 1, 2] for run in runs[1:])


def test_runs_that_cannot_be_probed_now_are_skipped():
    runs = [Run(f"r{index}") for index in range(4)]
    session = Session(runs, concurrency=8, probeable=lambda run, then: run.name != "r2")
    session.prefetcher.before(runs[0], runs[1])
    assert session.probed[:3] == ["r0", "r1", "r3"] and "r2" not in session.probed


def test_lookahead_bounds_how_far_ahead_runs_are_probed():
    runs = [Run(f"r{index}") for index in range(20)]
    session = Session(runs, concurrency=50, lookahead=5)
    session.prefetcher.before(runs[0], runs[1])
    assert session.probed[:6] == ["r0", "r1", "r2", "r3", "r4", "r5"]
    assert not set(session.probed) - {"r0", "r1", "r2", "r3", "r4", "r5"}


def test_serial_and_complete_runs_are_not_probed():
    runs = [Run(f"r{index}") for index in range(4)]
    runs[1].state.prefetch.serial = True
    runs[2].state.prefetch.complete = True
    session = Session(runs, concurrency=8)
    session.prefetcher.before(runs[0], runs[1])
    assert session.probed[:2] == ["r0", "r3"] and not {"r1", "r2"} & set(session.probed)


def test_a_cached_session_stops_probing_soon():
    runs = [Run(f"r{index}", cached=True) for index in range(200)]
    session = Session(runs, concurrency=8)
    session.run_all()
    assert session.prefetcher.probes == session.prefetcher.idle_probes
    # IDLE_STREAK probes, then every 2nd, 4th, ... new run: a small share of 200
    assert IDLE_STREAK <= session.prefetcher.probes < 30


def test_after_learns_and_forgets():
    run = Run("r0", calls=2)
    session = Session([run, Run("r1")])
    session.prefetcher.before(run, None)
    run.state.prefetch.note = "model call 1 asked something different"
    run.state.totals.calls = 2
    session.prefetcher.after(run, "m")
    assert session.prefetcher.calls_per_family == {"test_f": 2}
    assert session.prefetcher.finished == {"m": 1} and session.prefetcher.calls_of_finished == {"m": 2}
    assert session.prefetcher.fell_back == [("r0", "model call 1 asked something different")]
    assert run.state.prefetch.calls == {}


# --------------------------------------------------------------------------- progress


def test_status_text():
    stats = {"gpt-4o": ChannelStats("gpt-4o", 32, submitted=60, completed=40, failed=1, in_flight=12, queued=7,
                                    cost_usd=0.0123)}
    text = status_text(stats, runs_total={"gpt-4o": 200}, runs_done={"gpt-4o": 40},
                       calls_of_done={"gpt-4o": 40}, elapsed_s=20.0)
    assert text == "modelbench: gpt-4o 41/~200 calls, 12 in flight, 1 error, $0.0123 | ETA 1:20"
    # nothing finished yet: no estimate
    assert status_text(stats, runs_total={}, runs_done={}, calls_of_done={}, elapsed_s=1.0) == (
        "modelbench: gpt-4o 41 calls, 12 in flight, 1 error, $0.0123")


def test_summary_lines():
    stats = {"m": ChannelStats("m", 8, submitted=10, completed=9, failed=1, retries=3, throttled=2,
                               peak_in_flight=8, started_at=1.0, finished_at=3.5)}

    class Limiter:
        ceiling = 8
        stats = LimiterStats(decreases=2, pauses=3, lowest_window=2.0)

    lines = summary_lines(stats, {"openai http://x/v1 no key": Limiter()}, probes=12, idle_probes=1,
                          fell_back=[(f"t{index}", "why") for index in range(5)])
    assert lines == [
        "m: 10 calls in 2.5 s, up to 8 in flight (concurrency 8); 1 failed call, 3 retries, "
        "2 throttled (429/529 or connection closed) and retried",
        "rate limiter openai http://x/v1 no key: window halved 2 times, lowest 2 of 8, 3 pauses",
        "lookahead: 12 probes (1 found every answer known)",
        "5 runs made their calls live, one at a time (a request differed from the one fetched ahead)",
        "  t0", "  t1", "  t2", "  ... and 2 more (-v shows all)",
    ]


# --------------------------------------------------------------------------- default


@pytest.mark.parametrize(
    ("spec", "settings", "environ", "expected"),
    [
        (ModelSpec("gpt", "openai", "gpt-4o-mini"), Settings(), {}, DEFAULT_HOSTED_CONCURRENCY),
        (ModelSpec("claude", "anthropic", "claude-3-5-haiku"), Settings(), {}, DEFAULT_HOSTED_CONCURRENCY),
        (ModelSpec("local", "openai", "llama", base_url="http://127.0.0.1:8000/v1"), Settings(), {}, 1),
        (ModelSpec("gpt", "openai", "gpt-4o-mini"), Settings(), {"OPENAI_BASE_URL": "http://127.0.0.1:8000/v1"}, 1),
        (ModelSpec("ollama", "ollama", "llama3"), Settings(), {}, 1),
        (ModelSpec("py", "python", "m:f"), Settings(), {}, 1),
        (ModelSpec("py", "python", "m:f"), Settings(concurrency=8), {}, 8),
        (ModelSpec("gpt", "openai", "gpt-4o-mini"), Settings(concurrency=4), {}, 4),
        (ModelSpec("gpt", "openai", "gpt-4o-mini", extra={"concurrency": 2}), Settings(concurrency=4), {}, 2),
        (ModelSpec("echo", "echo", ""), Settings(concurrency=32), {}, 1),
    ],
)
def test_default_concurrency(spec, settings, environ, expected):
    assert concurrency_for(spec, settings, environ) == expected
