"""Model calls fetched ahead of a benchmark run: what a run asked for before it ran for real.

With ``--modelbench-concurrency``, the session *probes* the benchmark runs that come after the
one running now (``session/prefetch.py``): it runs each one through pytest's protocol without
reporting it, and the first model call whose answer is not known yet is sent to the model in
the background (``models/dispatch.py``) and ends the probe with :class:`RunSuspended`. A run
with k sequential calls is probed k times, each probe getting one more answer; when the run's
turn comes, it runs normally and every call it makes finds its answer waiting (or in flight).

:class:`RunPrefetch` is one run's side of this, kept across its attempts (probes and the real
run): the calls fetched so far, by call index, each with the digest of its request key
(``models/cache.py``: the request, the run number and the call index) and a future holding the
answer, a failure, or nothing yet. An answer is used only by a call whose key matches: a call
that asks something else than when it was fetched (its prompt depends on time, randomness or
other state than the model's answers) is *not reproducible*; the run is then never probed
again, its real run calls the model live, and :attr:`RunPrefetch.note` says so. Each fetched
answer is used once by the real run; a rerun of the run (pytest-rerunfailures) calls afresh.

Does not import pytest.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
from typing import NoReturn


class RunSuspended(BaseException):
    """A probe of a benchmark run stopped at a model call whose answer is being fetched.

    A ``BaseException`` (like pytest's own outcomes), so that a test's ``except Exception``
    cannot swallow it; a probe counts as suspended even if the test swallows it anyway.
    """


@dataclasses.dataclass(slots=True)
class PrefetchedCall:
    """One call fetched ahead: its request key's digest and the future of its answer."""

    digest: str
    future: concurrent.futures.Future
    consumed: bool = False
    stored: bool = False


class RunPrefetch:
    """One benchmark run's calls fetched ahead of it (module doc), across its attempts.

    ``probing`` is true while a probe runs (calls may then be deferred); ``priority`` is the
    run's place in the session (earlier runs' requests are sent first).
    """

    def __init__(self) -> None:
        self.calls: dict[int, PrefetchedCall] = {}
        self.probing = False
        self.priority = 0
        #: The current probe deferred a call (or stopped at something it cannot probe).
        self.suspended = False
        #: A probe of the run ran to its end: every call the run makes is known.
        self.complete = False
        #: Never probe again: a call was not reproducible, or the run uses a metered app
        #: client or ``model.load()``, which cannot be fetched ahead.
        self.serial = False
        #: Why the run's calls were made live after all (shown as a warning), or None.
        self.note: str | None = None
        self.probes = 0
        #: Calls the probes got to: answered (fetched ahead or from the response store) or sent.
        self.reached = 0

    def __repr__(self) -> str:
        return (f"<RunPrefetch {len(self.calls)} calls, {self.outstanding} outstanding"
                f"{', serial' if self.serial else ''}{', complete' if self.complete else ''}>")

    # -- probes ---------------------------------------------------------------------------

    def start_probe(self, priority: int) -> None:
        self.probing = True
        self.suspended = False
        self.priority = priority
        self.probes += 1

    def end_probe(self) -> bool:
        """End the probe; True when it suspended (a call was deferred)."""
        self.probing = False
        return self.suspended

    @property
    def outstanding(self) -> int:
        """Calls fetched ahead whose answer has not arrived."""
        return sum(not call.future.done() for call in self.calls.values())

    def defer(self, call_index: int, digest: str, future: concurrent.futures.Future) -> NoReturn:
        """Keep the future of a call sent ahead, and suspend the probe."""
        self.calls[call_index] = PrefetchedCall(digest, future)
        self.suspended = True
        raise RunSuspended(f"model call {call_index + 1} of this run is being fetched ahead")

    def stop(self, what: str) -> NoReturn:
        """The probe reached something that cannot be fetched ahead (``what``): suspend it,
        and leave the run to make its calls when it runs."""
        self.serial = True
        self.suspended = True
        raise RunSuspended(f"{what} cannot be fetched ahead; the run makes its calls when it runs")

    # -- answers ----------------------------------------------------------------------------

    def known(self, call_index: int, digest: str) -> PrefetchedCall | None:
        """The call fetched ahead for this index and request, if it may be used now."""
        call = self.calls.get(call_index)
        if call is None:
            return None
        if call.digest != digest:
            if not self.serial:
                self.serial = True
                self.note = (
                    f"model call {call_index + 1} asked something different from what was fetched "
                    "ahead for it (its request depends on time, randomness or state other than the "
                    "model's answers), so the run made its calls live, one at a time; make the "
                    "request reproducible or mark the task @pytest.mark.modelbench(concurrent=False)"
                )
            return None
        if call.consumed and not self.probing:
            return None  # a rerun of the run asks afresh
        return call

    def release(self) -> None:
        """The run is over: forget its answers (cancelling any still queued)."""
        for call in self.calls.values():
            call.future.cancel()
        self.calls.clear()


__all__ = ["PrefetchedCall", "RunPrefetch", "RunSuspended"]
