"""Unit tests of the shared HTTP machinery and of OpenAIProvider over httpx.MockTransport.

No sockets here: parsing, retry decisions and backoff values are checked with an injected
``sleep`` that records the delays instead of waiting.
"""

from __future__ import annotations

import calendar
import json
import random
import warnings
from collections.abc import Callable, Iterator

import httpx
import pytest

from pytest_modelbench import (
    Completion,
    ConfigError,
    ModelCallError,
    ModelResponseError,
    ModelTimeoutError,
)
from pytest_modelbench.models.providers._http import (
    REDACTED,
    CallErrors,
    Deadline,
    RetryableFailure,
    RetryPolicy,
    Secret,
    SSEDecoder,
    SSELineTooLong,
    SSEEvent,
    call_with_retries,
    error_excerpt,
    parse_retry_after,
    redact,
    safe_url,
)
from pytest_modelbench.models.providers.openai import DEFAULT_BASE_URL, OpenAIProvider

KEY = "sk-test-0123456789abcdefXYZ"
MESSAGES = [{"role": "user", "content": "Say hi"}]

# --------------------------------------------------------------------------- Retry-After

# An HTTP-date from RFC 9110 §10.2.3 and its POSIX time computed independently by calendar.
RFC_DATE = "Fri, 31 Dec 1999 23:59:59 GMT"
RFC_EPOCH = calendar.timegm((1999, 12, 31, 23, 59, 59))


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "1500"}, 1.5),
        ({"Retry-After-Ms": "250"}, 0.25),  # header names are case-insensitive
        ({"retry-after": "2"}, 2.0),
        ({"Retry-After": "1.5"}, 1.5),  # openai-python accepts fractional seconds too
        ({"retry-after-ms": "100", "retry-after": "30"}, 0.1),  # ms wins, as in openai-python
        ({"retry-after-ms": "soon", "retry-after": "3"}, 3.0),  # bad ms falls through
        ({"retry-after": RFC_DATE}, 120.0),  # now = RFC_EPOCH - 120
        ({"retry-after": "Fri, 31 Dec 1999 23:59:59 +0100"}, 120.0 - 3600),  # offsets count
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float) -> None:
    assert parse_retry_after(headers, now=RFC_EPOCH - 120) == pytest.approx(expected, abs=1e-9)


def test_parse_retry_after_date_in_the_past_is_negative() -> None:
    assert parse_retry_after({"retry-after": RFC_DATE}, now=RFC_EPOCH + 5) == pytest.approx(-5.0)


@pytest.mark.parametrize(
    "headers",
    [None, {}, {"retry-after": "soon"}, {"retry-after": ""}, {"retry-after": "nan"}, {"x-other": "1"}],
)
def test_parse_retry_after_unknown(headers: dict[str, str] | None) -> None:
    assert parse_retry_after(headers) is None


# --------------------------------------------------------------------------- retry policy

# Statuses from openai-python's _should_retry: 408, 409, 429 and >= 500 are retried.
@pytest.mark.parametrize(
    ("status", "retried"),
    [(408, True), (409, True), (429, True), (500, True), (502, True), (503, True), (504, True),
     (599, True), (400, False), (401, False), (403, False), (404, False), (410, False),
     (413, False), (422, False)],
)
def test_should_retry_status(status: int, retried: bool) -> None:
    assert RetryPolicy().should_retry(status) is retried


@pytest.mark.parametrize(
    ("status", "hint", "retried"),
    [(500, "false", False), (400, "true", True), (429, "FALSE", False), (500, "maybe", True)],
)
def test_should_retry_header_overrides(status: int, hint: str, retried: bool) -> None:
    assert RetryPolicy().should_retry(status, {"X-Should-Retry": hint}) is retried


# min(0.5 * 2**n, 8) * (1 - 0.25 * r): openai-python's _calculate_retry_timeout with
# INITIAL_RETRY_DELAY = 0.5, MAX_RETRY_DELAY = 8.0, evaluated by hand for r = 0 and r = 1.
@pytest.mark.parametrize(
    ("retries_taken", "fraction", "expected"),
    [(0, 0.0, 0.5), (1, 0.0, 1.0), (2, 0.0, 2.0), (3, 0.0, 4.0), (4, 0.0, 8.0), (5, 0.0, 8.0),
     (50, 0.0, 8.0), (5000, 0.0, 8.0), (0, 1.0, 0.375), (1, 1.0, 0.75), (4, 1.0, 6.0),
     (2, 0.5, 1.75)],
)
def test_backoff_values(retries_taken: int, fraction: float, expected: float) -> None:
    delay = RetryPolicy().delay(retries_taken, random_fraction=lambda: fraction)
    assert delay == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "60"}, 60.0),  # the limit itself is honoured
        ({"retry-after-ms": "10"}, 0.01),
        ({"retry-after": "61"}, 0.5),  # too long: ignored, backoff instead
        ({"retry-after": "0"}, 0.5),  # not > 0: backoff
        ({"retry-after": "-2"}, 0.5),
        ({"retry-after": "whenever"}, 0.5),
    ],
)
def test_backoff_honours_retry_after_within_60_s(headers: dict[str, str], expected: float) -> None:
    assert RetryPolicy().delay(0, headers, random_fraction=lambda: 0.0) == pytest.approx(expected)


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2", None])
def test_retry_policy_rejects_bad_max_retries(bad: object) -> None:
    with pytest.raises(ValueError, match=rf"max_retries {bad!r} is not allowed"):
        RetryPolicy(max_retries=bad)  # type: ignore[arg-type]


