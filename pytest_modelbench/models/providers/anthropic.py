"""Client of Anthropic's Messages API (``POST /v1/messages``). Does not import pytest.

One :class:`AnthropicProvider` holds one ``httpx.Client`` (one connection pool) and is closed
with :meth:`AnthropicProvider.close`. It is built on the shared machinery of ``_http.py``
(retries, SSE parsing, deadlines, error messages without the key), as ``openai.py`` is.

What a call does, in order:

1. The OpenAI-style ``messages`` are split: ``system`` (and ``developer``) messages become the
   top-level ``system`` field (several text contents joined with a blank line), the ``user`` /
   ``assistant`` messages are sent as given, in order.
2. POST ``{base_url}/v1/messages`` with headers ``x-api-key`` (when a key is given),
   ``anthropic-version: 2023-06-01`` and ``content-type: application/json``, and a body with
   ``model``, ``messages``, ``max_tokens`` (required by the API: the call's, else the
   provider's ``params``, else ``default_max_tokens``), ``system`` when there is one, the
   request parameters (None values omitted) and ``stream: true`` (unless the provider was
   made with ``stream=False``).
3. A rejection of streaming falls back to non-streaming requests and is remembered for the
   provider's later calls, as in ``openai.py``: a 400/404/422 whose error mentions streaming,
   or any 405/501 to a streaming request. The fallback is re-sent at once and does not count
   as a retry.
4. Failures are retried by :class:`~pytest_modelbench.models.providers._http.RetryPolicy` exactly as
   the OpenAI provider (and the official anthropic-python client, whose retry rules are the
   same): connection errors and timeouts before any byte of the body arrived, HTTP 408, 409,
   429 and >= 500 (Anthropic's 529 ``overloaded_error`` included), waiting what
   ``retry-after`` asks when it is at most 60 s. Once body bytes have arrived nothing is
   retried.
5. The answer is read with an overall deadline of ``timeout`` seconds from the request being
   sent, checked after every network read.

The event stream (Anthropic, "Streaming Messages",
https://docs.anthropic.com/en/docs/build-with-claude/streaming): ``message_start`` (a Message
with empty content and the input ``usage``), per content block ``content_block_start``,
``content_block_delta`` (``text_delta``, ``thinking_delta``, ``signature_delta``,
``input_json_delta``, ``citations_delta``) and ``content_block_stop``, then ``message_delta``
(``stop_reason`` and the *cumulative* ``usage``), ``message_stop``; ``ping`` events anywhere;
an ``error`` event (e.g. ``overloaded_error``) may replace the rest. Unknown event types are
ignored, as the API documentation asks of clients.

Measurements (``time.perf_counter``, from just before the request is handed to httpx):
``ttft_ms`` to the network read carrying the first non-empty ``text_delta``,
``thinking_delta`` or ``input_json_delta`` (None when the call did not stream or produced
none); ``latency_ms`` to the read carrying ``message_stop`` (or the end of the body).
``input_tokens`` is ``message_start.message.usage.input_tokens`` (a later ``message_delta``
that reports ``input_tokens`` replaces it: its counts are cumulative); ``output_tokens`` is
*assigned* from the last ``message_delta.usage.output_tokens`` (never summed over events, and
the placeholder count of ``message_start`` is not used). Both are None when not reported.
``cache_read_input_tokens`` and ``cache_creation_input_tokens`` are kept in ``raw["usage"]``:
Anthropic's ``input_tokens`` does not include them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from ..._exceptions import ConfigError
from ..completion import Completion, ToolCall, anthropic_tool_calls, parse_arguments
from ._base import HTTPProvider
from ._http import (
    DEFAULT_MAX_RESPONSE_BYTES,
    CallErrors,
    JSONReply,
    SSEEvent,
    check_max_tokens,
    check_messages,
    error_excerpt,
    is_token_limit,
    rejects_streaming,
    short_repr,
    str_or_none,
    token_count,
    warn_notes,
)

DEFAULT_BASE_URL = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"

#: Body fields the provider owns; they cannot be passed as request parameters.
RESERVED_PARAMS = ("messages", "model", "stream")

#: Roles moved into the top-level ``system`` field.
SYSTEM_ROLES = ("system", "developer")

#: Roles sent in ``messages``.
CONVERSATION_ROLES = ("user", "assistant")

#: Delta types that count as the first output for TTFT, and the field holding their payload.
_ACTIVITY_DELTAS = {"text_delta": "text", "thinking_delta": "thinking", "input_json_delta": "partial_json"}

_ENDPOINT = "/v1/messages"


class AnthropicProvider(HTTPProvider):
    """Messages from Anthropic's API (or a server that copies it).

    ``model`` is sent as the body's ``model``; ``base_url`` is the API root (the request goes
    to ``{base_url}/v1/messages``; a URL already ending in ``/v1`` or ``/v1/messages`` is taken
    as its root); ``api_key`` is sent as ``x-api-key`` (nothing is sent when it is None).
    ``timeout`` (seconds) bounds each attempt and ``max_retries`` counts the retries after the
    first attempt. ``params`` are default request parameters merged under each call's.
    ``transport`` replaces httpx's network transport (tests pass ``httpx.MockTransport``) and
    ``sleep`` the wait between retries. ``stream=False`` asks for whole responses (no TTFT is
    then measured). ``default_max_tokens`` is sent as ``max_tokens`` when neither the call nor
    ``params`` give one (the API requires the field). ``max_response_bytes`` caps a response
    body, counted after decompression (default 32 MiB).

    The calls (:meth:`complete`, :meth:`acomplete`) are those of
    :class:`~pytest_modelbench.models.providers._base.HTTPProvider`. Their ``messages`` are
    OpenAI-style dicts (``role``, ``content``); ``system`` and ``developer`` messages become
    the top-level ``system`` field, which may instead be passed as the ``system`` keyword (not
    both). Extra keywords (``top_p``, ``top_k``, ``stop_sequences``, ``thinking``, ``tools``,
    ...) go into the JSON body; OpenAI-style tools and tool turns are translated
    (:func:`map_tool_params`, :func:`map_tool_messages`).

    The provider never reads environment variables: the caller resolves URL and key.
    """

    DEFAULT_BASE_URL = DEFAULT_BASE_URL
    ENDPOINT = _ENDPOINT
    ENDPOINT_SUFFIXES = (_ENDPOINT, "/v1")
    RESERVED_PARAMS = RESERVED_PARAMS
    # The only fallback (streaming off) happens at most once per provider.
    MAX_FALLBACKS = 1
    STREAM_END = "message_stop"
    STOP_FIELD = "stop_reason"
    STREAM_UNIT = "event"

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
        default_max_tokens: int = 1024,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        if not is_token_limit(default_max_tokens):
            raise ConfigError(
                f"default_max_tokens {default_max_tokens!r} is not allowed; it must be a whole number >= 1"
            )
        self.default_max_tokens = default_max_tokens
        super().__init__(
            model, base_url=base_url, api_key=api_key, timeout=timeout, max_retries=max_retries,
            params=params, transport=transport, sleep=sleep, stream=stream,
            max_response_bytes=max_response_bytes,
        )

    def _check_params(self, params: Any) -> dict[str, Any]:
        checked = super()._check_params(params)
        params_max_tokens = checked.get("max_tokens")
        if params_max_tokens is not None and not is_token_limit(params_max_tokens):
            raise ConfigError(
                f"params max_tokens {params_max_tokens!r} is not allowed; it must be a whole number >= 1"
            )
        return checked

    def _prepare(
        self, messages: Any, max_tokens: int | None, temperature: float | None,
        timeout: float | None, params: Mapping[str, Any],
    ) -> tuple[list[Mapping[str, Any]], dict[str, Any], float]:
        """Check a call's arguments: the conversation, the request parameters, the timeout."""
        request_params, call_timeout = self._call_params(max_tokens, temperature, timeout, params)
        request_params.setdefault("max_tokens", self.default_max_tokens)
        check_max_tokens(request_params["max_tokens"])
        map_tool_params(request_params)
        system, conversation = split_system(map_tool_messages(messages))
        if system is not None:
            if "system" in request_params:
                raise ValueError(
                    "the system prompt is given twice: as a system message and as the 'system' "
                    "parameter; pass one of them"
                )
            request_params["system"] = system
        return conversation, request_params, call_timeout

    def _body(self, conversation: list[Mapping[str, Any]], request_params: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "messages": conversation, **request_params}
        if self._stream:
            body["stream"] = True
        return body

    def _fall_back(self, status: int, error_text: str, body: dict[str, Any]) -> bool:
        if body.get("stream") and rejects_streaming(status, error_text):
            self._stream = False
            return True
        return False

    def _assembly(self) -> _MessageAssembly:
        return _MessageAssembly(self._errors)

    def _json_completion(self, reply: JSONReply, sent_at: float) -> Completion:
        payload = reply.payload
        if payload.get("type") == "error" or payload.get("error"):
            raise self._errors.response(f"server returned an error: {error_excerpt(reply.body)}")
        blocks = payload.get("content")
        if not isinstance(blocks, list):
            raise self._errors.response(f"response has no content list: {error_excerpt(reply.body)!r}")
        _check_has_output(blocks, self._errors, payload.get("stop_reason"))
        usage = payload.get("usage")
        notes: list[str] = []
        input_tokens, cached_input_tokens = prompt_token_counts(usage, notes)
        return Completion(
            text=content_text(blocks),
            input_tokens=input_tokens,
            cached_input_tokens=cached_input_tokens,
            output_tokens=token_count(usage, "output_tokens", notes),
            latency_ms=(reply.last_at - sent_at) * 1000.0,
            ttft_ms=None,
            finish_reason=str_or_none(payload.get("stop_reason")),
            raw=payload,
            tool_calls=anthropic_tool_calls(blocks),
            notes=warn_notes(notes, self._errors),
        )

    def _headers(self) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "pytest-modelbench",
            "anthropic-version": ANTHROPIC_VERSION,
        }
        if self._secret is not None:
            headers["x-api-key"] = self._secret.reveal()
        return headers


