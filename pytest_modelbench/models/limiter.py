"""The rate limiter of model calls: one per endpoint, shared by every call to it.

An *endpoint* is what a provider's rate limits are counted against: the provider, its base
URL and the API key (:func:`endpoint_key`; the key enters as a short hash, never as itself).
Every call to an endpoint, whichever model, run or path (``complete()``, ``acomplete()``, a
call fetched ahead of its run) goes through its :class:`RateLimiter`, which holds three
controls:

* **Rates you declare** (``rpm``, ``tpm`` of a named model, :class:`RateLimits`). Each is a
  generic cell rate algorithm (GCRA, the "virtual scheduling" form of a token bucket, ITU-T
  I.371 annex A; Turner 1986) without burst: a request may start once the bucket's
  *theoretical arrival time* has passed, and moves it on by ``60 / rpm`` seconds (by
  ``tokens * 60 / tpm`` for the token bucket, with the tokens estimated before the call and
  corrected by the ``usage`` the server reports). The times live in a :class:`RateLedger`:
  in memory for one process, in an SQLite file shared by a pytest-xdist controller and its
  workers (:class:`SharedRateLedger`), so eight workers with ``rpm = 60`` together start one
  request a second.
* **AIMD on throttling** (additive increase, multiplicative decrease: Jacobson 1988,
  "Congestion avoidance and control"; Chiu & Jain 1989). The limiter keeps a *window*, the
  calls it lets be in flight at once, starting at the ceiling (the summed concurrency of the
  models on the endpoint). A throttle (HTTP 429, Anthropic's 529 "overloaded", or a
  connection the server closed without answering) halves the window to half the calls in
  flight, once per episode (throttles of calls sent before the last decrease do not decrease
  it again), but not below the calls that keep up the rate the endpoint delivered over the
  last two seconds (answers per second times their latency: the bandwidth-delay product BBR
  uses, Cardwell et al. 2016), so that a limit on requests per second is still met after the
  decrease; each success grows it by ``1 / window`` (one call per window of successes), up to
  the ceiling.
* **Pauses.** A throttle pauses the whole endpoint: for the server's ``retry-after-ms`` /
  ``Retry-After`` when it gave one (0 < value <= 60 s), else for about one gap between the
  answers it delivered lately while it still delivers, else 0.5 s doubled per throttle
  since the last answer (at most 8 s); jittered as the openai client does. A response saying a limit is used up
  (``x-ratelimit-remaining-requests: 0`` or ``...-tokens: 0`` with their
  ``x-ratelimit-reset-*``, or Anthropic's ``anthropic-ratelimit-*-remaining`` / ``-reset``)
  pauses it until the reset. Pauses are shared through the ledger too. Calls waiting for a
  place get it in the order of their priority (the earlier benchmark run first), so a
  throttled call goes again before calls sent after it.

The limiter does not retry by itself: the caller (:mod:`.dispatch`) asks for a slot, makes one
attempt, and reports the outcome (:meth:`RateLimiter.succeeded`, :meth:`RateLimiter.throttled`,
:meth:`RateLimiter.release`); it retries throttled calls itself, so a call is never retried
twice over (the provider is asked for one attempt). Runs on one asyncio loop (the plugin's I/O
loop). Does not import pytest.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import hashlib
import heapq
import math
import os
import random
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from .providers._http import parse_retry_after

#: Longest pause a server's header may ask for; longer values are taken as this.
MAX_PAUSE_S = 60.0
#: Pause after the first throttle without a Retry-After, doubled per consecutive throttle.
FIRST_BACKOFF_S = 0.5
#: Longest pause of the doubling backoff.
MAX_BACKOFF_S = 8.0
#: Seconds of answers the delivery rate is measured over.
DELIVERY_WINDOW_S = 2.0


@dataclasses.dataclass(frozen=True, slots=True)
class RateLimits:
    """Declared limits of a model: ``rpm`` requests and ``tpm`` tokens per minute (None: none)."""

    rpm: float | None = None
    tpm: float | None = None

    def __post_init__(self) -> None:
        for name in ("rpm", "tpm"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not math.isfinite(value) or value <= 0):
                raise ValueError(f"{name} {value!r} is not allowed; it must be a number > 0 per minute")

    @property
    def active(self) -> bool:
        return self.rpm is not None or self.tpm is not None


def endpoint_key(provider: str, base_url: str | None, api_key: str | None) -> str:
    """The name of an endpoint's limiter: provider, base URL and a hash of the key.

    The key is reduced to 12 hex digits of its SHA-256 (enough to tell keys apart, useless to
    anyone reading the ledger file); an endpoint without a key says ``no key``.
    """
    key_part = "no key" if not api_key else "key " + hashlib.sha256(api_key.encode()).hexdigest()[:12]
    return f"{provider} {base_url or '-'} {key_part}"


# --------------------------------------------------------------------------- ledgers


class RateLedger(Protocol):
    """Where the buckets' theoretical arrival times and the endpoints' pauses are kept.

    Times are wall-clock seconds (``time.time()``): the one clock processes share.
    """

    #: Whether the methods may block for a while (a file shared with other processes).
    blocking: bool

    def reserve(self, buckets: Sequence[tuple[str, float]], now: float) -> float:
        """Reserve one request in each ``(bucket, seconds it occupies)``: the time it may start."""

    def adjust(self, bucket: str, seconds: float, now: float) -> None:
        """Move a bucket's theoretical arrival time by ``seconds`` (a token estimate corrected)."""

    def pause(self, endpoint: str, until: float) -> None:
        """No request to ``endpoint`` starts before ``until`` (an earlier pause is kept if later)."""

    def paused_until(self, endpoint: str) -> float:
        """When the endpoint's pause ends (0 when it has none)."""

    def close(self) -> None: ...


