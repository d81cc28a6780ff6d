"""Metered HTTP transports: an app's own client calls the model under test, and is measured.

``model.openai_client()``, ``model.async_openai_client()``, ``model.httpx_client()`` and
``model.httpx_async_client()`` hand the app an ordinary client (the official ``openai`` SDK's,
or httpx's) whose transport is a :class:`MeteredTransport` / :class:`AsyncMeteredTransport`.
The transport sees every request the client sends. A chat-completions request (``POST
.../chat/completions`` with a JSON body holding ``messages``) is a *model call* and is treated
exactly as ``model.complete()`` treats one:

1. **Request.** The body's ``model`` is set to the model under test (the benchmark decides which
   model answers, whatever name the app wrote); the spec's ``params`` fill the fields the app
   left out; ``Authorization`` carries the model's key (none when it has none). A streaming
   request without ``stream_options`` gets ``{"include_usage": true}`` so that the server
   reports token counts; the usage-only chunk this adds is taken out of the stream the app
   reads, so the app sees what it asked for.
2. **Cache and replay.** The call gets the next call index of the run (shared with
   ``complete()``) and its key is the one ``complete()`` would use for the same messages,
   ``max_tokens`` (or ``max_completion_tokens``), ``temperature`` and other fields (``tools``,
   ``tool_choice``, ...; not ``stream``, ``stream_options`` or ``model``). A stored answer is
   served without a network call, as a JSON body or an event stream, whichever the app asked
   for; a replay miss raises :class:`~.cache.ReplayMissError`.
3. **Spend cap.** Before a request goes out, the cap is checked (``BudgetExceeded``).
4. **Retries.** Connection failures, timeouts and HTTP 408/409/429/>=500 are retried by the
   plugin's :class:`~.providers._http.RetryPolicy` (``--modelbench-retries``), before the app
   sees anything; the SDK clients are made with ``max_retries=0`` so retries are not doubled.
   A server that rejects ``stream_options`` is asked again without it (not a retry).
5. **Measurement.** The response body is passed to the app as it arrives and read on the way:
   an event stream by the OpenAI provider's own stream parser, a JSON body by its JSON reader.
   ``ttft_ms`` is the first read carrying output, ``latency_ms`` the read carrying ``[DONE]``
   (or the body's last byte), from just before the request was handed to the network. Tokens
   come from the response's ``usage``; cost, spend and the run's totals are updated when the
   body has been read (or the app closed it), and a complete answer is stored in the cache.
6. **Failures.** A call that fails after retries (an HTTP error, a connection failure, a
   truncated or malformed body) reaches the app as it would in production (the SDK raises its
   own ``APIStatusError`` / ``APIConnectionError``), and is also recorded on the run: when the
   test then fails, the run is an ``error`` outcome naming that failure rather than a miss.

Other requests (``GET /models``, embeddings, ...) pass through unmetered. Does not import
pytest.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import math
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

import httpx

from .._exceptions import ModelCallError, ModelError
from .completion import Completion
from .providers._http import (
    DEFAULT_MAX_RESPONSE_BYTES,
    READ_FAILURES,
    BodyTooLarge,
    CallErrors,
    Deadline,
    DeadlineExceeded,
    DeadlineTransport,
    ErrorBody,
    JSONReply,
    RetryPolicy,
    Secret,
    SSEDecoder,
    SSEEvent,
    SSELineTooLong,
    after_attempts,
    bounded_by,
    error_excerpt,
    is_event_stream,
    iter_body,
    key_runs,
    looks_like_event_stream,
    read_error_body,
    redact,
)
from .providers.openai import ChatStreamAssembly, json_completion, rejects_stream_options
from .specs import ModelSpec

#: Fields of a chat-completions body that are not part of a call's key (``complete()`` never
#: passes them: the provider sets them).
_NOT_KEYED = frozenset({"model", "messages", "stream", "stream_options", "max_tokens", "temperature"})
_ENDPOINT = "/chat/completions"
#: Headers of the upstream response that no longer describe the body the app receives (it
#: is decoded, and filtered when usage was asked for on the app's behalf).
_BODY_HEADERS = ("content-encoding", "content-length", "transfer-encoding")


@dataclasses.dataclass(frozen=True, slots=True)
class Endpoint:
    """Where the model under test is served: for configuring LiteLLM, LangChain and the like.

    ``base_url`` is the OpenAI-compatible API root (``.../v1``), ``model`` the model name to
    send, ``api_key`` the key (None when the model needs none; never shown in a repr, where
    the base URL's credentials are redacted too).
    """

    base_url: str
    model: str
    api_key: str | None = dataclasses.field(default=None, repr=False)

    def __repr__(self) -> str:
        from .specs import redact_url

        return f"Endpoint(base_url={redact_url(self.base_url)!r}, model={self.model!r})"


# --------------------------------------------------------------------------- planning


@dataclasses.dataclass(slots=True)
class CallPlan:
    """One chat-completions request as the transport sends it, and how it is keyed."""

    body: dict[str, Any]
    messages: list[Any]
    max_tokens: Any
    temperature: Any
    key_params: dict[str, Any]
    stream: bool
    injected_usage: bool


def plan_call(request: httpx.Request, spec: ModelSpec, *, ask_usage: bool) -> CallPlan | None:
    """The plan of a chat-completions request, None for any other request (passed through)."""
    if request.method != "POST" or not request.url.path.rstrip("/").endswith(_ENDPOINT):
        return None
    try:
        body = json.loads(request.read())
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        return None
    key_params = {name: value for name, value in body.items() if name not in _NOT_KEYED}
    max_tokens = body.get("max_tokens")
    if "max_tokens" not in body and "max_completion_tokens" in body:
        max_tokens = key_params.pop("max_completion_tokens")
    sent = dict(body)
    for name, value in spec.params.items():
        if name != "stream":
            sent.setdefault(name, value)
    sent["model"] = spec.model
    stream = bool(sent.get("stream"))
    injected = False
    if stream and ask_usage and "stream_options" not in sent:
        sent["stream_options"] = {"include_usage": True}
        injected = True
    return CallPlan(
        body=sent, messages=body["messages"], max_tokens=max_tokens,
        temperature=body.get("temperature"), key_params=key_params, stream=stream, injected_usage=injected,
    )


def _upstream_request(request: httpx.Request, plan: CallPlan, secret: Secret | None, *,
                      url_auth: bool = False) -> httpx.Request:
    """The request sent to the model's server: the plan's body, the model's credential (its
    key as a bearer token; with ``url_auth`` the user info of the URL as Basic auth; else
    none), whatever the app's client sent as ``Authorization``."""
    headers = [(name, value) for name, value in request.headers.multi_items()
               if name.lower() not in ("content-length", "authorization", "accept-encoding")]
    if secret is not None:
        headers.append(("Authorization", f"Bearer {secret.reveal()}"))
    elif url_auth and request.url.username:
        pair = f"{request.url.username}:{request.url.password}".encode()
        headers.append(("Authorization", f"Basic {base64.b64encode(pair).decode('ascii')}"))
    # Identity: the body is read on its way to the app, and must be readable as it arrives.
    headers.append(("Accept-Encoding", "identity"))
    content = json.dumps(plan.body, ensure_ascii=False, allow_nan=False).encode("utf-8")
    return httpx.Request(request.method, request.url, headers=headers, content=content,
                         extensions=request.extensions)


