"""HTTP machinery shared by the model providers. Does not import pytest.

A provider (``openai.py``, ``anthropic.py``, through their shared base :class:`~._base.HTTPProvider`)
builds on these pieces:

- :class:`RetryPolicy` and :func:`parse_retry_after`: which failures are retried and how long
  to wait between attempts, as the official openai-python client does.
- :func:`call_with_retries`: the retry loop; an attempt asks for another try by raising
  :class:`RetryableFailure`.
- :class:`SSEDecoder` / :class:`SSEEvent`: an incremental server-sent-events parser fed with
  raw network reads, linear in the input and with a bounded line length.
- :class:`Deadline`, :class:`DeadlineTransport` and :func:`iter_body`: the overall time limit
  of one attempt. The transport bounds every socket operation (connect, sending, the
  response headers, each body read) by the time left, so a server that trickles its headers
  or its body is cut off at the deadline; :func:`iter_body` also checks it after every read
  (for transports that are not ours, such as ``httpx.MockTransport``).
- :func:`iter_body` decodes the body itself (identity, gzip, deflate), a bounded piece at a
  time, and stops with :class:`BodyTooLarge` past ``max_response_bytes`` *decoded* bytes,
  so a compression bomb or an endless stream cannot exhaust memory (:class:`BodyReading`,
  which its async twin shares).
- :class:`CallErrors`, :func:`error_excerpt`, :func:`redact`, :func:`safe_url`,
  :class:`Secret`: translation of failures into ``ModelCallError`` / ``ModelTimeoutError`` /
  ``ModelResponseError`` whose messages name the model, the base URL, the status and a short
  excerpt of the server's message, and never contain the API key.
- The checks of a provider's settings and of a call's arguments (:func:`check_model`,
  :func:`check_api_root`, :func:`check_params`, :func:`merge_request_params`, ...), whose
  messages repeat the bad value and say what is allowed.
- One attempt of a JSON POST: :func:`open_response` sends it, :func:`status_failure` and
  :func:`rejects_streaming` judge an error status, :func:`send_with_fallbacks` re-sends after a
  :class:`FellBack`; the body is read by :func:`read_sse_stream` into a
  :class:`StreamAssembly` (the provider's own parsing of events) or by
  :func:`read_json_object`.
"""

from __future__ import annotations

import codecs
import contextlib
import contextvars
import dataclasses
import email.utils
import json
import math
import random
import re
import time
import warnings
import zlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any, AnyStr, NoReturn, Protocol, TypeVar

import httpcore
import httpx

from ..._exceptions import (
    ConfigError,
    ModelCallError,
    ModelError,
    ModelResponseError,
    ModelTimeoutError,
)
from ..completion import Completion, is_token_count
from ..specs import REDACTED, redact_url
from . import DEFAULT_MAX_RESPONSE_BYTES  # the default cap on a response body, decompressed

T = TypeVar("T")

#: Statuses retried whatever the body says (besides every status >= 500).
RETRYABLE_STATUS_CODES = frozenset({408, 409, 429})

#: Longest server excerpt quoted in an error message, in characters.
EXCERPT_CHARS = 300

#: Most bytes of an error body read to build the message.
ERROR_BODY_LIMIT = 65536

#: Longest line of an event stream, in characters.
MAX_SSE_LINE_CHARS = 8 * 1024 * 1024

#: Decoded bytes produced per step when decompressing a body.
_DECODE_PIECE = 65536

#: The content codings the body readers decode (asked for on every request, whatever the
#: client's own default says).
ACCEPT_ENCODING = "gzip, deflate"

#: Statuses that reject streaming when the error text mentions it, and statuses that reject
#: it whatever the text says (a server without a streaming endpoint).
STREAM_REJECTED_STATUSES = frozenset({400, 404, 422})
STREAM_UNSUPPORTED_STATUSES = frozenset({405, 501})
MENTIONS_STREAMING = re.compile(r"\bstream(?:ing|ed|s)?\b", re.IGNORECASE)


# --------------------------------------------------------------------------- retries


def parse_retry_after(headers: Mapping[str, str] | None, *, now: float | None = None) -> float | None:
    """Seconds the server asks the client to wait, or None when it does not say.

    Reads ``retry-after-ms`` (milliseconds, a non-standard header OpenAI sends) first, then
    ``Retry-After`` as delay-seconds or an HTTP-date (RFC 9110 §10.2.3). A date is turned into
    seconds from ``now`` (``time.time()`` by default), so a date in the past gives a negative
    number; the caller decides which values it honours. Unparseable values give None.
    """
    if not headers:
        return None
    lowered = {key.lower(): value for key, value in headers.items()}
    milliseconds = _finite_float(lowered.get("retry-after-ms"))
    if milliseconds is not None:
        return milliseconds / 1000.0
    value = lowered.get("retry-after")
    if value is None:
        return None
    seconds = _finite_float(value)
    if seconds is not None:
        return seconds
    parsed = email.utils.parsedate_tz(value.strip())
    if parsed is None:
        return None
    try:
        when = email.utils.mktime_tz(parsed)
    except (OverflowError, ValueError):
        return None
    return float(when) - (time.time() if now is None else now)


