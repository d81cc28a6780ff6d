"""The lookahead of a concurrent session: fetching model calls before the runs need them.

pytest runs one test at a time, and a benchmark session keeps it that way: every benchmark run
is run by pytest in its turn, with its fixtures, capture, reports and plugins, exactly as
without concurrency. What changes is *when its model calls are made*. Before each run's turn,
the :class:`Prefetcher` *probes* the runs that come after it: a probe runs a later run through
pytest's protocol without reporting anything, up to its first model call whose answer is not
known yet; that call is sent to the model in the background (``models/dispatch.py``) and the
probe stops (``models/prefetch.py``). While the runs in front are run and reported, the answers
of the ones behind arrive, ``concurrency`` at a time per model. A run with k calls in a row is
probed k times (each probe gets one call further); before its turn, the lookahead waits, and
probes what it can meanwhile, until the run has every answer, so it runs without waiting.

Which runs are probed, before the run in turn (again at each answer, while the run in turn
still has a call in flight):

* the run in turn itself, until all its calls are known (it then runs without waiting);
* the next runs this process will run (``upcoming``), up to ``lookahead`` of them, that may be
  probed now (``can_probe``: for pytest, the same parent collectors, every fixture wider than
  a function already set up with the run's parameters, so a probe never sets up or tears down
  a module's or class's fixtures);
* not a run whose last probe reached its end (all its calls are known), nor one that will
  never be probed again (a call that is not reproducible, an app client), nor one with a call
  still in flight;
* not a run that has already as many calls as the runs of its test function needed (learned
  as the session goes, from the runs that finished and the probes that ran to the end: a
  probe that would run to the end gains nothing);
* a run of a test function whose last probes all found every answer known already (from the
  response cache) only now and then, until a probe sends a call again;
* only while its model has fewer than two rounds of calls (``2 × concurrency``) queued or in
  flight (the run in turn always), which keeps every model's connections busy without
  fetching far ahead.

Does not import pytest: the plugin hands in how to probe, what comes next and what may be
probed (``pytest_modelbench/concurrency.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Any

#: How many rounds of calls (``concurrency`` each) a model may have queued or in flight
#: before the lookahead stops fetching for it.
ROUNDS_AHEAD = 2
#: Probes of one test function in a row that sent no call before new runs of it are probed
#: only now and then (``Prefetcher._bet``).
IDLE_STREAK = 4


class Prefetcher:
    """Probes the runs after the one in turn so that their calls are in flight (module doc).

    ``probe(run, then)`` runs ``run`` once without reporting it (``then`` is the item pytest
    runs next, for pytest's teardown); ``can_probe(run, then)`` says whether that is possible
    now; ``upcoming(current, nextitem)`` gives the runs after ``current`` in the order
    this process runs them; ``state_of(run)`` its ``RunState`` when its calls are fetched ahead
    (None otherwise); ``family_of(run)`` its test function; ``position_of(run)`` its place in the
    session (the priority of its calls); ``channel_of(state)`` the channel of its model.
    """

    def __init__(self, *, probe: Callable[[Any, Any], None], can_probe: Callable[[Any, Any], bool],
                 upcoming: Callable[[Any, Any], Iterable[Any]], state_of: Callable[[Any], Any],
                 family_of: Callable[[Any], Hashable], position_of: Callable[[Any], int],
                 channel_of: Callable[[Any], Any], lookahead: int,
                 answers: Callable[[], int] = lambda: 0, wait: Callable[[int], None] = lambda seen: None) -> None:
        self._probe_run = probe
        self._can_probe = can_probe
        self._upcoming = upcoming
        self._state_of = state_of
        self._family_of = family_of
        self._position_of = position_of
        self._channel_of = channel_of
        self._answers = answers
        self._wait = wait
        self.lookahead = lookahead
        #: Most calls (model and judge) a finished run of each test function made.
        self.calls_per_family: dict[Hashable, int] = {}
        self.probes = 0
        #: Probes that ran to the end without sending a call (the run's calls were all known).
        self.idle_probes = 0
        #: Finished runs per model, and why runs fell back to live calls.
        self.finished: dict[str, int] = {}
        self.calls_of_finished: dict[str, int] = {}
        self.fell_back: list[tuple[str, str]] = []
        self._idle_streak: dict[Hashable, int] = {}
        self._new_runs: dict[Hashable, int] = {}

    def before(self, current: Any, nextitem: Any) -> None:
        """The run ``current`` is about to run: fetch its calls and keep the ones behind it in
        flight.

        Until every call ``current`` makes is known (or it cannot be probed), the lookahead
        waits for answers, and at each one probes again what can go one call further: the
        runs behind (one call each, while their model has room) and ``current`` (ahead of all
        of them). So a run with several calls in a row does not wait in its turn for each of
        them in turn, with nothing else sent meanwhile. A probe of ``current`` hands pytest
        ``nextitem`` as the next item, any other probe ``current``.
        """
        while True:
            seen = self._answers()
            if nextitem is not None:
                self._consider(current, nextitem, head=True)
            for distance, run in enumerate(self._upcoming(current, nextitem)):
                if distance >= self.lookahead:
                    break
                if run is not current:
                    self._consider(run, current)
            if not any(prefetch.outstanding for prefetch in self._prefetches(current)):
                return
            self._wait(seen)

    def _prefetches(self, run: Any) -> tuple[Any, ...]:
        state = self._state_of(run)
        return () if state is None else state.prefetches

    def _consider(self, run: Any, then: Any, *, head: bool = False) -> None:
        state = self._state_of(run)
        if state is None or not self._worth_probing(run, state):
            return
        channel = self._channel_of(state)
        if not head and channel is not None and channel.outstanding >= ROUNDS_AHEAD * channel.concurrency:
            return
        if self._can_probe(run, then):
            self._probe(run, then, state)

    def _worth_probing(self, run: Any, state: Any) -> bool:
        prefetches = state.prefetches
        if not prefetches or any(p.serial or p.complete or p.outstanding for p in prefetches):
            return False
        family = self._family_of(run)
        if all(p.probes == 0 for p in prefetches) and not self._bet(family):
            for prefetch in prefetches:
                prefetch.serial = True  # this run makes its calls when it runs
            return False
        expected = self.calls_per_family.get(family)
        return expected is None or sum(p.reached for p in prefetches) < expected

    def _bet(self, family: Hashable) -> bool:
        """Whether to probe a new run of ``family``. After :data:`IDLE_STREAK` probes in a row
        that found every answer known already (a session answered from the response cache),
        only every 2nd, 4th, ... (at most 64th) new run is probed, until a probe sends a call."""
        streak = self._idle_streak.get(family, 0)
        if streak < IDLE_STREAK:
            return True
        seen = self._new_runs[family] = self._new_runs.get(family, 0) + 1
        return seen % (2 ** min(streak - IDLE_STREAK + 1, 6)) == 0

    def _probe(self, run: Any, then: Any, state: Any) -> None:
        prefetches = state.prefetches
        priority = self._position_of(run)
        for prefetch in prefetches:
            prefetch.start_probe(priority)
        try:
            self._probe_run(run, then)
        finally:
            suspended = [prefetch.end_probe() for prefetch in prefetches]
        self.probes += 1
        family = self._family_of(run)
        if any(suspended):
            self._idle_streak[family] = 0
        else:
            self.idle_probes += 1
            self._idle_streak[family] = self._idle_streak.get(family, 0) + 1
            for prefetch in prefetches:
                prefetch.complete = True
            # this run makes exactly this many calls: its family's other runs need no more probes
            made = sum(prefetch.reached for prefetch in prefetches)
            self.calls_per_family[family] = max(made, self.calls_per_family.get(family, 0))

    def after(self, run: Any, name: str) -> None:
        """``run`` (a run of model ``name``) has run and been reported: learn how many calls
        it made, and forget its answers."""
        state = self._state_of(run)
        if state is None:
            return
        made = state.totals.calls + state.judge_totals.calls
        family = self._family_of(run)
        self.calls_per_family[family] = max(made, self.calls_per_family.get(family, 0))
        self.finished[name] = self.finished.get(name, 0) + 1
        self.calls_of_finished[name] = self.calls_of_finished.get(name, 0) + state.totals.calls
        for prefetch in state.prefetches:
            if prefetch.note is not None:
                self.fell_back.append((state.task, prefetch.note))
            prefetch.release()


__all__ = ["IDLE_STREAK", "ROUNDS_AHEAD", "Prefetcher"]