def _passed_on_headers(headers: httpx.Headers) -> list[tuple[str, str]]:
    return [(name, value) for name, value in headers.multi_items() if name.lower() not in _BODY_HEADERS]


# --------------------------------------------------------------------------- replay


def _chat_payload(completion: Completion, model: str) -> dict[str, Any]:
    """A stored answer as a ``chat.completion`` body (its recorded ``raw`` when it is one)."""
    raw = completion.raw
    if isinstance(raw, Mapping) and isinstance(raw.get("choices"), list) and raw["choices"]:
        payload = json.loads(json.dumps(raw))
    else:
        message: dict[str, Any] = {"role": "assistant", "content": completion.text}
        if completion.tool_calls:
            message["tool_calls"] = [call.to_openai() for call in completion.tool_calls]
        payload = {
            "id": "chatcmpl-modelbench-replay", "object": "chat.completion", "created": 0,
            "choices": [{"index": 0, "message": message, "finish_reason": completion.finish_reason or "stop"}],
        }
    payload["model"] = payload.get("model") or model
    payload.setdefault("object", "chat.completion")
    payload.setdefault("created", 0)
    payload.setdefault("id", "chatcmpl-modelbench-replay")
    if not isinstance(payload.get("usage"), Mapping) and completion.input_tokens is not None \
            and completion.output_tokens is not None:
        payload["usage"] = {
            "prompt_tokens": completion.input_tokens, "completion_tokens": completion.output_tokens,
            "total_tokens": completion.input_tokens + completion.output_tokens,
        }
    for choice in payload["choices"]:
        choice.setdefault("logprobs", None)
    return payload