# --------------------------------------------------------------------------- messages


def map_tool_params(request_params: dict[str, Any]) -> None:
    """OpenAI-style ``tools``, ``tool_choice`` and ``parallel_tool_calls`` in ``request_params``
    turned, in place, into the Messages API's ``tools`` and ``tool_choice``.

    ``{"type": "function", "function": {"name", "description", "parameters"}}`` becomes
    ``{"name", "description", "input_schema"}`` (other tools, already in Anthropic's form, are
    sent as given); ``tool_choice`` ``"auto"``, ``"required"``, ``"none"`` and
    ``{"type": "function", "function": {"name": N}}`` become ``{"type": "auto"}``,
    ``{"type": "any"}``, ``{"type": "none"}`` and ``{"type": "tool", "name": N}`` (a dict already
    in Anthropic's form is sent as given); ``parallel_tool_calls=False`` becomes
    ``disable_parallel_tool_use`` in ``tool_choice``.
    """
    tools = request_params.get("tools")
    if isinstance(tools, list):
        request_params["tools"] = [_anthropic_tool(tool, position) for position, tool in enumerate(tools)]
    choice = request_params.get("tool_choice")
    if choice is not None:
        request_params["tool_choice"] = _anthropic_tool_choice(choice)
    parallel = request_params.pop("parallel_tool_calls", None)
    if parallel is False:
        mapped = dict(request_params.get("tool_choice") or {"type": "auto"})
        mapped["disable_parallel_tool_use"] = True
        request_params["tool_choice"] = mapped