def _finite_float(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


@dataclasses.dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When to retry a failed attempt and how long to wait first.

    Follows the official openai-python client (``_base_client.py``: ``_should_retry`` and
    ``_calculate_retry_timeout``; constants ``INITIAL_RETRY_DELAY = 0.5``,
    ``MAX_RETRY_DELAY = 8.0``, ``DEFAULT_MAX_RETRIES = 2``):

    - retried: connection errors, timeouts, HTTP 408, 409, 429 and every status >= 500;
      a response header ``x-should-retry: true|false`` overrides the status rule;
    - wait: the server's ``retry-after-ms`` / ``Retry-After`` when 0 < value <= 60 s, otherwise
      ``min(0.5 * 2**n, 8) * (1 - 0.25 * random())`` before retry ``n`` (0-based);
    - ``max_retries`` retries after the first attempt.
    """

    max_retries: int = 2
    initial_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        retries = self.max_retries
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ValueError(
                f"max_retries {self.max_retries!r} is not allowed; it must be a whole number >= 0"
            )
        for name in ("initial_delay", "max_delay", "max_retry_after"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                math.isfinite(value) and value >= 0
            ):
                raise ValueError(f"{name} {value!r} is not allowed; it must be seconds >= 0")

    def should_retry(self, status_code: int, headers: Mapping[str, str] | None = None) -> bool:
        """Whether an HTTP error status is worth another attempt."""
        if headers:
            hint = {key.lower(): value for key, value in headers.items()}.get("x-should-retry")
            if hint is not None and hint.strip().lower() in ("true", "false"):
                return hint.strip().lower() == "true"
        return status_code in RETRYABLE_STATUS_CODES or status_code >= 500

    def delay(
        self,
        retries_taken: int,
        headers: Mapping[str, str] | None = None,
        *,
        random_fraction: Callable[[], float] = random.random,
        now: float | None = None,
    ) -> float:
        """Seconds to sleep before retry number ``retries_taken`` (0 for the first retry)."""
        retry_after = parse_retry_after(headers, now=now)
        if retry_after is not None and 0 < retry_after <= self.max_retry_after:
            return retry_after
        exponent = min(retries_taken, 1000)
        backoff = min(self.initial_delay * 2.0**exponent, self.max_delay)
        jitter = 1.0 - 0.25 * random_fraction()
        return max(backoff * jitter, 0.0)


class RetryableFailure(Exception):
    """Raised by an attempt to ask :func:`call_with_retries` for another try.

    ``error`` is what the caller gets if no retry is left; ``headers`` are the response
    headers (for ``Retry-After``), None for a failure without a response.
    """

    def __init__(self, error: ModelCallError, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.headers = headers


def call_with_retries(
    attempt: Callable[[], T],
    *,
    policy: RetryPolicy,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``attempt`` until it returns, raises anything but RetryableFailure, or retries run out.

    When retries run out, the last failure's error is raised, its message ending with the
    number of attempts made, chained to the low-level exception that caused it. Each attempt
    bounds its own time, so the call takes at most ``max_retries + 1`` attempts' time plus
    the waits between them.
    """
    retries_taken = 0
    while True:
        try:
            return attempt()
        except RetryableFailure as failure:
            if retries_taken >= policy.max_retries:
                raise after_attempts(failure.error, retries_taken + 1) from failure.__cause__
            sleep(policy.delay(retries_taken, failure.headers))
            retries_taken += 1


def without_traceback(error: ModelError) -> ModelError:
    """``error`` without its frames and the exceptions behind it, to be re-raised ``from None``
    at a provider's surface: the frames' arguments and locals hold the server's bytes, and the
    chained httpx/httpcore exceptions' frames the request headers with the key, which a
    traceback (``--showlocals``, ``--tb=long``) would print. The message says what failed."""
    error.__cause__ = None
    error.__context__ = None
    error.__suppress_context__ = True
    return error.with_traceback(None)


def after_attempts(error: ModelCallError, attempts: int) -> ModelCallError:
    """``error`` as the last of ``attempts`` attempts: its message then says how many were made
    (the retry loops of the providers, the channels and the metered transports)."""
    if attempts <= 1:
        return error
    return type(error)(f"{error} (gave up after {attempts} attempts)", status_code=error.status_code)


# --------------------------------------------------------------------------- timing


class DeadlineExceeded(Exception):
    """An attempt ran past its overall deadline while the body was still arriving."""


@dataclasses.dataclass(frozen=True, slots=True)
class Deadline:
    """The overall time limit of one attempt, on the ``time.perf_counter`` clock."""

    start: float
    seconds: float

    @classmethod
    def starting_now(cls, seconds: float) -> Deadline:
        return cls(time.perf_counter(), seconds)

    @property
    def at(self) -> float:
        return self.start + self.seconds

    def remaining(self, now: float | None = None) -> float:
        return self.at - (time.perf_counter() if now is None else now)

    def expired(self, now: float | None = None) -> bool:
        return self.remaining(now) <= 0


@dataclasses.dataclass(frozen=True, slots=True)
class Received:
    """One network read of a response body and the ``perf_counter`` time it arrived. Its
    repr shows the size only (a server may echo a key; tracebacks print locals)."""

    data: bytes
    at: float

    def __repr__(self) -> str:
        return f"Received(<{len(self.data)} bytes>, at={self.at:.6f})"


class BodyTooLarge(Exception):
    """The decoded body passed its size limit (``limit`` bytes)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"response larger than {format_bytes(limit)}")
        self.limit = limit


def format_bytes(count: int) -> str:
    """``32 MiB``, ``1.5 KiB``, ``100 bytes``: a byte count for messages."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= size:
            return f"{count / size:g} {unit}"
    return f"{count} bytes"


class _BodyDecoder:
    """Decodes a body's ``Content-Encoding`` (none, identity, gzip, deflate) a bounded piece
    at a time: a small compressed read never becomes a huge buffer at once."""

    def __init__(self, content_encoding: str | None) -> None:
        codings = [part.strip().lower() for part in (content_encoding or "").split(",") if part.strip()]
        codings = [coding for coding in codings if coding != "identity"]
        if len(codings) > 1:
            raise httpx.DecodingError(f"content-encoding {content_encoding!r} is not supported (several codings)")
        self._coding = codings[0] if codings else None
        if self._coding in ("gzip", "x-gzip"):
            self._zlib: Any = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif self._coding == "deflate":
            self._zlib = None  # zlib-wrapped or raw: decided by the first bytes
        elif self._coding is not None:
            raise httpx.DecodingError(
                f"content-encoding {self._coding!r} is not supported; the client asks for gzip or deflate"
            )

    def decode(self, data: bytes) -> Iterator[bytes]:
        if self._coding is None:
            for start in range(0, len(data), _DECODE_PIECE):
                yield data[start : start + _DECODE_PIECE]
            return
        if self._zlib is None:
            zlib_wrapped = len(data) >= 2 and (data[0] & 0x0F) == 8 and ((data[0] << 8) | data[1]) % 31 == 0
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS if zlib_wrapped else -zlib.MAX_WBITS)
        try:
            pending = data
            while True:
                piece = self._zlib.decompress(pending, _DECODE_PIECE)
                pending = self._zlib.unconsumed_tail
                if piece:
                    yield piece
                if not pending and len(piece) < _DECODE_PIECE:
                    break
        except zlib.error as exc:
            raise httpx.DecodingError(f"{self._coding} body is corrupt: {exc}") from None

    def flush(self) -> Iterator[bytes]:
        if self._coding is None or self._zlib is None:
            return
        try:
            rest = self._zlib.flush()
        except zlib.error as exc:
            raise httpx.DecodingError(f"{self._coding} body is corrupt: {exc}") from None
        if rest:
            yield rest
        if not self._zlib.eof:
            raise httpx.DecodingError(f"{self._coding} body is truncated")