def _reserve(tats: dict[str, float], buckets: Sequence[tuple[str, float]], now: float) -> float:
    """GCRA without burst over several buckets: start when every bucket allows, occupy each."""
    start = max([now, *(tats.get(name, now) for name, _ in buckets)])
    for name, seconds in buckets:
        tats[name] = start + seconds
    return start


class LocalRateLedger:
    """A :class:`RateLedger` in this process's memory (thread-safe)."""

    blocking = False

    def __init__(self) -> None:
        self._tats: dict[str, float] = {}
        self._pauses: dict[str, float] = {}
        self._lock = threading.Lock()

    def reserve(self, buckets: Sequence[tuple[str, float]], now: float) -> float:
        with self._lock:
            return _reserve(self._tats, buckets, now)

    def adjust(self, bucket: str, seconds: float, now: float) -> None:
        with self._lock:
            if bucket in self._tats:
                self._tats[bucket] = max(now, self._tats[bucket] + seconds)

    def pause(self, endpoint: str, until: float) -> None:
        with self._lock:
            self._pauses[endpoint] = max(until, self._pauses.get(endpoint, 0.0))

    def paused_until(self, endpoint: str) -> float:
        with self._lock:
            return self._pauses.get(endpoint, 0.0)

    def close(self) -> None:
        pass


_LEDGER_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS buckets (name TEXT PRIMARY KEY, tat REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS pauses (name TEXT PRIMARY KEY, until REAL NOT NULL)",
)