def _failing(errors: list[BaseException], result: str = "ok") -> Callable[[], str]:
    queue = list(errors)

    def attempt() -> str:
        if queue:
            raise queue.pop(0)
        return result

    return attempt


def test_call_with_retries_sleeps_then_succeeds() -> None:
    sleeps: list[float] = []
    failure = RetryableFailure(ModelCallError("boom", status_code=500), {"retry-after": "2"})
    attempt = _failing([failure, RetryableFailure(ModelCallError("boom", status_code=503))])
    assert call_with_retries(attempt, policy=RetryPolicy(max_retries=2), sleep=sleeps.append) == "ok"
    assert sleeps[0] == 2.0
    assert 0.75 <= sleeps[1] <= 1.0


def test_call_with_retries_gives_up_with_last_error() -> None:
    sleeps: list[float] = []
    errors = [RetryableFailure(ModelTimeoutError(f"slow {i}", status_code=None)) for i in range(4)]
    with pytest.raises(ModelTimeoutError, match=r"^slow 2 \(gave up after 3 attempts\)$") as info:
        call_with_retries(_failing(errors), policy=RetryPolicy(max_retries=2), sleep=sleeps.append)
    assert info.value.status_code is None
    assert len(sleeps) == 2


def test_call_with_retries_zero_retries_raises_first_error_unchanged() -> None:
    error = ModelCallError("nope", status_code=502)
    with pytest.raises(ModelCallError, match=r"^nope$"):
        call_with_retries(_failing([RetryableFailure(error)]), policy=RetryPolicy(max_retries=0))


def test_call_with_retries_passes_other_errors_through() -> None:
    sleeps: list[float] = []
    with pytest.raises(ModelResponseError):
        call_with_retries(
            _failing([ModelResponseError("bad body")]), policy=RetryPolicy(), sleep=sleeps.append
        )
    assert sleeps == []


# --------------------------------------------------------------------------- deadline


def test_deadline() -> None:
    deadline = Deadline(start=100.0, seconds=2.5)
    assert deadline.at == 102.5
    assert deadline.remaining(now=101.0) == 1.5
    assert not deadline.expired(now=102.4)
    assert deadline.expired(now=102.5)


# --------------------------------------------------------------------------- SSE decoder

SAMPLE = (
    ": keep-alive\n\n"
    'data: {"a": "héllo 世界"}\n\n'
    "event: update\nid: 7\nretry: 1500\ndata: line one\ndata: line two\n\n"
    "data\n\n"
    "data:no-space\n\n"
    "data: [DONE]\n\n"
)
SAMPLE_EVENTS = [
    SSEEvent('{"a": "héllo 世界"}'),
    SSEEvent("line one\nline two", event="update", id="7", retry=1500),
    SSEEvent("", id="7", retry=1500),
    SSEEvent("no-space", id="7", retry=1500),
    SSEEvent("[DONE]", id="7", retry=1500),
]


def _decode(pieces: list[bytes]) -> tuple[list[SSEEvent], SSEDecoder]:
    decoder = SSEDecoder()
    events: list[SSEEvent] = []
    for piece in pieces:
        events += decoder.feed(piece)
    events += decoder.close()
    return events, decoder


@pytest.mark.parametrize("line_ending", ["\n", "\r\n", "\r"])
def test_sse_line_endings(line_ending: str) -> None:
    events, decoder = _decode([SAMPLE.replace("\n", line_ending).encode()])
    assert events == SAMPLE_EVENTS
    assert decoder.comments == 1


@pytest.mark.parametrize("line_ending", ["\n", "\r\n", "\r"])
def test_sse_every_single_split_point(line_ending: str) -> None:
    data = SAMPLE.replace("\n", line_ending).encode()
    for cut in range(1, len(data)):
        events, _ = _decode([data[:cut], data[cut:]])
        assert events == SAMPLE_EVENTS, f"split at byte {cut}"


