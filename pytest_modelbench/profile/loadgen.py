"""The load generator of :mod:`pytest_modelbench.profile.load`: one shard = one event loop.

Does not import pytest or numpy (a worker process starts fast and stays small). A shard sends
the requests of its :class:`ShardPlan` and returns a :class:`ShardOutcome` of raw
``time.perf_counter`` timestamps; :mod:`pytest_modelbench.profile.load` merges the shards and computes
the statistics. A shard runs either in the calling process (:func:`run_shard`) or in a worker
process started as ``python -m pytest_modelbench.profile.loadgen`` (:func:`worker_main`), which
reads its pickled plan on stdin, says ``READY`` once its connections are open, waits for the
common start time and writes its pickled outcome on stdout. ``perf_counter`` is
``CLOCK_MONOTONIC`` on Linux (and ``mach_absolute_time`` / ``QueryPerformanceCounter`` on
macOS / Windows), one clock for every process of the machine, so the shards' timestamps can
be merged as they are.

Two HTTP engines read the same server-sent-events stream with the same :class:`_StreamMeter`:

- ``httpx``: ``httpx.AsyncClient`` streaming, several clients per shard, each with a pool as
  large as its share of the concurrency (so no request waits for a connection), the body read
  to the end so connections are reused. The request counts as sent when httpcore starts
  writing its headers (the ``trace`` extension's ``http11.send_request_headers.started``),
  after any wait for a connection and after connection set-up.
- ``raw``: a minimal HTTP/1.1 client on ``asyncio.Protocol``: one keep-alive connection per
  in-flight request, opened before the start, no pool bookkeeping; arrival times are taken in
  ``data_received``, the callback of the very socket read. Six to nine times less CPU per
  request than httpx (measured; see docs/load.md).

Measurements per request: ``issued`` (the generator decided to send it), ``sent`` (request
bytes handed to the socket), ``first`` (the read that carried the first chunk with content,
reasoning, refusal or a tool-call delta; a role-only chunk does not count), ``end`` (the read
that carried the last byte of the body), every content chunk's read time (for ITL), the
server's ``usage.completion_tokens`` (-1 when it gave none) and success.
"""

from __future__ import annotations

import array
import asyncio
import dataclasses
import importlib.util
import json
import os
import pickle
import ssl
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

from ..models.providers._http import (
    CallErrors,
    Secret,
    SSEDecoder,
    SSELineTooLong,
    error_excerpt,
    redact,
)

#: Seconds between two ticks of the event-loop lag probe.
TICK_SECONDS = 0.01

#: Every this many ticks the probe also reads the resident set size.
RSS_EVERY_TICKS = 10

#: Distinct error reasons a shard keeps (the counts of the others are still kept, as "other").
MAX_ERROR_REASONS = 20

_OUTPUT_KEYS = ("content", "reasoning_content", "reasoning", "refusal")
_SEND_HEADERS_EVENTS = frozenset({"http11.send_request_headers.started", "http2.send_request_headers.started"})


@dataclasses.dataclass(frozen=True, slots=True)
class ShardPlan:
    """What one shard sends.

    ``mode`` is ``"concurrency"`` (``concurrency`` coroutines send back to back: either the
    requests of ``request_ids`` or, with ``duration_s``, until the duration is over, with ids
    ``first_id, first_id + id_step, ...``) or ``"rate"`` (request ``request_ids[i]`` is
    issued at ``arrivals[i]`` seconds after the start). Request ``id`` sends
    ``bodies[id % len(bodies)]``. ``clients`` is the number of httpx clients the shard spreads
    its requests over (the raw engine opens one connection per in-flight request).
    """

    url: str
    model: str
    secret: Secret | None
    bodies: tuple[bytes, ...]
    engine: str
    mode: str
    timeout: float
    concurrency: int = 0
    clients: int = 1
    request_ids: tuple[int, ...] | range = ()
    arrivals: tuple[float, ...] = ()
    duration_s: float | None = None
    first_id: int = 0
    id_step: int = 1

    def __repr__(self) -> str:  # never shows the key or the bodies
        return (
            f"ShardPlan(url={self.url!r}, engine={self.engine!r}, mode={self.mode!r}, "
            f"concurrency={self.concurrency}, clients={self.clients}, requests={len(self.request_ids)})"
        )