def _sse(data: Any) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"data: {text}\n\n".encode()


def replay_body(completion: Completion, plan: CallPlan, model: str) -> tuple[str, bytes]:
    """``(content type, body)`` serving a stored answer as the app asked for it."""
    payload = _chat_payload(completion, model)
    if not plan.stream:
        return "application/json", json.dumps(payload, ensure_ascii=False).encode()
    head = {key: payload[key] for key in ("id", "created", "model")}
    head["object"] = "chat.completion.chunk"
    parts = []
    for choice in payload["choices"]:
        message = choice.get("message") or {}
        index = choice.get("index", 0)
        delta: dict[str, Any] = {"role": message.get("role", "assistant"), "content": message.get("content") or ""}
        if message.get("reasoning_content"):
            delta["reasoning_content"] = message["reasoning_content"]
        if message.get("refusal"):
            delta["refusal"] = message["refusal"]
        parts.append(_sse({**head, "choices": [{"index": index, "delta": delta, "finish_reason": None}]}))
        calls = message.get("tool_calls") or []
        if calls:
            deltas = [{"index": position, **call} for position, call in enumerate(calls)]
            parts.append(_sse({**head, "choices": [{"index": index, "delta": {"tool_calls": deltas},
                                                     "finish_reason": None}]}))
        parts.append(_sse({**head, "choices": [{"index": index, "delta": {},
                                                 "finish_reason": choice.get("finish_reason")}]}))
    wants_usage = isinstance(plan.body.get("stream_options"), Mapping) and not plan.injected_usage \
        and plan.body["stream_options"].get("include_usage")
    if wants_usage and payload.get("usage") is not None:
        parts.append(_sse({**head, "choices": [], "usage": payload["usage"]}))
    parts.append(_sse("[DONE]"))
    return "text/event-stream", b"".join(parts)


# --------------------------------------------------------------------------- reading the body