@pytest.mark.parametrize("line_ending", ["\n", "\r\n"])
def test_sse_one_byte_at_a_time_and_random_splits(line_ending: str) -> None:
    data = SAMPLE.replace("\n", line_ending).encode()
    assert _decode([data[i : i + 1] for i in range(len(data))])[0] == SAMPLE_EVENTS
    rng = random.Random(20240611)
    for _ in range(200):
        cuts = sorted(rng.sample(range(1, len(data)), 6))
        pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)])]
        assert _decode(pieces)[0] == SAMPLE_EVENTS


def test_sse_dispatches_as_soon_as_the_blank_line_arrives() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: one\n") == []
    assert decoder.feed(b"\n") == [SSEEvent("one")]
    # A CR at the end of a read ends the line at once; the LF of the CRLF pair follows later.
    assert decoder.feed(b"data: two\r\n\r") == [SSEEvent("two")]
    assert decoder.feed(b"\ndata: three\r\n\r\n") == [SSEEvent("three")]


def test_sse_unicode_line_separator_is_data() -> None:
    # U+2028 may appear raw inside a JSON string; only CR and LF end SSE lines.
    events, _ = _decode(['data: {"t": "a\u2028b\u0085c"}\n\n'.encode()])
    assert json.loads(events[0].data) == {"t": "a\u2028b\u0085c"}


def test_sse_leading_bom_is_dropped() -> None:
    events, _ = _decode([b"\xef\xbb", b"\xbfdata: x\n\n"])
    assert events == [SSEEvent("x")]


def test_sse_event_without_data_is_not_dispatched() -> None:
    events, _ = _decode([b"event: ping\n\nid: 3\n\ndata: y\n\n"])
    assert events == [SSEEvent("y", id="3")]


def test_sse_close_flushes_unterminated_event() -> None:
    assert _decode([b"data: [DONE]"])[0] == [SSEEvent("[DONE]")]
    assert _decode([b"data: a\n"])[0] == [SSEEvent("a")]
    assert _decode([b""])[0] == []


def test_sse_bad_retry_and_nul_id_are_ignored() -> None:
    events, _ = _decode([b"retry: soon\nid: a\x00b\ndata: z\n\n"])
    assert events == [SSEEvent("z")]


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"Incorrect API key provided: {KEY}.", f"Incorrect API key provided: {REDACTED}."),
        (f"key={KEY[:14]}...", f"key={REDACTED}..."),  # a cut echo of 8+ characters
        ("Incorrect key: sk-t*************fXYZ", "Incorrect key: sk-t*************fXYZ"),  # masked
        ("nothing secret here", "nothing secret here"),
        (f"{KEY}{KEY}", REDACTED * 2),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text, Secret(KEY)) == expected
    assert redact(text, KEY) == expected


def test_redact_without_key_and_short_key() -> None:
    assert redact("abc", None) == "abc"
    assert redact("token abc123 here", "abc123") == f"token {REDACTED} here"


def test_secret_never_shows() -> None:
    secret = Secret(KEY)
    assert KEY not in repr(secret) and KEY not in str(secret) and KEY not in f"{secret}"
    assert secret.reveal() == KEY


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            b'{"error": {"message": "Rate limit reached", "type": "requests",'
            b' "code": "rate_limit_exceeded"}}',
            "Rate limit reached (type: requests, code: rate_limit_exceeded)",
        ),
        (b'{"error": {"message": "bad", "type": null, "code": null}}', "bad"),
        (b'{"error": "model not loaded"}', "model not loaded"),
        (b'{"detail": "Not Found"}', "Not Found"),  # FastAPI
        (b'{"object": "error", "message": "vLLM says no"}', "vLLM says no"),
        (b"<html>\n  <body>Bad   Gateway</body>\n</html>", "<html> <body>Bad Gateway</body> </html>"),
        (b"", "(empty body)"),
        ("x" * 500, "x" * 299 + "…"),
    ],
)
def test_error_excerpt(body: bytes | str, expected: str) -> None:
    assert error_excerpt(body) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.openai.com/v1", "https://api.openai.com/v1"),
        ("http://user:pw@localhost:8000/v1/?key=abc#x", "http://localhost:8000/v1"),
    ],
)
def test_safe_url(url: str, expected: str) -> None:
    assert safe_url(url) == expected


def test_call_errors_messages() -> None:
    errors = CallErrors("gpt-x", "https://u:p@example.test/v1", Secret(KEY))
    status = errors.status(401, "Unauthorized", f'{{"error": {{"message": "bad key {KEY}"}}}}')
    assert str(status) == (
        f"model 'gpt-x' at https://example.test/v1: HTTP 401 Unauthorized: bad key {REDACTED}"
    )
    assert status.status_code == 401
    timeout = errors.timeout(0.5, "waiting for the response")
    assert isinstance(timeout, ModelTimeoutError) and "timed out after 0.5 s" in str(timeout)
    connection = errors.connection(httpx.ConnectError(f"refused {KEY}"))
    assert connection.status_code is None and KEY not in str(connection)
    assert "ConnectError" in str(connection)


# --------------------------------------------------------------------------- provider over MockTransport


