"""What code running inside one benchmark run reports about itself, for the run's record.

The plugin opens :func:`collecting` around a benchmark test's call; a scorer that runs
generated code calls :func:`note_isolation` with the isolation that code got, and the run's
record keeps the weakest level reported (``isolation`` in docs/results.md). Outside a
benchmark run the notes go nowhere. The notes travel in a :class:`contextvars.ContextVar`, so
that threads started with :func:`contextvars.copy_context` report into the same run.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import threading
from collections.abc import Iterator

#: Isolation levels of generated code, strongest first.
ISOLATION_LEVELS = ("bwrap", "rlimits")


@dataclasses.dataclass(slots=True)
class RunNotes:
    """The notes of one run: the isolation levels its generated code ran under."""

    isolation_levels: set[str] = dataclasses.field(default_factory=set)
    _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False)

    def add_isolation(self, level: str) -> None:
        if level not in ISOLATION_LEVELS:
            raise ValueError(f"isolation {level!r} is not one of: {', '.join(ISOLATION_LEVELS)}")
        with self._lock:
            self.isolation_levels.add(level)

    @property
    def isolation(self) -> str | None:
        """The weakest level reported (None when no code ran)."""
        with self._lock:
            found = [level for level in ISOLATION_LEVELS if level in self.isolation_levels]
        return found[-1] if found else None


_current: contextvars.ContextVar[RunNotes | None] = contextvars.ContextVar("modelbench_run_notes", default=None)


@contextlib.contextmanager
def collecting() -> Iterator[RunNotes]:
    """Collect the notes of the code that runs inside the ``with`` block."""
    notes = RunNotes()
    token = _current.set(notes)
    try:
        yield notes
    finally:
        _current.reset(token)


def note_isolation(level: str) -> None:
    """Report that generated code ran under ``level`` ("bwrap" or "rlimits") in this run."""
    notes = _current.get()
    if notes is not None:
        notes.add_isolation(level)
