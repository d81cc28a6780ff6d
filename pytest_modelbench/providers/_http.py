"""HTTP machinery shared by the model providers. Does not import pytest.

A provider (``openai.py``; an Anthropic one later) builds on these pieces:

- :class:`RetryPolicy` and :func:`parse_retry_after`: which failures are retried and how long
  to wait between attempts, as the official openai-python client does.
- :func:`call_with_retries`: the retry loop; an attempt asks for another try by raising
  :class:`RetryableFailure`.
- :class:`SSEDecoder` / :class:`SSEEvent`: an incremental server-sent-events parser fed with
  raw network reads.
- :class:`Deadline` and :func:`iter_body`: the overall time limit of one attempt, checked
  after every network read, so that a server trickling keep-alives forever is cut off too.
- :class:`CallErrors`, :func:`error_excerpt`, :func:`redact`, :func:`safe_url`,
  :class:`Secret`: translation of failures into ``ModelCallError`` / ``ModelTimeoutError`` /
  ``ModelResponseError`` whose messages name the model, the base URL, the status and a short
  excerpt of the server's message, and never contain the API key.
"""

from __future__ import annotations

import codecs
import dataclasses
import email.utils
import json
import math
import random
import re
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TypeVar

import httpx

from .._exceptions import ModelCallError, ModelResponseError, ModelTimeoutError

T = TypeVar("T")

#: Statuses retried whatever the body says (besides every status >= 500).
RETRYABLE_STATUS_CODES = frozenset({408, 409, 429})

#: Longest server excerpt quoted in an error message, in characters.
EXCERPT_CHARS = 300

#: Most bytes of an error body read to build the message.
ERROR_BODY_LIMIT = 65536

REDACTED = "[REDACTED]"


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
    number of attempts made, chained to the low-level exception that caused it.
    """
    retries_taken = 0
    while True:
        try:
            return attempt()
        except RetryableFailure as failure:
            if retries_taken >= policy.max_retries:
                raise _after_attempts(failure.error, retries_taken + 1) from failure.__cause__
            sleep(policy.delay(retries_taken, failure.headers))
            retries_taken += 1


def _after_attempts(error: ModelCallError, attempts: int) -> ModelCallError:
    if attempts == 1:
        return error
    final = type(error)(f"{error} (gave up after {attempts} attempts)", status_code=error.status_code)
    return final


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
    """One network read of a response body and the ``perf_counter`` time it arrived."""

    data: bytes
    at: float


def iter_body(response: httpx.Response, deadline: Deadline) -> Iterator[Received]:
    """Yield the body's reads as they arrive; raise DeadlineExceeded once past the deadline.

    The deadline is checked after every read, before waiting for the next one, so a server
    that keeps sending bytes (keep-alive comments) cannot hold the call past its deadline;
    a server that sends nothing is cut off by httpx's read timeout.
    """
    for data in response.iter_bytes():
        if not data:
            continue
        at = time.perf_counter()
        yield Received(data, at)
        if deadline.expired():
            raise DeadlineExceeded(f"deadline of {deadline.seconds:g} s passed")


def http_timeout(seconds: float) -> httpx.Timeout:
    """An httpx timeout of ``seconds`` for connect, each read, each write and the pool wait."""
    return httpx.Timeout(seconds)


# --------------------------------------------------------------------------- SSE


@dataclasses.dataclass(frozen=True, slots=True)
class SSEEvent:
    """One dispatched server-sent event: its data lines joined by ``\\n``."""

    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None


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
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = ""
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
        if self._partial:
            line, self._partial = self._partial, ""
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
        text = self._partial + text
        events: list[SSEEvent] = []
        position = 0
        while True:
            match = _LINE_END.search(text, position)
            if match is None:
                break
            end = match.start()
            line = text[position:end]
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
        self._partial = text[position:]
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

    def scrub(match: re.Match[str]) -> str:
        token = match.group(0)
        return REDACTED if _shares_run(token, key) else token

    return _KEYISH.sub(scrub, text)


def _shares_run(token: str, key: str, run: int = 8) -> bool:
    """Whether ``token`` and ``key`` share a substring of ``run`` characters."""
    if len(token) < run:
        return False
    pieces = {key[i : i + run] for i in range(len(key) - run + 1)}
    return any(token[i : i + run] in pieces for i in range(len(token) - run + 1))


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
