"""AnthropicProvider against a real HTTP server on 127.0.0.1 (tests/fake_anthropic.py), plus
httpx.MockTransport unit tests where a transport is simpler.

Timing bounds are loose on purpose (the machine is shared and has 2 cores): a measured time
must be at least the injected delay (a hard bound) and below a limit far enough away that only
a wrong measurement, not a busy machine, crosses it.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator

import httpx
import pytest
from fake_anthropic import (
    FakeAnthropic,
    anthropic_error_reply,
    block_start,
    block_stop,
    error_event,
    event,
    events_reply,
    fake_anthropic_server,
    json_delta,
    message_body,
    message_delta,
    message_start,
    message_stop,
    message_stream_parts,
    message_stream_reply,
    ping,
    text_delta,
    thinking_delta,
)
from fake_openai import Pause, RecordedRequest, Reply, hang_reply, json_reply, raw_reply, split_reply

from pytest_modelbench import ConfigError, ModelCallError, ModelResponseError, ModelTimeoutError
from pytest_modelbench.models.providers.anthropic import (
    ANTHROPIC_VERSION,
    DEFAULT_BASE_URL,
    AnthropicProvider,
    content_text,
    split_system,
)

KEY = "sk-ant-fake-7d1e9b3a5c2f8e4d6b0a"
MESSAGES = [{"role": "user", "content": "Say hello"}]


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAnthropic]:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    with fake_anthropic_server() as fake:
        yield fake


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_provider(server: FakeAnthropic, sleeps: list[float]) -> Iterator:
    made: list[AnthropicProvider] = []

    def make(**options) -> AnthropicProvider:
        options.setdefault("api_key", KEY)
        options.setdefault("timeout", 5.0)
        options.setdefault("base_url", server.url)
        provider = AnthropicProvider("claude-fake", sleep=sleeps.append, **options)
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.close()


def mock_provider(parts: list[bytes], **options) -> tuple[AnthropicProvider, list[httpx.Request]]:
    """A provider whose transport answers every request with the event stream ``parts``."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=iter(parts))

    options.setdefault("base_url", DEFAULT_BASE_URL)
    provider = AnthropicProvider("claude-fake", transport=httpx.MockTransport(handler), **options)
    return provider, seen


# --------------------------------------------------------------------------- streaming


def test_streaming_call_headers_and_body(server, make_provider) -> None:
    server.reply(message_stream_reply(["Hel", "lo", " world"], usage=(12, 3), cache_read=40, cache_creation=0))
    provider = make_provider(params={"temperature": 0.7, "top_k": 5})
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Say hello"},
        {"role": "assistant", "content": "Hi"},
        {"role": "system", "content": "Use English."},
        {"role": "user", "content": "Again"},
    ]
    before = copy.deepcopy(messages)
    completion = provider.complete(messages, max_tokens=32, temperature=0.0, top_p=0.5, metadata=None)
    assert completion.text == "Hello world"
    # every prompt token counts as input (12 uncached + 40 read from the cache), as OpenAI's
    # prompt_tokens does; the cache reads are reported apart so they are priced as such
    assert (completion.input_tokens, completion.cached_input_tokens, completion.output_tokens) == (52, 40, 3)
    assert completion.finish_reason == "end_turn"
    assert completion.ttft_ms is not None and 0 < completion.ttft_ms <= completion.latency_ms
    assert completion.raw["content"] == [{"type": "text", "text": "Hello world"}]
    assert completion.raw["usage"] == {
        "input_tokens": 12, "output_tokens": 3, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 40,
    }
    assert (completion.raw["id"], completion.raw["model"]) == ("msg_fake", "claude-fake")
    assert messages == before  # the caller's messages are not changed

    (request,) = server.requests
    assert (request.method, request.path) == ("POST", "/v1/messages")
    assert request.headers["x-api-key"] == KEY
    assert request.headers["anthropic-version"] == ANTHROPIC_VERSION == "2023-06-01"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["accept"] == "text/event-stream"
    assert "authorization" not in request.headers
    assert request.body == {
        "model": "claude-fake",
        "messages": [messages[1], messages[2], messages[4]],
        "system": "Be brief.\n\nUse English.",
        "max_tokens": 32,
        "temperature": 0.0,
        "top_k": 5,
        "top_p": 0.5,
        "stream": True,
    }


