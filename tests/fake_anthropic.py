"""Anthropic Messages replies for the scriptable server of tests/fake_openai.py.

Usage::

    with fake_anthropic_server() as server:
        server.reply(anthropic_error_reply(529, "Overloaded", error_type="overloaded_error"),
                     message_stream_reply(["Hel", "lo"], usage=(5, 2)))
        provider = AnthropicProvider("m", base_url=server.url, api_key="sk-ant-test")
        ...
        assert server.requests[0].headers["anthropic-version"] == "2023-06-01"

:class:`FakeAnthropic` is the same server as ``FakeOpenAI`` (a real threaded HTTP server on
127.0.0.1 recording every request) whose ``url`` is the API root Anthropic clients expect
(requests go to ``{url}/v1/messages``). The builders write events the way the Messages API
streams them: ``event: <type>`` then ``data: <json with the same type>`` and a blank line
(https://docs.anthropic.com/en/docs/build-with-claude/streaming).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from typing import Any

from fake_openai import FakeOpenAI, Pause, Reply, json_reply

# --------------------------------------------------------------------------- server


class FakeAnthropic(FakeOpenAI):
    """The fake server, its ``url`` being the API root without ``/v1``."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.contextmanager
def fake_anthropic_server() -> Iterator[FakeAnthropic]:
    """Start a :class:`FakeAnthropic`, yield it, stop it (for a pytest fixture)."""
    with FakeAnthropic() as server:
        yield server


# --------------------------------------------------------------------------- events


def event(kind: str, payload: dict[str, Any] | None = None, *, line_ending: str = "\n") -> bytes:
    """One named SSE event: ``event: kind``, ``data: {"type": kind, ...}``, a blank line."""
    data = json.dumps({"type": kind, **(payload or {})}, ensure_ascii=False)
    return f"event: {kind}{line_ending}data: {data}{line_ending}{line_ending}".encode()


def usage_dict(
    input_tokens: int, output_tokens: int, *, cache_read: int | None = None, cache_creation: int | None = None
) -> dict[str, int]:
    usage = {"input_tokens": input_tokens, "output_tokens": output_tokens}
    if cache_creation is not None:
        usage["cache_creation_input_tokens"] = cache_creation
    if cache_read is not None:
        usage["cache_read_input_tokens"] = cache_read
    return usage


def message_start(
    *, input_tokens: int | None = 10, cache_read: int | None = None, cache_creation: int | None = None,
    model: str = "claude-fake",
) -> bytes:
    """``message_start``: an empty Message; usage holds the input count and a placeholder
    output count of 1, as the API sends (None ``input_tokens``: no usage at all)."""
    message: dict[str, Any] = {
        "id": "msg_fake", "type": "message", "role": "assistant", "model": model, "content": [],
        "stop_reason": None, "stop_sequence": None,
    }
    if input_tokens is not None:
        message["usage"] = usage_dict(input_tokens, 1, cache_read=cache_read, cache_creation=cache_creation)
    return event("message_start", {"message": message})


def block_start(index: int, block: dict[str, Any]) -> bytes:
    return event("content_block_start", {"index": index, "content_block": block})


def text_delta(index: int, text: str) -> bytes:
    return event("content_block_delta", {"index": index, "delta": {"type": "text_delta", "text": text}})


def thinking_delta(index: int, thinking: str) -> bytes:
    return event(
        "content_block_delta", {"index": index, "delta": {"type": "thinking_delta", "thinking": thinking}}
    )


def json_delta(index: int, partial_json: str) -> bytes:
    return event(
        "content_block_delta",
        {"index": index, "delta": {"type": "input_json_delta", "partial_json": partial_json}},
    )


def block_stop(index: int) -> bytes:
    return event("content_block_stop", {"index": index})


def message_delta(stop_reason: str | None = "end_turn", *, usage: dict[str, Any] | None = None) -> bytes:
    payload: dict[str, Any] = {"delta": {"stop_reason": stop_reason, "stop_sequence": None}}
    if usage is not None:
        payload["usage"] = usage
    return event("message_delta", payload)


def message_stop() -> bytes:
    return event("message_stop")


def ping() -> bytes:
    return event("ping")


def error_event(error_type: str = "overloaded_error", message: str = "Overloaded") -> bytes:
    """A mid-stream ``error`` event, as the API sends when it is overloaded."""
    return event("error", {"error": {"type": error_type, "message": message}})