@dataclasses.dataclass(slots=True)
class ShardOutcome:
    """Raw measurements of one shard (perf_counter seconds; -1 / NaN mean "none")."""

    request_id: array.array = dataclasses.field(default_factory=lambda: array.array("q"))
    issued: array.array = dataclasses.field(default_factory=lambda: array.array("d"))
    sent: array.array = dataclasses.field(default_factory=lambda: array.array("d"))
    first: array.array = dataclasses.field(default_factory=lambda: array.array("d"))
    end: array.array = dataclasses.field(default_factory=lambda: array.array("d"))
    ok: array.array = dataclasses.field(default_factory=lambda: array.array("b"))
    tokens: array.array = dataclasses.field(default_factory=lambda: array.array("q"))
    chunk_counts: array.array = dataclasses.field(default_factory=lambda: array.array("q"))
    chunk_times: array.array = dataclasses.field(default_factory=lambda: array.array("d"))
    scheduled: array.array = dataclasses.field(default_factory=lambda: array.array("d"))
    errors: dict[str, int] = dataclasses.field(default_factory=dict)
    loop_lags: array.array = dataclasses.field(default_factory=lambda: array.array("d"))
    cpu_s: float = 0.0
    run_s: float = 0.0
    peak_rss_bytes: int = 0
    pid: int = 0
    crashed: str | None = None

    def add_error(self, reason: str) -> None:
        if reason in self.errors or len(self.errors) < MAX_ERROR_REASONS:
            self.errors[reason] = self.errors.get(reason, 0) + 1
        else:
            self.errors["(other reasons)"] = self.errors.get("(other reasons)", 0) + 1


class _RequestFailed(Exception):
    """A request failed; the message is the (redacted) reason recorded."""


# --------------------------------------------------------------------------- stream meter


class _StreamMeter:
    """Reads one chat-completion SSE body: first output time, content chunk times, usage."""

    __slots__ = ("chunk_times", "count", "decoder", "done", "errors", "finished", "first", "tokens")

    def __init__(self, errors: CallErrors) -> None:
        self.decoder = SSEDecoder()
        self.chunk_times: list[float] = []
        self.errors = errors
        self.first = float("nan")
        self.count = 0
        self.tokens = -1
        self.done = False
        self.finished = False

    def feed(self, data: bytes, at: float) -> None:
        try:
            events = self.decoder.feed(data)
        except SSELineTooLong as exc:
            raise _RequestFailed(self.errors.response(str(exc))) from None
        for event in events:
            self._event(event.data, event.event, at)

    def close(self, at: float) -> None:
        try:
            events = self.decoder.close()
        except SSELineTooLong as exc:
            raise _RequestFailed(self.errors.response(str(exc))) from None
        for event in events:
            self._event(event.data, event.event, at)

    def _event(self, data: str, kind: str, at: float) -> None:
        if kind == "error":
            raise _RequestFailed(self.errors.response(f"server sent an error event: {error_excerpt(data)}"))
        if data == "[DONE]":
            self.done = True
            return
        try:
            chunk = json.loads(data)
        except ValueError:
            raise _RequestFailed(self.errors.response(f"stream chunk is not JSON: {error_excerpt(data)!r}")) from None
        if not isinstance(chunk, dict):
            raise _RequestFailed(self.errors.response(f"stream chunk is not a JSON object: {error_excerpt(data)!r}"))
        if chunk.get("error"):
            raise _RequestFailed(self.errors.response(f"server reported an error in the stream: {error_excerpt(data)}"))
        choices = chunk.get("choices")
        if choices and isinstance(choices, list):
            output = False
            for choice in choices:
                if not isinstance(choice, dict):
                    continue
                delta = choice.get("delta")
                if isinstance(delta, dict) and not output:
                    for key in _OUTPUT_KEYS:
                        value = delta.get(key)
                        if value and isinstance(value, str):
                            output = True
                            break
                    else:
                        calls = delta.get("tool_calls")
                        output = bool(calls) and isinstance(calls, list)
                if choice.get("finish_reason"):
                    self.finished = True
            if output:
                if self.count == 0:
                    self.first = at
                self.count += 1
                self.chunk_times.append(at)
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            tokens = usage.get("completion_tokens")
            if isinstance(tokens, int) and not isinstance(tokens, bool) and tokens >= 0:
                self.tokens = tokens

    def check_complete(self) -> None:
        if not (self.done or self.finished):
            raise _RequestFailed(self.errors.response(
                f"stream ended before data: [DONE] and before a finish_reason ({self.count} content chunks received)"
            ))