def _anthropic_tool(tool: Any, position: int) -> Any:
    if isinstance(tool, Mapping) and tool.get("type") == "function":
        function = tool.get("function")
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
            raise ValueError(
                f"tools[{position}] is {short_repr(tool)}; a function tool needs "
                '{"type": "function", "function": {"name": ..., "parameters": {...}}}'
            )
        mapped: dict[str, Any] = {"name": function["name"]}
        if isinstance(function.get("description"), str):
            mapped["description"] = function["description"]
        mapped["input_schema"] = function.get("parameters") or {"type": "object", "properties": {}}
        return mapped
    return tool


def _anthropic_tool_choice(choice: Any) -> Any:
    named = {"auto": {"type": "auto"}, "required": {"type": "any"}, "none": {"type": "none"}}
    if isinstance(choice, str):
        if choice not in named:
            raise ValueError(
                f"tool_choice {choice!r} is not allowed; use auto, required, none or "
                '{"type": "function", "function": {"name": ...}}'
            )
        return named[choice]
    if isinstance(choice, Mapping) and choice.get("type") == "function":
        function = choice.get("function")
        if isinstance(function, Mapping) and isinstance(function.get("name"), str):
            return {"type": "tool", "name": function["name"]}
        raise ValueError(f"tool_choice {short_repr(choice)} names no function")
    return choice


