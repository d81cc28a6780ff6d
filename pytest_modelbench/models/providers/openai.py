"""Client of OpenAI-compatible ``/chat/completions`` servers. Does not import pytest.

Works against OpenAI and the many servers that copy its API (vLLM, llama.cpp server, Ollama,
LM Studio, OpenRouter, Together, Groq, ...). One :class:`OpenAIProvider` holds one
``httpx.Client`` (one connection pool) and is closed with :meth:`OpenAIProvider.close`.

What a call does, in order:

1. POST ``{base_url}/chat/completions`` with ``stream: true`` and
   ``stream_options: {"include_usage": true}`` (unless the provider was made with
   ``stream=False``), the messages as given and the request parameters (None values omitted).
2. A rejection of those fields falls back and is remembered for the provider's later calls:
   a 400/422 whose error mentions ``stream_options`` (or ``include_usage``) → the same request
   without ``stream_options``; a 400/404/422 whose error mentions streaming, or any 405/501
   to a streaming request → a non-streaming request; a 400/422 asking for
   ``max_completion_tokens`` → ``max_tokens`` is sent under that name. A fallback is re-sent at once and does not count as a retry.
3. Failures are retried by :class:`~pytest_modelbench.models.providers._http.RetryPolicy` (as the
   official openai-python client): connection errors and timeouts that happen before any byte
   of the response body arrived, HTTP 408, 409, 429 and >= 500. Once body bytes have arrived
   nothing is retried: a broken or malformed body is a ``ModelResponseError``, a timeout a
   ``ModelTimeoutError``, at once (the server has accepted and probably billed the request,
   and a retry would measure a different call).
4. The answer is read with an overall deadline of ``timeout`` seconds from the request being
   sent, checked after every network read; httpx's connect/read/write/pool timeouts are the
   same ``timeout``, so a silent server is cut off by the read timeout.

Measurements (``time.perf_counter``, from just before the request is handed to httpx):
``ttft_ms`` to the first network read that carries a chunk with non-empty content, reasoning
content, refusal or a tool-call delta (a role-only first chunk and keep-alive comments do not
count; None when the call did not stream or produced none); ``latency_ms`` to the last byte
(the read carrying ``data: [DONE]``, or the end of the body). Token counts are the server's
``usage.prompt_tokens`` / ``usage.completion_tokens``, None when it gave none.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx

from ..._exceptions import ConfigError, ModelError
from ..completion import Completion, openai_tool_calls
from ._http import (
    DEFAULT_MAX_RESPONSE_BYTES,
    CallErrors,
    Deadline,
    ErrorBody,
    FellBack,
    JSONReply,
    RetryPolicy,
    Secret,
    SSEEvent,
    call_with_retries,
    check_api_root,
    check_headers_in_time,
    check_max_response_bytes,
    check_max_retries,
    check_max_tokens,
    check_messages,
    check_model,
    check_params,
    check_reserved_params,
    check_seconds,
    check_stream,
    check_temperature,
    endpoint_url,
    error_excerpt,
    is_event_stream,
    make_client,
    merge_request_params,
    open_response,
    read_error_body,
    read_json_object,
    read_sse_stream,
    rejects_streaming,
    safe_url,
    send_with_fallbacks,
    short_repr,
    status_failure,
    str_or_none,
    token_count,
    warn_notes,
    without_traceback,
)

DEFAULT_BASE_URL = "https://api.openai.com/v1"

#: Body fields the provider owns; they cannot be passed as request parameters.
RESERVED_PARAMS = ("messages", "model", "stream", "stream_options")

_STREAM_OPTIONS_STATUSES = frozenset({400, 422})
_MENTIONS_STREAM_OPTIONS = re.compile(r"stream_options|include_usage", re.IGNORECASE)
_MENTIONS_MAX_COMPLETION_TOKENS = re.compile(r"max_completion_tokens", re.IGNORECASE)
_ENDPOINT = "/chat/completions"
_MAX_FALLBACKS = 3

#: Fields of a stream delta that carry text, each a string when present.
_TEXT_DELTA_KEYS = ("content", "reasoning_content", "reasoning", "refusal")


class OpenAIProvider:
    """Chat completions from an OpenAI-compatible server.

    ``model`` is sent as the body's ``model``; ``base_url`` is the API root (the request goes
    to ``{base_url}/chat/completions``); ``api_key`` is sent as ``Authorization: Bearer``
    (nothing is sent when it is None, as local servers need). ``timeout`` (seconds) bounds
    each attempt and ``max_retries`` counts the retries after the first attempt. ``params``
    are default request parameters merged under each call's. ``transport`` replaces httpx's
    network transport (tests pass ``httpx.MockTransport``) and ``sleep`` the wait between
    retries. ``stream=False`` asks for whole responses (no TTFT is then measured).
    ``max_response_bytes`` caps a response body, counted after decompression (default
    32 MiB); past it the call fails with "response larger than ...".

    The provider never reads environment variables: the caller resolves URL and key.
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        params: dict | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        stream: bool = True,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self.model = check_model(model)
        self.base_url = check_api_root(base_url, endpoint_suffixes=(_ENDPOINT,), example=DEFAULT_BASE_URL)
        self.max_response_bytes = check_max_response_bytes(max_response_bytes)
        self.timeout = check_seconds(timeout, "timeout", ConfigError)
        self.max_retries = check_max_retries(max_retries)
        self.params = check_params(params, RESERVED_PARAMS)
        self._stream = check_stream(stream)
        self._send_stream_options = True
        self._max_tokens_field = "max_tokens"
        self._sleep = sleep
        self._policy = RetryPolicy(max_retries=max_retries)
        secret = Secret(api_key) if api_key else None
        self._errors = CallErrors(model=model, base_url=self.base_url, secret=secret)
        self._url = endpoint_url(self.base_url, _ENDPOINT)
        self._secret = secret
        self._client = make_client(transport, _default_headers(secret), self.timeout)
        self._closed = False

    # ------------------------------------------------------------------ public

    @property
    def stream(self) -> bool:
        """Whether calls stream now (False after the server rejected streaming)."""
        return self._stream

    @property
    def sends_stream_options(self) -> bool:
        """Whether streaming calls ask for usage (False after the server rejected it)."""
        return self._send_stream_options

    def complete(
        self,
        messages: list[dict],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        timeout: float | None = None,
        **params: Any,
    ) -> Completion:
        """Send ``messages`` and return the reply with its measurements.

        ``max_tokens``, ``temperature`` and any extra keyword (``top_p``, ``seed``, ``tools``,
        ...) go into the JSON body over the provider's default ``params``; None means "not
        given" (the default, if any, is sent; otherwise the field is left out). ``timeout``
        overrides the provider's for this call.

        Raises ModelCallError (HTTP error or connection failure, after retries; its
        ``status_code`` is the last status or None), ModelTimeoutError, ModelResponseError
        (truncated stream, body that is not JSON, an error object in the stream).
        """
        request_params, call_timeout = self._prepare(messages, max_tokens, temperature, timeout, params)
        attempts = 0

        def attempt() -> Completion:
            nonlocal attempts
            attempts += 1
            # Each fallback turns one thing off for good, so at most 3 can happen.
            return send_with_fallbacks(
                lambda: self._attempt(messages, request_params, call_timeout), _MAX_FALLBACKS
            )

        try:
            completion = call_with_retries(attempt, policy=self._policy, sleep=self._sleep)
        except ModelError as exc:
            raise without_traceback(exc) from None
        return dataclasses.replace(completion, retries=attempts - 1) if attempts > 1 else completion

    async def acomplete(
        self,
        messages: list[dict],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        timeout: float | None = None,
        client: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[object]] | None = None,
        max_retries: int | None = None,
        **params: Any,
    ) -> Completion:
        """:meth:`complete` without blocking: the same request, retries, fallbacks, measurements
        and errors, sent with an ``httpx.AsyncClient``.

        ``client`` is the connection pool to use (from :meth:`async_client`, or any AsyncClient:
        the provider adds its headers to each request); without one, a client is opened for
        this call and closed after it (a new connection each time). ``sleep`` replaces
        ``asyncio.sleep`` between retries; ``max_retries`` replaces the provider's retries for
        this call (0: one attempt, for a caller that retries itself, as the rate limiter does).
        """
        from ._async import acall_with_retries, asend_with_fallbacks

        request_params, call_timeout = self._prepare(messages, max_tokens, temperature, timeout, params)
        attempts = 0

        async def run(pool: httpx.AsyncClient) -> Completion:
            async def attempt() -> Completion:
                nonlocal attempts
                attempts += 1
                return await asend_with_fallbacks(
                    lambda: self._aattempt(pool, messages, request_params, call_timeout), _MAX_FALLBACKS
                )

            options = {} if sleep is None else {"sleep": sleep}
            policy = self._policy if max_retries is None else dataclasses.replace(
                self._policy, max_retries=check_max_retries(max_retries))
            return await acall_with_retries(attempt, policy=policy, **options)

        try:
            if client is None:
                async with self.async_client() as pool:
                    completion = await run(pool)
            else:
                completion = await run(client)
        except ModelError as exc:
            raise without_traceback(exc) from None
        return dataclasses.replace(completion, retries=attempts - 1) if attempts > 1 else completion

    def async_client(self, transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
        """A new ``httpx.AsyncClient`` with this provider's headers and timeouts, for
        :meth:`acomplete`; the caller closes it (``await client.aclose()``) on its event loop."""
        from ._async import make_async_client

        return make_async_client(_default_headers(self._secret), self.timeout, transport)

    def _prepare(
        self, messages: Any, max_tokens: int | None, temperature: float | None,
        timeout: float | None, params: Mapping[str, Any],
    ) -> tuple[dict[str, Any], float]:
        """Check a call's arguments: its request parameters and its timeout in seconds."""
        if self._closed:
            raise RuntimeError(f"{self!r} is closed; create a new provider")
        check_messages(messages)
        if max_tokens is not None:
            check_max_tokens(max_tokens)
        check_temperature(temperature)
        call_timeout = self.timeout if timeout is None else check_seconds(timeout, "timeout", ValueError)
        check_reserved_params(params, RESERVED_PARAMS, ValueError)
        request_params = merge_request_params(
            self.params, params, max_tokens=max_tokens, temperature=temperature
        )
        return request_params, call_timeout

    def close(self) -> None:
        """Close the connection pool. Idempotent."""
        self._closed = True
        self._client.close()

    def __enter__(self) -> OpenAIProvider:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"OpenAIProvider(model={self.model!r}, base_url={safe_url(self.base_url)!r})"

    # ------------------------------------------------------------------ one attempt

    def _body(self, messages: list[dict], request_params: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "messages": messages}
        for name, value in request_params.items():
            if name == "max_tokens":
                name = self._max_tokens_field
            body[name] = value
        if self._stream:
            body["stream"] = True
            if self._send_stream_options:
                body["stream_options"] = {"include_usage": True}
        return body

    def _attempt(self, messages: list[dict], request_params: dict[str, Any], seconds: float) -> Completion:
        body = self._body(messages, request_params)
        with open_response(self._client, self._url, body, seconds=seconds, errors=self._errors) as opened:
            response, deadline = opened.response, opened.deadline
            if not response.is_success:
                self._reject(response, body, deadline)
            check_headers_in_time(deadline, self._errors)
            if is_event_stream(response, body):
                return read_sse_stream(
                    response, deadline, self._errors, _StreamAssembly(self._errors),
                    end_marker="data: [DONE]", stop_field="finish_reason", unit="chunk",
                    limit=self.max_response_bytes,
                )
            reply = read_json_object(response, deadline, self._errors, self.max_response_bytes)
            return json_completion(reply, deadline.start, self._errors)

    async def _aattempt(
        self, client: httpx.AsyncClient, messages: list[dict], request_params: dict[str, Any], seconds: float
    ) -> Completion:
        from ._async import aopen_response, aread_error_body, aread_json_object, aread_sse_stream

        body = self._body(messages, request_params)
        async with aopen_response(
            client, self._url, body, seconds=seconds, errors=self._errors, headers=_default_headers(self._secret)
        ) as opened:
            response, deadline = opened.response, opened.deadline
            if not response.is_success:
                error_body = await aread_error_body(response, deadline)
                self._judge_rejection(response, body, error_body)
            check_headers_in_time(deadline, self._errors)
            if is_event_stream(response, body):
                return await aread_sse_stream(
                    response, deadline, self._errors, _StreamAssembly(self._errors),
                    end_marker="data: [DONE]", stop_field="finish_reason", unit="chunk",
                    limit=self.max_response_bytes,
                )
            reply = await aread_json_object(response, deadline, self._errors, self.max_response_bytes)
            return json_completion(reply, deadline.start, self._errors)

    def _reject(self, response: httpx.Response, body: dict[str, Any], deadline: Deadline) -> None:
        """Handle a non-2xx response: fall back, retry or fail. Always raises."""
        self._judge_rejection(response, body, read_error_body(response, deadline))

    def _judge_rejection(self, response: httpx.Response, body: dict[str, Any], error_body: ErrorBody) -> None:
        """Fall back, retry or fail after a non-2xx response whose error body was read. Always raises."""
        if self._fall_back(response.status_code, error_body.text(), body):
            raise FellBack
        raise status_failure(response, error_body, self._errors, self._policy)

    def _fall_back(self, status: int, error_text: str, body: dict[str, Any]) -> bool:
        if (
            status in _STREAM_OPTIONS_STATUSES
            and "stream_options" in body
            and _MENTIONS_STREAM_OPTIONS.search(error_text)
        ):
            self._send_stream_options = False
            return True
        if body.get("stream") and rejects_streaming(status, error_text):
            self._stream = False
            return True
        if (
            status in _STREAM_OPTIONS_STATUSES
            and "max_tokens" in body
            and _MENTIONS_MAX_COMPLETION_TOKENS.search(error_text)
        ):
            self._max_tokens_field = "max_completion_tokens"
            return True
        return False



def json_completion(reply: JSONReply, sent_at: float, errors: CallErrors) -> Completion:
    """The Completion of a whole (non-streamed) ``chat.completion`` body received at ``reply.last_at``.

    A ModelResponseError when the body is an error, has no choices, a message content that is
    not text, or nothing at all in its first choice (no content, tool call, refusal or
    reasoning: "no content received"). Token counts that are not counts are None, with a note.
    """
    payload = reply.payload
    if payload.get("error"):
        raise errors.response(f"server returned an error: {error_excerpt(reply.body)}")
    choices = payload.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise errors.response(f"response has no choices: {error_excerpt(reply.body)!r}")
    choice = choices[0]
    message = choice.get("message")
    message = message if isinstance(message, dict) else {}
    content = message.get("content")
    if content is not None and not isinstance(content, (str, list)):
        raise errors.response(f"message content is not a string: {short_repr(content, 60)}")
    text = _message_text(content)
    if not text and not any(message.get(key) for key in ("tool_calls", "refusal", "reasoning_content",
                                                         "reasoning", "function_call")):
        raise errors.response(f"no content received (finish_reason {choice.get('finish_reason')!r})")
    usage = payload.get("usage")
    notes: list[str] = []
    return Completion(
        text=text,
        input_tokens=token_count(usage, "prompt_tokens", notes),
        output_tokens=token_count(usage, "completion_tokens", notes),
        latency_ms=(reply.last_at - sent_at) * 1000.0,
        ttft_ms=None,
        finish_reason=str_or_none(choice.get("finish_reason")),
        raw=payload,
        cached_input_tokens=_detail_count(usage, "prompt_tokens_details", "cached_tokens", notes),
        reasoning_tokens=_detail_count(usage, "completion_tokens_details", "reasoning_tokens", notes),
        tool_calls=openai_tool_calls(message.get("tool_calls")),
        notes=warn_notes(notes, errors),
    )


# --------------------------------------------------------------------------- stream assembly


class _ChoiceParts:
    """The deltas of one choice, joined as they arrive."""

    __slots__ = ("content", "finish_reason", "reasoning", "refusal", "role", "tool_calls")

    def __init__(self) -> None:
        self.role: str | None = None
        self.content: list[str] = []
        self.reasoning: list[str] = []
        self.refusal: list[str] = []
        self.tool_calls: dict[int, dict[str, Any]] = {}
        self.finish_reason: str | None = None

    def add(self, delta: Mapping[str, Any]) -> bool:
        """Absorb one delta; True when it carried output (not just a role)."""
        carried = False
        if isinstance(delta.get("role"), str):
            self.role = delta["role"]
        for key, parts in zip(_TEXT_DELTA_KEYS, (self.content, self.reasoning, self.reasoning, self.refusal)):
            value = delta.get(key)
            if isinstance(value, str) and value:
                parts.append(value)
                carried = True
        tool_calls = delta.get("tool_calls")
        if isinstance(tool_calls, list):
            for position, call in enumerate(tool_calls):
                if isinstance(call, Mapping):
                    self._add_tool_call(position, call)
                    carried = True
        return carried

    def _add_tool_call(self, position: int, call: Mapping[str, Any]) -> None:
        index = call.get("index", position)
        index = index if isinstance(index, int) else position
        entry = self.tool_calls.setdefault(
            index, {"id": None, "type": "function", "function": {"name": "", "arguments": ""}}
        )
        if isinstance(call.get("id"), str):
            entry["id"] = call["id"]
        if isinstance(call.get("type"), str):
            entry["type"] = call["type"]
        function = call.get("function")
        if isinstance(function, Mapping):
            if isinstance(function.get("name"), str) and not entry["function"]["name"]:
                entry["function"]["name"] = function["name"]
            if isinstance(function.get("arguments"), str):
                entry["function"]["arguments"] += function["arguments"]

    def message(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": self.role or "assistant", "content": "".join(self.content)}
        if self.reasoning:
            message["reasoning_content"] = "".join(self.reasoning)
        if self.refusal:
            message["refusal"] = "".join(self.refusal)
        if self.tool_calls:
            message["tool_calls"] = [self.tool_calls[i] for i in sorted(self.tool_calls)]
        return message


class _StreamAssembly:
    """Turns the events of a chat-completion stream into one response."""

    def __init__(self, errors: CallErrors) -> None:
        self._errors = errors
        self.choices: dict[int, _ChoiceParts] = {}
        self.usage: dict[str, Any] | None = None
        self.meta: dict[str, Any] = {}
        self.chunks = 0
        self.first_output_at: float | None = None
        self.last_at: float | None = None

    @property
    def finished(self) -> bool:
        """Every choice seen has a finish_reason (and at least one was seen)."""
        return bool(self.choices) and all(c.finish_reason is not None for c in self.choices.values())

    def progress(self) -> str:
        chars = sum(len(part) for choice in self.choices.values() for part in choice.content)
        return f"{self.chunks} chunks, {chars} characters of content received"

    def add(self, event: SSEEvent, at: float, *, at_end: bool = False) -> bool:
        """Absorb one event; True at ``data: [DONE]``."""
        self.last_at = at
        if event.event == "error":
            raise self._errors.response(f"server sent an error event: {error_excerpt(event.data)}")
        data = event.data.strip()
        if data == "[DONE]":
            return True
        if not data:
            return False
        try:
            chunk = json.loads(data)
        except ValueError:
            reason = "stream ended in the middle of a chunk" if at_end else "stream chunk is not JSON"
            raise self._errors.response(f"{reason}: {error_excerpt(data)!r}") from None
        if not isinstance(chunk, dict):
            raise self._errors.response(f"stream chunk is not a JSON object: {error_excerpt(data)!r}")
        if chunk.get("error"):
            raise self._errors.response(f"server reported an error in the stream: {error_excerpt(data)}")
        self.chunks += 1
        for key in ("id", "created", "model", "system_fingerprint"):
            if chunk.get(key) is not None:
                self.meta[key] = chunk[key]
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        choices = chunk.get("choices")
        for position, choice in enumerate(choices if isinstance(choices, list) else ()):
            if not isinstance(choice, Mapping):
                continue
            index = choice.get("index", position)
            parts = self.choices.setdefault(index if isinstance(index, int) else position, _ChoiceParts())
            delta = choice.get("delta")
            if isinstance(delta, Mapping):
                for key in _TEXT_DELTA_KEYS:
                    if delta.get(key) is not None and not isinstance(delta[key], str):
                        raise self._errors.response(
                            f"stream chunk's delta.{key} is not a string: {short_repr(delta[key], 60)}"
                        )
            if isinstance(delta, Mapping) and parts.add(delta) and self.first_output_at is None:
                self.first_output_at = at
            if isinstance(choice.get("finish_reason"), str):
                parts.finish_reason = choice["finish_reason"]
        return False

    def completion(self, sent_at: float, ended_at: float | None, *, closed_early: bool = False) -> Completion:
        """The reply; "no content received" when its first choice carried nothing, unless the
        reader closed the stream early (``closed_early``: what arrived is measured as it is)."""
        ended_at = sent_at if ended_at is None else ended_at
        first = self.choices[min(self.choices)] if self.choices else _ChoiceParts()
        if not closed_early and not (first.content or first.reasoning or first.refusal or first.tool_calls):
            raise self._errors.response(
                f"no content received ({self.chunks} chunks, finish_reason {first.finish_reason!r})"
            )
        raw: dict[str, Any] = {
            "id": self.meta.get("id"),
            "object": "chat.completion",
            "created": self.meta.get("created"),
            "model": self.meta.get("model"),
            "choices": [
                {"index": index, "message": parts.message(), "finish_reason": parts.finish_reason}
                for index, parts in sorted(self.choices.items())
            ],
            "usage": self.usage,
        }
        if "system_fingerprint" in self.meta:
            raw["system_fingerprint"] = self.meta["system_fingerprint"]
        notes: list[str] = []
        return Completion(
            text="".join(first.content),
            input_tokens=token_count(self.usage, "prompt_tokens", notes),
            output_tokens=token_count(self.usage, "completion_tokens", notes),
            latency_ms=(ended_at - sent_at) * 1000.0,
            ttft_ms=None if self.first_output_at is None else (self.first_output_at - sent_at) * 1000.0,
            finish_reason=first.finish_reason,
            raw=raw,
            cached_input_tokens=_detail_count(self.usage, "prompt_tokens_details", "cached_tokens", notes),
            reasoning_tokens=_detail_count(self.usage, "completion_tokens_details", "reasoning_tokens", notes),
            tool_calls=openai_tool_calls(raw["choices"][0]["message"].get("tool_calls")) if self.choices else (),
            notes=warn_notes(notes, self._errors),
        )


# --------------------------------------------------------------------------- helpers


def _default_headers(secret: Secret | None) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "User-Agent": "pytest-modelbench"}
    if secret is not None:
        headers["Authorization"] = f"Bearer {secret.reveal()}"
    return headers


def _message_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part["text"]
            for part in content
            if isinstance(part, Mapping) and isinstance(part.get("text"), str)
        )
    return ""


def _detail_count(usage: Any, details: str, name: str, notes: list[str] | None = None) -> int | None:
    """A count inside ``usage[details]`` (e.g. prompt_tokens_details.cached_tokens), or None."""
    if not isinstance(usage, Mapping):
        return None
    return token_count(usage.get(details), name, notes)


#: The parser of a chat-completion event stream, for code that reads streams it did not send
#: (the metered transport of ``models/metering.py``).
ChatStreamAssembly = _StreamAssembly