def sse_bytes(*payloads: dict | str) -> list[bytes]:
    return [
        f"data: {p if isinstance(p, str) else json.dumps(p, ensure_ascii=False)}\n\n".encode()
        for p in payloads
    ]


def delta_chunk(delta: dict, finish_reason: str | None = None, index: int = 0, **extra) -> dict:
    return {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": index, "delta": delta, "finish_reason": finish_reason}], **extra}


def usage_chunk(prompt: int, completion: int) -> dict:
    return {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                      "total_tokens": prompt + completion}}


STREAM = sse_bytes(
    delta_chunk({"role": "assistant", "content": ""}),
    delta_chunk({"content": "Hel"}),
    delta_chunk({"content": "lo"}),
    delta_chunk({}, finish_reason="stop"),
    usage_chunk(7, 2),
    "[DONE]",
)


Responder = Callable[[httpx.Request], httpx.Response]


class Script:
    """A MockTransport handler answering queued responses and recording requests."""

    def __init__(self, *responses: httpx.Response | Responder | Exception) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        response = self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]
        if isinstance(response, Exception):
            raise response
        if callable(response) and not isinstance(response, httpx.Response):
            return response(request)
        return response

    def bodies(self) -> list[dict]:
        return [json.loads(request.content) for request in self.requests]


def streamed(pieces: list[bytes], status: int = 200, **headers: str) -> Responder:
    def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            status, headers={"content-type": "text/event-stream", **headers}, content=iter(pieces)
        )
    return respond


def generated(make: Callable[[], Iterator[bytes]], content_type: str = "text/event-stream") -> Responder:
    def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": content_type}, content=make())
    return respond


def error(status: int, message: str, **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"message": message, "type": "x", "code": None}},
                          headers=headers)


def provider(script: Script, sleeps: list[float] | None = None, **options) -> OpenAIProvider:
    options.setdefault("api_key", KEY)
    return OpenAIProvider(
        "m", base_url="https://llm.example.test/v1", transport=httpx.MockTransport(script),
        sleep=(sleeps.append if sleeps is not None else (lambda seconds: None)), **options,
    )


def test_stream_assembled_from_one_byte_reads() -> None:
    data = b"".join(STREAM)
    script = Script(streamed([data[i : i + 1] for i in range(len(data))]))
    completion = provider(script).complete(MESSAGES)
    assert completion.text == "Hello"
    assert (completion.input_tokens, completion.output_tokens) == (7, 2)
    assert completion.finish_reason == "stop"
    assert completion.raw["choices"][0]["message"] == {"role": "assistant", "content": "Hello"}
    assert completion.raw["usage"]["total_tokens"] == 9
    assert completion.ttft_ms is not None and completion.latency_ms >= completion.ttft_ms


def test_request_body_and_headers() -> None:
    script = Script(streamed(STREAM))
    llm = provider(script, params={"temperature": 0.2, "top_p": 0.9, "seed": None})
    messages = [
        {"role": "system", "content": "Be brief"},
        {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
    ]
    llm.complete(messages, max_tokens=16, temperature=None, stop=["\n"], user=None)
    llm.complete(messages, temperature=0.0, top_p=None)
    first, second = script.bodies()
    assert first == {
        "model": "m", "messages": messages, "temperature": 0.2, "top_p": 0.9, "max_tokens": 16,
        "stop": ["\n"], "stream": True, "stream_options": {"include_usage": True},
    }
    assert second["temperature"] == 0.0 and second["top_p"] == 0.9  # None keeps the default
    request = script.requests[0]
    assert request.url == "https://llm.example.test/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["accept"] == "text/event-stream"


def test_no_key_no_authorization_header() -> None:
    script = Script(streamed(STREAM))
    provider(script, api_key=None).complete(MESSAGES)
    assert "authorization" not in script.requests[0].headers


def test_role_only_first_chunk_does_not_count_for_ttft() -> None:
    def chunks() -> Iterator[bytes]:
        yield from STREAM[:1]  # role-only, at once
        import time
        time.sleep(0.03)
        yield from STREAM[1:]

    completion = provider(Script(generated(chunks))).complete(MESSAGES)
    assert completion.ttft_ms is not None and completion.ttft_ms >= 30.0


@pytest.mark.parametrize(
    ("delta", "message_key"),
    [
        ({"reasoning_content": "thinking"}, "reasoning_content"),
        ({"reasoning": "thinking"}, "reasoning_content"),
        ({"refusal": "no"}, "refusal"),
        ({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                          "function": {"name": "get", "arguments": ""}}]}, "tool_calls"),
    ],
)
def test_non_content_output_counts_for_ttft(delta: dict, message_key: str) -> None:
    stream = sse_bytes(delta_chunk({"role": "assistant"}), delta_chunk(delta),
                       delta_chunk({}, finish_reason="stop"), "[DONE]")
    completion = provider(Script(streamed(stream))).complete(MESSAGES)
    assert completion.text == ""
    assert completion.ttft_ms is not None
    assert message_key in completion.raw["choices"][0]["message"]


