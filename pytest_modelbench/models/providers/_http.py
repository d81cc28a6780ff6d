"""HTTP machinery shared by the model providers. Does not import pytest.

A provider (``openai.py``, ``anthropic.py``) builds on these pieces:

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
import dataclasses
import email.utils
import json
import math
import random
import re
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol, TypeVar

import httpx

from ..._exceptions import (
    ConfigError,
    ModelCallError,
    ModelResponseError,
    ModelTimeoutError,
)
from ..completion import Completion

T = TypeVar("T")

#: Statuses retried whatever the body says (besides every status >= 500).
RETRYABLE_STATUS_CODES = frozenset({408, 409, 429})

#: Longest server excerpt quoted in an error message, in characters.
EXCERPT_CHARS = 300

#: Most bytes of an error body read to build the message.
ERROR_BODY_LIMIT = 65536

REDACTED = "[REDACTED]"

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
            root = base_url.strip().rstrip("/")
            for suffix in endpoint_suffixes:
                if root.endswith(suffix):
                    return root[: -len(suffix)]
            return root
    raise ConfigError(
        f"base_url {base_url!r} is not allowed; it must be an http(s) URL of the API root "
        f"such as {example}"
    )


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
    """A provider's connection pool: ``seconds`` for every httpx timeout, no redirects."""
    return httpx.Client(
        transport=transport,
        headers=dict(headers),
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
    ``seconds`` starts just before the request is handed to httpx. A timeout or connection
    failure before the response arrives is a :class:`RetryableFailure`.
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


def read_error_body(response: httpx.Response, deadline: Deadline) -> bytes:
    """Up to :data:`ERROR_BODY_LIMIT` bytes of an error response; what arrived if reading fails."""
    data = bytearray()
    try:
        for received in iter_body(response, deadline):
            data += received.data
            if len(data) >= ERROR_BODY_LIMIT:
                break
    except (DeadlineExceeded, httpx.HTTPError):
        pass
    return bytes(data[:ERROR_BODY_LIMIT])


def rejects_streaming(status_code: int, error_text: str) -> bool:
    """Whether an error status to a streaming request says the server cannot stream.

    Any 405/501, or a 400/404/422 whose error text mentions streaming.
    """
    return status_code in STREAM_UNSUPPORTED_STATUSES or (
        status_code in STREAM_REJECTED_STATUSES and MENTIONS_STREAMING.search(error_text) is not None
    )


def status_failure(
    response: httpx.Response, error_body: bytes, errors: CallErrors, policy: RetryPolicy
) -> ModelCallError | RetryableFailure:
    """What to raise for an HTTP error status: a RetryableFailure when the policy retries it."""
    error = errors.status(response.status_code, response.reason_phrase, error_body)
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
) -> Completion:
    """Read an event-stream body into ``assembly`` and return its completion.

    The reply ends at the event for which ``assembly.add`` returns True (the provider's
    ``end_marker``, e.g. ``data: [DONE]``), timed at the read that carried it. A stream that
    ends, or whose connection breaks, before that marker is still a reply when the assembly
    is ``finished`` (its ``stop_field`` arrived); otherwise it is a ModelResponseError
    (truncated). Failures before any byte arrived are RetryableFailure; after that none is
    retried. ``unit`` names one event in the timeout message ("chunk", "event").
    """
    decoder = SSEDecoder()
    bytes_received = 0
    try:
        for received in iter_body(response, deadline):
            bytes_received += len(received.data)
            for event in decoder.feed(received.data):
                if assembly.add(event, received.at):
                    return assembly.completion(deadline.start, received.at)
    except DeadlineExceeded:
        raise errors.timeout(deadline.seconds, "while the stream was still arriving") from None
    except httpx.TimeoutException as exc:
        error = errors.timeout(deadline.seconds, f"waiting for the next stream {unit}")
        if bytes_received == 0:
            raise RetryableFailure(error) from exc
        raise error from exc
    except httpx.TransportError as exc:
        if bytes_received == 0:
            raise RetryableFailure(errors.connection(exc)) from exc
        if assembly.finished:
            return assembly.completion(deadline.start, assembly.last_at)
        raise errors.response(
            f"stream cut off before {end_marker} and before a {stop_field} "
            f"({type(exc).__name__}: {exc}; {assembly.progress()})"
        ) from exc
    except httpx.DecodingError as exc:
        raise errors.response(f"stream could not be decoded ({exc})") from exc
    ended_at = time.perf_counter()
    for event in decoder.close():
        if assembly.add(event, ended_at, at_end=True):
            return assembly.completion(deadline.start, ended_at)
    if bytes_received == 0:
        raise errors.response(f"empty body (HTTP {response.status_code})")
    if assembly.finished:
        return assembly.completion(deadline.start, assembly.last_at or ended_at)
    raise errors.response(
        f"stream ended before {end_marker} and before a {stop_field}, so the reply is "
        f"truncated ({assembly.progress()})"
    )


@dataclasses.dataclass(frozen=True, slots=True)
class JSONReply:
    """A whole JSON-object response: the parsed ``payload``, the ``body`` as received (for
    error excerpts) and ``last_at``, the ``perf_counter`` time of its last byte."""

    payload: dict[str, Any]
    body: bytes
    last_at: float


def read_json_object(response: httpx.Response, deadline: Deadline, errors: CallErrors) -> JSONReply:
    """Read the whole body, which must be a JSON object.

    Failures before any byte arrived are RetryableFailure; a body cut off, empty, not JSON or
    not an object is a ModelResponseError; running past the deadline a ModelTimeoutError.
    """
    data = bytearray()
    last_at = deadline.start
    try:
        for received in iter_body(response, deadline):
            data += received.data
            last_at = received.at
    except DeadlineExceeded:
        raise errors.timeout(deadline.seconds, "while the body was still arriving") from None
    except httpx.TimeoutException as exc:
        error = errors.timeout(deadline.seconds, "reading the body")
        if not data:
            raise RetryableFailure(error) from exc
        raise error from exc
    except httpx.TransportError as exc:
        if not data:
            raise RetryableFailure(errors.connection(exc)) from exc
        raise errors.response(
            f"connection closed after {len(data)} bytes of the body ({type(exc).__name__}: {exc})"
        ) from exc
    except httpx.DecodingError as exc:
        raise errors.response(f"body could not be decoded ({exc})") from exc
    if not data:
        raise errors.response(f"empty body (HTTP {response.status_code})")
    body = bytes(data)
    try:
        payload = json.loads(body)
    except ValueError:
        raise errors.response(f"body is not JSON: {error_excerpt(body)!r}") from None
    if not isinstance(payload, dict):
        raise errors.response(f"body is not a JSON object: {error_excerpt(body)!r}")
    return JSONReply(payload, body, last_at)


# --------------------------------------------------------------------------- small helpers


def token_count(usage: Any, name: str) -> int | None:
    """``usage[name]`` when it is a whole number >= 0, else None (not reported)."""
    if not isinstance(usage, Mapping):
        return None
    value = usage.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def short_repr(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters, for error messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
