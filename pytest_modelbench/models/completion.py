"""The result of one model call, and the tool calls it may hold."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from typing import Any

from ..core.records import MAX_TOKEN_COUNT


@dataclasses.dataclass(frozen=True, slots=True)
class ToolCall:
    """One function call a model asked for.

    ``name`` is the function's name, ``arguments`` the arguments parsed from JSON (None when
    the model's argument text is not a JSON object: see ``arguments_json``), ``arguments_json``
    the argument text exactly as the model produced it, and ``id`` the provider's call id
    (``call_...`` for OpenAI, ``toolu_...`` for Anthropic; None when the model gave none), to
    be sent back with the tool's result.
    """

    name: str
    arguments: dict[str, Any] | None
    arguments_json: str
    id: str | None = None

    @classmethod
    def from_json(cls, name: str, arguments_json: str, id: str | None = None) -> ToolCall:
        """A call whose arguments are parsed from ``arguments_json`` (empty text is ``{}``)."""
        return cls(name=name, arguments=parse_arguments(arguments_json), arguments_json=arguments_json, id=id)

    def to_openai(self) -> dict[str, Any]:
        """The call as an OpenAI ``tool_calls`` entry, for the assistant message of a conversation."""
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments_json},
        }


def parse_arguments(arguments_json: str) -> dict[str, Any] | None:
    """A tool call's arguments as a dict: ``{}`` for empty text, None unless a JSON object."""
    if not arguments_json.strip():
        return {}
    try:
        value = json.loads(arguments_json)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


@dataclasses.dataclass(frozen=True, slots=True)
class Completion:
    """One model reply with its measurements.

    ``input_tokens`` and ``output_tokens`` are what the server reported, or None when it did not
    say: they are never estimated and never silently 0. ``latency_ms`` is request sent to last
    byte, ``ttft_ms`` request sent to the first non-empty content (None when the call did not
    stream or produced no content); both are measured with ``time.perf_counter``.
    ``raw`` is the provider's final response payload (a dict of builtins) for inspection.
    ``cached_input_tokens`` (the part of ``input_tokens`` read from a prompt cache) and
    ``reasoning_tokens`` (the part of ``output_tokens`` spent thinking) are None when not
    reported; cost analysis prices them when they are. ``tool_calls`` are the function calls
    the model asked for, in order (empty when none). ``retries`` counts the attempts that
    failed and were retried before this answer arrived. ``notes`` say what in the response
    could not be used (e.g. a token count that is not one, which is then None).
    """

    text: str
    input_tokens: int | None = None
    output_tokens: int | None = None
    latency_ms: float | None = None
    ttft_ms: float | None = None
    finish_reason: str | None = None
    raw: Any = None
    cached_input_tokens: int | None = None
    reasoning_tokens: int | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    retries: int = 0
    notes: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.text


def is_token_count(value: object) -> bool:
    """Whether ``value`` is a usable token count: a whole number from 0 to 10^12
    (:data:`~pytest_modelbench.core.records.MAX_TOKEN_COUNT`, what a record may hold). Anything
    else a provider (a custom one too) reports is unknown, so that no summary overflows."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_TOKEN_COUNT


def openai_tool_calls(entries: Any) -> tuple[ToolCall, ...]:
    """Tool calls from an OpenAI message's ``tool_calls`` list (function calls only)."""
    if not isinstance(entries, list):
        return ()
    calls = []
    for entry in entries:
        if not isinstance(entry, Mapping):
            continue
        function = entry.get("function")
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
            continue
        arguments = function.get("arguments")
        if isinstance(arguments, Mapping):  # some servers send an object instead of a string
            arguments = json.dumps(arguments, ensure_ascii=False)
        call_id = entry.get("id")
        calls.append(ToolCall.from_json(
            function["name"], arguments if isinstance(arguments, str) else "",
            call_id if isinstance(call_id, str) else None,
        ))
    return tuple(calls)


def anthropic_tool_calls(blocks: Any) -> tuple[ToolCall, ...]:
    """Tool calls from the ``tool_use`` blocks of an Anthropic Message's content."""
    if not isinstance(blocks, list):
        return ()
    calls = []
    for block in blocks:
        if not isinstance(block, Mapping) or block.get("type") != "tool_use" or not isinstance(block.get("name"), str):
            continue
        arguments = block.get("input", {})
        text = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
        call_id = block.get("id")
        calls.append(ToolCall.from_json(block["name"], text, call_id if isinstance(call_id, str) else None))
    return tuple(calls)


def tool_calls_from_raw(raw: Any) -> tuple[ToolCall, ...]:
    """The tool calls recorded in a completion's ``raw`` payload, whatever its provider.

    Reads an OpenAI ``chat.completion`` (first choice's ``message.tool_calls``), an Anthropic
    Message (``tool_use`` content blocks) or a ``python:`` model's dict (``tool_calls``). Used
    to restore ``Completion.tool_calls`` of an answer read back from the response store.
    """
    if not isinstance(raw, Mapping):
        return ()
    choices = raw.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], Mapping):
        message = choices[0].get("message")
        return openai_tool_calls(message.get("tool_calls")) if isinstance(message, Mapping) else ()
    if raw.get("type") == "message":
        return anthropic_tool_calls(raw.get("content"))
    entries = raw.get("tool_calls")
    if isinstance(entries, list):
        return coerce_tool_calls(entries)
    return ()


def coerce_tool_calls(entries: Iterable[Any]) -> tuple[ToolCall, ...]:
    """Tool calls given as :class:`ToolCall` objects, OpenAI entries or ``{"name", "arguments"}``
    dicts (arguments a dict or a JSON string, optional ``id``); ValueError for anything else."""
    calls = []
    for position, entry in enumerate(entries):
        if isinstance(entry, ToolCall):
            calls.append(entry)
            continue
        if isinstance(entry, Mapping) and isinstance(entry.get("function"), Mapping):
            found = openai_tool_calls([entry])
            if found:
                calls.extend(found)
                continue
        if isinstance(entry, Mapping) and isinstance(entry.get("name"), str):
            arguments = entry.get("arguments", {})
            if isinstance(arguments, Mapping):
                text = json.dumps(dict(arguments), ensure_ascii=False)
            elif isinstance(arguments, str):
                text = arguments
            else:
                raise ValueError(
                    f"tool call {position} has arguments {arguments!r:.60}; give a dict or a JSON string"
                )
            call_id = entry.get("id")
            calls.append(ToolCall.from_json(entry["name"], text, call_id if isinstance(call_id, str) else None))
            continue
        raise ValueError(
            f"tool call {position} is {entry!r:.80}; give a ToolCall, an OpenAI tool_calls entry or "
            "a dict with 'name' and 'arguments'"
        )
    return tuple(calls)
