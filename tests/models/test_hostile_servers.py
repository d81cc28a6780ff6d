"""Hostile and broken servers on 127.0.0.1: compression bombs, endless lines, trickled headers
and bodies, HTML where a stream was asked for, empty streams and absurd token counts.

Each case runs against the OpenAI-compatible and the Anthropic client where it applies.
"""

from __future__ import annotations

import gzip
import json
import socket
import subprocess
import sys
import textwrap
import time
import zlib

import pytest

from fake_anthropic import event, message_start, message_stop
from fake_openai import FakeOpenAI, Reply, chunk, raw_reply, split_reply, sse, stream_reply, usage_dict
from hostile_server import HostileServer, gzip_bomb, response, trickled_body, trickled_headers
from pytest_modelbench import ConfigError, ModelResponseError, ModelTimeoutError
from pytest_modelbench.models.providers._http import TokenCountWarning
from pytest_modelbench.models.providers.anthropic import AnthropicProvider
from pytest_modelbench.models.providers.openai import OpenAIProvider

MESSAGES = [{"role": "user", "content": "Hi"}]
PROVIDERS = ("openai", "anthropic")


def _provider(kind: str, server, **options):
    options.setdefault("sleep", lambda seconds: None)
    if kind == "openai":
        return OpenAIProvider("m", base_url=server.url, api_key="sk-test", **options)
    return AnthropicProvider("m", base_url=getattr(server, "root", server.url), api_key="sk-ant-test", **options)


def _sse_event(kind: str, text: str) -> bytes:
    """One event carrying ``text`` as content, in each provider's stream format."""
    if kind == "openai":
        return sse(chunk(text))
    return event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": text}})


# --------------------------------------------------------------------------- size


_RSS_CLIENT = textwrap.dedent("""
    import sys
    from pytest_modelbench.models.providers.anthropic import AnthropicProvider
    from pytest_modelbench.models.providers.openai import OpenAIProvider

    def status_kib(field):
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))

    kind, url, stream = sys.argv[1], sys.argv[2], sys.argv[3] == "stream"
    cls = OpenAIProvider if kind == "openai" else AnthropicProvider
    provider = cls("m", base_url=url, api_key="sk-test", max_retries=0, timeout=60, stream=stream)
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # the peak (VmHWM) starts again from what is resident now
    before = status_kib("VmRSS")
    try:
        provider.complete([{"role": "user", "content": "Hi"}])
        print("no error")
    except Exception as exc:
        print(type(exc).__name__ + ": " + str(exc))
    print((status_kib("VmHWM") - before) // 1024)
""")


def _peak_rss_growth(kind: str, url: str, *, stream: bool) -> tuple[str, int]:
    """Call the server from a fresh process; its error and how much its peak RSS grew (MiB)."""
    completed = subprocess.run(
        [sys.executable, "-c", _RSS_CLIENT, kind, url, "stream" if stream else "whole"],
        capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    message, growth = completed.stdout.strip().splitlines()
    return message, int(growth)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="resets and reads the peak RSS through /proc")
@pytest.mark.parametrize("kind", PROVIDERS)
def test_gzip_bomb_is_cut_at_the_cap_with_bounded_memory(kind):
    bomb = gzip_bomb(b"\0" * 2**20, 1500)  # 1.5 GB of zeros in 1.5 MB
    assert len(bomb) < 1_600_000
    script = response(bomb, content_type="application/json", content_encoding="gzip")
    with HostileServer(script) as server:
        message, growth = _peak_rss_growth(kind, server.url if kind == "openai" else server.root, stream=False)
    assert message.startswith("ModelResponseError: ")
    assert "response larger than 32 MiB (counted after decompression" in message
    assert growth < 100, f"peak RSS grew by {growth} MiB"  # the cap is 32 MiB; before it, 4.9 GiB


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="resets and reads the peak RSS through /proc")
@pytest.mark.parametrize("kind", PROVIDERS)
def test_gzipped_event_stream_bomb_is_cut_at_the_cap_with_bounded_memory(kind):
    # About 1.5 billion characters of content in 1024-character events, gzipped.
    events = _sse_event(kind, "a" * 1000) * 1000
    prefix = message_start() if kind == "anthropic" else sse(chunk(role="assistant", content=""))
    bomb = gzip_bomb(events, 1500, prefix=prefix)
    script = response(bomb, content_type="text/event-stream", content_encoding="gzip")
    with HostileServer(script) as server:
        message, growth = _peak_rss_growth(kind, server.url if kind == "openai" else server.root, stream=True)
    assert message.startswith("ModelResponseError: ")
    assert "response larger than 32 MiB" in message
    assert growth < 100, f"peak RSS grew by {growth} MiB"  # the cap is 32 MiB; before it, 1.5 GiB


