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
import dataclasses
import json
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

import httpx

from .._exceptions import ModelError
from .completion import Completion
from .providers._http import (
    ERROR_BODY_LIMIT,
    CallErrors,
    JSONReply,
    RetryPolicy,
    Secret,
    SSEDecoder,
    SSEEvent,
    error_excerpt,
)
from .specs import ModelSpec

#: Fields of a chat-completions body that are not part of a call's key (``complete()`` never
#: passes them: the provider sets them).
_NOT_KEYED = frozenset({"model", "messages", "stream", "stream_options", "max_tokens", "temperature"})
_MENTIONS_STREAM_OPTIONS = re.compile(r"stream_options|include_usage", re.IGNORECASE)
_ENDPOINT = "/chat/completions"
#: Headers of the upstream response that no longer describe the body the app receives (it
#: is decoded, and filtered when usage was asked for on the app's behalf).
_BODY_HEADERS = ("content-encoding", "content-length", "transfer-encoding")


@dataclasses.dataclass(frozen=True, slots=True)
class Endpoint:
    """Where the model under test is served: for configuring LiteLLM, LangChain and the like.

    ``base_url`` is the OpenAI-compatible API root (``.../v1``), ``model`` the model name to
    send, ``api_key`` the key (None when the model needs none; never shown in a repr).
    """

    base_url: str
    model: str
    api_key: str | None = dataclasses.field(default=None, repr=False)


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