def iter_body(response: httpx.Response, deadline: Deadline, limit: int) -> Iterator[Received]:
    """Yield the decoded body as it arrives; BodyTooLarge past ``limit`` decoded bytes;
    DeadlineExceeded once past the deadline.

    The body is read raw and decoded here, at most 64 KiB per step, so that memory stays
    bounded whatever the compression ratio. The deadline is checked after every read,
    before waiting for the next one (with :class:`DeadlineTransport` each read is also
    bounded by the time left, so a server sending nothing is cut off at the deadline).
    """
    body = BodyReading(response, deadline, limit)
    # httpx.StreamConsumed when read before, as httpx's own iterators say
    reads = [body.content] if body.content is not None else response.iter_raw()
    for raw in reads:
        yield from body.decoded(raw)
    yield from body.flushed()


class BodyReading:
    """One response body being read, shared by :func:`iter_body` and its async twin: the
    decoding of each raw read (:meth:`decoded`, then :meth:`flushed` at the end), the count
    of decoded bytes against ``limit`` and the deadline checked after each read.

    ``content`` is the body of a response httpx has read and decoded already (one built in
    memory, as ``httpx.MockTransport`` builds them), which is then the only read; None when
    the body is to be read from the network.
    """

    def __init__(self, response: httpx.Response, deadline: Deadline, limit: int) -> None:
        self.content = already_read(response)
        encoding = None if self.content is not None else response.headers.get("content-encoding")
        self._decoder = _BodyDecoder(encoding)
        self._deadline = deadline
        self._limit = limit
        self._total = 0

    def decoded(self, raw: bytes) -> Iterator[Received]:
        """The decoded pieces of one raw read (none for an empty one); DeadlineExceeded after
        them when the deadline has passed."""
        if not raw:
            return
        yield from self._counted(self._decoder.decode(raw), time.perf_counter())
        if self._deadline.expired():
            raise DeadlineExceeded(f"deadline of {self._deadline.seconds:g} s passed")

    def flushed(self) -> Iterator[Received]:
        """What the decoder still held at the end of the body."""
        yield from self._counted(self._decoder.flush(), time.perf_counter())

    def _counted(self, pieces: Iterator[bytes], at: float) -> Iterator[Received]:
        for piece in pieces:
            self._total += len(piece)
            if self._total > self._limit:
                raise BodyTooLarge(self._limit)
            yield Received(piece, at)


def already_read(response: httpx.Response) -> bytes | None:
    """The body of a response httpx has read and decoded already (one built in memory), else None."""
    if not response.is_stream_consumed:
        return None
    try:
        return response.content
    except httpx.ResponseNotRead:  # iterated by someone else: nothing to read again
        return None


# The deadline (a ``perf_counter`` time) of the attempt running in this context, which
# :class:`DeadlineTransport` bounds every socket operation by.
_attempt_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "modelbench_attempt_deadline", default=None
)


@contextlib.contextmanager
def bounded_by(deadline: Deadline) -> Iterator[None]:
    """Bound the socket operations of :class:`DeadlineTransport` in this block by ``deadline``
    (nothing when it is infinite: httpx's own timeouts only)."""
    if not math.isfinite(deadline.seconds):
        yield
        return
    token = _attempt_deadline.set(deadline.at)
    try:
        yield
    finally:
        _attempt_deadline.reset(token)