class BodyWatch:
    """Reads a response body on its way to the app and turns it into a Completion.

    ``feed(data, at)`` takes each decoded read and returns the bytes to pass on: the same
    bytes, or, when the events are re-encoded (usage asked for on the app's behalf is taken
    out, a key the server echoed is redacted), the events completed so far. A body that
    should be an event stream but does not start like one (an HTML page from a proxy) is
    passed on as it is and recorded as a failed call. ``finish(ended)`` builds the Completion
    once: at the end of the body (``ended=True``) or when the app closed it early. ``cut(exc)``
    ends it when the body could not be read to its end (the attempt's deadline, the size
    limit, an endless stream line, a broken connection) and returns what the app's read
    raises instead.
    """

    def __init__(self, *, event_stream: bool, strip_usage: bool, errors: CallErrors, deadline: Deadline,
                 on_done: Callable[[Completion | None, ModelError | None, bool], None],
                 sniff: bool = False, secret: Secret | None = None) -> None:
        self._stream = event_stream
        self._strip = strip_usage
        self._errors = errors
        self._deadline = deadline
        self._sent_at = deadline.start
        self._on_done = on_done
        self._secret = _SecretScan(secret) if secret is not None else None
        self._reencode = event_stream and (strip_usage or secret is not None)
        self._hold_json = not event_stream and secret is not None
        self._sniffing = event_stream and sniff
        self._head = bytearray()
        self._passthrough = False  # not an event stream after all: passed on unread
        self._decoder = SSEDecoder() if event_stream else None
        self._assembly = ChatStreamAssembly(errors) if event_stream else None
        self._body = bytearray()
        self._last_at = self._sent_at
        self._ended_at: float | None = None
        self._broken: ModelError | None = None
        self._done = False
        self._lock = threading.Lock()

    def feed(self, data: bytes, at: float) -> bytes:
        self._last_at = at
        if not self._stream:
            self._body += data
            return b"" if self._hold_json else data
        if self._sniffing:
            self._head += data
            verdict = looks_like_event_stream(bytes(self._head))
            if verdict is None:
                return b""  # too short to tell: held until it is not
            self._sniffing = False
            data, self._head = bytes(self._head), bytearray()
            if not verdict:
                self._broken = self._errors.response(f"body is not an event stream: {error_excerpt(data[:1000])!r}")
                self._passthrough = True
        if self._passthrough:
            return self._redacted(data)
        assert self._decoder is not None
        passed = self._absorb(self._decoder.feed(data), at)
        return passed if self._reencode else data

    def _absorb(self, events: list[SSEEvent], at: float, at_end: bool = False) -> bytes:
        assert self._assembly is not None
        passed = bytearray()
        for event in events:
            if self._ended_at is None and self._broken is None:
                try:
                    if self._assembly.add(event, at, at_end=at_end):
                        self._ended_at = at
                except ModelError as exc:
                    self._broken = exc
            if self._reencode and not (self._strip and _is_usage_only(event.data)):
                passed += _encode_event(event, self._secret)
        return bytes(passed)

    def end_of_body(self, at: float) -> bytes:
        """The body ended: parse what is left; returns the bytes still to pass on."""
        tail = b""
        if self._stream:
            if self._sniffing:  # too short to judge: read as a stream, as the providers do
                self._sniffing = False
                head, self._head = bytes(self._head), bytearray()
                assert self._decoder is not None
                passed = self._absorb(self._decoder.feed(head), at)
                tail = passed if self._reencode else head
            if not self._passthrough:
                assert self._decoder is not None
                passed = self._absorb(self._decoder.close(), at, at_end=True)
                if self._reencode:
                    tail += passed
        elif self._hold_json:
            tail = self._redacted(bytes(self._body))
        self.finish(ended=True, at=at)
        return tail

    def _redacted(self, data: bytes) -> bytes:
        if self._secret is None or not self._secret.might_be_in(data):
            return data
        return redact(data.decode("utf-8", errors="replace"), self._secret.secret).encode()

    def cut(self, exc: BaseException, request: httpx.Request) -> Exception:
        """The body could not be read to its end because of ``exc``: record why on the run and
        return the httpx exception the app's read raises (a fresh one: httpcore's frames,
        which hold the request headers, stay out of the app's traceback)."""
        errors, deadline = self._errors, self._deadline
        progress = f"; {self._assembly.progress()}" if self._assembly is not None else ""
        limit_note = "counted after decompression; the limit is --modelbench-max-response-bytes"
        if isinstance(exc, DeadlineExceeded) or (isinstance(exc, httpx.TimeoutException) and deadline.expired()):
            error: ModelError = errors.timeout(deadline.seconds, "while the body was still arriving")
            app: Exception = httpx.ReadTimeout(str(error), request=request)
        elif isinstance(exc, httpx.TimeoutException):
            error = errors.timeout(_seconds(exc), "reading the body")
            app = httpx.ReadTimeout(str(error), request=request)
        elif isinstance(exc, BodyTooLarge):
            error = errors.response(f"{exc} ({limit_note}){progress}")
            app = httpx.ReadError(str(error), request=request)
        elif isinstance(exc, SSELineTooLong):
            error = errors.response(f"{exc}{progress}")
            app = httpx.ReadError(str(error), request=request)
        elif isinstance(exc, httpx.DecodingError):
            error = errors.response(f"body could not be decoded ({exc})")
            app = httpx.DecodingError(str(error), request=request)
        else:  # the connection broke
            app = _fresh(exc, request)
            if self._stream and self._broken is None and self._assembly is not None and self._assembly.finished:
                self.finish(ended=True)  # the reply was whole: it is measured, as by complete()
                return app
            where = ("stream cut off before data: [DONE] and before a finish_reason" if self._stream
                     else f"connection closed after {len(self._body)} bytes of the body")
            error = errors.response(f"{where} ({type(exc).__name__}: {exc}{progress})")
        with self._lock:
            if self._done:
                return app
            self._done = True
        self._on_done(None, error, False)
        return app

    def finish(self, *, ended: bool, at: float | None = None) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
        at = time.perf_counter() if at is None else at
        completion, error = self._result(ended, at)
        whole = error is None and (ended if not self._stream else self._ended_at is not None or (
            self._assembly is not None and self._assembly.finished and ended))
        self._on_done(completion, error, whole)

    def _result(self, ended: bool, at: float) -> tuple[Completion | None, ModelError | None]:
        errors = self._errors
        if not self._stream:
            if not ended:
                return None, None  # the app dropped the body unread: nothing was measured
            try:
                payload = json.loads(bytes(self._body))
            except (ValueError, RecursionError):
                return None, errors.response(f"body is not JSON: {error_excerpt(bytes(self._body))!r}")
            if not isinstance(payload, dict):
                return None, errors.response(f"body is not a JSON object: {error_excerpt(bytes(self._body))!r}")
            try:
                return json_completion(JSONReply(payload, bytes(self._body), self._last_at), self._sent_at, errors), None
            except ModelError as exc:
                return None, exc
        assembly = self._assembly
        assert assembly is not None
        if self._broken is not None:
            return None, self._broken
        if self._ended_at is not None or assembly.finished:
            try:
                return assembly.completion(self._sent_at, self._ended_at or assembly.last_at or at), None
            except ModelError as exc:  # e.g. no content received
                return None, exc
        if ended:
            return None, errors.response(
                "stream ended before data: [DONE] and before a finish_reason, so the reply is "
                f"truncated ({assembly.progress()})"
            )
        # Closed early by the app: what arrived is measured, nothing is stored.
        return assembly.completion(self._sent_at, assembly.last_at or at, closed_early=True), None