def test_a_stream_without_output_is_no_content() -> None:
    stream = sse_bytes(delta_chunk({"role": "assistant", "content": ""}), delta_chunk({}, "length"), "[DONE]")
    with pytest.raises(ModelResponseError, match=r"no content received \(2 chunks, finish_reason 'length'\)"):
        provider(Script(streamed(stream))).complete(MESSAGES)


def test_tool_call_deltas_are_assembled() -> None:
    stream = sse_bytes(
        delta_chunk({"role": "assistant", "tool_calls": [
            {"index": 0, "id": "call_a", "type": "function", "function": {"name": "add", "arguments": ""}}]}),
        delta_chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"x": '}}]}),
        delta_chunk({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}),
        delta_chunk({"tool_calls": [
            {"index": 1, "id": "call_b", "type": "function",
             "function": {"name": "neg", "arguments": "{}"}}]}),
        delta_chunk({}, finish_reason="tool_calls"),
        "[DONE]",
    )
    completion = provider(Script(streamed(stream))).complete(MESSAGES)
    assert completion.finish_reason == "tool_calls"
    assert completion.raw["choices"][0]["message"]["tool_calls"] == [
        {"id": "call_a", "type": "function", "function": {"name": "add", "arguments": '{"x": 1}'}},
        {"id": "call_b", "type": "function", "function": {"name": "neg", "arguments": "{}"}},
    ]


@pytest.mark.parametrize(
    "usage",
    [None, {"prompt_tokens": None, "completion_tokens": None}, {"prompt_tokens": "7"},
     {"prompt_tokens": True, "completion_tokens": -1}],
)
def test_missing_or_bad_usage_is_unknown_not_zero(usage: dict | None) -> None:
    last = delta_chunk({}, finish_reason="stop")
    if usage is not None:
        last["usage"] = usage
    stream = sse_bytes(delta_chunk({"content": "x"}), last, "[DONE]")
    reported = isinstance(usage, dict) and any(value is not None for value in usage.values())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        completion = provider(Script(streamed(stream))).complete(MESSAGES)
    assert completion.input_tokens is None and completion.output_tokens is None
    # A count that is absent is simply unknown; one that is present but not a count says so.
    assert len(completion.notes) == len(caught) == (len([v for v in usage.values() if v is not None])
                                                    if reported else 0)


def test_usage_inside_the_finish_chunk_and_zero_is_kept() -> None:
    last = delta_chunk({}, finish_reason="stop", usage={"prompt_tokens": 3, "completion_tokens": 0})
    completion = provider(Script(streamed(sse_bytes(delta_chunk({"content": "."}), last, "[DONE]")))).complete(MESSAGES)
    assert (completion.input_tokens, completion.output_tokens) == (3, 0)


def test_finish_reason_without_done_is_complete() -> None:
    completion = provider(Script(streamed(STREAM[:-1]))).complete(MESSAGES)
    assert completion.text == "Hello" and completion.output_tokens == 2


@pytest.mark.parametrize(
    ("pieces", "match"),
    [
        (STREAM[:3],
         r"stream ended before data: \[DONE\] and before a finish_reason.*3 chunks, 5 characters"),
        ([b'data: {"choices": [{"delta": {"content": "a'], r"stream ended in the middle of a chunk"),
        ([b"data: <html>oops</html>\n\n"], r"stream chunk is not JSON: '<html>oops</html>'"),
        ([b"data: [1, 2]\n\n"], r"stream chunk is not a JSON object"),
        (sse_bytes({"error": {"message": "overloaded mid-stream", "type": "server_error"}}),
         r"server reported an error in the stream: overloaded mid-stream"),
        ([b'event: error\ndata: {"message": "bad things"}\n\n'], r"server sent an error event: bad things"),
        ([], r"empty body \(HTTP 200\)"),
    ],
)
def test_malformed_streams_are_response_errors_without_retry(pieces: list[bytes], match: str) -> None:
    script = Script(streamed(pieces))
    sleeps: list[float] = []
    with pytest.raises(ModelResponseError, match=match) as info:
        provider(script, sleeps).complete(MESSAGES)
    assert "model 'm' at https://llm.example.test/v1" in str(info.value)
    assert len(script.requests) == 1 and sleeps == []