def test_usage_absent_gives_unknown_token_counts(server, make_provider) -> None:
    server.reply(message_stream_reply(["ok"], usage=None))
    completion = make_provider().complete(MESSAGES)
    assert completion.text == "ok" and completion.finish_reason == "end_turn"
    assert completion.input_tokens is None and completion.output_tokens is None
    assert completion.raw["usage"] is None


def test_ping_events_are_ignored(server, make_provider) -> None:
    server.reply(message_stream_reply(["a", "b", "c"], usage=(4, 3), pings=True))
    completion = make_provider().complete(MESSAGES)
    assert completion.text == "abc"
    assert (completion.input_tokens, completion.output_tokens) == (4, 3)


def test_output_tokens_are_assigned_from_the_last_message_delta_not_added(server, make_provider) -> None:
    # message_start says output_tokens 1 (a placeholder); two message_delta events carry
    # cumulative counts 3 then 7, the second also the final (cumulative) input count. Summing
    # would give 1 + 3 + 7 = 11 output tokens.
    parts = [
        message_start(input_tokens=20, cache_read=5),
        block_start(0, {"type": "text", "text": ""}),
        text_delta(0, "x"),
        block_stop(0),
        message_delta(None, usage={"output_tokens": 3}),
        message_delta(
            "max_tokens", usage={"input_tokens": 21, "output_tokens": 7, "cache_read_input_tokens": None}
        ),
        message_stop(),
    ]
    server.reply(events_reply(parts))
    completion = make_provider().complete(MESSAGES)
    assert (completion.input_tokens, completion.output_tokens) == (21 + 5, 7)  # input + cache reads
    assert completion.cached_input_tokens == 5
    assert completion.finish_reason == "max_tokens"
    assert completion.raw["usage"]["cache_read_input_tokens"] == 5  # a null count does not erase


def test_placeholder_output_count_of_message_start_is_not_used(server, make_provider) -> None:
    parts = [
        message_start(input_tokens=9),
        block_start(0, {"type": "text", "text": ""}),
        text_delta(0, "no count"),
        block_stop(0),
        message_delta("end_turn"),
        message_stop(),
    ]
    server.reply(events_reply(parts))
    completion = make_provider().complete(MESSAGES)
    assert (completion.input_tokens, completion.output_tokens) == (9, None)


@pytest.mark.parametrize("delay", [0.1, 0.2])
def test_ttft_ends_at_the_first_text_delta(server, make_provider, delay) -> None:
    # message_start and the empty content_block_start come at once, the first text after
    # `delay`, the second GAP later: TTFT >= delay proves neither start event counted;
    # TTFT < delay + GAP proves it ended at the first text (loose: the machine may be busy).
    gap = 0.3
    server.reply(message_stream_reply(["first", "second"], usage=(3, 2), delay=delay, gap=gap, pings=True))
    completion = make_provider().complete(MESSAGES)
    assert completion.text == "firstsecond"
    assert delay * 1000 <= completion.ttft_ms < (delay + gap) * 1000
    assert completion.latency_ms >= (delay + gap) * 1000


def test_thinking_counts_for_ttft_but_not_for_text(server, make_provider) -> None:
    delay = 0.4
    server.reply(message_stream_reply(["answer"], usage=(3, 9), thinking=["Let me ", "think."], delay=delay))
    completion = make_provider().complete(MESSAGES)
    assert completion.text == "answer"
    assert completion.ttft_ms < delay * 1000 <= completion.latency_ms
    assert completion.raw["content"] == [
        {"type": "thinking", "thinking": "Let me think."},
        {"type": "text", "text": "answer"},
    ]