class _SecretScan:
    """A key, and a quick test of whether some bytes may hold it or an 8-character piece of
    it (what :func:`~.providers._http.redact` removes), so that redaction runs only then."""

    __slots__ = ("pieces", "secret")

    def __init__(self, secret: Secret) -> None:
        self.secret = secret
        key = secret.reveal().encode()
        self.pieces = (key_runs(key) if len(key) >= 8 else {key}) if key else set()

    def might_be_in(self, data: bytes) -> bool:
        return any(piece in data for piece in self.pieces)

    def __repr__(self) -> str:
        return "_SecretScan(<hidden>)"


def _is_usage_only(data: str) -> bool:
    if '"usage"' not in data:
        return False
    try:
        chunk = json.loads(data)
    except ValueError:
        return False
    return isinstance(chunk, dict) and chunk.get("choices") == [] and isinstance(chunk.get("usage"), dict)


def _encode_event(event: SSEEvent, secret: _SecretScan | None = None) -> bytes:
    data = event.data
    if secret is not None and secret.might_be_in(data.encode()):
        data = redact(data, secret.secret)
    lines = [] if event.event == "message" else [f"event: {event.event}"]
    lines += [f"data: {line}" for line in data.split("\n")]
    return ("\n".join(lines) + "\n\n").encode()


def _fresh(exc: BaseException, request: httpx.Request) -> Exception:
    """A new exception of ``exc``'s httpx type and message, without its traceback and the
    httpcore exceptions behind it (their frames hold the request headers with the key)."""
    try:
        return type(exc)(str(exc), request=request)  # type: ignore[call-arg]
    except TypeError:
        return httpx.TransportError(str(exc), request=request)