def map_tool_messages(messages: Any) -> Any:
    """OpenAI-style tool turns of a conversation in the Messages API's form (new dicts).

    An assistant message with ``tool_calls`` becomes one whose content is its text (if any)
    followed by a ``tool_use`` block per call (``id``, ``name``, ``input`` parsed from the
    arguments); each ``tool`` message with a ``tool_call_id`` becomes a ``tool_result`` block,
    and consecutive ones are sent together in one user message, as the API requires. A list
    without tool turns is returned as it is; anything else is left for :func:`split_system`
    to judge.
    """
    if not isinstance(messages, list) or not any(
        isinstance(m, Mapping) and (m.get("role") == "tool" or m.get("tool_calls")) for m in messages
    ):
        return messages
    mapped: list[Any] = []
    for message in messages:
        if not isinstance(message, Mapping):
            mapped.append(message)
            continue
        role = message.get("role")
        if role == "assistant" and isinstance(message.get("tool_calls"), list):
            mapped.append({"role": "assistant", "content": _assistant_blocks(message)})
        elif role == "tool" and isinstance(message.get("tool_call_id"), str):
            block = {"type": "tool_result", "tool_use_id": message["tool_call_id"],
                     "content": _tool_result_content(message.get("content"))}
            previous = mapped[-1] if mapped else None
            if (isinstance(previous, dict) and previous.get("role") == "user"
                    and isinstance(previous.get("content"), list)
                    and all(isinstance(b, Mapping) and b.get("type") == "tool_result" for b in previous["content"])):
                previous["content"].append(block)
            else:
                mapped.append({"role": "user", "content": [block]})
        else:
            mapped.append(message)
    return mapped