def test_stream_split_across_reads_with_multibyte_text(server, make_provider) -> None:
    pieces = ["héllo ", "世界 ", "🙂\n", "line\u2028two"]
    data = b"".join(message_stream_bytes(pieces, usage=(4, 4), pings=True))
    server.reply(split_reply(data.replace(b"\n", b"\r\n"), size=7))
    completion = make_provider().complete(MESSAGES)
    assert completion.text == "".join(pieces)
    assert completion.output_tokens == 4


def test_latency_ends_at_message_stop_even_if_the_body_goes_on(server, make_provider) -> None:
    parts = [*message_stream_parts(["quick"]), Pause(2.0), ping()]
    server.reply(events_reply(parts))
    started = time.perf_counter()
    completion = make_provider().complete(MESSAGES)
    assert completion.text == "quick"
    assert completion.latency_ms < 1500 and time.perf_counter() - started < 1.9


# --------------------------------------------------------------------------- stream failures


def test_error_event_mid_stream_is_a_response_error_not_retried(server, make_provider, sleeps) -> None:
    parts = [message_start(), block_start(0, {"type": "text", "text": ""}), text_delta(0, "Hi"),
             error_event("overloaded_error", "Overloaded")]
    server.reply(events_reply(parts), message_stream_reply(["never asked"]))
    overloaded = r"server sent an error event: Overloaded \(type: overloaded_error\)"
    with pytest.raises(ModelResponseError, match=overloaded):
        make_provider().complete(MESSAGES)
    assert len(server.requests) == 1 and sleeps == []


def test_truncated_stream_is_a_response_error_not_retried(server, make_provider, sleeps) -> None:
    server.reply(message_stream_reply(["partial ", "answ"], cut=True), message_stream_reply(["never asked"]))
    with pytest.raises(ModelResponseError, match=r"stream cut off before message_stop and before a stop_reason"):
        make_provider().complete(MESSAGES)
    assert len(server.requests) == 1 and sleeps == []


def test_stream_ending_cleanly_without_message_stop_or_stop_reason(server, make_provider) -> None:
    server.reply(message_stream_reply(["half"], stop_reason=None, stop=False))
    truncated = r"ended before message_stop .*truncated \(4 events, 4 characters of text"
    with pytest.raises(ModelResponseError, match=truncated):
        make_provider().complete(MESSAGES)


def test_stream_with_stop_reason_but_no_message_stop_is_accepted(server, make_provider) -> None:
    server.reply(message_stream_reply(["all"], usage=(1, 1), stop=False))
    completion = make_provider().complete(MESSAGES)
    assert (completion.text, completion.output_tokens, completion.finish_reason) == ("all", 1, "end_turn")


@pytest.mark.parametrize(
    ("reply", "stream", "match"),
    [
        (raw_reply(b"<html>502 Bad Gateway</html>", content_type="text/html"), False,
         r"body is not JSON: '<html>502 Bad Gateway</html>'"),
        (raw_reply(b"event: message_start\ndata: not json\n\n", content_type="text/event-stream"), True,
         r"stream event is not JSON: 'not json'"),
        (raw_reply(b"{oops", content_type="application/json"), True, r"body is not JSON: '\{oops'"),
        (json_reply({"id": "msg", "type": "message"}), False, r"response has no content list"),
        (raw_reply(b"", content_type="text/event-stream"), True, r"empty body \(HTTP 200\)"),
    ],
)
def test_unusable_bodies(server, make_provider, reply, stream, match) -> None:
    server.reply(reply)
    with pytest.raises(ModelResponseError, match=match):
        make_provider(stream=stream).complete(MESSAGES)
    assert len(server.requests) == 1


def test_error_body_with_status_200_is_a_response_error(server, make_provider) -> None:
    server.reply(json_reply({"type": "error", "error": {"type": "api_error", "message": "Internal"}}))
    with pytest.raises(ModelResponseError, match=r"server returned an error: Internal \(type: api_error\)"):
        make_provider(stream=False).complete(MESSAGES)