class _SyncBody(httpx.SyncByteStream):
    def __init__(self, response: httpx.Response, watch: BodyWatch, deadline: Deadline, limit: int,
                 request: httpx.Request) -> None:
        self._response = response
        self._watch = watch
        self._deadline = deadline
        self._limit = limit
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        watch = self._watch
        reads = iter_body(self._response, self._deadline, self._limit)
        try:
            while True:
                with bounded_by(self._deadline):  # each read gets only the attempt's time left
                    received = next(reads, None)
                if received is None:
                    break
                passed = watch.feed(received.data, received.at)
                if passed:
                    yield passed
            tail = watch.end_of_body(time.perf_counter())
        except READ_FAILURES as exc:
            raise watch.cut(exc, self._request) from None
        if tail:
            yield tail

    def close(self) -> None:
        try:
            self._response.close()
        finally:
            self._watch.finish(ended=False)


class _AsyncBody(httpx.AsyncByteStream):
    def __init__(self, response: httpx.Response, watch: BodyWatch, deadline: Deadline, limit: int,
                 request: httpx.Request) -> None:
        self._response = response
        self._watch = watch
        self._deadline = deadline
        self._limit = limit
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        from .providers._async import aiter_body

        watch = self._watch
        try:
            async with contextlib.aclosing(aiter_body(self._response, self._deadline, self._limit)) as reads:
                async for received in reads:
                    passed = watch.feed(received.data, received.at)
                    if passed:
                        yield passed
            tail = watch.end_of_body(time.perf_counter())
        except READ_FAILURES as exc:
            raise watch.cut(exc, self._request) from None
        if tail:
            yield tail

    async def aclose(self) -> None:
        try:
            await self._response.aclose()
        finally:
            self._watch.finish(ended=False)


# --------------------------------------------------------------------------- the transports


def attempt_deadline(request: httpx.Request) -> Deadline:
    """The whole-attempt bound of one upstream request, starting now: the largest of the
    timeouts the app's client set for it (the run's ``--modelbench-timeout`` unless the app
    gave its own); infinite when the client has none. Sending, the response headers and
    every read of the body share it."""
    timeout = request.extensions.get("timeout") or {}
    values = [value for value in timeout.values()
              if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0]
    return Deadline.starting_now(max(values) if values else math.inf)


class _Metering:
    """What the sync and async transports share: planning, cache, metering, failures."""

    def __init__(self, calls: Any, spec: ModelSpec, endpoint: Endpoint, policy: RetryPolicy,
                 max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES) -> None:
        self.calls = calls
        self.spec = spec
        self.endpoint = endpoint
        self.policy = policy
        self.limit = max_response_bytes
        self.secret = Secret(endpoint.api_key) if endpoint.api_key else None
        self.errors = CallErrors(model=spec.model, base_url=endpoint.base_url, secret=self.secret)
        self.ask_usage = True

    def plan(self, request: httpx.Request) -> CallPlan | None:
        return plan_call(request, self.spec, ask_usage=self.ask_usage)

    def upstream(self, request: httpx.Request, plan: CallPlan) -> httpx.Request:
        return _upstream_request(request, plan, self.secret, url_auth=self.spec.url_auth)

    def lookup(self, plan: CallPlan) -> tuple[Any, Completion | None]:
        """Key and stored answer; records and re-raises a replay miss or a spend-cap stop."""
        self.calls.app_call("a call through a metered app client")
        call_index = self.calls.next_index()
        try:
            key, stored = self.calls.lookup(
                plan.messages, max_tokens=plan.max_tokens, temperature=plan.temperature,
                call_index=call_index, params=plan.key_params,
            )
            if stored is None:
                self.calls.before_call()
        except Exception as exc:
            self.calls.failed(exc)
            raise
        return key, stored

    def served(self, request: httpx.Request, plan: CallPlan, stored: Completion) -> httpx.Response:
        self.calls.record(stored, cached=True, messages=plan.messages)
        content_type, body = replay_body(stored, plan, self.spec.model)
        return httpx.Response(200, headers={"content-type": content_type}, content=body, request=request)

    def falls_back(self, response: httpx.Response, error_body: ErrorBody, plan: CallPlan) -> bool:
        if plan.injected_usage and rejects_stream_options(response.status_code, error_body.text()):
            self.ask_usage = False
            plan.body.pop("stream_options", None)
            plan.injected_usage = False
            return True
        return False

    def rejected(self, request: httpx.Request, response: httpx.Response, error_body: ErrorBody,
                 attempts: int) -> httpx.Response:
        error = self.errors.status(response.status_code, response.reason_phrase, error_body.data)
        self.calls.failed(after_attempts(error, attempts))
        content = error_body.data
        if self.secret is not None:  # a key the server echoed does not reach the app's exception
            content = redact(error_body.text(), self.secret).encode()
        return httpx.Response(response.status_code, headers=_passed_on_headers(response.headers),
                              content=content, request=request, extensions=response.extensions)

    def broken(self, exc: Exception, attempts: int, deadline: Deadline) -> None:
        if isinstance(exc, httpx.TimeoutException):
            seconds = deadline.seconds if deadline.expired() else _seconds(exc)
            error: ModelCallError = self.errors.timeout(seconds, "waiting for the response")
        else:
            error = self.errors.connection(exc)
        self.calls.failed(after_attempts(error, attempts))

    def watch(self, response: httpx.Response, plan: CallPlan, key: Any, deadline: Deadline,
              retries: int) -> BodyWatch:
        event_stream = is_event_stream(response, plan.body)

        def done(completion: Completion | None, error: ModelError | None, whole: bool) -> None:
            if error is not None:
                self.calls.failed(error)
                return
            if completion is None:
                return
            if retries:
                completion = dataclasses.replace(completion, retries=retries)
            if whole and key is not None:
                try:
                    self.calls.store(key, completion)
                except Exception as exc:  # a store failure is the run's error, not the app's
                    self.calls.failed(exc)
            self.calls.record(completion, cached=False, messages=plan.messages)

        return BodyWatch(event_stream=event_stream, strip_usage=plan.injected_usage and event_stream,
                         errors=self.errors, deadline=deadline, on_done=done,
                         sniff="event-stream" not in response.headers.get("content-type", "").lower(),
                         secret=self.secret)


