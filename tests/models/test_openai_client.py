"""OpenAIProvider against a real HTTP server on 127.0.0.1 (tests/fake_openai.py).

Timing bounds are loose on purpose (the machine is shared and has 2 cores): a measured time
must be at least the injected delay (a hard bound) and below a limit far enough away that
only a wrong measurement, not a busy machine, crosses it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from fake_openai import (
    FakeOpenAI,
    Pause,
    RecordedRequest,
    Reply,
    chunk,
    closed_port,
    completion_body,
    drop_reply,
    error_reply,
    fake_openai_server,
    hang_reply,
    json_reply,
    raw_reply,
    silent_stream_reply,
    split_reply,
    sse,
    stream_parts,
    stream_reply,
    trickle_reply,
)

from pytest_modelbench import ModelCallError, ModelResponseError, ModelTimeoutError
from pytest_modelbench.models.providers.openai import OpenAIProvider

KEY = "sk-fake-4f9c2a7e1b8d3c6f0a5e"
MESSAGES = [{"role": "user", "content": "Say hello"}]


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    with fake_openai_server() as fake:
        yield fake


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_provider(server: FakeOpenAI, sleeps: list[float]) -> Iterator:
    made: list[OpenAIProvider] = []

    def make(**options) -> OpenAIProvider:
        options.setdefault("api_key", KEY)
        options.setdefault("timeout", 5.0)
        provider = OpenAIProvider("fake-model", base_url=server.url, sleep=sleeps.append, **options)
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.close()


def test_streaming_call_and_recorded_request(server, make_provider) -> None:
    server.reply(stream_reply(["Hel", "lo", " world"], usage=(12, 3)))
    provider = make_provider(params={"temperature": 0.7, "seed": 1})
    completion = provider.complete(MESSAGES, max_tokens=32, temperature=0.0, top_p=0.5, user=None)
    assert completion.text == "Hello world"
    assert (completion.input_tokens, completion.output_tokens) == (12, 3)
    assert completion.finish_reason == "stop"
    assert completion.ttft_ms is not None and 0 < completion.ttft_ms <= completion.latency_ms
    assert completion.raw["choices"][0]["message"]["content"] == "Hello world"
    assert completion.raw["usage"] == {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}

    (request,) = server.requests
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["content-type"] == "application/json"
    assert request.body == {
        "model": "fake-model",
        "messages": MESSAGES,
        "temperature": 0.0,
        "seed": 1,
        "top_p": 0.5,
        "max_tokens": 32,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def test_usage_absent_gives_unknown_token_counts(server, make_provider) -> None:
    server.reply(stream_reply(["ok"]))
    completion = make_provider().complete(MESSAGES)
    assert completion.text == "ok"
    assert completion.input_tokens is None and completion.output_tokens is None
    assert completion.raw["usage"] is None


@pytest.mark.parametrize("delay", [0.1, 0.2])
def test_ttft_counts_from_request_to_first_content_not_role_chunk(server, make_provider, delay) -> None:
    # A keep-alive comment and the role-only chunk come at once, the first content after
    # `delay`, the second content GAP later. TTFT >= delay proves the role chunk did not
    # count; TTFT < delay + GAP proves it ended at the first content, not a later one (the
    # bound is that loose because the machine may be busy).
    gap = 0.3
    server.reply(stream_reply(["first", "second"], delay=delay, gap=gap, keepalive=True, usage=(3, 2)))
    completion = make_provider().complete(MESSAGES)
    assert completion.text == "firstsecond"
    assert delay * 1000 <= completion.ttft_ms < (delay + gap) * 1000
    assert completion.latency_ms >= (delay + gap) * 1000


def test_stream_split_across_reads_with_crlf_and_multibyte_text(server, make_provider) -> None:
    text_pieces = ["héllo ", "世界 ", "🙂\n", "line\u2028two"]
    data = b"".join(
        part for part in stream_parts(text_pieces, usage=(4, 4), keepalive=True, line_ending="\r\n")
        if isinstance(part, bytes)
    )
    server.reply(split_reply(data, size=5, gap=0.001))
    completion = make_provider().complete(MESSAGES)
    assert completion.text == "".join(text_pieces)
    assert completion.output_tokens == 4


def test_latency_ends_at_done_even_if_the_body_goes_on(server, make_provider) -> None:
    parts = (*stream_parts(["quick"]), Pause(2.0), b": late bytes after [DONE]\n\n")
    server.reply(Reply(parts=parts, content_type="text/event-stream", chunked=True))
    started = time.perf_counter()
    completion = make_provider().complete(MESSAGES)
    assert completion.text == "quick"
    assert completion.latency_ms < 1500 and time.perf_counter() - started < 1.9


def test_multi_line_data_field(server, make_provider) -> None:
    # A JSON chunk spread over several data: lines is joined with "\n" (JSON whitespace).
    lines = json.dumps(chunk("multi"), indent=1).splitlines()
    event = "".join(f"data: {line}\n" for line in lines).encode() + b"\n"
    parts = (event, sse(chunk(finish_reason="stop")), sse("[DONE]"))
    server.reply(Reply(parts=parts, content_type="text/event-stream", chunked=True))
    assert make_provider().complete(MESSAGES).text == "multi"


def test_non_streaming_provider(server, make_provider) -> None:
    body = completion_body("Whole answer", usage=(9, 2), finish_reason="length")
    server.reply(json_reply(body))
    completion = make_provider(stream=False).complete(MESSAGES)
    assert (completion.text, completion.finish_reason) == ("Whole answer", "length")
    assert (completion.input_tokens, completion.output_tokens) == (9, 2)
    assert completion.ttft_ms is None and completion.latency_ms > 0
    assert completion.raw == body
    assert "stream" not in server.requests[0].body


def test_non_streaming_without_usage(server, make_provider) -> None:
    server.reply(json_reply(completion_body("x", usage=None)))
    completion = make_provider(stream=False).complete(MESSAGES)
    assert completion.input_tokens is None and completion.output_tokens is None


def test_retry_after_is_honoured(server, make_provider, sleeps) -> None:
    server.reply(
        error_reply(429, "Rate limit reached", headers=(("Retry-After", "2"),), code="rate_limit_exceeded"),
        error_reply(503, "overloaded", headers=(("retry-after-ms", "150"),)),
        stream_reply(["done"]),
    )
    assert make_provider().complete(MESSAGES).text == "done"
    assert sleeps == [2.0, 0.15]
    assert len(server.requests) == 3


def test_500_once_then_success(server, make_provider, sleeps) -> None:
    server.reply(error_reply(500, "internal error", error_type="server_error"), stream_reply(["fine"]))
    assert make_provider().complete(MESSAGES).text == "fine"
    assert len(server.requests) == 2
    assert len(sleeps) == 1 and 0.375 <= sleeps[0] <= 0.5


def test_500_always_gives_up_after_retries(server, make_provider, sleeps) -> None:
    server.always(error_reply(500, "The server had an error", error_type="server_error"))
    with pytest.raises(ModelCallError) as info:
        make_provider(max_retries=3).complete(MESSAGES)
    message = str(info.value)
    assert info.value.status_code == 500
    assert f"model 'fake-model' at {server.url}: HTTP 500 Internal Server Error: " in message
    assert "The server had an error (type: server_error)" in message
    assert message.endswith("(gave up after 4 attempts)")
    assert len(server.requests) == 4
    assert [round(min(0.5 * 2**n, 8), 3) for n in range(3)] == [0.5, 1.0, 2.0]
    for n, slept in enumerate(sleeps):
        assert 0.75 * min(0.5 * 2**n, 8) <= slept <= min(0.5 * 2**n, 8)


def test_client_error_is_not_retried_and_key_is_redacted(server, make_provider, sleeps) -> None:
    server.always(error_reply(401, f"Incorrect API key provided: {KEY}.", code="invalid_api_key"))
    with pytest.raises(ModelCallError) as info:
        make_provider().complete(MESSAGES)
    assert info.value.status_code == 401
    assert "HTTP 401 Unauthorized: Incorrect API key provided: [REDACTED]." in str(info.value)
    assert KEY not in str(info.value)
    assert len(server.requests) == 1 and sleeps == []


def test_truncated_stream_is_a_response_error_not_retried(server, make_provider, sleeps) -> None:
    server.reply(stream_reply(["partial ", "answ"], cut=True), stream_reply(["never asked"]))
    cut_off = r"stream cut off before data: \[DONE\] and before a finish_reason"
    with pytest.raises(ModelResponseError, match=cut_off):
        make_provider().complete(MESSAGES)
    assert len(server.requests) == 1 and sleeps == []


def test_stream_ending_cleanly_without_done_or_finish_reason(server, make_provider) -> None:
    server.reply(stream_reply(["half"], finish_reason=None, done=False))
    with pytest.raises(ModelResponseError, match=r"stream ended before data: \[DONE\].*truncated"):
        make_provider().complete(MESSAGES)


def test_stream_with_finish_reason_but_no_done_is_accepted(server, make_provider) -> None:
    server.reply(stream_reply(["all"], usage=(1, 1), done=False))
    completion = make_provider().complete(MESSAGES)
    assert (completion.text, completion.output_tokens) == ("all", 1)


@pytest.mark.parametrize(
    ("reply", "stream", "match"),
    [
        (raw_reply(b"<html>502 Bad Gateway</html>", content_type="text/html"), False,
         r"body is not JSON: '<html>502 Bad Gateway</html>'"),
        (raw_reply(b"data: not json\n\n", content_type="text/event-stream"), True,
         r"stream chunk is not JSON: 'not json'"),
        (raw_reply(b"{oops", content_type="application/json"), True, r"body is not JSON: '\{oops'"),
    ],
)
def test_non_json_bodies(server, make_provider, reply, stream, match) -> None:
    server.reply(reply)
    with pytest.raises(ModelResponseError, match=match):
        make_provider(stream=stream).complete(MESSAGES)
    assert len(server.requests) == 1


def test_error_object_inside_the_stream(server, make_provider) -> None:
    error = {"error": {"message": "The model is overloaded", "type": "server_error", "code": None}}
    parts = (sse(chunk(role="assistant", content="")), sse(chunk("Hi")), sse(error))
    server.reply(Reply(parts=parts, content_type="text/event-stream", chunked=True))
    with pytest.raises(ModelResponseError, match=r"error in the stream: The model is overloaded"):
        make_provider().complete(MESSAGES)


def test_hang_before_headers_times_out_after_retries(server, make_provider, sleeps) -> None:
    server.always(hang_reply(5.0))
    provider = make_provider(timeout=30.0, max_retries=1)
    started = time.perf_counter()
    with pytest.raises(ModelTimeoutError, match=r"timed out after 0.3 s .*gave up after 2 attempts") as info:
        provider.complete(MESSAGES, timeout=0.3)  # the call's timeout overrides the provider's
    elapsed = time.perf_counter() - started
    assert 0.6 <= elapsed < 4.0  # the server would hang for 5 s
    assert info.value.status_code is None
    assert len(server.requests) == 2 and len(sleeps) == 1


def test_silence_after_stream_headers_times_out(server, make_provider, sleeps) -> None:
    server.always(silent_stream_reply(5.0))
    started = time.perf_counter()
    with pytest.raises(ModelTimeoutError, match=r"gave up after 2 attempts"):
        make_provider(timeout=0.3, max_retries=1).complete(MESSAGES)
    assert time.perf_counter() - started < 4.0
    assert len(server.requests) == 2  # no body byte had arrived: retried


def test_keepalive_trickle_is_cut_at_the_deadline(server, make_provider, sleeps) -> None:
    server.always(trickle_reply(0.05, 200))  # 10 s of ": ping" if nobody stops it
    started = time.perf_counter()
    with pytest.raises(ModelTimeoutError, match=r"timed out after 0.3 s while the stream was still arriving"):
        make_provider(timeout=0.3).complete(MESSAGES)
    elapsed = time.perf_counter() - started
    assert 0.3 <= elapsed < 2.5  # the server would trickle for 10 s
    assert len(server.requests) == 1 and sleeps == []  # bytes had arrived: not retried


def test_stream_options_rejection_falls_back_and_remembers(server, make_provider, sleeps) -> None:
    def vllm_0_4(request: RecordedRequest) -> Reply:
        if "stream_options" in request.body:
            detail = "[{'loc': ('body', 'stream_options'), 'msg': 'extra fields not permitted'}]"
            return error_reply(400, detail)
        return stream_reply(["no usage here"])

    server.always(vllm_0_4)
    provider = make_provider(max_retries=0)
    first = provider.complete(MESSAGES)
    second = provider.complete(MESSAGES)
    assert first.text == second.text == "no usage here"
    assert first.output_tokens is None and first.ttft_ms is not None
    assert ["stream_options" in r.body for r in server.requests] == [True, False, False]
    assert sleeps == []


def test_stream_rejection_falls_back_to_non_streaming_and_remembers(server, make_provider, sleeps) -> None:
    def no_streaming(request: RecordedRequest) -> Reply:
        if request.body.get("stream"):
            return error_reply(400, "stream=true is not supported by this deployment")
        return json_reply(completion_body("whole", usage=(2, 1)))

    server.always(no_streaming)
    provider = make_provider(max_retries=0)
    first = provider.complete(MESSAGES)
    second = provider.complete(MESSAGES)
    assert first.text == second.text == "whole"
    assert first.ttft_ms is None and first.output_tokens == 1
    assert [r.body.get("stream") for r in server.requests] == [True, None, None]
    assert not provider.stream and sleeps == []


def test_connection_refused_is_retried_then_fails(sleeps) -> None:
    base_url = f"http://127.0.0.1:{closed_port()}/v1"
    with OpenAIProvider("m", base_url=base_url, api_key=KEY, sleep=sleeps.append, timeout=2.0) as provider:
        with pytest.raises(ModelCallError, match=r"connection failed \(ConnectError") as info:
            provider.complete(MESSAGES)
    assert type(info.value) is ModelCallError and info.value.status_code is None
    assert base_url in str(info.value) and KEY not in str(info.value)
    assert len(sleeps) == 2


def test_dropped_connection_before_response_is_retried(server, make_provider, sleeps) -> None:
    server.reply(drop_reply(), stream_reply(["after drop"]))
    assert make_provider().complete(MESSAGES).text == "after drop"
    assert len(server.requests) == 2 and len(sleeps) == 1


def test_no_api_key_sends_no_authorization(server, make_provider) -> None:
    server.reply(stream_reply(["local"]))
    assert make_provider(api_key=None).complete(MESSAGES).text == "local"
    assert "authorization" not in server.requests[0].headers


def test_one_connection_pool_is_reused(server, make_provider) -> None:
    server.reply(stream_reply(["a"]), stream_reply(["b"]), stream_reply(["c"]))
    provider = make_provider()
    assert [provider.complete(MESSAGES).text for _ in range(3)] == ["a", "b", "c"]
    assert all(r.headers.get("connection") == "keep-alive" for r in server.requests)


@pytest.mark.parametrize(
    "reply",
    [
        error_reply(400, f"bad request from key {KEY}"),
        error_reply(500, f"crash while using {KEY[:12]}"),
        raw_reply(f"not json {KEY}".encode(), content_type="application/json"),
        Reply(parts=(sse(f"oops {KEY}"),), content_type="text/event-stream", chunked=True),
    ],
)
def test_key_never_appears_in_error_messages(server, make_provider, reply: Reply) -> None:
    server.always(reply)
    with pytest.raises((ModelCallError, ModelResponseError)) as info:
        make_provider(max_retries=0).complete(MESSAGES)
    assert KEY not in str(info.value) and KEY[:12] not in str(info.value)
    assert "[REDACTED]" in str(info.value)