# --------------------------------------------------------------------------- non-streaming


def test_non_streaming_provider(server, make_provider) -> None:
    thinking = {"type": "thinking", "thinking": "hmm", "signature": "sig"}
    body = message_body(["Whole ", "answer"], usage=(9, 2), stop_reason="max_tokens", extra_blocks=[thinking])
    server.reply(json_reply(body))
    completion = make_provider(stream=False).complete(MESSAGES)
    assert (completion.text, completion.finish_reason) == ("Whole answer", "max_tokens")
    assert (completion.input_tokens, completion.output_tokens) == (9, 2)
    assert completion.ttft_ms is None and completion.latency_ms > 0
    assert completion.raw == body
    (request,) = server.requests
    assert "stream" not in request.body and request.headers["accept"] == "application/json"
    assert request.body["max_tokens"] == 1024  # the default: the API requires the field


def test_non_streaming_without_usage(server, make_provider) -> None:
    server.reply(json_reply(message_body("x", usage=None)))
    completion = make_provider(stream=False).complete(MESSAGES)
    assert completion.input_tokens is None and completion.output_tokens is None


def test_json_answer_to_a_streaming_request_is_read_as_json(server, make_provider) -> None:
    server.reply(json_reply(message_body("plain", usage=(3, 1))))
    completion = make_provider().complete(MESSAGES)
    assert (completion.text, completion.output_tokens, completion.ttft_ms) == ("plain", 1, None)


def test_stream_rejection_falls_back_to_non_streaming_and_remembers(server, make_provider, sleeps) -> None:
    def no_streaming(request: RecordedRequest) -> Reply:
        if request.body.get("stream"):
            return anthropic_error_reply(400, "stream: Extra inputs are not permitted")
        return json_reply(message_body("whole", usage=(2, 1)))

    server.always(no_streaming)
    provider = make_provider(max_retries=0)
    first = provider.complete(MESSAGES)
    second = provider.complete(MESSAGES)
    assert first.text == second.text == "whole"
    assert first.ttft_ms is None and first.output_tokens == 1
    assert [r.body.get("stream") for r in server.requests] == [True, None, None]
    assert not provider.stream and sleeps == []


def test_405_to_a_streaming_request_falls_back(server, make_provider) -> None:
    server.reply(anthropic_error_reply(405, "Method not allowed"), json_reply(message_body("ok")))
    assert make_provider(max_retries=0).complete(MESSAGES).text == "ok"


def test_other_400_is_not_a_fallback(server, make_provider, sleeps) -> None:
    server.always(anthropic_error_reply(400, "prompt is too long: 205351 tokens > 200000 maximum"))
    provider = make_provider()
    with pytest.raises(ModelCallError) as info:
        provider.complete(MESSAGES)
    assert info.value.status_code == 400 and provider.stream
    assert str(info.value) == (
        f"model 'claude-fake' at {server.url}: HTTP 400 Bad Request: prompt is too long: "
        "205351 tokens > 200000 maximum (type: invalid_request_error)"
    )
    assert len(server.requests) == 1 and sleeps == []


# --------------------------------------------------------------------------- retries


def test_529_overloaded_then_success(server, make_provider, sleeps) -> None:
    server.reply(
        anthropic_error_reply(529, "Overloaded", error_type="overloaded_error"), message_stream_reply(["fine"])
    )
    assert make_provider().complete(MESSAGES).text == "fine"
    assert len(server.requests) == 2
    assert len(sleeps) == 1 and 0.375 <= sleeps[0] <= 0.5  # 0.5 s · (1 − 0.25·u), u in [0, 1)


def test_429_with_retry_after_then_success(server, make_provider, sleeps) -> None:
    server.reply(
        anthropic_error_reply(429, "Number of request tokens has exceeded your rate limit",
                              error_type="rate_limit_error", headers=(("retry-after", "2"),)),
        message_stream_reply(["done"]),
    )
    assert make_provider().complete(MESSAGES).text == "done"
    assert sleeps == [2.0]
    assert len(server.requests) == 2