class SharedRateLedger:
    """A :class:`RateLedger` in an SQLite file that several processes open (pytest-xdist).

    Each reservation is one ``BEGIN IMMEDIATE`` transaction (SQLite takes its write lock at
    ``BEGIN``), so the processes' reservations are serialised and each sees the others'. The
    parent directory must exist (the controller creates it); the file is created when missing.
    An object used after ``fork`` opens its own connection in the child.
    """

    blocking = True

    def __init__(self, path: str | os.PathLike[str], *, timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        self._timeout_s = timeout_s
        self._connection: sqlite3.Connection | None = None
        self._pid = -1
        self._lock = threading.Lock()
        with self._lock:
            self._write(lambda connection: [connection.execute(sql) for sql in _LEDGER_SCHEMA])

    def __repr__(self) -> str:
        return f"SharedRateLedger({str(self.path)!r})"

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None or self._pid != os.getpid():
            connection = sqlite3.connect(self.path, timeout=self._timeout_s, isolation_level=None,
                                         check_same_thread=False)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=OFF")  # the times matter during the session only
            self._connection, self._pid = connection, os.getpid()
        return self._connection

    def _write(self, work: Callable[[sqlite3.Connection], Any]) -> Any:
        connection = self._connect()
        connection.execute("BEGIN IMMEDIATE")
        try:
            result = work(connection)
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
        return result

    def reserve(self, buckets: Sequence[tuple[str, float]], now: float) -> float:
        def work(connection: sqlite3.Connection) -> float:
            names = [name for name, _ in buckets]
            marks = ",".join("?" for _ in names)
            tats = dict(connection.execute(f"SELECT name, tat FROM buckets WHERE name IN ({marks})", names))
            start = _reserve(tats, buckets, now)
            connection.executemany("INSERT OR REPLACE INTO buckets (name, tat) VALUES (?, ?)",
                                   [(name, tats[name]) for name in names])
            return start

        with self._lock:
            return self._write(work)

    def adjust(self, bucket: str, seconds: float, now: float) -> None:
        with self._lock:
            self._write(lambda connection: connection.execute(
                "UPDATE buckets SET tat = MAX(?, tat + ?) WHERE name = ?", (now, seconds, bucket)))

    def pause(self, endpoint: str, until: float) -> None:
        with self._lock:
            self._write(lambda connection: connection.execute(
                "INSERT INTO pauses (name, until) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET until = MAX(until, excluded.until)", (endpoint, until)))

    def paused_until(self, endpoint: str) -> float:
        with self._lock:
            row = self._connect().execute("SELECT until FROM pauses WHERE name = ?", (endpoint,)).fetchone()
        return 0.0 if row is None else float(row[0])

    def close(self) -> None:
        with self._lock:
            if self._connection is not None and self._pid == os.getpid():
                self._connection.close()
            self._connection = None


# --------------------------------------------------------------------------- headers


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def parse_reset(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds until a rate limit resets, from a reset header; None when unreadable.

    OpenAI writes durations (``1s``, ``6m0s``, ``20ms``, ``1h2m3.5s``), Anthropic an RFC 3339
    time (``2025-01-01T00:00:30Z``), others plain seconds.
    """
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) else None
    parts = _DURATION_PART.findall(text)
    if parts and "".join(number + unit for number, unit in parts) == text:
        scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
        return sum(float(number) * scale[unit] for number, unit in parts)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        return None
    return when.timestamp() - (time.time() if now is None else now)


#: (remaining header, reset header) pairs that say a limit is used up until a reset.
_EXHAUSTION_HEADERS = (
    ("x-ratelimit-remaining-requests", "x-ratelimit-reset-requests"),
    ("x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens"),
    ("anthropic-ratelimit-requests-remaining", "anthropic-ratelimit-requests-reset"),
    ("anthropic-ratelimit-tokens-remaining", "anthropic-ratelimit-tokens-reset"),
    ("anthropic-ratelimit-input-tokens-remaining", "anthropic-ratelimit-input-tokens-reset"),
    ("anthropic-ratelimit-output-tokens-remaining", "anthropic-ratelimit-output-tokens-reset"),
)


def exhausted_for(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait because a response says a limit is used up (remaining 0); None if not."""
    lowered = {name.lower(): value for name, value in headers.items()}
    waits = []
    for remaining_name, reset_name in _EXHAUSTION_HEADERS:
        remaining = lowered.get(remaining_name)
        if remaining is None:
            continue
        try:
            left = float(remaining.strip())
        except ValueError:
            continue
        if left <= 0:
            seconds = parse_reset(lowered.get(reset_name), now=now)
            if seconds is not None and seconds > 0:
                waits.append(min(seconds, MAX_PAUSE_S))
    return max(waits) if waits else None


def throttle_status(status_code: int | None) -> bool:
    """Whether an HTTP status says "slow down": 429 Too Many Requests, 529 (Anthropic) overloaded."""
    return status_code in (429, 529)


# --------------------------------------------------------------------------- the limiter


@dataclasses.dataclass(slots=True)
class Slot:
    """One call let through: when it was sent (``time.monotonic``) and what it reserved."""

    sent_at: float
    tpm_bucket: str | None = None
    estimated_tokens: int = 0
    released: bool = False


@dataclasses.dataclass(slots=True)
class LimiterStats:
    """What an endpoint's limiter did: calls let through, throttles seen, window decreases,
    pauses taken, the lowest window reached and the most calls in flight at once."""

    calls: int = 0
    throttles: int = 0
    decreases: int = 0
    pauses: int = 0
    lowest_window: float = math.inf
    peak_in_flight: int = 0


class RateLimiter:
    """The calls to one endpoint: declared rates, an AIMD window and pauses (module doc).

    ``ceiling`` is the most calls in flight (the summed concurrency of its models);
    ``ledger`` keeps rates and pauses (shared with other processes or not). ``clock`` (wall
    seconds) and ``sleep`` are seams for tests. Use it from one asyncio loop.
    """

    def __init__(self, endpoint: str, *, ceiling: int, ledger: RateLedger,
                 clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], Any] = asyncio.sleep,
                 random_fraction: Callable[[], float] = random.random) -> None:
        if isinstance(ceiling, bool) or not isinstance(ceiling, int) or ceiling < 1:
            raise ValueError(f"ceiling {ceiling!r} is not allowed; it must be a whole number >= 1")
        self.endpoint = endpoint
        self.ceiling = ceiling
        self.window = float(ceiling)
        self.in_flight = 0
        self.stats = LimiterStats()
        self._ledger = ledger
        self._clock = clock
        self._sleep = sleep
        self._random = random_fraction
        self._last_decrease = -math.inf
        self._consecutive = 0
        self._delivered: collections.deque[tuple[float, float]] = collections.deque()
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._sequence = 0
        self._paused_until = 0.0
        self._timer: asyncio.TimerHandle | None = None

    def __repr__(self) -> str:
        return f"<RateLimiter {self.endpoint} window {self.window:.1f}/{self.ceiling} in flight {self.in_flight}>"

    async def _ledger_call(self, method: Callable[..., Any], *args: Any) -> Any:
        if self._ledger.blocking:
            return await asyncio.to_thread(method, *args)
        return method(*args)

    async def acquire(self, model_limits: RateLimits, model: str, estimated_tokens: int = 0, *,
                      priority: int = 0) -> Slot:
        """Wait until a call may be sent: no pause, a place in the window (given to waiting
        calls lowest ``priority`` first, then first come), the declared rates."""
        paused_until = await self._ledger_call(self._ledger.paused_until, self.endpoint)
        self._paused_until = max(self._paused_until, paused_until)
        granted = asyncio.get_running_loop().create_future()
        self._sequence += 1
        heapq.heappush(self._waiters, (priority, self._sequence, granted))
        self._wake()
        try:
            await granted
        except BaseException:
            if granted.done() and not granted.cancelled():  # the place was given: give it back
                self.in_flight -= 1
                self._wake()
            else:
                granted.cancel()
            raise
        self.stats.calls += 1
        self.stats.peak_in_flight = max(self.stats.peak_in_flight, self.in_flight)
        slot = Slot(sent_at=time.monotonic())
        try:
            buckets = []
            if model_limits.rpm is not None:
                buckets.append((f"{self.endpoint} {model} requests", 60.0 / model_limits.rpm))
            if model_limits.tpm is not None:
                slot.tpm_bucket = f"{self.endpoint} {model} tokens"
                slot.estimated_tokens = max(1, estimated_tokens)
                buckets.append((slot.tpm_bucket, slot.estimated_tokens * 60.0 / model_limits.tpm))
            if buckets:
                start = await self._ledger_call(self._ledger.reserve, buckets, self._clock())
                wait = start - self._clock()
                if wait > 0:
                    await self._sleep(wait)
        except BaseException:
            self.release(slot)
            raise
        slot.sent_at = time.monotonic()
        return slot

    def _wake(self) -> None:
        """Give free places in the window to the waiting calls, unless the endpoint is paused
        (then try again when the pause ends)."""
        wait = self._paused_until - self._clock()
        if wait > 0:
            if self._waiters and (self._timer is None or self._timer.cancelled()):
                def again() -> None:
                    self._timer = None
                    self._wake()

                self._timer = asyncio.get_running_loop().call_later(wait, again)
            return
        while self._waiters and self.in_flight < max(1, int(self.window)):
            _, _, granted = heapq.heappop(self._waiters)
            if granted.done():  # its caller gave up waiting
                continue
            self.in_flight += 1
            granted.set_result(None)

    def release(self, slot: Slot) -> None:
        """The call is over (whatever its outcome): its place in the window is free."""
        if not slot.released:
            slot.released = True
            self.in_flight -= 1
            self._wake()

    async def succeeded(self, slot: Slot, *, model_limits: RateLimits | None = None,
                        tokens: int | None = None) -> None:
        """A call got its answer: grow the window by 1/window; remember when and how long it
        took (the delivery rate and latency); correct the token estimate."""
        now = time.monotonic()
        self._consecutive = 0
        self._delivered.append((now, now - slot.sent_at))
        self.window = min(float(self.ceiling), self.window + 1.0 / max(self.window, 1.0))
        self._wake()
        if slot.tpm_bucket is not None and tokens is not None and model_limits is not None \
                and model_limits.tpm is not None:
            seconds = (tokens - slot.estimated_tokens) * 60.0 / model_limits.tpm
            if seconds:
                await self._ledger_call(self._ledger.adjust, slot.tpm_bucket, seconds, self._clock())

    def delivery_floor(self) -> int:
        """The calls in flight that keep up the rate the endpoint delivered lately: answers per
        second over the last :data:`DELIVERY_WINDOW_S` seconds times their mean latency
        (a bandwidth-delay product, as BBR estimates it: Cardwell et al. 2016), rounded up."""
        now = time.monotonic()
        delivered = self._delivered
        while delivered and delivered[0][0] < now - DELIVERY_WINDOW_S:
            delivered.popleft()
        if len(delivered) < 2:
            return 1
        span = max(now - delivered[0][0], 1e-3)
        rate = len(delivered) / span
        latency = sum(seconds for _, seconds in delivered) / len(delivered)
        return max(1, math.ceil(rate * latency))

    async def throttled(self, slot: Slot, headers: Mapping[str, str] | None = None) -> float:
        """The server said "slow down" to this call (429/529, or closed the connection before
        answering): halve the window, once per episode and not below :meth:`delivery_floor`,
        and pause the endpoint: for the Retry-After when the server gave one, else for a
        backoff (:meth:`backoff`). Returns the pause in seconds; the call then waits for a
        place in the window again, ahead of the calls sent after it."""
        self.stats.throttles += 1
        new_episode = slot.sent_at >= self._last_decrease
        if new_episode:
            self._consecutive += 1
            halved = max(1.0, min(self.window, float(self.in_flight)) / 2.0)
            self.window = min(float(self.ceiling), max(halved, float(self.delivery_floor())))
            self._last_decrease = time.monotonic()
            self.stats.decreases += 1
            self.stats.lowest_window = min(self.stats.lowest_window, self.window)
        retry_after = parse_retry_after(headers) if headers else None
        if retry_after is not None and 0 < retry_after <= MAX_PAUSE_S:
            pause = retry_after
        elif new_episode:
            pause = self.backoff()
        else:  # sent before this episode's pause began: that pause stands for it too
            return max(0.0, self._paused_until - self._clock())
        await self._pause(pause)
        return pause

    def backoff(self) -> float:
        """A pause when the server did not say how long. While it is still delivering answers
        (two or more in the last :data:`DELIVERY_WINDOW_S` seconds), one gap between them
        (1 / delivery rate): the limit is a rate, and a place frees about that often. When it
        delivers nothing, :data:`FIRST_BACKOFF_S` doubled per throttle episode since the last
        answer, at most :data:`MAX_BACKOFF_S`. Less up to a quarter at random, as the openai
        client jitters."""
        now = time.monotonic()
        recent = [at for at, _ in self._delivered if at >= now - DELIVERY_WINDOW_S]
        if len(recent) >= 2:
            backoff = DELIVERY_WINDOW_S / len(recent)
        else:
            backoff = min(FIRST_BACKOFF_S * 2.0 ** min(self._consecutive - 1, 30), MAX_BACKOFF_S)
        return backoff * (1.0 - 0.25 * self._random())

    async def observe(self, headers: Mapping[str, str]) -> None:
        """Any response: a limit reported used up pauses the endpoint until its reset."""
        wait = exhausted_for(headers, now=self._clock())
        if wait is not None:
            await self._pause(wait)

    async def _pause(self, seconds: float) -> None:
        self.stats.pauses += 1
        until = self._clock() + seconds
        self._paused_until = max(self._paused_until, until)
        await self._ledger_call(self._ledger.pause, self.endpoint, until)


__all__ = [
    "LimiterStats", "LocalRateLedger", "RateLedger", "RateLimiter", "RateLimits", "SharedRateLedger",
    "Slot", "endpoint_key", "exhausted_for", "parse_reset", "throttle_status",
]
