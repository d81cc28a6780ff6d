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

import json
import re
from collections.abc import Mapping
from typing import Any

from ..completion import Completion, openai_tool_calls
from ._base import HTTPProvider
from ._http import (
    CallErrors,
    JSONReply,
    SSEEvent,
    check_messages,
    error_excerpt,
    rejects_streaming,
    short_repr,
    str_or_none,
    token_count,
    warn_notes,
)

DEFAULT_BASE_URL = "https://api.openai.com/v1"

#: Body fields the provider owns; they cannot be passed as request parameters.
RESERVED_PARAMS = ("messages", "model", "stream", "stream_options")

_STREAM_OPTIONS_STATUSES = frozenset({400, 422})
_MENTIONS_STREAM_OPTIONS = re.compile(r"stream_options|include_usage", re.IGNORECASE)
_MENTIONS_MAX_COMPLETION_TOKENS = re.compile(r"max_completion_tokens", re.IGNORECASE)
_ENDPOINT = "/chat/completions"

#: Fields of a stream delta that carry text, each a string when present.
_TEXT_DELTA_KEYS = ("content", "reasoning_content", "reasoning", "refusal")


class OpenAIProvider(HTTPProvider):
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

    The provider never reads environment variables: the caller resolves URL and key. The
    calls (:meth:`complete`, :meth:`acomplete`) are those of
    :class:`~pytest_modelbench.models.providers._base.HTTPProvider`.
    """

    DEFAULT_BASE_URL = DEFAULT_BASE_URL
    ENDPOINT = _ENDPOINT
    ENDPOINT_SUFFIXES = (_ENDPOINT,)
    RESERVED_PARAMS = RESERVED_PARAMS
    # Each fallback turns one thing off for good, so at most 3 can happen.
    MAX_FALLBACKS = 3
    STREAM_END = "data: [DONE]"
    STOP_FIELD = "finish_reason"
    STREAM_UNIT = "chunk"

    # Turned off for good by a fallback (then set on the instance).
    _send_stream_options = True
    _max_tokens_field = "max_tokens"

    @property
    def sends_stream_options(self) -> bool:
        """Whether streaming calls ask for usage (False after the server rejected it)."""
        return self._send_stream_options

    def _prepare(
        self, messages: Any, max_tokens: int | None, temperature: float | None,
        timeout: float | None, params: Mapping[str, Any],
    ) -> tuple[list[dict], dict[str, Any], float]:
        check_messages(messages)
        request_params, call_timeout = self._call_params(max_tokens, temperature, timeout, params)
        return messages, request_params, call_timeout

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

    def _fall_back(self, status: int, error_text: str, body: dict[str, Any]) -> bool:
        if "stream_options" in body and rejects_stream_options(status, error_text):
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

    def _assembly(self) -> _StreamAssembly:
        return _StreamAssembly(self._errors)

    def _json_completion(self, reply: JSONReply, sent_at: float) -> Completion:
        return json_completion(reply, sent_at, self._errors)

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "User-Agent": "pytest-modelbench"}
        if self._secret is not None:
            headers["Authorization"] = f"Bearer {self._secret.reveal()}"
        return headers


def rejects_stream_options(status: int, error_text: str) -> bool:
    """Whether an error status says the server does not take ``stream_options`` (a 400/422
    whose error mentions ``stream_options`` or ``include_usage``): the request is sent again
    without it."""
    return status in _STREAM_OPTIONS_STATUSES and _MENTIONS_STREAM_OPTIONS.search(error_text) is not None


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