@pytest.mark.parametrize("kind", PROVIDERS)
def test_the_cap_is_configurable(kind):
    events = [_sse_event(kind, "b" * 1000) for _ in range(3000)]  # 3 MB, not compressed
    prefix = [message_start()] if kind == "anthropic" else []
    with FakeOpenAI() as server:
        server.always(Reply(parts=tuple(prefix + events), content_type="text/event-stream", chunked=True))
        if kind == "anthropic":
            server_root = f"http://127.0.0.1:{server.port}"
            provider = AnthropicProvider("m", base_url=server_root, max_response_bytes=2**20)
        else:
            provider = OpenAIProvider("m", base_url=server.url, max_response_bytes=2**20)
        with provider, pytest.raises(ModelResponseError, match=r"response larger than 1 MiB"):
            provider.complete(MESSAGES)


def test_a_json_body_over_the_cap_is_refused():
    body = json.dumps({"choices": [{"message": {"content": "x" * 3_000_000}}]}).encode()
    with FakeOpenAI() as server:
        server.always(raw_reply(body, content_type="application/json"))
        with OpenAIProvider("m", base_url=server.url, stream=False, max_response_bytes=2**20) as provider:
            with pytest.raises(ModelResponseError, match=r"response larger than 1 MiB"):
                provider.complete(MESSAGES)


def test_a_bad_cap_is_rejected():
    with pytest.raises(ConfigError, match=r"max_response_bytes 10 is not allowed; it must be a whole number"):
        OpenAIProvider("m", base_url="http://127.0.0.1:9/v1", max_response_bytes=10)


@pytest.mark.parametrize("kind", PROVIDERS)
def test_an_endless_line_is_cut_at_the_line_limit(kind):
    # 16 MB without a newline, in 64 KiB network reads: parsed in linear time, cut at 8 Mi characters.
    data = b"data: " + b"x" * 16_000_000
    with FakeOpenAI() as server:
        server.always(split_reply(data, size=65536))
        if kind == "anthropic":
            provider = AnthropicProvider("m", base_url=f"http://127.0.0.1:{server.port}")
        else:
            provider = OpenAIProvider("m", base_url=server.url)
        with provider, pytest.raises(ModelResponseError, match=r"stream line longer than 8388608 characters"):
            provider.complete(MESSAGES)


# --------------------------------------------------------------------------- time


def _elapsed_timeout(provider) -> tuple[float, str]:
    started = time.perf_counter()
    with provider, pytest.raises(ModelTimeoutError) as caught:
        provider.complete(MESSAGES)
    return time.perf_counter() - started, str(caught.value)


@pytest.mark.parametrize("kind", PROVIDERS)
def test_trickled_headers_are_cut_at_the_deadline(kind):
    # A header line every 0.1 s keeps every read inside httpx's 0.5 s read timeout, forever.
    with HostileServer(trickled_headers(0.1)) as server:
        elapsed, message = _elapsed_timeout(_provider(kind, server, timeout=0.5, max_retries=0))
        assert server.requests == 1
    assert 0.5 <= elapsed < 2.0, elapsed
    assert "timed out after 0.5 s" in message


@pytest.mark.parametrize("kind", PROVIDERS)
def test_retries_of_trickled_headers_are_each_cut(kind):
    with HostileServer(trickled_headers(0.1)) as server:
        elapsed, message = _elapsed_timeout(_provider(kind, server, timeout=0.5, max_retries=2))
        assert server.requests == 3
    assert 1.5 <= elapsed < 4.0, elapsed  # three attempts of 0.5 s; the waits are skipped here
    assert "gave up after 3 attempts" in message