def _seconds(exc: httpx.TimeoutException) -> float:
    timeout = (exc.request.extensions.get("timeout") or {}) if _has_request(exc) else {}
    values = [value for value in timeout.values() if isinstance(value, (int, float))]
    return max(values) if values else 0.0


def _has_request(exc: httpx.HTTPError) -> bool:
    try:
        exc.request
    except RuntimeError:
        return False
    return True


def _read_error_body(response: httpx.Response, deadline: Deadline) -> ErrorBody:
    try:
        with bounded_by(deadline):
            return read_error_body(response, deadline)
    finally:
        response.close()


async def _aread_error_body(response: httpx.Response, deadline: Deadline) -> ErrorBody:
    from .providers._async import aread_error_body

    try:
        return await aread_error_body(response, deadline)
    finally:
        await response.aclose()


class MeteredTransport(httpx.BaseTransport):
    """An httpx transport that meters the model calls sent through it (see the module doc).

    ``calls`` is the run's :class:`~.model.RunCalls`; ``inner`` the transport that reaches the
    network (a :class:`~.providers._http.DeadlineTransport` when None, built at the first
    request that needs it, so a replay opens no connection); ``sleep`` the wait between
    retries; ``max_response_bytes`` the cap on a response body, counted after decompression.
    """

    def __init__(self, calls: Any, spec: ModelSpec, endpoint: Endpoint, *, retries: int = 2,
                 inner: httpx.BaseTransport | None = None, sleep: Callable[[float], None] = time.sleep,
                 max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES) -> None:
        self._metering = _Metering(calls, spec, endpoint, RetryPolicy(max_retries=retries), max_response_bytes)
        self._inner = inner
        self._sleep = sleep
        self._lock = threading.Lock()

    def _network(self) -> httpx.BaseTransport:
        with self._lock:
            if self._inner is None:
                self._inner = DeadlineTransport()
            return self._inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        metering = self._metering
        plan = metering.plan(request)
        if plan is None:
            return self._network().handle_request(request)
        key, stored = metering.lookup(plan)
        if stored is not None:
            return metering.served(request, plan, stored)
        network = self._network()
        attempts = 0
        while True:
            attempts += 1
            upstream = metering.upstream(request, plan)
            deadline = attempt_deadline(request)
            try:
                with bounded_by(deadline), metering.calls.in_flight():
                    response = network.handle_request(upstream)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                if attempts <= metering.policy.max_retries:
                    self._sleep(metering.policy.delay(attempts - 1))
                    continue
                metering.broken(exc, attempts, deadline)
                raise _fresh(exc, request) from None
            response = httpx.Response(response.status_code, headers=response.headers, stream=response.stream,
                                      request=upstream, extensions=response.extensions)
            if response.is_success:
                watch = metering.watch(response, plan, key, deadline, attempts - 1)
                body = _SyncBody(response, watch, deadline, metering.limit, request)
                return httpx.Response(response.status_code, headers=_passed_on_headers(response.headers),
                                      stream=body, request=request, extensions=response.extensions)
            error_body = _read_error_body(response, deadline)
            if metering.falls_back(response, error_body, plan):
                attempts -= 1
                continue
            if attempts <= metering.policy.max_retries and metering.policy.should_retry(
                    response.status_code, response.headers):
                self._sleep(metering.policy.delay(attempts - 1, response.headers))
                continue
            return metering.rejected(request, response, error_body, attempts)

    def close(self) -> None:
        with self._lock:
            inner, self._inner = self._inner, None
        if inner is not None:
            inner.close()