def test_529_always_gives_up_after_retries(server, make_provider, sleeps) -> None:
    server.always(anthropic_error_reply(529, "Overloaded", error_type="overloaded_error"))
    with pytest.raises(ModelCallError) as info:
        make_provider(max_retries=2).complete(MESSAGES)
    assert info.value.status_code == 529
    assert str(info.value).endswith("HTTP 529: Overloaded (type: overloaded_error) (gave up after 3 attempts)")
    assert len(server.requests) == 3 and len(sleeps) == 2


def test_hang_before_headers_times_out_after_retries(server, make_provider, sleeps) -> None:
    server.always(hang_reply(5.0))
    provider = make_provider(timeout=30.0, max_retries=1)
    started = time.perf_counter()
    with pytest.raises(ModelTimeoutError, match=r"timed out after 0.3 s .*gave up after 2 attempts"):
        provider.complete(MESSAGES, timeout=0.3)  # the call's timeout overrides the provider's
    assert 0.6 <= time.perf_counter() - started < 4.0  # the server would hang for 5 s
    assert len(server.requests) == 2 and len(sleeps) == 1


def test_pings_forever_are_cut_at_the_deadline(server, make_provider, sleeps) -> None:
    parts: list[bytes | Pause] = [message_start()]
    for _ in range(200):  # 10 s of pings if nobody stops them
        parts += [ping(), Pause(0.05)]
    server.always(events_reply(parts))
    started = time.perf_counter()
    with pytest.raises(ModelTimeoutError, match=r"timed out after 0.3 s while the stream was still arriving"):
        make_provider(timeout=0.3).complete(MESSAGES)
    assert 0.3 <= time.perf_counter() - started < 2.5
    assert len(server.requests) == 1 and sleeps == []  # bytes had arrived: not retried


# --------------------------------------------------------------------------- system messages