def _upstream_request(request: httpx.Request, plan: CallPlan, secret: Secret | None) -> httpx.Request:
    headers = [(name, value) for name, value in request.headers.multi_items()
               if name.lower() not in ("content-length", "authorization", "accept-encoding")]
    if secret is not None:
        headers.append(("Authorization", f"Bearer {secret.reveal()}"))
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

    ``feed(data, at)`` takes each network read and returns the bytes to pass on (the same
    bytes, or, when usage was asked for on the app's behalf, the events re-encoded without
    the usage-only chunk). ``finish(ended)`` builds the Completion once: at the end of the
    body (``ended=True``) or when the app closed it early.
    """

    def __init__(self, *, event_stream: bool, strip_usage: bool, errors: CallErrors, sent_at: float,
                 on_done: Callable[[Completion | None, ModelError | None, bool], None]) -> None:
        from .providers.openai import ChatStreamAssembly

        self._stream = event_stream
        self._strip = strip_usage
        self._errors = errors
        self._sent_at = sent_at
        self._on_done = on_done
        self._decoder = SSEDecoder() if event_stream else None
        self._assembly = ChatStreamAssembly(errors) if event_stream else None
        self._body = bytearray()
        self._last_at = sent_at
        self._ended_at: float | None = None
        self._broken: ModelError | None = None
        self._done = False
        self._lock = threading.Lock()

    def feed(self, data: bytes, at: float) -> bytes:
        self._last_at = at
        if not self._stream:
            self._body += data
            return data
        assert self._decoder is not None
        events = self._decoder.feed(data)
        passed = self._absorb(events, at)
        return data if not self._strip else passed

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
            if self._strip and not _is_usage_only(event.data):
                passed += _encode_event(event)
        return bytes(passed)

    def end_of_body(self, at: float) -> bytes:
        """The body ended: parse what is left; returns the bytes still to pass on."""
        tail = b""
        if self._stream and self._decoder is not None:
            tail = self._absorb(self._decoder.close(), at, at_end=True)
        self.finish(ended=True, at=at)
        return tail if self._strip else b""

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
            except ValueError:
                return None, errors.response(f"body is not JSON: {error_excerpt(bytes(self._body))!r}")
            if not isinstance(payload, dict):
                return None, errors.response(f"body is not a JSON object: {error_excerpt(bytes(self._body))!r}")
            from .providers.openai import json_completion

            try:
                return json_completion(JSONReply(payload, bytes(self._body), self._last_at), self._sent_at, errors), None
            except ModelError as exc:
                return None, exc
        assembly = self._assembly
        assert assembly is not None
        if self._broken is not None:
            return None, self._broken
        if self._ended_at is not None or assembly.finished:
            return assembly.completion(self._sent_at, self._ended_at or assembly.last_at or at), None
        if ended:
            return None, errors.response(
                "stream ended before data: [DONE] and before a finish_reason, so the reply is "
                f"truncated ({assembly.progress()})"
            )
        # Closed early by the app: what arrived is measured, nothing is stored.
        return assembly.completion(self._sent_at, assembly.last_at or at), None


def _is_usage_only(data: str) -> bool:
    if '"usage"' not in data:
        return False
    try:
        chunk = json.loads(data)
    except ValueError:
        return False
    return isinstance(chunk, dict) and chunk.get("choices") == [] and isinstance(chunk.get("usage"), dict)


def _encode_event(event: SSEEvent) -> bytes:
    lines = [] if event.event == "message" else [f"event: {event.event}"]
    lines += [f"data: {line}" for line in event.data.split("\n")]
    return ("\n".join(lines) + "\n\n").encode()


class _SyncBody(httpx.SyncByteStream):
    def __init__(self, response: httpx.Response, watch: BodyWatch) -> None:
        self._response = response
        self._watch = watch

    def __iter__(self) -> Iterator[bytes]:
        for data in self._response.iter_bytes():
            if not data:
                continue
            passed = self._watch.feed(data, time.perf_counter())
            if passed:
                yield passed
        tail = self._watch.end_of_body(time.perf_counter())
        if tail:
            yield tail

    def close(self) -> None:
        try:
            self._response.close()
        finally:
            self._watch.finish(ended=False)


class _AsyncBody(httpx.AsyncByteStream):
    def __init__(self, response: httpx.Response, watch: BodyWatch) -> None:
        self._response = response
        self._watch = watch

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for data in self._response.aiter_bytes():
            if not data:
                continue
            passed = self._watch.feed(data, time.perf_counter())
            if passed:
                yield passed
        tail = self._watch.end_of_body(time.perf_counter())
        if tail:
            yield tail

    async def aclose(self) -> None:
        try:
            await self._response.aclose()
        finally:
            self._watch.finish(ended=False)


# --------------------------------------------------------------------------- the transports


class _Metering:
    """What the sync and async transports share: planning, cache, metering, failures."""

    def __init__(self, calls: Any, spec: ModelSpec, endpoint: Endpoint, policy: RetryPolicy) -> None:
        self.calls = calls
        self.spec = spec
        self.endpoint = endpoint
        self.policy = policy
        self.secret = Secret(endpoint.api_key) if endpoint.api_key else None
        self.errors = CallErrors(model=spec.model, base_url=endpoint.base_url, secret=self.secret)
        self.ask_usage = True

    def plan(self, request: httpx.Request) -> CallPlan | None:
        return plan_call(request, self.spec, ask_usage=self.ask_usage)

    def lookup(self, plan: CallPlan) -> tuple[Any, Completion | None]:
        """Key and stored answer; records and re-raises a replay miss or a spend-cap stop."""
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

    def falls_back(self, response: httpx.Response, error_body: bytes, plan: CallPlan) -> bool:
        if (plan.injected_usage and response.status_code in (400, 422)
                and _MENTIONS_STREAM_OPTIONS.search(error_body.decode("utf-8", errors="replace"))):
            self.ask_usage = False
            plan.body.pop("stream_options", None)
            plan.injected_usage = False
            return True
        return False

    def rejected(self, request: httpx.Request, response: httpx.Response, error_body: bytes,
                 attempts: int) -> httpx.Response:
        error = self.errors.status(response.status_code, response.reason_phrase, error_body)
        self.calls.failed(_after(error, attempts))
        return httpx.Response(response.status_code, headers=_passed_on_headers(response.headers),
                              content=error_body, request=request, extensions=response.extensions)

    def broken(self, exc: Exception, attempts: int) -> None:
        if isinstance(exc, httpx.TimeoutException):
            error: ModelError = self.errors.timeout(_seconds(exc), "waiting for the response")
        else:
            error = self.errors.connection(exc)
        self.calls.failed(_after(error, attempts))

    def watch(self, response: httpx.Response, plan: CallPlan, key: Any, sent_at: float, retries: int) -> BodyWatch:
        content_type = response.headers.get("content-type", "").lower()
        event_stream = "event-stream" in content_type or (plan.stream and "json" not in content_type)

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
                         errors=self.errors, sent_at=sent_at, on_done=done)


def _after(error: ModelError, attempts: int) -> ModelError:
    if attempts <= 1:
        return error
    return type(error)(f"{error} (gave up after {attempts} attempts)", status_code=getattr(error, "status_code", None))


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


def _read_error_body(response: httpx.Response) -> bytes:
    data = bytearray()
    try:
        for chunk in response.iter_bytes():
            data += chunk
            if len(data) >= ERROR_BODY_LIMIT:
                break
    except httpx.HTTPError:
        pass
    finally:
        response.close()
    return bytes(data[:ERROR_BODY_LIMIT])


async def _aread_error_body(response: httpx.Response) -> bytes:
    data = bytearray()
    try:
        async for chunk in response.aiter_bytes():
            data += chunk
            if len(data) >= ERROR_BODY_LIMIT:
                break
    except httpx.HTTPError:
        pass
    finally:
        await response.aclose()
    return bytes(data[:ERROR_BODY_LIMIT])


class MeteredTransport(httpx.BaseTransport):
    """An httpx transport that meters the model calls sent through it (see the module doc).

    ``calls`` is the run's :class:`~.model.RunCalls`; ``inner`` the transport that reaches the
    network (``httpx.HTTPTransport()`` when None, built at the first request that needs it, so
    a replay opens no connection); ``sleep`` the wait between retries.
    """

    def __init__(self, calls: Any, spec: ModelSpec, endpoint: Endpoint, *, retries: int = 2,
                 inner: httpx.BaseTransport | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        self._metering = _Metering(calls, spec, endpoint, RetryPolicy(max_retries=retries))
        self._inner = inner
        self._sleep = sleep
        self._lock = threading.Lock()

    def _network(self) -> httpx.BaseTransport:
        with self._lock:
            if self._inner is None:
                self._inner = httpx.HTTPTransport()
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
            upstream = _upstream_request(request, plan, metering.secret)
            sent_at = time.perf_counter()
            try:
                response = network.handle_request(upstream)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                if attempts <= metering.policy.max_retries:
                    self._sleep(metering.policy.delay(attempts - 1))
                    continue
                metering.broken(exc, attempts)
                raise
            except Exception:
                raise
            except BaseException as stop:  # a watchdog stopped the call in flight
                metering.calls.interrupted(stop)
                raise
            response = httpx.Response(response.status_code, headers=response.headers, stream=response.stream,
                                      request=upstream, extensions=response.extensions)
            if response.is_success:
                watch = metering.watch(response, plan, key, sent_at, attempts - 1)
                return httpx.Response(response.status_code, headers=_passed_on_headers(response.headers),
                                      stream=_SyncBody(response, watch), request=request,
                                      extensions=response.extensions)
            error_body = _read_error_body(response)
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

    Runs on the caller's event loop; ``sleep`` (default ``asyncio.sleep``) waits between retries.
    """

    def __init__(self, calls: Any, spec: ModelSpec, endpoint: Endpoint, *, retries: int = 2,
                 inner: httpx.AsyncBaseTransport | None = None,
                 sleep: Callable[[float], Any] = asyncio.sleep) -> None:
        self._metering = _Metering(calls, spec, endpoint, RetryPolicy(max_retries=retries))
        self._inner = inner
        self._sleep = sleep

    def _network(self) -> httpx.AsyncBaseTransport:
        if self._inner is None:
            self._inner = httpx.AsyncHTTPTransport()
        return self._inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
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
            upstream = _upstream_request(request, plan, metering.secret)
            sent_at = time.perf_counter()
            try:
                response = await network.handle_async_request(upstream)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                if attempts <= metering.policy.max_retries:
                    await self._sleep(metering.policy.delay(attempts - 1))
                    continue
                metering.broken(exc, attempts)
                raise
            response = httpx.Response(response.status_code, headers=response.headers, stream=response.stream,
                                      request=upstream, extensions=response.extensions)
            if response.is_success:
                watch = metering.watch(response, plan, key, sent_at, attempts - 1)
                return httpx.Response(response.status_code, headers=_passed_on_headers(response.headers),
                                      stream=_AsyncBody(response, watch), request=request,
                                      extensions=response.extensions)
            error_body = await _aread_error_body(response)
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