# --------------------------------------------------------------------------- shard state


class _Shard:
    """Shared state of one running shard: the outcome arrays and the request bookkeeping."""

    def __init__(self, plan: ShardPlan, errors: CallErrors) -> None:
        self.plan = plan
        self.errors = errors
        self.outcome = ShardOutcome(pid=os.getpid())

    def record(self, request_id: int, scheduled: float, issued: float, sent: float, end: float,
               meter: _StreamMeter | None, error: str | None) -> None:
        out = self.outcome
        out.request_id.append(request_id)
        out.scheduled.append(scheduled)
        out.issued.append(issued)
        out.sent.append(sent)
        out.end.append(end)
        if error is None and meter is not None:
            out.ok.append(1)
            out.first.append(meter.first)
            out.tokens.append(meter.tokens)
            out.chunk_counts.append(meter.count)
            out.chunk_times.extend(meter.chunk_times)
        else:
            out.ok.append(0)
            out.first.append(float("nan"))
            out.tokens.append(-1)
            out.chunk_counts.append(0)
            out.add_error(error or "unknown failure")


# --------------------------------------------------------------------------- raw HTTP/1.1 engine


class _RawConnection(asyncio.Protocol):
    """One HTTP/1.1 keep-alive connection; one request at a time; chunked or sized bodies."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.state = "idle"
        self.waiter: asyncio.Future[float] | None = None
        self.on_body: Callable[[bytes, float], None] | None = None
        self.status = 0
        self.reason = ""
        self.remaining = 0
        self.chunked = False
        self.keep_alive = True
        self.error_body = bytearray()
        self.last_at = 0.0
        self.received = 0
        self.closed = False

    # asyncio callbacks ---------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            if self.state == "until_close":
                self.waiter.set_result(self.last_at or time.perf_counter())
            else:
                where = "before the response" if self.state == "head" else "in the middle of the response"
                self.waiter.set_exception(ConnectionError(f"connection closed by the server {where}"))

    def data_received(self, data: bytes) -> None:
        at = time.perf_counter()
        self.last_at = at
        self.received += len(data)
        if self.state == "until_close":
            self._body(data, at)
            return
        self.buffer += data
        try:
            self._parse(at)
        except ValueError as exc:
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_exception(ConnectionError(f"malformed HTTP response: {exc}"))
            self.close()
        except _RequestFailed as exc:
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_exception(exc)
            self.close()

    # request -------------------------------------------------------------------

    def request(self, data: bytes, on_body: Callable[[bytes, float], None]) -> asyncio.Future[float]:
        """Write a request; the future resolves to the perf_counter time of the last byte."""
        assert self.transport is not None
        self.on_body = on_body
        self.state = "head"
        self.status = 0
        self.received = 0
        self.buffer.clear()  # bytes a server sent between responses belong to no request
        self.error_body = bytearray()
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return self.waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    # parsing -------------------------------------------------------------------

    def _body(self, data: bytes, at: float) -> None:
        if self.status == 200:
            assert self.on_body is not None
            self.on_body(data, at)
        elif len(self.error_body) < 65536:
            self.error_body += data

    def _parse(self, at: float) -> None:
        buffer = self.buffer
        while True:
            state = self.state
            if state == "head":
                end = buffer.find(b"\r\n\r\n")
                if end < 0:
                    if len(buffer) > 65536:
                        raise ValueError("response headers longer than 64 KiB")
                    return
                self._head(bytes(buffer[:end]))
                del buffer[: end + 4]
            elif state == "size":
                end = buffer.find(b"\r\n")
                if end < 0:
                    return
                size = int(bytes(buffer[:end]).split(b";", 1)[0].strip(), 16)
                del buffer[: end + 2]
                if size == 0:
                    self.state = "trailer"
                else:
                    self.remaining = size
                    self.state = "chunk"
            elif state == "chunk":
                if not buffer:
                    return
                take = min(len(buffer), self.remaining)
                piece = bytes(buffer[:take])
                del buffer[:take]
                self.remaining -= take
                if self.remaining == 0:
                    self.state = "chunk_end"
                self._body(piece, at)
            elif state == "chunk_end":
                if len(buffer) < 2:
                    return
                del buffer[:2]
                self.state = "size"
            elif state == "until_close":
                if buffer:
                    piece = bytes(buffer)
                    buffer.clear()
                    self._body(piece, at)
                return
            elif state == "trailer":
                end = buffer.find(b"\r\n")
                if end < 0:
                    return
                del buffer[: end + 2]
                if end == 0:
                    self._complete(at)
                    return
            elif state == "sized":
                if not buffer:
                    if self.remaining == 0:
                        self._complete(at)
                    return
                take = min(len(buffer), self.remaining)
                piece = bytes(buffer[:take])
                del buffer[:take]
                self.remaining -= take
                self._body(piece, at)
                if self.remaining == 0:
                    self._complete(at)
                    return
            else:
                return

    def _head(self, head: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise ValueError(f"status line {lines[0][:80]!r}")
        self.status = int(parts[1])
        self.reason = parts[2] if len(parts) > 2 else ""
        if 100 <= self.status < 200:  # interim response: the real one follows
            return
        length = None
        self.chunked = False
        self.keep_alive = parts[0] != "HTTP/1.0"
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value.strip())
            elif name == "transfer-encoding" and "chunked" in value.lower():
                self.chunked = True
            elif name == "connection":
                token = value.strip().lower()
                if token == "close":
                    self.keep_alive = False
                elif token == "keep-alive":
                    self.keep_alive = True
        if self.chunked:
            self.state = "size"
        elif length is not None:
            self.remaining = length
            self.state = "sized"
        else:
            self.keep_alive = False
            self.state = "until_close"

    def _complete(self, at: float) -> None:
        self.state = "idle"
        if not self.keep_alive:
            self.close()
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(at)


class _RawEngine:
    """Sends requests over :class:`_RawConnection` s; idle connections are kept for reuse."""

    def __init__(self, shard: _Shard) -> None:
        plan = shard.plan
        self.shard = shard
        parts = urlsplit(plan.url)
        self.host = parts.hostname or "127.0.0.1"
        self.tls = parts.scheme == "https"
        self.port = parts.port or (443 if self.tls else 80)
        self.ssl_context = ssl.create_default_context() if self.tls else None
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        host_header = parts.netloc.rpartition("@")[2]
        auth = f"Authorization: Bearer {plan.secret.reveal()}\r\n" if plan.secret is not None else ""
        self.requests = [
            (
                f"POST {path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: pytest-modelbench\r\n"
                f"Accept: text/event-stream\r\nContent-Type: application/json\r\n{auth}"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode("latin-1") + body
            for body in plan.bodies
        ]
        self.idle: list[_RawConnection] = []

    async def open(self, count: int) -> None:
        """Open ``count`` connections ahead of the start (failures are left to the requests)."""
        results = await asyncio.gather(*(self._connect() for _ in range(count)), return_exceptions=True)
        self.idle.extend(conn for conn in results if isinstance(conn, _RawConnection))

    async def _connect(self) -> _RawConnection:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(
            _RawConnection, self.host, self.port, ssl=self.ssl_context,
            server_hostname=self.host if self.tls else None,
        )
        return conn

    async def send(self, request_id: int, scheduled: float) -> None:
        """Send one request and record it.

        A kept-alive connection the server closed while it sat idle fails before any byte
        of the response arrives; such a request is sent once more on a new connection, as
        HTTP clients do (RFC 9112 §9.3.1), and is timed from the second send.
        """
        shard = self.shard
        issued = time.perf_counter()
        sent = issued
        meter: _StreamMeter | None = None
        conn: _RawConnection | None = None
        error: str | None = None
        end = issued
        try:
            async with asyncio.timeout(shard.plan.timeout):
                reused = False
                while self.idle:
                    conn = self.idle.pop()
                    if not conn.closed:
                        reused = True
                        break
                    conn = None
                while True:
                    if conn is None:
                        try:
                            conn = await self._connect()
                        except OSError as exc:
                            raise _RequestFailed(shard.errors.connection(exc)) from None
                    meter = _StreamMeter(shard.errors)
                    sent = time.perf_counter()
                    try:
                        end = await conn.request(self.requests[request_id % len(self.requests)], meter.feed)
                        break
                    except ConnectionError as exc:
                        if conn.received == 0 and reused:
                            conn.close()
                            conn, reused = None, False
                            continue
                        if conn.received == 0 or conn.status == 0:
                            raise _RequestFailed(shard.errors.connection(exc)) from None
                        raise _RequestFailed(
                            shard.errors.response(f"{exc} ({meter.count} content chunks received)")
                        ) from None
                if conn.status != 200:
                    raise _RequestFailed(shard.errors.status(conn.status, conn.reason, bytes(conn.error_body)))
                meter.close(end)
                meter.check_complete()
        except _RequestFailed as exc:
            error = str(exc)
            end = time.perf_counter()
            if conn is not None and conn.state != "idle":
                conn.close()
        except TimeoutError:
            error = str(shard.errors.timeout(shard.plan.timeout, "(whole request)"))
            end = time.perf_counter()
            if conn is not None:
                conn.close()
        except Exception as exc:  # an unexpected failure is one failed request, not a failed run
            error = redact(f"unexpected client error: {type(exc).__name__}: {exc}", shard.plan.secret)
            end = time.perf_counter()
            if conn is not None:
                conn.close()
        if conn is not None and not conn.closed and conn.state == "idle":
            self.idle.append(conn)
        shard.record(request_id, scheduled, issued, sent, end, meter, error)

    async def aclose(self) -> None:
        for conn in self.idle:
            conn.close()
        self.idle.clear()


# --------------------------------------------------------------------------- httpx engine


def _skip_failing_sniffio_import() -> bool:
    """Make httpcore's per-lock ``import sniffio`` fail fast when sniffio is not installed.

    httpcore (1.0.x) imports sniffio inside ``current_async_library()``, called for every
    lock and semaphore of every request; anyio >= 4.5 no longer installs sniffio, and a failed
    import is not cached, so each call searches ``sys.path`` again (about 0.5 ms per request,
    measured: a third of httpx's CPU per request). A ``None`` entry in ``sys.modules`` makes
    the same import fail at once with the same ImportError, which httpcore already handles.
    Returns whether the entry was added (the engine removes it again when it closes).
    """
    if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
        sys.modules["sniffio"] = None  # type: ignore[assignment]
        return True
    return False


class _HttpxEngine:
    """Sends requests with ``clients`` httpx.AsyncClient s, each pool sized to its share."""

    def __init__(self, shard: _Shard, per_client_connections: int | None) -> None:
        import httpx

        self.skipped_sniffio = _skip_failing_sniffio_import()
        plan = shard.plan
        self.shard = shard
        self.httpx = httpx
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream", "User-Agent": "pytest-modelbench"}
        if plan.secret is not None:
            headers["Authorization"] = f"Bearer {plan.secret.reveal()}"
        limits = httpx.Limits(max_connections=per_client_connections, max_keepalive_connections=per_client_connections)
        self.clients = [
            httpx.AsyncClient(
                headers=headers, limits=limits, timeout=httpx.Timeout(plan.timeout), follow_redirects=False
            )
            for _ in range(max(plan.clients, 1))
        ]
        self.next_client = 0

    def client_for(self, worker: int | None) -> Any:
        if worker is None:
            self.next_client = (self.next_client + 1) % len(self.clients)
            return self.clients[self.next_client]
        return self.clients[worker % len(self.clients)]

    async def send(self, request_id: int, scheduled: float, worker: int | None = None) -> None:
        shard = self.shard
        plan = shard.plan
        httpx = self.httpx
        client = self.client_for(worker)
        issued = time.perf_counter()
        sent = [issued]
        meter: _StreamMeter | None = None
        error: str | None = None
        end = issued
        received = 0

        async def trace(event: str, info: dict[str, Any]) -> None:
            if event in _SEND_HEADERS_EVENTS:
                sent[0] = time.perf_counter()

        try:
            async with asyncio.timeout(plan.timeout):
                async with client.stream(
                    "POST", plan.url, content=plan.bodies[request_id % len(plan.bodies)],
                    extensions={"trace": trace},
                ) as response:
                    if response.status_code != 200:
                        body = await response.aread()
                        raise _RequestFailed(shard.errors.status(response.status_code, response.reason_phrase, body))
                    meter = _StreamMeter(shard.errors)
                    async for data in response.aiter_bytes():
                        end = time.perf_counter()
                        received += len(data)
                        meter.feed(data, end)
                    meter.close(end)
                    meter.check_complete()
        except _RequestFailed as exc:
            error = str(exc)
            end = time.perf_counter()
        except TimeoutError:
            error = str(shard.errors.timeout(plan.timeout, "(whole request)"))
            end = time.perf_counter()
        except httpx.TimeoutException:
            error = str(shard.errors.timeout(plan.timeout, "waiting for the server"))
            end = time.perf_counter()
        except httpx.TransportError as exc:
            if received:
                chunks = meter.count if meter else 0
                error = str(shard.errors.response(f"stream cut off ({type(exc).__name__}; {chunks} content chunks received)"))
            else:
                error = str(shard.errors.connection(exc))
            end = time.perf_counter()
        except httpx.HTTPError as exc:
            error = str(shard.errors.response(f"{type(exc).__name__}: {exc}"))
            end = time.perf_counter()
        except Exception as exc:  # an unexpected failure is one failed request, not a failed run
            error = redact(f"unexpected client error: {type(exc).__name__}: {exc}", shard.plan.secret)
            end = time.perf_counter()
        shard.record(request_id, scheduled, issued, sent[0], end, meter, error)

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()
        if self.skipped_sniffio and sys.modules.get("sniffio", False) is None:
            del sys.modules["sniffio"]


# --------------------------------------------------------------------------- running a shard


class _Probe:
    """Event-loop lag and memory, sampled while the shard runs."""

    def __init__(self, outcome: ShardOutcome) -> None:
        self.outcome = outcome
        self.running = True

    async def run(self) -> None:
        lags = self.outcome.loop_lags
        ticks = 0
        expected = time.perf_counter() + TICK_SECONDS
        while self.running:
            await asyncio.sleep(TICK_SECONDS)
            now = time.perf_counter()
            lags.append(max(now - expected, 0.0))
            expected = now + TICK_SECONDS
            ticks += 1
            if ticks % RSS_EVERY_TICKS == 0:
                self.sample_rss()

    def sample_rss(self) -> None:
        rss = current_rss_bytes()
        if rss > self.outcome.peak_rss_bytes:
            self.outcome.peak_rss_bytes = rss


def current_rss_bytes() -> int:
    """Resident set size of this process now (Linux /proc); else the lifetime peak."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


async def _run(plan: ShardPlan, ready: Callable[[], float]) -> ShardOutcome:
    """Open connections, call ``ready()`` (returns the start time), send, return the outcome."""
    shard = _Shard(plan, CallErrors(model=plan.model, base_url=plan.url, secret=plan.secret))
    outcome = shard.outcome
    if plan.engine == "raw":
        engine: _RawEngine | _HttpxEngine = _RawEngine(shard)
        await engine.open(plan.concurrency if plan.mode == "concurrency" else min(len(plan.request_ids), 8))
    else:
        per_client = -(-plan.concurrency // max(plan.clients, 1)) if plan.mode == "concurrency" else None
        engine = _HttpxEngine(shard, per_client)
    probe = _Probe(outcome)
    loop = asyncio.get_running_loop()
    start = await loop.run_in_executor(None, ready)
    delay = start - time.perf_counter()
    if delay > 0:
        await asyncio.sleep(delay)
    cpu_start = time.process_time()
    probe_task = asyncio.create_task(probe.run())
    try:
        if plan.mode == "concurrency":
            await _closed_loop(plan, engine, start)
        else:
            await _open_loop(plan, engine, start)
    finally:
        probe.running = False
        await probe_task
        outcome.cpu_s = time.process_time() - cpu_start
        outcome.run_s = time.perf_counter() - start
        probe.sample_rss()
        await engine.aclose()
    return outcome


def _request_ids(plan: ShardPlan, start: float) -> Iterator[int]:
    if plan.duration_s is None:
        yield from plan.request_ids
        return
    deadline = start + plan.duration_s
    request_id = plan.first_id
    while time.perf_counter() < deadline:
        yield request_id
        request_id += plan.id_step


async def _closed_loop(plan: ShardPlan, engine: _RawEngine | _HttpxEngine, start: float) -> None:
    ids = _request_ids(plan, start)

    async def worker(number: int) -> None:
        for request_id in ids:
            if isinstance(engine, _HttpxEngine):
                await engine.send(request_id, float("nan"), number)
            else:
                await engine.send(request_id, float("nan"))

    await asyncio.gather(*(worker(number) for number in range(plan.concurrency)))


async def _open_loop(plan: ShardPlan, engine: _RawEngine | _HttpxEngine, start: float) -> None:
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()
    # loop.time() and perf_counter() are both CLOCK_MONOTONIC on Linux, but not everywhere:
    # translate the start once instead of assuming it.
    loop_start = loop.time() - (time.perf_counter() - start)
    for request_id, offset in zip(plan.request_ids, plan.arrivals):
        delay = loop_start + offset - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        task = loop.create_task(engine.send(request_id, start + offset))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    while tasks:
        await asyncio.gather(*list(tasks))


def run_shard(plan: ShardPlan, start: Callable[[], float]) -> ShardOutcome:
    """Run one shard in this process on a fresh event loop (a helper thread if one is running).

    ``start()`` is called once the connections are open and returns the perf_counter time at
    which to begin.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_run(plan, start))
    result: list[ShardOutcome] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(_run(plan, start)))
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=target, name="modelbench-load")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


# --------------------------------------------------------------------------- worker process


def _read_frame(stream: Any) -> bytes:
    header = stream.read(8)
    if len(header) < 8:
        raise EOFError("the parent closed the pipe")
    (size,) = struct.unpack("<Q", header)
    return stream.read(size)


def write_frame(stream: Any, payload: bytes) -> None:
    stream.write(struct.pack("<Q", len(payload)) + payload)
    stream.flush()


def read_frame(stream: Any) -> bytes:
    return _read_frame(stream)


def worker_main() -> None:
    """Entry point of a worker process: plan on stdin, READY, start time, outcome on stdout."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    plan: ShardPlan = pickle.loads(_read_frame(stdin))

    def ready() -> float:
        write_frame(stdout, b"READY")
        (start,) = struct.unpack("<d", _read_frame(stdin))
        return start

    try:
        outcome = asyncio.run(_run(plan, ready))
    except BaseException as exc:  # reported to the parent, which raises it
        outcome = ShardOutcome(pid=os.getpid(), crashed=f"{type(exc).__name__}: {exc}")
    write_frame(stdout, pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL))


if __name__ == "__main__":
    # Run the package's module, not this __main__ copy, so that pickled outcomes name
    # pytest_modelbench.profile.loadgen.ShardOutcome.
    from .loadgen import worker_main as _worker_main

    _worker_main()