def test_system_blocks_and_developer_role(server, make_provider) -> None:
    server.reply(message_stream_reply(["ok"]))
    cached = {"type": "text", "text": "Long rules.", "cache_control": {"type": "ephemeral"}}
    messages = [
        {"role": "developer", "content": "Be brief."},
        {"role": "system", "content": [cached]},
        {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
    ]
    make_provider().complete(messages)
    body = server.requests[0].body
    assert body["system"] == [{"type": "text", "text": "Be brief."}, cached]
    assert body["messages"] == [messages[2]]


def test_no_system_message_sends_no_system_field(server, make_provider) -> None:
    server.reply(message_stream_reply(["ok"]))
    make_provider().complete(MESSAGES)
    assert "system" not in server.requests[0].body


def test_system_parameter_is_sent_as_given(server, make_provider) -> None:
    server.reply(message_stream_reply(["ok"]))
    make_provider(params={"system": "From params."}).complete(MESSAGES)
    assert server.requests[0].body["system"] == "From params."


@pytest.mark.parametrize(
    ("messages", "match"),
    [
        ([{"role": "system", "content": "a"}, {"role": "user", "content": "b"}],
         r"system prompt is given twice"),
        ([{"role": "user", "content": "a"}, {"role": "tool", "content": "b"}],
         r"messages\[1\] has role 'tool'; the anthropic provider sends roles user, assistant"),
        ([{"role": "system", "content": "only a system prompt"}], r"has no user or assistant message"),
        ([{"role": "system", "content": 42}, {"role": "user", "content": "b"}],
         r"messages\[0\] \(system\) has content 42"),
        ("Say hello", r"messages 'Say hello' is not allowed; pass a list of message dicts"),
    ],
)
def test_bad_messages_are_refused_before_sending(server, make_provider, messages, match) -> None:
    with pytest.raises(ValueError, match=match):
        make_provider().complete(messages, system="x" if "twice" in match else None)
    assert server.requests == []


def test_split_system_joins_with_a_blank_line() -> None:
    system, conversation = split_system(
        [{"role": "system", "content": "A"}, {"role": "system", "content": "B"}, {"role": "user", "content": "C"}]
    )
    assert system == "A\n\nB" and conversation == [{"role": "user", "content": "C"}]


def test_content_text_joins_text_blocks_only() -> None:
    blocks = [{"type": "text", "text": "a"}, {"type": "tool_use", "id": "t", "name": "f", "input": {}},
              {"type": "thinking", "thinking": "no"}, {"type": "text", "text": "b"}]
    assert content_text(blocks) == "ab"
    assert content_text(None) == ""


# --------------------------------------------------------------------------- max_tokens


@pytest.mark.parametrize(
    ("provider_options", "call_max_tokens", "sent"),
    [
        ({}, None, 1024),
        ({"default_max_tokens": 64}, None, 64),
        ({"default_max_tokens": 64, "params": {"max_tokens": 128}}, None, 128),
        ({"default_max_tokens": 64, "params": {"max_tokens": 128}}, 7, 7),
    ],
)
def test_max_tokens_is_always_sent(provider_options, call_max_tokens, sent) -> None:
    provider, seen = mock_provider(message_stream_bytes(["ok"]), **provider_options)
    with provider:
        provider.complete(MESSAGES, max_tokens=call_max_tokens)
    assert json.loads(seen[0].content)["max_tokens"] == sent


# --------------------------------------------------------------------------- keys


def test_no_api_key_sends_no_key_header(server, make_provider) -> None:
    server.reply(message_stream_reply(["local"]))
    assert make_provider(api_key=None).complete(MESSAGES).text == "local"
    assert "x-api-key" not in server.requests[0].headers
    assert server.requests[0].headers["anthropic-version"] == "2023-06-01"


@pytest.mark.parametrize(
    "reply",
    [
        anthropic_error_reply(401, f"invalid x-api-key {KEY}", error_type="authentication_error"),
        anthropic_error_reply(500, f"crash while using {KEY[:12]}", error_type="api_error"),
        raw_reply(f"not json {KEY}".encode(), content_type="application/json"),
        events_reply([message_start(), error_event("api_error", f"bad key {KEY}")]),
    ],
)
def test_key_never_appears_in_error_messages(server, make_provider, reply: Reply) -> None:
    server.always(reply)
    provider = make_provider(max_retries=0)
    with pytest.raises((ModelCallError, ModelResponseError)) as info:
        provider.complete(MESSAGES)
    assert KEY not in str(info.value) and KEY[:12] not in str(info.value)
    assert "[REDACTED]" in str(info.value)
    assert KEY not in repr(provider)


def test_base_url_with_v1_or_endpoint_is_taken_as_the_root(server, make_provider) -> None:
    server.reply(message_stream_reply(["a"]), message_stream_reply(["b"]))
    assert make_provider(base_url=f"{server.url}/v1").complete(MESSAGES).text == "a"
    assert make_provider(base_url=f"{server.url}/v1/messages/").complete(MESSAGES).text == "b"
    assert [r.path for r in server.requests] == ["/v1/messages", "/v1/messages"]


# --------------------------------------------------------------------------- MockTransport units


def message_stream_bytes(pieces: list[str], **options) -> list[bytes]:
    return [part for part in message_stream_parts(pieces, **options) if isinstance(part, bytes)]


def test_tool_use_input_is_assembled_and_counts_for_ttft() -> None:
    parts = [
        message_start(input_tokens=30),
        block_start(0, {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}),
        json_delta(0, ""),
        json_delta(0, '{"city": "Par'),
        json_delta(0, 'is"}'),
        block_stop(0),
        message_delta("tool_use", usage={"output_tokens": 12}),
        message_stop(),
    ]
    provider, _ = mock_provider(parts)
    with provider:
        completion = provider.complete(MESSAGES)
    assert completion.text == "" and completion.finish_reason == "tool_use"
    assert completion.ttft_ms is not None
    assert completion.raw["content"] == [
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}
    ]
    assert (completion.input_tokens, completion.output_tokens) == (30, 12)