def test_server_that_ignores_stream_and_answers_json() -> None:
    body = {"choices": [{"message": {"role": "assistant", "content": "plain"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 4, "completion_tokens": 1}}
    completion = provider(Script(httpx.Response(200, json=body))).complete(MESSAGES)
    assert (completion.text, completion.ttft_ms, completion.output_tokens) == ("plain", None, 1)
    assert completion.raw == body


def test_non_streaming_provider() -> None:
    body = {"choices": [{"message": {"role": "assistant", "content": [
        {"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}, "finish_reason": "stop"}]}
    script = Script(httpx.Response(200, json=body))
    completion = provider(script, stream=False).complete(MESSAGES)
    assert (completion.text, completion.ttft_ms, completion.input_tokens) == ("ab", None, None)
    sent = script.bodies()[0]
    assert "stream" not in sent and "stream_options" not in sent
    assert script.requests[0].headers["accept"] == "application/json"


@pytest.mark.parametrize(
    ("response", "match"),
    [
        (httpx.Response(200, text="<html>gateway</html>", headers={"content-type": "application/json"}),
         r"body is not JSON: '<html>gateway</html>'"),
        (httpx.Response(200, json=[1]), r"body is not a JSON object"),
        (httpx.Response(200, json={"error": {"message": "quota"}}), r"server returned an error: quota"),
        (httpx.Response(200, json={"choices": []}), r"response has no choices"),
        (httpx.Response(200, content=b"", headers={"content-type": "application/json"}), r"empty body"),
    ],
)
def test_malformed_json_bodies(response: httpx.Response, match: str) -> None:
    script = Script(response)
    with pytest.raises(ModelResponseError, match=match):
        provider(script, stream=False).complete(MESSAGES)
    assert len(script.requests) == 1


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504])
def test_retryable_statuses_are_retried_with_backoff(status: int) -> None:
    script = Script(error(status, "busy"))
    sleeps: list[float] = []
    with pytest.raises(ModelCallError, match=rf"HTTP {status} .*busy.*gave up after 3 attempts") as info:
        provider(script, sleeps).complete(MESSAGES)
    assert info.value.status_code == status
    assert len(script.requests) == 3
    assert 0.375 <= sleeps[0] <= 0.5 and 0.75 <= sleeps[1] <= 1.0


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422])
def test_other_client_errors_fail_at_once(status: int) -> None:
    script = Script(error(status, "you did it wrong"))
    sleeps: list[float] = []
    with pytest.raises(ModelCallError, match=rf"HTTP {status} .*: you did it wrong \(type: x\)$") as info:
        provider(script, sleeps).complete(MESSAGES)
    assert info.value.status_code == status
    assert len(script.requests) == 1 and sleeps == []


def test_retry_after_headers_set_the_sleep() -> None:
    script = Script(
        error(429, "slow down", **{"retry-after": "7"}),
        error(503, "again", **{"retry-after-ms": "1234"}),
        error(429, "too long", **{"retry-after": "3600"}),
        streamed(STREAM),
    )
    sleeps: list[float] = []
    completion = provider(script, sleeps, max_retries=3).complete(MESSAGES)
    assert completion.text == "Hello"
    assert sleeps[:2] == [7.0, 1.234]
    assert 1.5 <= sleeps[2] <= 2.0  # 3600 s is ignored: backoff before retry n=2


def test_x_should_retry_false_stops_retries() -> None:
    script = Script(error(500, "fatal", **{"x-should-retry": "false"}))
    with pytest.raises(ModelCallError):
        provider(script).complete(MESSAGES)
    assert len(script.requests) == 1


@pytest.mark.parametrize(
    ("exception", "error_type"),
    [
        (httpx.ConnectError("connection refused"), ModelCallError),
        (httpx.RemoteProtocolError("Server disconnected without sending a response."), ModelCallError),
        (httpx.ConnectTimeout("timed out"), ModelTimeoutError),
        (httpx.ReadTimeout("timed out"), ModelTimeoutError),
        (httpx.PoolTimeout("timed out"), ModelTimeoutError),
    ],
)
def test_transport_failures_are_retried(exception: Exception, error_type: type) -> None:
    script = Script(exception)
    sleeps: list[float] = []
    with pytest.raises(error_type, match=r"gave up after 3 attempts") as info:
        provider(script, sleeps).complete(MESSAGES)
    assert type(info.value) is error_type and info.value.status_code is None
    assert len(script.requests) == 3 and len(sleeps) == 2


def test_transport_failure_then_success() -> None:
    script = Script(httpx.ConnectError("refused"), streamed(STREAM))
    assert provider(script).complete(MESSAGES).text == "Hello"


def test_failure_before_any_body_byte_is_retried() -> None:
    def dies_at_once() -> Iterator[bytes]:
        raise httpx.RemoteProtocolError("peer closed connection")
        yield b""  # pragma: no cover

    def stalls_at_once() -> Iterator[bytes]:
        raise httpx.ReadTimeout("timed out")
        yield b""  # pragma: no cover

    script = Script(generated(dies_at_once), generated(stalls_at_once), streamed(STREAM))
    sleeps: list[float] = []
    assert provider(script, sleeps).complete(MESSAGES).text == "Hello"
    assert len(script.requests) == 3 and len(sleeps) == 2


def test_failure_after_body_bytes_is_not_retried() -> None:
    def dies_midway() -> Iterator[bytes]:
        yield from STREAM[:2]
        raise httpx.RemoteProtocolError("incomplete chunked read")

    def stalls_midway() -> Iterator[bytes]:
        yield from STREAM[:2]
        raise httpx.ReadTimeout("timed out")

    script = Script(generated(dies_midway))
    with pytest.raises(ModelResponseError, match=r"stream cut off .*RemoteProtocolError"):
        provider(script).complete(MESSAGES)
    assert len(script.requests) == 1
    script = Script(generated(stalls_midway))
    with pytest.raises(ModelTimeoutError, match=r"waiting for the next stream chunk$"):
        provider(script).complete(MESSAGES, timeout=5)
    assert len(script.requests) == 1


def test_break_after_finish_reason_keeps_the_reply() -> None:
    def dies_after_finish() -> Iterator[bytes]:
        yield from STREAM[:4]
        raise httpx.RemoteProtocolError("incomplete chunked read")

    completion = provider(Script(generated(dies_after_finish))).complete(MESSAGES)
    assert completion.text == "Hello" and completion.finish_reason == "stop"
    assert completion.output_tokens is None  # the usage chunk never came


def test_json_body_cut_midway() -> None:
    def dies_midway() -> Iterator[bytes]:
        yield b'{"choices": ['
        raise httpx.ReadError("connection reset")

    script = Script(generated(dies_midway, "application/json"))
    with pytest.raises(ModelResponseError, match=r"connection closed after 13 bytes of the body"):
        provider(script, stream=False).complete(MESSAGES)
    assert len(script.requests) == 1


def test_deadline_cuts_a_trickling_stream() -> None:
    import time

    def trickles() -> Iterator[bytes]:
        for _ in range(1000):
            time.sleep(0.01)
            yield b": ping\n\n"

    script = Script(generated(trickles))
    started = time.perf_counter()
    with pytest.raises(ModelTimeoutError, match=r"timed out after 0.1 s while the stream was still arriving"):
        provider(script).complete(MESSAGES, timeout=0.1)
    assert time.perf_counter() - started < 2.0
    assert len(script.requests) == 1


def test_stream_options_rejection_falls_back_and_is_remembered() -> None:
    def server(request: httpx.Request) -> httpx.Response:
        if "stream_options" in json.loads(request.content):
            return error(400, "Unrecognized request argument supplied: stream_options")
        return streamed(STREAM[:-2] + STREAM[-1:])(request)  # no usage chunk

    script = Script(server)
    sleeps: list[float] = []
    llm = provider(script, sleeps, max_retries=0)
    first = llm.complete(MESSAGES)
    second = llm.complete(MESSAGES)
    assert first.text == second.text == "Hello"
    assert first.output_tokens is None  # unknown, not 0
    bodies = script.bodies()
    assert ["stream_options" in body for body in bodies] == [True, False, False]
    assert all(body["stream"] is True for body in bodies)
    assert sleeps == [] and llm.stream and not llm.sends_stream_options


@pytest.mark.parametrize(
    ("status", "message"),
    [(400, "stream is not supported"), (404, "Streaming not available for this model"),
     (422, "stream: extra fields not permitted"), (405, "Method Not Allowed"), (501, "")],
)
def test_stream_rejection_falls_back_to_whole_responses(status: int, message: str) -> None:
    answer = {"choices": [{"message": {"content": "whole"}, "finish_reason": "stop"}]}

    def server(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content).get("stream"):
            return error(status, message)
        return httpx.Response(200, json=answer)

    script = Script(server)
    sleeps: list[float] = []
    llm = provider(script, sleeps, max_retries=0)
    assert llm.complete(MESSAGES).text == "whole"
    assert llm.complete(MESSAGES).ttft_ms is None
    streams = [body.get("stream") for body in script.bodies()]
    assert streams == [True, None, None] and not llm.stream and sleeps == []


def test_upstream_error_is_not_a_stream_rejection() -> None:
    script = Script(error(400, "upstream provider rejected the prompt"))
    with pytest.raises(ModelCallError, match="upstream provider rejected"):
        provider(script).complete(MESSAGES)
    assert len(script.requests) == 1


def test_max_completion_tokens_rename() -> None:
    def server(request: httpx.Request) -> httpx.Response:
        if "max_tokens" in json.loads(request.content):
            return error(400, "Unsupported parameter: 'max_tokens' is not supported with this model. "
                              "Use 'max_completion_tokens' instead.")
        return streamed(STREAM)(request)

    script = Script(server)
    llm = provider(script, max_retries=0)
    llm.complete(MESSAGES, max_tokens=50)
    llm.complete(MESSAGES, max_tokens=60)
    bodies = script.bodies()
    assert [body.get("max_completion_tokens") for body in bodies] == [None, 50, 60]
    assert "max_tokens" not in bodies[2]


def test_key_echoed_by_server_is_redacted() -> None:
    script = Script(error(401, f"Incorrect API key provided: {KEY}. You can find your key at ..."))
    with pytest.raises(ModelCallError) as info:
        provider(script).complete(MESSAGES)
    assert KEY not in str(info.value) and REDACTED in str(info.value)
    assert KEY not in repr(info.value)


def test_repr_hides_key() -> None:
    llm = provider(Script(streamed(STREAM)))
    assert repr(llm) == "OpenAIProvider(model='m', base_url='https://llm.example.test/v1')"
    assert KEY not in repr(vars(llm))


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"base_url": "ftp://x/v1"}, r"base_url 'ftp://x/v1' is not allowed"),
        ({"base_url": "api.openai.com"}, r"base_url 'api.openai.com' is not allowed"),
        ({"timeout": 0}, r"timeout 0 is not allowed; it must be seconds > 0"),
        ({"timeout": float("inf")}, r"timeout inf is not allowed"),
        ({"max_retries": -1}, r"max_retries -1 is not allowed"),
        ({"params": {"stream": False}}, r"request parameter 'stream' is set by the provider"),
        ({"params": ["temperature"]}, r"params \['temperature'\] is not allowed"),
        ({"stream": "yes"}, r"stream 'yes' is not allowed"),
    ],
)
def test_constructor_rejects_bad_configuration(options: dict, match: str) -> None:
    options = {"base_url": DEFAULT_BASE_URL, **options}
    with pytest.raises(ConfigError, match=match):
        OpenAIProvider("m", **options)


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1"),
        ("http://127.0.0.1:8000/v1/", "http://127.0.0.1:8000/v1"),
        (" https://x.test/api/v1/chat/completions ", "https://x.test/api/v1"),
    ],
)
def test_base_url_is_the_api_root(base_url: str, expected: str) -> None:
    script = Script(streamed(STREAM))
    llm = OpenAIProvider("m", base_url=base_url, transport=httpx.MockTransport(script))
    llm.complete(MESSAGES)
    assert llm.base_url == expected
    assert str(script.requests[0].url) == f"{expected}/chat/completions"