@pytest.mark.parametrize("kind", PROVIDERS)
@pytest.mark.parametrize("stream", [True, False])
def test_a_trickled_body_is_cut_at_the_deadline(kind, stream):
    content_type = "text/event-stream" if stream else "application/json"
    first = b"" if not stream else (message_start() if kind == "anthropic" else sse(chunk(role="assistant")))
    with HostileServer(trickled_body(0.1, content_type=content_type, first=first)) as server:
        elapsed, message = _elapsed_timeout(_provider(kind, server, timeout=0.5, max_retries=2, stream=stream))
        assert server.requests == 1  # the body had started: not retried
    assert 0.5 <= elapsed < 2.0, elapsed
    assert "while the" in message and "still arriving" in message


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="relies on Linux's full accept queue")
@pytest.mark.parametrize("kind", PROVIDERS)
def test_a_connection_that_is_never_accepted_is_cut_at_the_deadline(kind):
    # A listener that never accepts, its queue filled: the client's handshake gets no answer.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    try:
        for _ in range(8):
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.setblocking(False)
            try:
                filler.connect(("127.0.0.1", listener.getsockname()[1]))
            except BlockingIOError:
                pass
            fillers.append(filler)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        provider = (OpenAIProvider("m", base_url=url + "/v1", timeout=0.5, max_retries=0) if kind == "openai"
                    else AnthropicProvider("m", base_url=url, timeout=0.5, max_retries=0))
        elapsed, message = _elapsed_timeout(provider)
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
    assert 0.45 <= elapsed < 2.0, elapsed
    assert "timed out after 0.5 s" in message


# --------------------------------------------------------------------------- not what was asked for


@pytest.mark.parametrize("kind", PROVIDERS)
def test_an_html_page_is_not_an_event_stream(kind):
    page = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    with FakeOpenAI() as server:
        server.always(raw_reply(page, content_type="text/html"))
        if kind == "anthropic":
            provider = AnthropicProvider("m", base_url=f"http://127.0.0.1:{server.port}")
        else:
            provider = OpenAIProvider("m", base_url=server.url)
        with provider, pytest.raises(ModelResponseError,
                                     match=r"body is not an event stream: '<html><head><title>502 Bad Gateway"):
            provider.complete(MESSAGES)


def test_an_event_stream_without_its_content_type_is_still_read():
    with FakeOpenAI() as server:
        reply = stream_reply(["Hel", "lo"])
        server.always(Reply(parts=reply.parts, content_type="text/plain", chunked=True))
        with OpenAIProvider("m", base_url=server.url) as provider:
            assert provider.complete(MESSAGES).text == "Hello"


def test_done_without_content_is_no_content():
    with FakeOpenAI() as server:
        server.always(stream_reply([], usage=(3, 0)))
        with OpenAIProvider("m", base_url=server.url) as provider:
            with pytest.raises(ModelResponseError, match=r"no content received \(\d+ chunks, finish_reason 'stop'\)"):
                provider.complete(MESSAGES)


@pytest.mark.parametrize("content", [42, {"text": "hi"}, ["a", "b"]])
def test_content_that_is_not_a_string_is_an_error(content):
    parts = (sse(chunk(role="assistant")), sse({"choices": [{"index": 0, "delta": {"content": content}}]}),
             sse(chunk(finish_reason="stop")), sse("[DONE]"))
    with FakeOpenAI() as server:
        server.always(Reply(parts=parts, content_type="text/event-stream", chunked=True))
        with OpenAIProvider("m", base_url=server.url) as provider:
            with pytest.raises(ModelResponseError, match=r"stream chunk's delta.content is not a string"):
                provider.complete(MESSAGES)


def test_anthropic_stream_without_content_is_no_content():
    parts = (message_start(), event("message_delta", {"delta": {"stop_reason": "end_turn"},
                                                      "usage": {"output_tokens": 0}}), message_stop())
    with FakeOpenAI() as server:
        server.always(Reply(parts=parts, content_type="text/event-stream", chunked=True))
        with AnthropicProvider("m", base_url=f"http://127.0.0.1:{server.port}") as provider:
            with pytest.raises(ModelResponseError, match=r"no content received \(3 events, stop_reason 'end_turn'\)"):
                provider.complete(MESSAGES)