def test_a_stream_of_empty_deltas_is_no_content() -> None:
    parts = [message_start(), block_start(0, {"type": "text", "text": ""}), text_delta(0, ""),
             block_stop(0), message_delta("end_turn"), message_stop()]
    provider, _ = mock_provider(parts)
    with provider, pytest.raises(ModelResponseError, match=r"no content received \(6 events, stop_reason 'end_turn'\)"):
        provider.complete(MESSAGES)


def test_unknown_events_and_signature_deltas_are_handled() -> None:
    citation = {"type": "char_location", "cited_text": "P"}
    parts = [
        message_start(),
        event("future_event", {"anything": [1, 2]}),
        block_start(0, {"type": "thinking", "thinking": ""}),
        thinking_delta(0, "hm"),
        event("content_block_delta", {"index": 0, "delta": {"type": "signature_delta", "signature": "c2ln"}}),
        block_stop(0),
        block_start(1, {"type": "text", "text": ""}),
        text_delta(1, "Paris"),
        event("content_block_delta", {"index": 1, "delta": {"type": "citations_delta", "citation": citation}}),
        event("content_block_delta", {"index": 1, "delta": {"type": "some_new_delta", "x": 1}}),
        block_stop(1),
        message_delta("end_turn", usage={"output_tokens": 5}),
        message_stop(),
    ]
    provider, _ = mock_provider(parts)
    with provider:
        completion = provider.complete(MESSAGES)
    assert completion.text == "Paris"
    assert completion.raw["content"] == [
        {"type": "thinking", "thinking": "hm", "signature": "c2ln"},
        {"type": "text", "text": "Paris", "citations": [citation]},
    ]


def test_deltas_without_block_start_keep_thinking_out_of_text() -> None:
    parts = [message_start(), thinking_delta(0, "secret"), text_delta(1, "shown"),
             message_delta("end_turn"), message_stop()]
    provider, _ = mock_provider(parts)
    with provider:
        completion = provider.complete(MESSAGES)
    assert completion.text == "shown"
    assert [block["type"] for block in completion.raw["content"]] == ["thinking", "text"]


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"base_url": "api.anthropic.com"}, r"base_url 'api.anthropic.com' is not allowed"),
        ({"default_max_tokens": 0}, r"default_max_tokens 0 is not allowed; it must be a whole number >= 1"),
        ({"params": {"stream": False}}, r"request parameter 'stream' is set by the provider"),
        ({"params": {"max_tokens": "lots"}}, r"params max_tokens 'lots' is not allowed"),
        ({"timeout": 0}, r"timeout 0 is not allowed; it must be seconds > 0"),
        ({"max_retries": -1}, r"max_retries -1 is not allowed"),
    ],
)
def test_bad_configuration_is_refused(options, match) -> None:
    options.setdefault("base_url", DEFAULT_BASE_URL)
    with pytest.raises(ConfigError, match=match):
        AnthropicProvider("claude-fake", **options)


@pytest.mark.parametrize(
    ("arguments", "match"),
    [
        ({"max_tokens": 0}, r"max_tokens 0 is not allowed"),
        ({"temperature": -1}, r"temperature -1 is not allowed"),
        ({"model": "other"}, r"request parameter 'model' is set by the provider"),
    ],
)
def test_bad_call_arguments_are_refused(arguments, match) -> None:
    provider, seen = mock_provider(message_stream_bytes(["ok"]))
    with provider, pytest.raises(ValueError, match=match):
        provider.complete(MESSAGES, **arguments)
    assert seen == []


def test_closed_provider_refuses_calls() -> None:
    provider, _ = mock_provider(message_stream_bytes(["ok"]))
    provider.close()
    provider.close()  # idempotent
    with pytest.raises(RuntimeError, match=r"is closed"):
        provider.complete(MESSAGES)