def message_stream_parts(
    pieces: Sequence[str],
    *,
    usage: tuple[int, int] | None = None,
    cache_read: int | None = None,
    cache_creation: int | None = None,
    stop_reason: str | None = "end_turn",
    pings: bool = False,
    thinking: Sequence[str] = (),
    delay: float = 0.0,
    gap: float = 0.0,
    stop: bool = True,
) -> list[bytes | Pause]:
    """The parts of a Messages stream: message_start [ping] [thinking block] [pause ``delay``]
    one text block of ``pieces`` ([pause ``gap``] and [ping] between) content_block_stop
    message_delta (stop_reason, cumulative usage) [ping] message_stop.

    ``usage=(input, output)``: input in message_start, output in message_delta; None: no
    usage anywhere. ``stop_reason=None`` leaves message_delta out; ``stop=False`` leaves
    message_stop out.
    """
    input_tokens = None if usage is None else usage[0]
    parts: list[bytes | Pause] = [
        message_start(input_tokens=input_tokens, cache_read=cache_read, cache_creation=cache_creation)
    ]
    if pings:
        parts.append(ping())
    index = 0
    if thinking:
        parts.append(block_start(index, {"type": "thinking", "thinking": ""}))
        parts += [thinking_delta(index, piece) for piece in thinking]
        parts.append(block_stop(index))
        index += 1
    if delay:
        parts.append(Pause(delay))
    parts.append(block_start(index, {"type": "text", "text": ""}))
    for number, piece in enumerate(pieces):
        if number and gap:
            parts.append(Pause(gap))
        if number and pings:
            parts.append(ping())
        parts.append(text_delta(index, piece))
    parts.append(block_stop(index))
    if stop_reason is not None:
        delta_usage = None if usage is None else {"output_tokens": usage[1]}
        parts.append(message_delta(stop_reason, usage=delta_usage))
    if pings:
        parts.append(ping())
    if stop:
        parts.append(message_stop())
    return parts


def message_stream_reply(
    pieces: Sequence[str],
    *,
    cut: bool = False,
    status: int = 200,
    headers: tuple[tuple[str, str], ...] = (),
    **options: Any,
) -> Reply:
    """A streamed Message (see :func:`message_stream_parts` for ``options``).

    ``cut=True``: stop after the text deltas (no content_block_stop, message_delta or
    message_stop) and drop the connection mid-body, as a crashed server does.
    """
    parts = message_stream_parts(pieces, **options)
    if cut:
        last_delta = max(i for i, part in enumerate(parts) if isinstance(part, bytes) and b"text_delta" in part)
        parts = parts[: last_delta + 1]
    return events_reply(parts, complete=not cut, status=status, headers=headers)


def events_reply(
    parts: Sequence[bytes | Pause],
    *,
    complete: bool = True,
    status: int = 200,
    headers: tuple[tuple[str, str], ...] = (),
) -> Reply:
    """An event stream made of exactly ``parts``."""
    return Reply(
        status=status, parts=tuple(parts), content_type="text/event-stream", headers=headers,
        chunked=True, complete=complete,
    )


# --------------------------------------------------------------------------- whole bodies


def message_body(
    text: str | Sequence[str],
    *,
    usage: tuple[int, int] | None = (10, 5),
    stop_reason: str = "end_turn",
    extra_blocks: Sequence[dict[str, Any]] = (),
    model: str = "claude-fake",
) -> dict[str, Any]:
    """A non-streamed Message: ``extra_blocks`` first, then one text block per piece of text."""
    pieces = [text] if isinstance(text, str) else list(text)
    body: dict[str, Any] = {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [*extra_blocks, *({"type": "text", "text": piece} for piece in pieces)],
        "stop_reason": stop_reason,
        "stop_sequence": None,
    }
    if usage is not None:
        body["usage"] = usage_dict(*usage)
    return body


def anthropic_error_reply(
    status: int,
    message: str,
    *,
    error_type: str = "invalid_request_error",
    headers: tuple[tuple[str, str], ...] = (),
) -> Reply:
    """An Anthropic error: ``{"type": "error", "error": {"type", "message"}, "request_id"}``."""
    body = {"type": "error", "error": {"type": error_type, "message": message}, "request_id": "req_fake"}
    return json_reply(body, status=status, headers=headers)
