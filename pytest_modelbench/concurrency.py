"""The pytest face of concurrent sessions (docs/concurrency.md).

When some model's calls are fetched ahead of its runs (``--modelbench-concurrency`` above 1,
or the default for hosted public APIs), the plugin registers :class:`ConcurrentRuns`. Every
item still runs through pytest's protocol in its turn, reported as always; before each one,
the lookahead (``session/prefetch.py``) *probes* the benchmark runs after it so that their
model calls are in flight by the time they run.

A probe runs an item with ``runtestprotocol(item, log=False, nextitem=...)``: its fixtures are
set up and torn down, its output is captured, the plugin's hooks run, but nothing is logged
(no report reaches the terminal, JUnit, pytest-xdist or the results file), no run record is
made (``RunState.probing``), and its warnings, captured output and ``record_property`` values
are dropped: the item's real run produces its own. A probe is only made when it cannot change
what any other item sees: the item shares the parent collectors of the item pytest runs next
(so its teardown pops the item alone) and every fixture it uses that is wider than a function
is already set up with the item's parameters (so a probe never sets up or tears down a module's
or class's fixtures; the first item of a module is probed only when its collectors need no
setup of their own). One exception: the item about to run may be probed before a wider
fixture of an installed plugin is set up (pytest-asyncio's session-wide event loop policy,
which every item uses), since its own setup would set it up next anyway.

Also here: the progress line, shown while a test waits for a model's answer (in place on a
terminal; a plain line every 30 s otherwise), the warning on a run whose calls went live, and
the summary lines. pytest's private parts used: ``session._setupstate`` (the stack of set-up
collectors), ``item._fixtureinfo`` and ``FixtureDef.cached_result`` (which wider fixtures are
set up, with which parameter), ``item._report_sections`` (captured output), and pytest-xdist's
worker queue (which items this worker runs next); without them, items are simply not probed.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Iterator
from itertools import islice
from typing import Any

import pytest

from ._exceptions import ModelError
from .session.runs import installed_file

#: Seconds between redraws of the progress line on a terminal, and between plain lines.
STATUS_TTY_S = 0.2
STATUS_PLAIN_S = 30.0


#: Options under which runs are never probed: a debugger stops at every failure, and setup
#: display would show each probe's fixtures.
_SERIAL_OPTIONS = ("usepdb", "trace", "setupshow", "setuponly", "setupplan", "collectonly")


def lookahead_for(config: pytest.Config, runtime: Any, run_key: Any) -> ConcurrentRuns | None:
    """Register the lookahead when some model's calls are fetched ahead (more than one in
    flight); None when every model makes one call at a time (or ``--pdb``, ``--trace``,
    ``--setup-show``/``-only``/``-plan``: then calls go one at a time, still through the
    rate limiter)."""
    engine = runtime.engine
    if engine is None or not any(channel.concurrency > 1 for channel in engine.channels.values()):
        return None
    if any(config.getoption(name, False) for name in _SERIAL_OPTIONS):
        return None
    lookahead = ConcurrentRuns(config, runtime, run_key)
    config.pluginmanager.register(lookahead, "modelbench-concurrency")
    return lookahead


class ConcurrentRuns:
    """The lookahead of a session, the progress line and the summary (module doc).

    ``runtime`` is the session's ``SessionRuntime`` (its ``engine`` holds the channels);
    ``run_key`` the stash key of each benchmark item's ``RunState``.
    """

    def __init__(self, config: pytest.Config, runtime: Any, run_key: Any) -> None:
        self.config = config
        self.runtime = runtime
        self._run_key = run_key
        self._prefetcher: Any = None
        self._positions: dict[Any, int] = {}
        self._chains: dict[Any, list[Any]] = {}
        self._runs_total: dict[str, int] = {}
        self._warned: set[str] = set()
        self._current: Any = None  # the item about to run, while the lookahead runs before it
        self._started = time.perf_counter()
        self._status = _StatusLine(config, self._status_text)
        if not hasattr(config, "workerinput"):
            runtime.engine.on_wait = self._status.tick
            runtime.engine.on_wait_end = self._status.clear

    # -- the lookahead ----------------------------------------------------------------------

    def prefetcher(self, session: pytest.Session) -> Any:
        if self._prefetcher is None:
            from .session.prefetch import Prefetcher

            items = session.items
            self._positions = {item: position for position, item in enumerate(items)}
            for item in items:
                state = self._state_of(item)
                if state is not None:
                    self._runs_total[state.model] = self._runs_total.get(state.model, 0) + 1
            widest = max(channel.concurrency for channel in self.runtime.engine.channels.values())
            self._prefetcher = Prefetcher(
                probe=self._probe, can_probe=self._can_probe, upcoming=self._upcoming, state_of=self._state_of,
                family_of=lambda item: getattr(item, "function", None) or item.nodeid,
                position_of=lambda item: self._positions.get(item, 0),
                channel_of=self._channel_of, lookahead=max(64, 8 * widest),
                answers=self.runtime.engine.answers, wait=self.runtime.engine.wait_any,
            )
        return self._prefetcher

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Any:
        session = item.session
        prefetcher = self.prefetcher(session)
        if not (session.shouldfail or session.shouldstop):
            self._current = item
            try:
                prefetcher.before(item, nextitem)
            finally:
                self._current = None
                self._status.clear()
        try:
            return (yield)
        finally:
            state = item.stash.get(self._run_key, None)
            if state is not None:
                prefetcher.after(item, state.model)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        config.pluginmanager.unregister(self)

    def _state_of(self, item: Any) -> Any:
        """The item's ``RunState`` when its calls are fetched ahead (its model's channel has
        more than one call in flight, and its marker allows it)."""
        state = item.stash.get(self._run_key, None)
        if state is None or not state.spec.concurrent:
            return None
        runtime = self.runtime
        if state.prefetch is None:
            if not runtime.concurrent(state.model):
                return None
            from .models.prefetch import RunPrefetch

            state.prefetch = RunPrefetch()
            judge = runtime.settings.judge
            if judge is not None and runtime.channel(f"{judge.name} (judge)") is not None:
                state.judge_prefetch = RunPrefetch()
        return state

    def _channel_of(self, state: Any) -> Any:
        return self.runtime.channel(state.model)

    def _upcoming(self, current: Any, nextitem: Any) -> Iterator[Any]:
        """The items this process runs after ``current``: the session's items in order, or
        (pytest-xdist worker) the ones the controller has queued for this worker."""
        if not hasattr(self.config, "workerinput"):
            position = self._positions.get(current)
            if position is not None:
                yield from islice(current.session.items, position + 1, None)
            return
        worker = _xdist_worker(self.config)
        if worker is None:
            if nextitem is not None:
                yield nextitem
            return
        items = current.session.items
        try:
            with worker.torun.lock() as queued:
                indices = [worker.nextitem_index, *queued]
        except AttributeError:  # another pytest-xdist: only the next item is known
            indices = []
            if nextitem is not None:
                yield nextitem
        for index in indices:
            if isinstance(index, int) and 0 <= index < len(items):
                yield items[index]

    def _chain(self, item: Any) -> list[Any]:
        chain = self._chains.get(item)
        if chain is None:
            chain = self._chains[item] = item.listchain()[:-1]
        return chain

    def _can_probe(self, item: Any, then: Any) -> bool:
        """Whether probing ``item`` now leaves pytest's state as it was (module doc)."""
        try:
            chain = self._chain(item)
            if chain != self._chain(then):
                return False
            stack = item.session._setupstate.stack
            if any(node not in stack and type(node).setup is not pytest.Collector.setup for node in chain):
                return False
            params = getattr(getattr(item, "callspec", None), "params", {})
            for name, definitions in item._fixtureinfo.name2fixturedefs.items():
                if not definitions or definitions[-1].scope == "function":
                    continue
                cached = definitions[-1].cached_result
                if cached is None and item is self._current and _from_installed_package(definitions[-1]):
                    continue  # a plugin's fixture the item sets up next anyway (pytest-asyncio's policy)
                if cached is None or cached[2] is not None:
                    return False
                try:
                    same = bool(cached[1] == params.get(name))
                except Exception:  # values that do not compare (numpy arrays): as pytest does
                    same = cached[1] is params.get(name)
                if not same:
                    return False
        except AttributeError:  # pytest's private parts changed: do not probe
            return False
        return True

    def _probe(self, item: Any, then: Any) -> None:
        """Run ``item`` once, reporting nothing and keeping nothing (module doc)."""
        from _pytest.runner import runtestprotocol

        sections, properties = list(item._report_sections), list(item.user_properties)
        try:
            with warnings.catch_warnings(record=True):  # the real run shows its own warnings
                runtestprotocol(item, log=False, nextitem=then)
        finally:
            item._report_sections[:] = sections
            item.user_properties[:] = properties

    @pytest.hookimpl(tryfirst=True, specname="pytest_runtest_makereport")
    def pytest_runtest_makereport_without_traceback(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        """Reports whose traceback nobody reads, made without formatting it (that reads and
        parses the test's source: milliseconds of the one thread that runs the tests, which a
        concurrent session needs for its probes and runs): a probe's reports, never shown, and
        a run's failed check of a reply or failed model call outside ``--modelbench-strict``,
        which the plugin reports as a miss or an error run without a traceback."""
        state = item.stash.get(self._run_key, None)
        if state is None:
            return None
        excinfo = call.excinfo
        if state.probing:
            outcome = "passed" if excinfo is None else "failed"
        elif (call.when == "call" and excinfo is not None and not self.runtime.settings.strict
              and isinstance(excinfo.value, (AssertionError, ModelError))):
            outcome = "failed"
        else:
            return None
        return pytest.TestReport(
            item.nodeid, item.location, dict.fromkeys(item.keywords, 1), outcome,
            None if excinfo is None else f"{excinfo.typename}: {excinfo.value}", call.when,
            [(f"Captured {key} {when}", content) for when, key, content in item._report_sections],
            call.duration, call.start, call.stop, user_properties=item.user_properties,
        )

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        report = yield
        state = item.stash.get(self._run_key, None)
        if state is not None and call.when == "call" and not state.probing and item.nodeid not in self._warned:
            for prefetch in state.prefetches:
                if prefetch.note is not None:
                    self._warned.add(item.nodeid)
                    item.warn(pytest.PytestWarning(f"modelbench: {prefetch.note}"))
        return report

    # -- what it says -----------------------------------------------------------------------

    def _status_text(self) -> str:
        from .session.progress import status_text

        prefetcher = self._prefetcher
        return status_text(
            self.runtime.engine.stats(), runs_total=self._runs_total,
            runs_done={} if prefetcher is None else prefetcher.finished,
            calls_of_done={} if prefetcher is None else prefetcher.calls_of_finished,
            elapsed_s=time.perf_counter() - self._started,
        )

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if hasattr(self.config, "workerinput") or self.runtime.engine is None:
            return
        from .session.progress import summary_lines

        prefetcher = self._prefetcher
        lines = summary_lines(
            self.runtime.engine.stats(), self.runtime.engine.limiters,
            probes=0 if prefetcher is None else prefetcher.probes,
            idle_probes=0 if prefetcher is None else prefetcher.idle_probes,
            fell_back=[] if prefetcher is None else prefetcher.fell_back,
            verbosity=self.config.get_verbosity(),
        )
        if lines:
            terminalreporter.write_sep("-", "modelbench: concurrent model calls")
            for line in lines:
                terminalreporter.write_line(line)


def _from_installed_package(fixturedef: Any) -> bool:
    """Whether a fixture is defined by an installed package (a plugin), not by the project."""
    code = getattr(getattr(fixturedef, "func", None), "__code__", None)
    return code is not None and installed_file(code.co_filename)


def _xdist_worker(config: pytest.Config) -> Any:
    """pytest-xdist's worker side (its queue of items to run), None when not found."""
    for plugin in config.pluginmanager.get_plugins():
        if type(plugin).__name__ == "WorkerInteractor":
            return plugin
    return None


class _StatusLine:
    """The progress line: drawn after what pytest has written on the current line, and
    erased (backspaces, so pytest's own line is left as it was) when the wait ends. Without a
    terminal, a plain line every :data:`STATUS_PLAIN_S` seconds."""

    def __init__(self, config: pytest.Config, text: Any) -> None:
        self._config = config
        self._text = text
        self._shown = 0
        self._last = time.perf_counter()
        self._writer: Any = None

    def _terminal(self) -> tuple[Any, Any, Any] | None:
        reporter = self._config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None:
            return None
        writer = self._config.get_terminal_writer()
        stream = getattr(writer, "_file", None)
        return reporter, writer, stream

    @contextlib.contextmanager
    def _to_terminal(self) -> Iterator[None]:
        capture = self._config.pluginmanager.get_plugin("capturemanager")
        with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
            yield

    def tick(self) -> None:
        terminal = self._terminal()
        if terminal is None:
            return
        reporter, writer, stream = terminal
        tty = stream is not None and getattr(stream, "isatty", lambda: False)() and self._config.get_verbosity() >= 0
        now = time.perf_counter()
        if now - self._last < (STATUS_TTY_S if tty else STATUS_PLAIN_S):
            return
        self._last = now
        text = self._text()
        with self._to_terminal():
            if not tty:
                reporter.write_line(text)
                return
            room = writer.fullwidth - writer.width_of_current_line - 10  # pytest's " [ 42%]"
            self._erase(stream)
            if room >= 20:
                shown = "  " + (text if len(text) <= room - 2 else text[: room - 3] + "…")
                stream.write(shown)
                stream.flush()
                self._shown = len(shown)

    def _erase(self, stream: Any) -> None:
        if self._shown:
            stream.write("\b" * self._shown + " " * self._shown + "\b" * self._shown)
            stream.flush()
            self._shown = 0

    def clear(self) -> None:
        if not self._shown:
            return
        terminal = self._terminal()
        if terminal is not None and terminal[2] is not None:
            with self._to_terminal():
                self._erase(terminal[2])