def test_anthropic_text_that_is_not_a_string_is_an_error():
    parts = (message_start(), event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": 7}}),
             message_stop())
    with FakeOpenAI() as server:
        server.always(Reply(parts=parts, content_type="text/event-stream", chunked=True))
        with AnthropicProvider("m", base_url=f"http://127.0.0.1:{server.port}") as provider:
            with pytest.raises(ModelResponseError, match=r"stream text_delta's text is not a string: 7"):
                provider.complete(MESSAGES)


# --------------------------------------------------------------------------- token counts


@pytest.mark.parametrize("value", [10**400, 10**12 + 1, -5, 3.5, "12"])
def test_token_counts_that_are_not_counts_are_unknown_with_a_note(value):
    usage = usage_dict(5, 2)
    usage["prompt_tokens"] = value
    parts = (sse(chunk("ok", role="assistant")), sse(chunk(finish_reason="stop")),
             sse({"choices": [], "usage": usage}), sse("[DONE]"))
    with FakeOpenAI() as server:
        server.always(Reply(parts=parts, content_type="text/event-stream", chunked=True))
        with OpenAIProvider("m", base_url=server.url) as provider:
            with pytest.warns(TokenCountWarning, match=r"usage.prompt_tokens .* is not a token count"):
                completion = provider.complete(MESSAGES)
    assert completion.text == "ok"
    assert completion.input_tokens is None and completion.output_tokens == 2
    assert len(completion.notes) == 1 and "counted as unknown" in completion.notes[0]
    if value == 10**400:
        assert "an integer of 401 digits" in completion.notes[0]


def test_the_largest_count_is_still_a_count():
    usage = usage_dict(10**12, 0)
    parts = (sse(chunk("ok", role="assistant")), sse(chunk(finish_reason="stop", usage=usage)), sse("[DONE]"))
    with FakeOpenAI() as server:
        server.always(Reply(parts=parts, content_type="text/event-stream", chunked=True))
        with OpenAIProvider("m", base_url=server.url) as provider:
            completion = provider.complete(MESSAGES)
    assert completion.input_tokens == 10**12 and completion.notes == ()



# --------------------------------------------------------------------------- decoding


def _compressed(data: bytes, coding: str) -> bytes:
    if coding == "gzip":
        return gzip.compress(data)
    if coding == "deflate":  # as most servers send it: zlib-wrapped
        return zlib.compress(data)
    compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)  # raw deflate, as some send it
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize("coding", ["gzip", "deflate", "raw deflate"])
def test_compressed_streams_are_decoded(coding):
    body = b"".join(part for part in stream_reply(["Hel", "lo"], usage=(3, 2)).parts if isinstance(part, bytes))
    encoding = "deflate" if coding == "raw deflate" else coding
    with FakeOpenAI() as server:
        server.always(Reply(parts=(_compressed(body, coding),), content_type="text/event-stream",
                            headers=(("Content-Encoding", encoding),)))
        with OpenAIProvider("m", base_url=server.url) as provider:
            completion = provider.complete(MESSAGES)
        assert server.requests[0].headers["accept-encoding"] == "gzip, deflate"
    assert (completion.text, completion.output_tokens) == ("Hello", 2)


@pytest.mark.parametrize(("encoding", "body", "match"), [
    pytest.param("br", b"\x0b\x02\x80hi\x03",
                 r"content-encoding 'br' is not supported; the client asks for gzip or deflate", id="brotli"),
    pytest.param("gzip", b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff\xff\xff\xffgarbage",
                 r"gzip body is corrupt", id="corrupt gzip"),
    pytest.param("gzip", gzip.compress(b'{"choices": []}', mtime=0)[:-12], r"gzip body is truncated",
                 id="truncated gzip"),
])
def test_undecodable_bodies_are_errors(encoding, body, match):
    with FakeOpenAI() as server:
        server.always(Reply(parts=(body,), content_type="application/json", headers=(("Content-Encoding", encoding),)))
        with OpenAIProvider("m", base_url=server.url, stream=False) as provider:
            with pytest.raises(ModelResponseError, match=match):
                provider.complete(MESSAGES)