def _time_left(timeout: float | None, error: type[Exception]) -> float | None:
    """``timeout`` cut to what is left of the attempt's deadline; ``error`` when none is left."""
    at = _attempt_deadline.get()
    if at is None:
        return timeout
    left = at - time.perf_counter()
    if left <= 0:
        raise error("the attempt's deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _time_left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _time_left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._stream.start_tls(
            ssl_context, server_hostname, _time_left(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._backend = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Any = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._backend.connect_tcp(
            host, port, _time_left(timeout, httpcore.ConnectTimeout), local_address, socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Any = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._backend.connect_unix_socket(
            path, _time_left(timeout, httpcore.ConnectTimeout), socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class DeadlineTransport(httpx.HTTPTransport):
    """httpx's transport, whose socket operations (connect, TLS, each write, each read of the
    response headers and body) are bounded by the time left of the attempt in progress
    (:func:`bounded_by`). httpx's own timeouts bound each operation; this bounds them all
    together, so a server trickling its headers cannot hold an attempt past its deadline."""

    def __init__(self) -> None:
        super().__init__()
        pool = getattr(self, "_pool", None)
        if not isinstance(pool, httpcore.ConnectionPool) or not hasattr(pool, "_network_backend"):
            raise RuntimeError(
                "this httpx/httpcore version has no pool network backend to bound by a deadline; "
                f"httpx {httpx.__version__}, httpcore {httpcore.__version__}"
            )
        pool._network_backend = _DeadlineBackend()


def http_timeout(seconds: float) -> httpx.Timeout:
    """An httpx timeout of ``seconds`` for connect, each read, each write and the pool wait."""
    return httpx.Timeout(seconds)


# --------------------------------------------------------------------------- SSE


@dataclasses.dataclass(frozen=True, slots=True)
class SSEEvent:
    """One dispatched server-sent event: its data lines joined by ``\\n``.

    Its repr shows the size of the data, not the data: a server may echo an API key in an
    event, and a traceback's local variables are printed with ``repr``.
    """

    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None

    def __repr__(self) -> str:
        return f"SSEEvent(event={self.event!r}, data=<{len(self.data)} characters>)"


class SSELineTooLong(Exception):
    """A line of an event stream passed :data:`MAX_SSE_LINE_CHARS` (or the decoder's limit)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"stream line longer than {limit} characters")
        self.limit = limit


_LINE_END = re.compile(r"[\r\n]")


class SSEDecoder:
    """Incremental parser of a ``text/event-stream`` body (WHATWG HTML §9.2.6).

    Feed it raw network reads in any split: a UTF-8 character, a line or a CRLF pair may be
    cut between reads. Lines end with CRLF, LF or CR (and only those: U+2028 inside a JSON
    string is data); a leading byte-order mark is dropped; lines starting with ``:`` are
    comments (keep-alives), counted in ``comments``; ``data`` lines of one event are joined
    with ``\\n``; a blank line dispatches the event; an event without data lines is not
    dispatched. :meth:`close` is lenient where the standard is strict: at end of stream an
    unterminated last line still counts and a pending event is dispatched.

    Linear in the input however it is split: each read is scanned once, and the pieces of
    an unfinished line are kept apart and joined once when it ends. A line longer than
    ``max_line_chars`` raises :class:`SSELineTooLong`.
    """

    def __init__(self, max_line_chars: int = MAX_SSE_LINE_CHARS) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._max_line_chars = max_line_chars
        self._pieces: list[str] = []  # the unfinished line, in pieces
        self._pieces_chars = 0
        self._skip_lf = False
        self._at_start = True
        self._data: list[str] = []
        self._event = ""
        self._last_id: str | None = None
        self._retry: int | None = None
        self.comments = 0

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Parse one network read; return the events it completed."""
        return self._feed_text(self._decoder.decode(chunk))

    def close(self) -> list[SSEEvent]:
        """End of stream: parse what is left and return the events it completed."""
        events = self._feed_text(self._decoder.decode(b"", final=True))
        if self._pieces:
            line = "".join(self._pieces)
            self._pieces, self._pieces_chars = [], 0
            event = self._line(line)
            if event is not None:
                events.append(event)
        event = self._dispatch()
        if event is not None:
            events.append(event)
        return events

    def _feed_text(self, text: str) -> list[SSEEvent]:
        if not text:
            return []
        if self._at_start:
            self._at_start = False
            if text.startswith("\ufeff"):
                text = text[1:]
        if self._skip_lf:
            self._skip_lf = False
            if text.startswith("\n"):
                text = text[1:]
        events: list[SSEEvent] = []
        position = 0
        # A line within one read can only be too long when the read is.
        check_all = len(text) > self._max_line_chars
        while True:
            match = _LINE_END.search(text, position)
            if match is None:
                break
            end = match.start()
            if self._pieces:
                self._pieces.append(text[position:end])
                line = "".join(self._pieces)
                self._pieces, self._pieces_chars = [], 0
                if len(line) > self._max_line_chars:
                    raise SSELineTooLong(self._max_line_chars)
            else:
                line = text[position:end]
                if check_all and len(line) > self._max_line_chars:
                    raise SSELineTooLong(self._max_line_chars)
            if text[end] == "\r":
                if end + 1 < len(text):
                    position = end + 2 if text[end + 1] == "\n" else end + 1
                else:
                    position = end + 1
                    self._skip_lf = True
            else:
                position = end + 1
            event = self._line(line)
            if event is not None:
                events.append(event)
        if position < len(text):
            rest = text[position:] if position else text
            self._pieces.append(rest)
            self._pieces_chars += len(rest)
            if self._pieces_chars > self._max_line_chars:
                raise SSELineTooLong(self._max_line_chars)
        return events

    def _line(self, line: str) -> SSEEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            self.comments += 1
            return None
        field, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event = value
        elif field == "id":
            if "\0" not in value:
                self._last_id = value
        elif field == "retry":
            if value.isascii() and value.isdigit():
                self._retry = int(value)
        return None

    def _dispatch(self) -> SSEEvent | None:
        if not self._data:
            self._event = ""
            return None
        event = SSEEvent(
            data="\n".join(self._data),
            event=self._event or "message",
            id=self._last_id,
            retry=self._retry,
        )
        self._data = []
        self._event = ""
        return event


# --------------------------------------------------------------------------- errors


class Secret:
    """Holds an API key so that it never shows in a repr, a str or a traceback's locals."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({REDACTED!r})"

    __str__ = __repr__


_KEYISH = re.compile(r"[A-Za-z0-9_\-]{8,}")


def redact(text: str, secret: Secret | str | None) -> str:
    """``text`` with the key, and any run of 8 or more of its characters, replaced.

    A server may echo the key whole or cut (``Incorrect API key provided: sk-proj-abcd...``);
    both disappear. Masked echoes such as ``sk-a****wxyz`` keep no 8-character run of the key
    and stay as they are.
    """
    if secret is None:
        return text
    key = secret.reveal() if isinstance(secret, Secret) else secret
    if not key:
        return text
    text = text.replace(key, REDACTED)
    if len(key) < 8:
        return text
    pieces = key_runs(key)

    def scrub(match: re.Match[str]) -> str:
        token = match.group(0)  # 8 characters or more (_KEYISH)
        return REDACTED if any(token[i : i + 8] in pieces for i in range(len(token) - 7)) else token

    return _KEYISH.sub(scrub, text)


def key_runs(key: AnyStr, run: int = 8) -> set[AnyStr]:
    """The substrings of ``run`` characters (or bytes) of ``key``: a text sharing one of them
    holds a piece of the key (what :func:`redact` removes)."""
    return {key[i : i + run] for i in range(len(key) - run + 1)}


def safe_url(url: str) -> str:
    """``url`` without user info, query or fragment: what an error message may show."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return "<invalid URL>"
    port = f":{parsed.port}" if parsed.port is not None else ""
    return f"{parsed.scheme}://{parsed.host}{port}{parsed.path}".rstrip("/")


def _shorten(text: str, limit: int = EXCERPT_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def error_excerpt(body: bytes | str, limit: int = EXCERPT_CHARS) -> str:
    """A short, one-line excerpt of a server's error body.

    Understands OpenAI-style ``{"error": {"message", "type", "code"}}``, ``{"error": "..."}``,
    ``{"message": ...}`` and FastAPI's ``{"detail": ...}``; anything else is quoted as text.
    """
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    if not text.strip():
        return "(empty body)"
    try:
        parsed = json.loads(text)
    except ValueError:
        return _shorten(text, limit)
    if isinstance(parsed, dict):
        error = parsed.get("error", parsed)
        if isinstance(error, dict):
            message = error.get("message", error.get("detail"))
            if message is not None:
                tags = [
                    f"{name}: {error[name]}"
                    for name in ("type", "code")
                    if isinstance(error.get(name), (str, int)) and not isinstance(error.get(name), bool)
                ]
                suffix = f" ({', '.join(tags)})" if tags else ""
                text = (message if isinstance(message, str) else json.dumps(message)) + suffix
        elif isinstance(error, str):
            text = error
    return _shorten(text, limit)


@dataclasses.dataclass(frozen=True, slots=True)
class CallErrors:
    """Builds the errors of calls to one model; every message is redacted of the key."""

    model: str
    base_url: str
    secret: Secret | None = None

    @property
    def where(self) -> str:
        return f"model {self.model!r} at {safe_url(self.base_url)}"

    def _message(self, detail: str) -> str:
        return redact(f"{self.where}: {detail}", self.secret)

    def status(self, status_code: int, reason: str, body: bytes | str) -> ModelCallError:
        reason_text = f" {reason}" if reason else ""
        return ModelCallError(
            self._message(f"HTTP {status_code}{reason_text}: {error_excerpt(body)}"),
            status_code=status_code,
        )

    def connection(self, exc: BaseException) -> ModelCallError:
        return ModelCallError(
            self._message(f"connection failed ({type(exc).__name__}: {_shorten(str(exc)) or 'no detail'})")
        )

    def timeout(self, seconds: float, phase: str, status_code: int | None = None) -> ModelTimeoutError:
        return ModelTimeoutError(
            self._message(f"timed out after {seconds:g} s {phase}"), status_code=status_code
        )

    def response(self, reason: str) -> ModelResponseError:
        return ModelResponseError(self._message(reason))


# --------------------------------------------------------------------------- checks


def check_model(model: Any) -> str:
    """``model`` when it is a non-empty string, else ConfigError."""
    if not isinstance(model, str) or not model.strip():
        raise ConfigError(f"model {model!r} is not allowed; it must be a non-empty string")
    return model


def check_api_root(base_url: Any, *, endpoint_suffixes: tuple[str, ...], example: str) -> str:
    """The API root of an http(s) ``base_url``, without a trailing slash, else ConfigError.

    A URL ending in one of ``endpoint_suffixes`` (the first that matches) is cut back to the
    root: the endpoint itself is a common slip for the API root. ``example`` is the root the
    error message shows.
    """
    if isinstance(base_url, str):
        try:
            url = httpx.URL(base_url.strip())
        except httpx.InvalidURL:
            url = None
        if url is not None and url.scheme in ("http", "https") and url.host:
            path = url.path.rstrip("/")
            for suffix in endpoint_suffixes:
                if path.endswith(suffix):
                    path = path[: -len(suffix)]
                    break
            return str(url.copy_with(path=path or "/")).rstrip("/") if not url.query else str(url.copy_with(path=path))
    shown = redact_url(base_url) if isinstance(base_url, str) else base_url
    raise ConfigError(
        f"base_url {shown!r} is not allowed; it must be an http(s) URL of the API root "
        f"such as {example}"
    )


def endpoint_url(base_url: str, endpoint: str) -> str:
    """``endpoint`` appended to the path of ``base_url``, its query (``?api-version=...``) kept
    at the end."""
    url = httpx.URL(base_url)
    return str(url.copy_with(path=url.path.rstrip("/") + endpoint))


def check_seconds(value: Any, name: str, error: type[Exception]) -> float:
    """``value`` as float seconds when it is a finite number > 0, else ``error``."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise error(f"{name} {value!r} is not allowed; it must be seconds > 0")
    return float(value)


def check_max_response_bytes(value: Any) -> int:
    """``max_response_bytes`` when it is a whole number >= 1024, else ConfigError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1024:
        raise ConfigError(
            f"max_response_bytes {value!r} is not allowed; it must be a whole number of bytes >= 1024"
        )
    return value


def check_max_retries(max_retries: Any) -> int:
    """``max_retries`` when it is a whole number >= 0, else ConfigError."""
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise ConfigError(
            f"max_retries {max_retries!r} is not allowed; it must be a whole number >= 0"
        )
    return max_retries


def check_params(params: Any, reserved: tuple[str, ...]) -> dict[str, Any]:
    """A copy of a provider's default request parameters (None: none), else ConfigError."""
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise ConfigError(f"params {params!r} is not allowed; it must be a table of name = value")
    check_reserved_params(params, reserved, ConfigError)
    return dict(params)


def check_reserved_params(
    params: Mapping[str, Any], reserved: tuple[str, ...], error: type[Exception]
) -> None:
    """Raise ``error`` when ``params`` sets a body field the provider owns (one of ``reserved``)."""
    taken = sorted(set(params) & set(reserved))
    if taken:
        raise error(
            f"request parameter {taken[0]!r} is set by the provider and cannot be passed; "
            f"reserved: {', '.join(reserved)} (use stream=False on the provider to turn "
            "streaming off)"
        )


def check_stream(stream: Any) -> bool:
    """``stream`` when it is a bool, else ConfigError."""
    if not isinstance(stream, bool):
        raise ConfigError(f"stream {stream!r} is not allowed; it must be true or false")
    return stream


def check_messages(messages: Any) -> None:
    """Raise ValueError unless ``messages`` is a list of message dicts."""
    if not isinstance(messages, list) or not all(isinstance(m, Mapping) for m in messages):
        raise ValueError(
            f"messages {short_repr(messages)} is not allowed; pass a list of message "
            'dicts such as [{"role": "user", "content": "Hi"}]'
        )


def is_token_limit(value: Any) -> bool:
    """Whether ``value`` is a whole number >= 1 (a valid ``max_tokens``)."""
    return not isinstance(value, bool) and isinstance(value, int) and value >= 1


def check_max_tokens(max_tokens: Any) -> None:
    """Raise ValueError unless ``max_tokens`` is a whole number >= 1."""
    if not is_token_limit(max_tokens):
        raise ValueError(f"max_tokens {max_tokens!r} is not allowed; it must be a whole number >= 1")


def check_temperature(temperature: Any) -> None:
    """Raise ValueError unless ``temperature`` is None or a finite number >= 0."""
    if temperature is not None and (
        isinstance(temperature, bool)
        or not isinstance(temperature, (int, float))
        or not math.isfinite(temperature)
        or temperature < 0
    ):
        raise ValueError(f"temperature {temperature!r} is not allowed; it must be a number >= 0")


def merge_request_params(
    defaults: Mapping[str, Any],
    params: Mapping[str, Any],
    *,
    max_tokens: int | None,
    temperature: float | None,
) -> dict[str, Any]:
    """A call's request parameters: its own over the provider's ``defaults``; None = not given."""
    merged = {**defaults, **{name: value for name, value in params.items() if value is not None}}
    if max_tokens is not None:
        merged["max_tokens"] = max_tokens
    if temperature is not None:
        merged["temperature"] = temperature
    return {name: value for name, value in merged.items() if value is not None}


# --------------------------------------------------------------------------- one attempt


def make_client(
    transport: httpx.BaseTransport | None, headers: Mapping[str, str], seconds: float
) -> httpx.Client:
    """A provider's connection pool: ``seconds`` for every httpx timeout, no redirects, every
    socket operation bounded by the attempt's deadline (:class:`DeadlineTransport`, unless a
    test passes its own ``transport``), and only the content codings :func:`iter_body` decodes."""
    return httpx.Client(
        transport=DeadlineTransport() if transport is None else transport,
        headers={"Accept-Encoding": ACCEPT_ENCODING, **dict(headers)},
        timeout=http_timeout(seconds),
        follow_redirects=False,
    )


def encode_json_body(body: Mapping[str, Any]) -> bytes:
    """``body`` as UTF-8 JSON; ValueError when it holds something JSON cannot carry."""
    try:
        return json.dumps(body, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the request body cannot be sent as JSON: {exc}") from None


@dataclasses.dataclass(frozen=True, slots=True)
class OpenResponse:
    """A response whose headers have arrived and body not yet, with its attempt's deadline."""

    response: httpx.Response
    deadline: Deadline


@contextlib.contextmanager
def open_response(
    client: httpx.Client,
    url: str,
    body: Mapping[str, Any],
    *,
    seconds: float,
    errors: CallErrors,
) -> Iterator[OpenResponse]:
    """POST ``body`` as JSON to ``url``; yield the response once its headers arrived; close it.

    ``Accept`` asks for an event stream when ``body["stream"]`` is true. The deadline of
    ``seconds`` starts just before the request is handed to httpx and bounds, through
    :class:`DeadlineTransport`, the connection, the request, the response headers and every
    read of the body made inside the ``with`` block. A timeout or connection failure before
    the response arrives is a :class:`RetryableFailure`.
    """
    content = encode_json_body(body)
    request = client.build_request(
        "POST",
        url,
        content=content,
        headers={"Accept": "text/event-stream" if body.get("stream") else "application/json"},
        timeout=http_timeout(seconds),
    )
    deadline = Deadline.starting_now(seconds)
    with bounded_by(deadline):
        try:
            response = client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise RetryableFailure(errors.timeout(seconds, "waiting for the response")) from exc
        except httpx.TransportError as exc:
            raise RetryableFailure(errors.connection(exc)) from exc
        try:
            yield OpenResponse(response, deadline)
        finally:
            response.close()


def check_headers_in_time(deadline: Deadline, errors: CallErrors) -> None:
    """Raise a retryable timeout when the response headers came after the deadline."""
    if deadline.expired():
        raise RetryableFailure(errors.timeout(deadline.seconds, "waiting for the response headers"))


def is_event_stream(response: httpx.Response, body: Mapping[str, Any]) -> bool:
    """Whether to read the response as an event stream rather than one JSON body.

    Yes when the server says ``text/event-stream``, or when a stream was asked for and the
    server does not say JSON (some servers stream without a content type).
    """
    content_type = response.headers.get("content-type", "").lower()
    return "event-stream" in content_type or bool(body.get("stream") and "json" not in content_type)


def read_error_body(response: httpx.Response, deadline: Deadline) -> ErrorBody:
    """Up to :data:`ERROR_BODY_LIMIT` decoded bytes of an error response (what arrived, if
    reading fails or the body is larger), in an :class:`ErrorBody` whose repr hides it."""
    data = bytearray()
    try:
        for received in iter_body(response, deadline, ERROR_BODY_LIMIT):
            data += received.data
    except (BodyTooLarge, DeadlineExceeded, httpx.HTTPError):
        pass
    return ErrorBody(bytes(data[:ERROR_BODY_LIMIT]))


class ErrorBody:
    """The bytes of a server's error body. Its repr shows only their number: a server may
    echo an API key in an error, and tracebacks print local variables with ``repr``."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")

    def __repr__(self) -> str:
        return f"ErrorBody(<{len(self.data)} bytes>)"

    __str__ = __repr__


def rejects_streaming(status_code: int, error_text: str) -> bool:
    """Whether an error status to a streaming request says the server cannot stream.

    Any 405/501, or a 400/404/422 whose error text mentions streaming.
    """
    return status_code in STREAM_UNSUPPORTED_STATUSES or (
        status_code in STREAM_REJECTED_STATUSES and MENTIONS_STREAMING.search(error_text) is not None
    )


def status_failure(
    response: httpx.Response, error_body: ErrorBody, errors: CallErrors, policy: RetryPolicy
) -> ModelCallError | RetryableFailure:
    """What to raise for an HTTP error status: a RetryableFailure when the policy retries it."""
    error = errors.status(response.status_code, response.reason_phrase, error_body.data)
    if policy.should_retry(response.status_code, response.headers):
        return RetryableFailure(error, response.headers)
    return error


class FellBack(Exception):
    """A request was rejected for a feature the provider can turn off; send it again."""


def send_with_fallbacks(attempt: Callable[[], T], max_fallbacks: int) -> T:
    """Run ``attempt``, running it again at once after each :class:`FellBack`.

    At most ``max_fallbacks`` re-sends (they are not retries and do not wait); a FellBack of
    the last run propagates.
    """
    for _ in range(max_fallbacks):
        try:
            return attempt()
        except FellBack:
            continue
    return attempt()


# --------------------------------------------------------------------------- reading the answer


class StreamAssembly(Protocol):
    """A provider's parsing of its event stream into one reply, for :func:`read_sse_stream`."""

    #: ``perf_counter`` time of the read carrying the last event added, None before the first.
    last_at: float | None

    @property
    def finished(self) -> bool:
        """Whether the events so far make a whole reply (its stop reason arrived)."""
        ...

    def add(self, event: SSEEvent, at: float, *, at_end: bool = False) -> bool:
        """Absorb one event that arrived at ``at``; True at the stream's end marker."""
        ...

    def progress(self) -> str:
        """How much arrived, for the message of a truncated stream."""
        ...

    def completion(self, sent_at: float, ended_at: float | None) -> Completion:
        """The reply, timed from ``sent_at`` to ``ended_at``."""
        ...


def read_sse_stream(
    response: httpx.Response,
    deadline: Deadline,
    errors: CallErrors,
    assembly: StreamAssembly,
    *,
    end_marker: str,
    stop_field: str,
    unit: str,
    limit: int = DEFAULT_MAX_RESPONSE_BYTES,
) -> Completion:
    """Read an event-stream body into ``assembly`` and return its completion.

    The reply ends at the event for which ``assembly.add`` returns True (the provider's
    ``end_marker``, e.g. ``data: [DONE]``), timed at the read that carried it. A stream that
    ends, or whose connection breaks, before that marker is still a reply when the assembly
    is ``finished`` (its ``stop_field`` arrived); otherwise it is a ModelResponseError
    (truncated). A body whose content type is not ``text/event-stream`` and that does not
    start like one (an HTML error page from a proxy) is a ModelResponseError saying so; so is
    a body past ``limit`` decoded bytes, or a line past :data:`MAX_SSE_LINE_CHARS`. Failures
    before any byte arrived are RetryableFailure; after that none is retried. ``unit`` names
    one event in the timeout message ("chunk", "event").
    """
    reading = StreamReading(response, deadline, errors, assembly, end_marker=end_marker,
                            stop_field=stop_field, unit=unit)
    try:
        for received in iter_body(response, deadline, limit):
            completion = reading.add(received)
            if completion is not None:
                return completion
        completion = reading.flush_head()
    except READ_FAILURES as exc:
        return reading.failed(exc)
    if completion is not None:
        return completion
    return reading.end()


#: What can interrupt the reading of a body: the deadline, the size limit, an endless line,
#: and httpx's failures (timeouts, broken connections, undecodable content).
READ_FAILURES = (DeadlineExceeded, BodyTooLarge, SSELineTooLong, httpx.TransportError, httpx.DecodingError)


class StreamReading:
    """The state of one event-stream body being read, shared by :func:`read_sse_stream` and
    its async twin: the reads go in through :meth:`add`, and :meth:`failed` / :meth:`end`
    say what an interrupted or finished body means (see :func:`read_sse_stream`)."""

    def __init__(self, response: httpx.Response, deadline: Deadline, errors: CallErrors,
                 assembly: StreamAssembly, *, end_marker: str, stop_field: str, unit: str) -> None:
        self.response = response
        self.deadline = deadline
        self.errors = errors
        self.assembly = assembly
        self.end_marker = end_marker
        self.stop_field = stop_field
        self.unit = unit
        self.decoder = SSEDecoder()
        self.bytes_received = 0
        self.sniffed = "event-stream" in response.headers.get("content-type", "").lower()
        self.head = bytearray()  # the first bytes, kept until they tell whether this is an event stream

    def add(self, received: Received) -> Completion | None:
        """One read of the body; the completion when it carried the end marker."""
        self.bytes_received += len(received.data)
        data = received.data
        if not self.sniffed:
            self.head += data
            verdict = looks_like_event_stream(bytes(self.head))
            if verdict is None:
                return None
            if not verdict:
                raise self.errors.response(
                    f"body is not an event stream: {error_excerpt(bytes(self.head[:1000]))!r}"
                )
            self.sniffed, data = True, bytes(self.head)
            self.head.clear()
        return self._feed(data, received.at)

    def flush_head(self) -> Completion | None:
        """At the end of the body: parse a head too short to judge (it is read as a stream)."""
        if not self.head:
            return None
        head, self.head = bytes(self.head), bytearray()
        return self._feed(head, time.perf_counter())

    def _feed(self, data: bytes, at: float) -> Completion | None:
        for event in self.decoder.feed(data):
            if self.assembly.add(event, at):
                return self.assembly.completion(self.deadline.start, at)
        return None

    def failed(self, exc: BaseException) -> Completion:
        """Raise what a failure while reading means; the reply when it was already whole."""
        errors, deadline, assembly = self.errors, self.deadline, self.assembly
        if isinstance(exc, DeadlineExceeded):
            raise errors.timeout(deadline.seconds, "while the stream was still arriving") from None
        if isinstance(exc, BodyTooLarge):
            raise errors.response(f"{exc} (counted after decompression; the limit is max_response_bytes, "
                                  f"--modelbench-max-response-bytes); {assembly.progress()}") from None
        if isinstance(exc, SSELineTooLong):
            raise errors.response(f"{exc} ({assembly.progress()})") from None
        if isinstance(exc, httpx.TimeoutException):
            phase = ("while the stream was still arriving" if deadline.expired()
                     else f"waiting for the next stream {self.unit}")
            error = errors.timeout(deadline.seconds, phase)
            if self.bytes_received == 0:
                raise RetryableFailure(error) from exc
            raise error from exc
        if isinstance(exc, httpx.TransportError):
            if self.bytes_received == 0:
                raise RetryableFailure(errors.connection(exc)) from exc
            if assembly.finished:
                return assembly.completion(deadline.start, assembly.last_at)
            raise errors.response(
                f"stream cut off before {self.end_marker} and before a {self.stop_field} "
                f"({type(exc).__name__}: {exc}; {assembly.progress()})"
            ) from exc
        if isinstance(exc, httpx.DecodingError):
            raise errors.response(f"stream could not be decoded ({exc})") from exc
        raise exc

    def end(self) -> Completion:
        """The body ended: the reply, or a ModelResponseError (empty, truncated)."""
        assembly = self.assembly
        ended_at = time.perf_counter()
        try:
            events = self.decoder.close()
        except SSELineTooLong as exc:
            raise self.errors.response(f"{exc} ({assembly.progress()})") from None
        for event in events:
            if assembly.add(event, ended_at, at_end=True):
                return assembly.completion(self.deadline.start, ended_at)
        if self.bytes_received == 0:
            raise self.errors.response(f"empty body (HTTP {self.response.status_code})")
        if assembly.finished:
            return assembly.completion(self.deadline.start, assembly.last_at or ended_at)
        raise self.errors.response(
            f"stream ended before {self.end_marker} and before a {self.stop_field}, so the reply is "
            f"truncated ({assembly.progress()})"
        )


_SSE_STARTS = (b"data:", b"data\n", b"data\r", b"event:", b"id:", b"retry:", b":")


def looks_like_event_stream(head: bytes) -> bool | None:
    """Whether a body that does not say ``text/event-stream`` starts like one (a field name
    or a comment, after a byte-order mark and blank lines); None while too short to say."""
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip(b"\r\n")
    if not text:
        return None
    if any(text.startswith(start) for start in _SSE_STARTS):
        return True
    if any(start.startswith(text) for start in _SSE_STARTS):
        return None
    return False


@dataclasses.dataclass(frozen=True, slots=True)
class JSONReply:
    """A whole JSON-object response: the parsed ``payload``, the ``body`` as received (for
    error excerpts) and ``last_at``, the ``perf_counter`` time of its last byte. Its repr
    hides payload and body (they may echo a key, and tracebacks print locals)."""

    payload: dict[str, Any]
    body: bytes
    last_at: float

    def __repr__(self) -> str:
        return f"JSONReply(<{len(self.body)} bytes>)"


def read_json_object(
    response: httpx.Response, deadline: Deadline, errors: CallErrors, limit: int = DEFAULT_MAX_RESPONSE_BYTES,
) -> JSONReply:
    """Read the whole body, which must be a JSON object of at most ``limit`` decoded bytes.

    Failures before any byte arrived are RetryableFailure; a body cut off, empty, too large,
    not JSON or not an object is a ModelResponseError; running past the deadline a
    ModelTimeoutError.
    """
    data = bytearray()
    last_at = deadline.start
    try:
        for received in iter_body(response, deadline, limit):
            data += received.data
            last_at = received.at
    except READ_FAILURES as exc:
        json_read_failed(exc, len(data), deadline, errors)
    return json_reply(response, data, last_at, errors)


def json_read_failed(exc: BaseException, received: int, deadline: Deadline, errors: CallErrors) -> NoReturn:
    """Raise what a failure while reading a JSON body means, ``received`` bytes into it
    (shared by :func:`read_json_object` and its async twin)."""
    if isinstance(exc, DeadlineExceeded):
        raise errors.timeout(deadline.seconds, "while the body was still arriving") from None
    if isinstance(exc, BodyTooLarge):
        raise errors.response(f"{exc} (counted after decompression; the limit is max_response_bytes, "
                              "--modelbench-max-response-bytes)") from None
    if isinstance(exc, httpx.TimeoutException):
        error = errors.timeout(deadline.seconds,
                               "while the body was still arriving" if deadline.expired() else "reading the body")
        if not received:
            raise RetryableFailure(error) from exc
        raise error from exc
    if isinstance(exc, httpx.TransportError):
        if not received:
            raise RetryableFailure(errors.connection(exc)) from exc
        raise errors.response(
            f"connection closed after {received} bytes of the body ({type(exc).__name__}: {exc})"
        ) from exc
    if isinstance(exc, httpx.DecodingError):
        raise errors.response(f"body could not be decoded ({exc})") from exc
    raise exc


def json_reply(response: httpx.Response, data: bytearray, last_at: float, errors: CallErrors) -> JSONReply:
    """The :class:`JSONReply` of a whole body; a ModelResponseError when it is empty, not JSON
    or not an object. ``data`` is emptied (the body is kept once, as bytes)."""
    if not data:
        raise errors.response(f"empty body (HTTP {response.status_code})")
    reply = JSONReply({}, bytes(data), last_at)
    data.clear()
    try:
        payload = json.loads(reply.body)
    except (ValueError, RecursionError):
        raise errors.response(f"body is not JSON: {error_excerpt(reply.body)!r}") from None
    if not isinstance(payload, dict):
        raise errors.response(f"body is not a JSON object: {error_excerpt(reply.body)!r}")
    return JSONReply(payload, reply.body, last_at)


# --------------------------------------------------------------------------- small helpers


class TokenCountWarning(UserWarning):
    """A server reported a token count that is not one (not a whole number in 0…10¹²)."""


def token_count(usage: Any, name: str, notes: list[str] | None = None) -> int | None:
    """``usage[name]`` when it is a token count (a whole number from 0 to 10^12:
    :func:`~pytest_modelbench.models.completion.is_token_count`), else None.

    None also when it is absent. A value that is present but not a count (a string, a
    float, a negative or absurdly large number) is unknown too, and a note saying so is
    added to ``notes``.
    """
    if not isinstance(usage, Mapping):
        return None
    value = usage.get(name)
    if value is None:
        return None
    if not is_token_count(value):
        if notes is not None:
            notes.append(f"usage.{name} {_describe_count(value)} is not a token count "
                         f"(a whole number from 0 to 10^12); it is counted as unknown")
        return None
    return value


def _describe_count(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**15:
        return f"(an integer of {len(str(abs(value)))} digits)"
    return short_repr(value, 40)


def warn_notes(notes: list[str], errors: CallErrors) -> tuple[str, ...]:
    """Warn once per note (TokenCountWarning, naming the model) and return them as a tuple."""
    for note in notes:
        warnings.warn(TokenCountWarning(f"{errors.where}: {note}"), stacklevel=4)
    return tuple(notes)


def str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def short_repr(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters, for error messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