def _assistant_blocks(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    blocks: list[dict[str, Any]] = []
    if isinstance(content, str) and content:
        blocks.append({"type": "text", "text": content})
    elif isinstance(content, list):
        blocks.extend(dict(block) for block in content if isinstance(block, Mapping))
    for call in message["tool_calls"]:
        function = call.get("function") if isinstance(call, Mapping) else None
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
            raise ValueError(f"assistant tool call {short_repr(call)} has no function name")
        arguments = function.get("arguments", "")
        parsed = arguments if isinstance(arguments, Mapping) else parse_arguments(str(arguments or ""))
        if parsed is None:
            raise ValueError(
                f"assistant tool call {function['name']!r} has arguments {short_repr(arguments)}, "
                "which are not a JSON object; the Messages API needs an object as tool input"
            )
        blocks.append({"type": "tool_use", "id": call.get("id"), "name": function["name"], "input": dict(parsed)})
    return blocks


def _tool_result_content(content: Any) -> Any:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return [dict(part) for part in content if isinstance(part, Mapping)]
    return json.dumps(content, ensure_ascii=False)


def split_system(messages: Any) -> tuple[str | list[dict[str, Any]] | None, list[Mapping[str, Any]]]:
    """Move OpenAI-style system messages out of ``messages``: ``(system, conversation)``.

    ``system`` and ``developer`` messages are taken out in order. Their contents, when all are
    strings, are joined with a blank line into one string; when one is a list of content
    blocks, the result is the list of all their blocks (a string becomes a text block), so
    that fields such as ``cache_control`` survive. ``system`` is None when there were no
    system messages. The other messages (roles ``user`` and ``assistant``) are returned as
    given, in order; the caller's list and dicts are not changed.
    """
    check_messages(messages)
    contents: list[str | list[Any]] = []
    conversation: list[Mapping[str, Any]] = []
    for position, message in enumerate(messages):
        role = message.get("role")
        if role in SYSTEM_ROLES:
            content = message.get("content")
            if isinstance(content, str) or (
                isinstance(content, list) and all(isinstance(block, Mapping) for block in content)
            ):
                contents.append(content)
                continue
            raise ValueError(
                f"messages[{position}] ({role}) has content {short_repr(content)}; a system "
                "message's content must be a string or a list of content blocks"
            )
        if role not in CONVERSATION_ROLES:
            raise ValueError(
                f"messages[{position}] has role {role!r}; the anthropic provider sends roles "
                f"{', '.join(CONVERSATION_ROLES)} (and moves {', '.join(SYSTEM_ROLES)} messages "
                "to the top-level system prompt)"
            )
        conversation.append(message)
    if not conversation:
        raise ValueError(
            f"messages {short_repr(messages)} has no user or assistant message; the Messages "
            "API needs at least one"
        )
    if not contents:
        return None, conversation
    if all(isinstance(content, str) for content in contents):
        return "\n\n".join(contents), conversation  # type: ignore[arg-type]
    blocks: list[dict[str, Any]] = []
    for content in contents:
        if isinstance(content, str):
            blocks.append({"type": "text", "text": content})
        else:
            blocks.extend(dict(block) for block in content)
    return blocks, conversation


def content_text(blocks: Any) -> str:
    """The text of a Message's content: its ``text`` blocks joined, in order."""
    if not isinstance(blocks, list):
        return ""
    return "".join(
        block["text"]
        for block in blocks
        if isinstance(block, Mapping) and block.get("type") == "text" and isinstance(block.get("text"), str)
    )


# --------------------------------------------------------------------------- stream assembly


class _Block:
    """One content block of a streamed message, joined as its deltas arrive."""

    __slots__ = ("partial_json", "signature", "start", "text_parts", "thinking_parts")

    def __init__(self, start: Mapping[str, Any] | None) -> None:
        self.start: dict[str, Any] = dict(start) if start else {}
        self.text_parts: list[str] = []
        self.thinking_parts: list[str] = []
        self.partial_json: list[str] = []
        self.signature: list[str] = []

    @property
    def type(self) -> str | None:
        """The type given by ``content_block_start``, else the one its deltas imply."""
        kind = self.start.get("type")
        if isinstance(kind, str):
            return kind
        if self.text_parts:
            return "text"
        if self.thinking_parts or self.signature:
            return "thinking"
        if self.partial_json:
            return "tool_use"
        return None

    def text(self) -> str:
        """The block's text (start text and ``text_delta`` pieces), "" for other blocks."""
        initial = self.start.get("text")
        return (initial if isinstance(initial, str) else "") + "".join(self.text_parts)

    def as_dict(self) -> dict[str, Any]:
        block = dict(self.start)
        kind = self.type
        if kind is not None:
            block["type"] = kind
        if kind == "text" or self.text_parts:
            block["text"] = self.text()
        if kind == "thinking" or self.thinking_parts:
            initial = block.get("thinking")
            block["thinking"] = (initial if isinstance(initial, str) else "") + "".join(self.thinking_parts)
        if self.signature:
            block["signature"] = "".join(self.signature)
        if self.partial_json:
            arguments = "".join(self.partial_json)
            try:
                block["input"] = json.loads(arguments) if arguments.strip() else {}
            except ValueError:
                block["input"] = arguments  # as received: the JSON never completed
        return block


class _MessageAssembly:
    """Turns the events of a Messages stream into one Message and its measurements."""

    def __init__(self, errors: CallErrors) -> None:
        self._errors = errors
        self.message: dict[str, Any] = {}
        self.blocks: dict[int, _Block] = {}
        self.usage: dict[str, Any] | None = None
        self.output_reported = False
        self.stop_reason: str | None = None
        self.stop_sequence: str | None = None
        self.events = 0
        self.stopped = False
        self.first_output_at: float | None = None
        self.last_at: float | None = None

    @property
    def finished(self) -> bool:
        """``message_stop`` arrived, or ``message_delta`` gave a stop_reason."""
        return self.stopped or self.stop_reason is not None

    def progress(self) -> str:
        chars = sum(len(block.text()) for block in self.blocks.values())
        return f"{self.events} events, {chars} characters of text received"

    def add(self, event: SSEEvent, at: float, *, at_end: bool = False) -> bool:
        """Absorb one event; True at ``message_stop``."""
        self.last_at = at
        if event.event == "error":
            raise self._errors.response(f"server sent an error event: {error_excerpt(event.data)}")
        data = event.data.strip()
        if not data:
            return False
        try:
            payload = json.loads(data)
        except ValueError:
            reason = "stream ended in the middle of an event" if at_end else "stream event is not JSON"
            raise self._errors.response(f"{reason}: {error_excerpt(data)!r}") from None
        if not isinstance(payload, dict):
            raise self._errors.response(f"stream event is not a JSON object: {error_excerpt(data)!r}")
        kind = payload.get("type", event.event)
        if kind == "error" or ("type" not in payload and isinstance(payload.get("error"), Mapping)):
            raise self._errors.response(f"server sent an error event: {error_excerpt(data)}")
        self.events += 1
        if kind == "message_start":
            self._message_start(payload.get("message"))
        elif kind == "content_block_start":
            block = self._block(payload.get("index"), payload.get("content_block"))
            if block.text() and self.first_output_at is None:
                self.first_output_at = at
        elif kind == "content_block_delta":
            if self._delta(payload.get("index"), payload.get("delta")) and self.first_output_at is None:
                self.first_output_at = at
        elif kind == "message_delta":
            self._message_delta(payload.get("delta"), payload.get("usage"))
        elif kind == "message_stop":
            self.stopped = True
            return True
        return False

    def _message_start(self, message: Any) -> None:
        if not isinstance(message, Mapping):
            return
        self.message = {key: value for key, value in message.items() if key not in ("content", "usage")}
        if isinstance(message.get("usage"), Mapping):
            self.usage = dict(message["usage"])
        if isinstance(message.get("stop_reason"), str):
            self.stop_reason = message["stop_reason"]

    def _block(self, index: Any, start: Any) -> _Block:
        position = index if isinstance(index, int) and not isinstance(index, bool) else len(self.blocks)
        block = self.blocks.get(position)
        if block is None:
            block = self.blocks[position] = _Block(start if isinstance(start, Mapping) else None)
        elif isinstance(start, Mapping) and not block.start:
            block.start = dict(start)
        return block

    def _delta(self, index: Any, delta: Any) -> bool:
        """Absorb one content delta; True when it carried output (text, thinking, tool input)."""
        if not isinstance(delta, Mapping):
            return False
        block = self._block(index, None)
        kind = delta.get("type")
        field = _ACTIVITY_DELTAS.get(kind)  # type: ignore[arg-type]
        if field is not None and delta.get(field) is not None and not isinstance(delta[field], str):
            raise self._errors.response(f"stream {kind}'s {field} is not a string: {short_repr(delta[field], 60)}")
        if kind == "text_delta" and isinstance(delta.get("text"), str):
            block.text_parts.append(delta["text"])
        elif kind == "thinking_delta" and isinstance(delta.get("thinking"), str):
            block.thinking_parts.append(delta["thinking"])
        elif kind == "input_json_delta" and isinstance(delta.get("partial_json"), str):
            block.partial_json.append(delta["partial_json"])
        elif kind == "signature_delta" and isinstance(delta.get("signature"), str):
            block.signature.append(delta["signature"])
        elif kind == "citations_delta" and isinstance(delta.get("citation"), Mapping):
            citations = block.start.get("citations")
            earlier = citations if isinstance(citations, list) else []
            block.start["citations"] = [*earlier, dict(delta["citation"])]
        return field is not None and isinstance(delta.get(field), str) and bool(delta[field])

    def _message_delta(self, delta: Any, usage: Any) -> None:
        if isinstance(delta, Mapping):
            if isinstance(delta.get("stop_reason"), str):
                self.stop_reason = delta["stop_reason"]
            if isinstance(delta.get("stop_sequence"), str):
                self.stop_sequence = delta["stop_sequence"]
        if isinstance(usage, Mapping):
            # Counts in message_delta are cumulative: assign the latest, never add.
            merged = dict(self.usage or {})
            for name, value in usage.items():
                if value is not None:
                    merged[name] = value
            self.usage = merged
            if token_count(usage, "output_tokens") is not None:
                self.output_reported = True

    def completion(self, sent_at: float, ended_at: float | None) -> Completion:
        ended_at = sent_at if ended_at is None else ended_at
        # A block known only from an empty or unknown delta adds nothing.
        content = [block for index in sorted(self.blocks) if (block := self.blocks[index].as_dict())]
        _check_has_output(content, self._errors, self.stop_reason, f"{self.events} events, ")
        raw: dict[str, Any] = {
            "id": self.message.get("id"),
            "type": "message",
            "role": self.message.get("role", "assistant"),
            "model": self.message.get("model"),
            "content": content,
            "stop_reason": self.stop_reason,
            "stop_sequence": self.stop_sequence,
            "usage": self.usage,
        }
        notes: list[str] = []
        input_tokens, cached_input_tokens = prompt_token_counts(self.usage, notes)
        return Completion(
            text=content_text(content),
            input_tokens=input_tokens,
            cached_input_tokens=cached_input_tokens,
            output_tokens=token_count(self.usage, "output_tokens", notes) if self.output_reported else None,
            latency_ms=(ended_at - sent_at) * 1000.0,
            ttft_ms=None if self.first_output_at is None else (self.first_output_at - sent_at) * 1000.0,
            finish_reason=self.stop_reason,
            raw=raw,
            tool_calls=self._tool_calls(),
            notes=warn_notes(notes, self._errors),
        )

    def _tool_calls(self) -> tuple[ToolCall, ...]:
        """The ``tool_use`` blocks as tool calls, their argument text as streamed."""
        calls = []
        for index in sorted(self.blocks):
            block = self.blocks[index]
            name = block.start.get("name")
            if block.type != "tool_use" or not isinstance(name, str):
                continue
            if block.partial_json:
                arguments_json = "".join(block.partial_json)
            else:
                arguments_json = json.dumps(block.start.get("input") or {}, ensure_ascii=False)
            call_id = block.start.get("id")
            calls.append(ToolCall(name, parse_arguments(arguments_json), arguments_json,
                                  call_id if isinstance(call_id, str) else None))
        return tuple(calls)


# --------------------------------------------------------------------------- helpers


def _check_has_output(blocks: Any, errors: CallErrors, stop_reason: Any, progress: str = "") -> None:
    """ModelResponseError "no content received" unless a content block carries output: text,
    thinking, or a block of another kind (a tool use)."""
    for block in blocks if isinstance(blocks, list) else ():
        if not isinstance(block, Mapping):
            continue
        kind = block.get("type")
        if kind == "text" and block.get("text"):
            return
        if kind in ("thinking", "redacted_thinking") and (block.get("thinking") or block.get("data")):
            return
        if kind not in (None, "text", "thinking", "redacted_thinking"):
            return
    raise errors.response(f"no content received ({progress}stop_reason {stop_reason!r})")


def prompt_token_counts(usage: Any, notes: list[str] | None = None) -> tuple[int | None, int | None]:
    """(all prompt tokens, those read from the prompt cache) from Anthropic's usage.

    Anthropic's ``input_tokens`` leaves out ``cache_read_input_tokens`` and
    ``cache_creation_input_tokens``; the Completion reports every prompt token, as OpenAI's
    ``prompt_tokens`` does, with the cache reads as ``cached_input_tokens`` so that they are
    priced at the cache-read price. Cache writes are priced as ordinary input.
    """
    base = token_count(usage, "input_tokens", notes)
    if base is None:
        return None, None
    read = token_count(usage, "cache_read_input_tokens", notes)
    written = token_count(usage, "cache_creation_input_tokens", notes)
    return base + (read or 0) + (written or 0), read