class AsyncMeteredTransport(httpx.AsyncBaseTransport):
    """:class:`MeteredTransport` for ``httpx.AsyncClient`` (and so ``openai.AsyncOpenAI``).

    Runs on the caller's event loop; ``sleep`` (default ``asyncio.sleep``) waits between
    retries. Under asyncio each attempt is bounded as a whole (``asyncio.timeout`` on sending
    and on each read); under another loop (trio) by httpx's own timeouts.
    """

    def __init__(self, calls: Any, spec: ModelSpec, endpoint: Endpoint, *, retries: int = 2,
                 inner: httpx.AsyncBaseTransport | None = None,
                 sleep: Callable[[float], Any] = asyncio.sleep,
                 max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES) -> None:
        self._metering = _Metering(calls, spec, endpoint, RetryPolicy(max_retries=retries), max_response_bytes)
        self._inner = inner
        self._sleep = sleep

    def _network(self) -> httpx.AsyncBaseTransport:
        if self._inner is None:
            self._inner = httpx.AsyncHTTPTransport()
        return self._inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        from .providers._async import within

        metering = self._metering
        plan = metering.plan(request)
        if plan is None:
            return await self._network().handle_async_request(request)
        key, stored = metering.lookup(plan)
        if stored is not None:
            return metering.served(request, plan, stored)
        network = self._network()
        attempts = 0
        while True:
            attempts += 1
            upstream = metering.upstream(request, plan)
            deadline = attempt_deadline(request)
            try:
                response = await within(deadline, network.handle_async_request(upstream), httpx.ReadTimeout)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                if attempts <= metering.policy.max_retries:
                    await self._sleep(metering.policy.delay(attempts - 1))
                    continue
                metering.broken(exc, attempts, deadline)
                raise _fresh(exc, request) from None
            response = httpx.Response(response.status_code, headers=response.headers, stream=response.stream,
                                      request=upstream, extensions=response.extensions)
            if response.is_success:
                watch = metering.watch(response, plan, key, deadline, attempts - 1)
                body = _AsyncBody(response, watch, deadline, metering.limit, request)
                return httpx.Response(response.status_code, headers=_passed_on_headers(response.headers),
                                      stream=body, request=request, extensions=response.extensions)
            error_body = await _aread_error_body(response, deadline)
            if metering.falls_back(response, error_body, plan):
                attempts -= 1
                continue
            if attempts <= metering.policy.max_retries and metering.policy.should_retry(
                    response.status_code, response.headers):
                await self._sleep(metering.policy.delay(attempts - 1, response.headers))
                continue
            return metering.rejected(request, response, error_body, attempts)

    async def aclose(self) -> None:
        inner, self._inner = self._inner, None
        if inner is not None:
            await inner.aclose()