def test_constructor_rejects_empty_model() -> None:
    with pytest.raises(ConfigError, match=r"model '' is not allowed"):
        OpenAIProvider("", base_url=DEFAULT_BASE_URL)


@pytest.mark.parametrize(
    ("messages", "options", "match"),
    [
        ("hi", {}, r"messages 'hi' is not allowed; pass a list of message dicts"),
        (MESSAGES, {"max_tokens": 0}, r"max_tokens 0 is not allowed"),
        (MESSAGES, {"max_tokens": 1.5}, r"max_tokens 1.5 is not allowed"),
        (MESSAGES, {"temperature": -0.1}, r"temperature -0.1 is not allowed"),
        (MESSAGES, {"timeout": -1}, r"timeout -1 is not allowed"),
        (MESSAGES, {"model": "other"}, r"request parameter 'model' is set by the provider"),
        (MESSAGES, {"seed": object()}, r"the request body cannot be sent as JSON"),
    ],
)
def test_complete_rejects_bad_arguments(messages: object, options: dict, match: str) -> None:
    script = Script(streamed(STREAM))
    with pytest.raises(ValueError, match=match):
        provider(script).complete(messages, **options)  # type: ignore[arg-type]
    assert script.requests == []


def test_closed_provider_refuses_calls() -> None:
    llm = provider(Script(streamed(STREAM)))
    with llm:
        assert isinstance(llm.complete(MESSAGES), Completion)
    llm.close()  # idempotent
    with pytest.raises(RuntimeError, match=r"OpenAIProvider\(model='m'.*is closed"):
        llm.complete(MESSAGES)


def test_sse_line_length_is_bounded_with_and_without_a_newline() -> None:
    with pytest.raises(SSELineTooLong, match="stream line longer than 10 characters"):
        SSEDecoder(max_line_chars=10).feed(b"data: 0123456789\n")
    decoder = SSEDecoder(max_line_chars=10)
    decoder.feed(b"data: 01")
    with pytest.raises(SSELineTooLong):
        decoder.feed(b"23456789")  # the unfinished line passed the limit


def test_sse_line_split_over_many_reads_is_joined_once() -> None:
    decoder = SSEDecoder()
    data = b"data: " + b"x" * 5000 + b"\r\n\r\n"
    events = []
    for start in range(0, len(data), 7):
        events += decoder.feed(data[start : start + 7])
    assert [event.data for event in events] == ["x" * 5000]


def test_sse_event_repr_hides_its_data() -> None:
    event = SSEEvent(data='{"error": "bad key sk-secret-0123456789"}')
    assert "sk-secret" not in repr(event) and repr(event) == "SSEEvent(event='message', data=<41 characters>)"
