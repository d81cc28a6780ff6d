"""Issue 13's hostile servers against the paths issue 16 added: the providers' ``acomplete``
(models/providers/_async.py) and the metered app clients (models/metering.py: the openai SDK,
sync and async, and httpx). Compression bombs, endless lines, trickled headers and bodies, HTML
where a stream was asked for, empty replies, absurd token counts, echoed keys: none may exhaust
memory, hang past its timeout, pass as an answer or print a key.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import time
import traceback
from collections.abc import Iterator

import httpx
import openai
import pytest

from fake_anthropic import event, message_start, message_stop
from fake_openai import (
    FakeOpenAI,
    Reply,
    chunk,
    completion_body,
    error_reply,
    json_reply,
    raw_reply,
    split_reply,
    sse,
    stream_reply,
    usage_dict,
)
from hostile_server import HostileServer, gzip_bomb, response, trickled_body, trickled_headers
from pytest_modelbench import ModelResponseError, ModelTimeoutError
from pytest_modelbench.models.metering import Endpoint
from pytest_modelbench.models.model import CallMeter, CallTotals, Model
from pytest_modelbench.models.providers._http import TokenCountWarning
from pytest_modelbench.models.providers.anthropic import AnthropicProvider
from pytest_modelbench.models.providers.openai import OpenAIProvider
from pytest_modelbench.models.specs import ModelSpec

MESSAGES = [{"role": "user", "content": "Hi"}]
PROVIDERS = ("openai", "anthropic")
KEY = "sk-proj-Hq4Zt8Wm2Lx6Vb9Nc3Rk7Js1Pd5Gf0Ya"


async def _no_sleep(seconds: float) -> None:
    return None


def _provider(kind: str, server, **options):
    if kind == "openai":
        return OpenAIProvider("m", base_url=server.url, api_key="sk-test", **options)
    return AnthropicProvider("m", base_url=getattr(server, "root", server.url), api_key="sk-ant-test", **options)


def _root(server: FakeOpenAI) -> str:
    return f"http://127.0.0.1:{server.port}"


def _acomplete(provider, **arguments):
    """``await provider.acomplete(MESSAGES)`` on a fresh loop (its own client), then closed."""
    with provider:
        return asyncio.run(provider.acomplete(MESSAGES, sleep=_no_sleep, **arguments))


def _sse_event(kind: str, text: str) -> bytes:
    if kind == "openai":
        return sse(chunk(text))
    return event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": text}})


# --------------------------------------------------------------------------- acomplete: size


_RSS_CLIENT = textwrap.dedent("""
    import asyncio, sys
    from pytest_modelbench.models.model import CallMeter, CallTotals, Model
    from pytest_modelbench.models.providers.anthropic import AnthropicProvider
    from pytest_modelbench.models.providers.openai import OpenAIProvider
    from pytest_modelbench.models.specs import ModelSpec

    def status_kib(field):
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))

    path, kind, url, stream = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "stream"
    messages = [{"role": "user", "content": "Hi"}]
    if path == "acomplete":
        cls = OpenAIProvider if kind == "openai" else AnthropicProvider
        provider = cls("m", base_url=url, api_key="sk-test", max_retries=0, timeout=60, stream=stream)
        call = lambda: asyncio.run(provider.acomplete(messages))
    else:
        import openai  # imported before the peak is reset
        spec = ModelSpec(name="m", provider="openai", model="m", base_url=url)
        totals = CallTotals()
        model = Model(spec, lambda: None, run=1, timeout=60, totals=totals, meter=CallMeter(), task="t",
                      endpoint=lambda: (url, "sk-test"), retries=0)

        def call():
            if path == "metered-sdk":
                reply = model.openai_client().chat.completions.create(model="x", messages=messages, stream=stream)
                for _ in (reply if stream else ()):
                    pass
            else:
                async def main():
                    client = model.async_openai_client()
                    reply = await client.chat.completions.create(model="x", messages=messages, stream=stream)
                    if stream:
                        async for _ in reply:
                            pass
                asyncio.run(main())
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # the peak (VmHWM) starts again from what is resident now
    before = status_kib("VmRSS")
    try:
        call()
        print("no error")
    except Exception as exc:
        print(type(exc).__name__ + ": " + " ".join(str(exc).split()))
    if path != "acomplete":
        print("recorded: " + " ".join(str(totals.failure).split()))
    print((status_kib("VmHWM") - before) // 1024)
""")


def _peak_rss_growth(path: str, kind: str, url: str, *, stream: bool) -> tuple[list[str], int]:
    """Call the server from a fresh process; its messages and how much its peak RSS grew (MiB)."""
    completed = subprocess.run(
        [sys.executable, "-c", _RSS_CLIENT, path, kind, url, "stream" if stream else "whole"],
        capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    *messages, growth = completed.stdout.strip().splitlines()
    return messages, int(growth)


_linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="resets and reads the peak RSS through /proc")


@_linux_only
@pytest.mark.parametrize(("kind", "stream"), [("openai", False), ("anthropic", False), ("openai", True)])
def test_acomplete_cuts_a_gzip_bomb_at_the_cap_with_bounded_memory(kind, stream):
    if stream:
        bomb = gzip_bomb(_sse_event(kind, "a" * 1000) * 1000, 1500, prefix=sse(chunk(role="assistant", content="")))
        content_type = "text/event-stream"
    else:
        bomb, content_type = gzip_bomb(b"\0" * 2**20, 1500), "application/json"  # 1.5 GB of zeros in 1.5 MB
    with HostileServer(response(bomb, content_type=content_type, content_encoding="gzip")) as server:
        (message,), growth = _peak_rss_growth("acomplete", kind, server.url if kind == "openai" else server.root,
                                              stream=stream)
    assert message.startswith("ModelResponseError: ")
    assert "response larger than 32 MiB (counted after decompression" in message
    assert growth < 100, f"peak RSS grew by {growth} MiB"


@_linux_only
@pytest.mark.parametrize(("path", "stream"), [("metered-sdk", False), ("metered-sdk", True),
                                              ("metered-async-sdk", False)])
def test_metered_sdk_cuts_a_gzip_bomb_at_the_cap_with_bounded_memory(path, stream):
    # The metered transport asks for identity; a server that compresses anyway is decoded a
    # bounded piece at a time, and cut at the cap both for the app and for the run's record.
    if stream:
        bomb = gzip_bomb(_sse_event("openai", "a" * 1000) * 1000, 1500,
                         prefix=sse(chunk(role="assistant", content="")))
        content_type = "text/event-stream"
    else:
        bomb, content_type = gzip_bomb(b" " * 2**20, 1500, prefix=b'{"choices": '), "application/json"
    with HostileServer(response(bomb, content_type=content_type, content_encoding="gzip")) as server:
        (message, recorded), growth = _peak_rss_growth(path, "openai", server.url, stream=stream)
    assert message.startswith(("APIConnectionError", "ReadError")), message
    assert recorded.startswith("recorded: model 'm' at http://127.0.0.1:") and "response larger than 32 MiB" in recorded
    assert growth < 100, f"peak RSS grew by {growth} MiB"  # the cap is 32 MiB


@pytest.mark.parametrize("kind", PROVIDERS)
def test_acomplete_cap_is_configurable(kind):
    events = [_sse_event(kind, "b" * 1000) for _ in range(3000)]  # 3 MB, not compressed
    prefix = [message_start()] if kind == "anthropic" else []
    with FakeOpenAI() as server:
        server.always(Reply(parts=tuple(prefix + events), content_type="text/event-stream", chunked=True))
        provider = (AnthropicProvider("m", base_url=_root(server), max_response_bytes=2**20) if kind == "anthropic"
                    else OpenAIProvider("m", base_url=server.url, max_response_bytes=2**20))
        with pytest.raises(ModelResponseError, match=r"response larger than 1 MiB"):
            _acomplete(provider)


def test_acomplete_refuses_a_json_body_over_the_cap():
    body = json.dumps({"choices": [{"message": {"content": "x" * 3_000_000}}]}).encode()
    with FakeOpenAI() as server:
        server.always(raw_reply(body, content_type="application/json"))
        with pytest.raises(ModelResponseError, match=r"response larger than 1 MiB"):
            _acomplete(OpenAIProvider("m", base_url=server.url, stream=False, max_response_bytes=2**20))


@pytest.mark.parametrize("kind", PROVIDERS)
def test_acomplete_cuts_an_endless_line(kind):
    data = b"data: " + b"x" * 16_000_000  # 16 MB without a newline, in 64 KiB reads
    with FakeOpenAI() as server:
        server.always(split_reply(data, size=65536))
        provider = (AnthropicProvider("m", base_url=_root(server)) if kind == "anthropic"
                    else OpenAIProvider("m", base_url=server.url))
        started = time.perf_counter()
        with pytest.raises(ModelResponseError, match=r"stream line longer than 8388608 characters"):
            _acomplete(provider)
    assert time.perf_counter() - started < 10  # linear: quadratic joining took minutes


# --------------------------------------------------------------------------- acomplete: time


def _elapsed_timeout(call) -> tuple[float, str]:
    started = time.perf_counter()
    with pytest.raises(ModelTimeoutError) as caught:
        call()
    return time.perf_counter() - started, str(caught.value)


@pytest.mark.parametrize("kind", PROVIDERS)
def test_acomplete_cuts_trickled_headers_at_the_deadline(kind):
    # A header line every 0.1 s keeps every read inside httpx's 0.5 s read timeout, forever.
    with HostileServer(trickled_headers(0.1)) as server:
        elapsed, message = _elapsed_timeout(lambda: _acomplete(_provider(kind, server, timeout=0.5, max_retries=0)))
        assert server.requests == 1
    assert 0.5 <= elapsed < 2.0, elapsed
    assert "timed out after 0.5 s waiting for the response" in message


@pytest.mark.parametrize("kind", PROVIDERS)
def test_acomplete_retries_of_trickled_headers_are_each_cut(kind):
    with HostileServer(trickled_headers(0.1)) as server:
        elapsed, message = _elapsed_timeout(lambda: _acomplete(_provider(kind, server, timeout=0.5, max_retries=2)))
        assert server.requests == 3
    assert 1.5 <= elapsed < 4.0, elapsed
    assert "gave up after 3 attempts" in message


@pytest.mark.parametrize("kind", PROVIDERS)
@pytest.mark.parametrize("stream", [True, False])
def test_acomplete_cuts_a_trickled_body_at_the_deadline(kind, stream):
    content_type = "text/event-stream" if stream else "application/json"
    first = b"" if not stream else (message_start() if kind == "anthropic" else sse(chunk(role="assistant")))
    with HostileServer(trickled_body(0.1, content_type=content_type, first=first)) as server:
        provider = _provider(kind, server, timeout=0.5, max_retries=2, stream=stream)
        elapsed, message = _elapsed_timeout(lambda: _acomplete(provider))
        assert server.requests == 1  # the body had started: not retried
    assert 0.5 <= elapsed < 2.0, elapsed
    assert "timed out after 0.5 s while the" in message and "still arriving" in message


def test_acomplete_with_a_shared_client_is_cut_too():
    # The plugin's I/O loop hands acomplete one AsyncClient per provider: the bound is per attempt.
    async def main(provider):
        async with provider.async_client() as client:
            for _ in range(2):
                with pytest.raises(ModelTimeoutError, match=r"timed out after 0.5 s"):
                    await provider.acomplete(MESSAGES, client=client)

    with HostileServer(trickled_headers(0.1)) as server:
        with _provider("openai", server, timeout=0.5, max_retries=0) as provider:
            started = time.perf_counter()
            asyncio.run(main(provider))
    assert 1.0 <= time.perf_counter() - started < 4.0


# --------------------------------------------------------------------------- acomplete: not what was asked for


@pytest.mark.parametrize("kind", PROVIDERS)
def test_acomplete_html_page_is_not_an_event_stream(kind):
    page = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    with FakeOpenAI() as server:
        server.always(raw_reply(page, content_type="text/html"))
        provider = (AnthropicProvider("m", base_url=_root(server)) if kind == "anthropic"
                    else OpenAIProvider("m", base_url=server.url))
        with pytest.raises(ModelResponseError, match=r"body is not an event stream: '<html><head><title>502 Bad"):
            _acomplete(provider)


def test_acomplete_reads_an_event_stream_without_its_content_type():
    with FakeOpenAI() as server:
        server.always(Reply(parts=stream_reply(["Hel", "lo"]).parts, content_type="text/plain", chunked=True))
        assert _acomplete(OpenAIProvider("m", base_url=server.url)).text == "Hello"


@pytest.mark.parametrize("stream", [True, False])
def test_acomplete_without_content_is_no_content(stream):
    with FakeOpenAI() as server:
        server.always(stream_reply([], usage=(3, 0)) if stream else json_reply(completion_body("", usage=(3, 0))))
        with pytest.raises(ModelResponseError, match=r"no content received \("):
            _acomplete(OpenAIProvider("m", base_url=server.url, stream=stream))


def test_acomplete_anthropic_without_content_is_no_content():
    parts = (message_start(), event("message_delta", {"delta": {"stop_reason": "end_turn"},
                                                      "usage": {"output_tokens": 0}}), message_stop())
    with FakeOpenAI() as server:
        server.always(Reply(parts=parts, content_type="text/event-stream", chunked=True))
        with pytest.raises(ModelResponseError, match=r"no content received \(3 events, stop_reason 'end_turn'\)"):
            _acomplete(AnthropicProvider("m", base_url=_root(server)))


@pytest.mark.parametrize("content", [42, {"text": "hi"}])
def test_acomplete_content_that_is_not_a_string_is_an_error(content):
    parts = (sse(chunk(role="assistant")), sse({"choices": [{"index": 0, "delta": {"content": content}}]}),
             sse(chunk(finish_reason="stop")), sse("[DONE]"))
    with FakeOpenAI() as server:
        server.always(Reply(parts=parts, content_type="text/event-stream", chunked=True))
        with pytest.raises(ModelResponseError, match=r"stream chunk's delta.content is not a string"):
            _acomplete(OpenAIProvider("m", base_url=server.url))


def test_acomplete_token_counts_that_are_not_counts_are_unknown_with_a_note():
    usage = usage_dict(5, 2)
    usage["prompt_tokens"] = 10**400
    parts = (sse(chunk("ok", role="assistant")), sse(chunk(finish_reason="stop")),
             sse({"choices": [], "usage": usage}), sse("[DONE]"))
    with FakeOpenAI() as server:
        server.always(Reply(parts=parts, content_type="text/event-stream", chunked=True))
        with pytest.warns(TokenCountWarning, match=r"usage.prompt_tokens \(an integer of 401 digits\) is not a token"):
            completion = _acomplete(OpenAIProvider("m", base_url=server.url))
    assert (completion.text, completion.input_tokens, completion.output_tokens) == ("ok", None, 2)
    assert len(completion.notes) == 1


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_acomplete_decodes_compressed_streams_and_asks_only_for_what_it_decodes(coding):
    import gzip
    import zlib

    body = b"".join(part for part in stream_reply(["Hel", "lo"], usage=(3, 2)).parts if isinstance(part, bytes))
    compressed = gzip.compress(body) if coding == "gzip" else zlib.compress(body)

    async def main(provider):
        # A client made elsewhere asks for br and zstd by default: the request asks for gzip, deflate.
        async with httpx.AsyncClient() as client:
            return await provider.acomplete(MESSAGES, client=client)

    with FakeOpenAI() as server:
        server.always(Reply(parts=(compressed,), content_type="text/event-stream",
                            headers=(("Content-Encoding", coding),)))
        with OpenAIProvider("m", base_url=server.url) as provider:
            completion = asyncio.run(main(provider))
        assert server.requests[0].headers["accept-encoding"] == "gzip, deflate"
    assert (completion.text, completion.output_tokens) == ("Hello", 2)


@pytest.mark.parametrize("kind", PROVIDERS)
def test_acomplete_errors_carry_no_frames_and_no_chained_exceptions(kind):
    # The frames below acomplete() hold the server's bytes, and httpx's chained exceptions the
    # request headers with the key: a traceback with --showlocals must not see them.
    with HostileServer(trickled_body(0.1, content_type="application/json")) as server:
        with pytest.raises(ModelTimeoutError) as caught:
            _acomplete(_provider(kind, server, timeout=0.3, max_retries=0, stream=False))
    error = caught.value
    assert error.__cause__ is None and error.__suppress_context__
    files = {frame.filename for frame in traceback.extract_tb(error.__traceback__)}
    assert not any(name.endswith("_async.py") or "/httpx/" in name or "/httpcore/" in name for name in files), files


# --------------------------------------------------------------------------- metered clients


class Bench:
    """A Model of one run at ``url``, as the plugin makes it (key ``KEY``), and its totals."""

    def __init__(self, url: str, *, timeout: float = 10.0, retries: int = 0, max_response_bytes: int | None = None,
                 api_key: str | None = KEY) -> None:
        spec = ModelSpec(name="m", provider="openai", model="served-model", base_url=url)
        self.totals = CallTotals()
        self.model = Model(spec, lambda: None, run=1, timeout=timeout, totals=self.totals, meter=CallMeter(),
                           task="t", endpoint=lambda: (url, api_key), retries=retries,
                           max_response_bytes=max_response_bytes)

    def close(self) -> None:
        self.model.close()


@pytest.fixture
def bench_at() -> Iterator:
    made: list[Bench] = []

    def make(url: str, **options) -> Bench:
        made.append(Bench(url, **options))
        return made[-1]

    yield make
    for bench in made:
        bench.close()


def _sdk_call(bench: Bench, client: str, *, stream: bool, messages: list | None = None) -> str:
    """One chat completion through the metered ``client`` ("sdk", "async-sdk", "httpx"); what the
    app read, or the type and message of what it raised."""
    messages = MESSAGES if messages is None else messages
    try:
        if client == "sdk":
            reply = bench.model.openai_client().chat.completions.create(model="x", messages=messages, stream=stream)
            if not stream:
                return reply.choices[0].message.content or ""
            return "".join(c.choices[0].delta.content or "" for c in reply if c.choices)
        if client == "httpx":
            body = {"model": "x", "messages": messages, "stream": stream}
            with bench.model.httpx_client().stream("POST", "/chat/completions", json=body) as answer:
                return b"".join(answer.iter_bytes()).decode(errors="replace")

        async def main() -> str:
            sdk = bench.model.async_openai_client()
            reply = await sdk.chat.completions.create(model="x", messages=messages, stream=stream)
            if not stream:
                return reply.choices[0].message.content or ""
            return "".join([c.choices[0].delta.content or "" async for c in reply if c.choices])

        return asyncio.run(main())
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


CLIENTS = ("sdk", "async-sdk", "httpx")


@pytest.mark.parametrize("client", CLIENTS)
def test_metered_body_over_the_cap_is_cut_and_recorded(bench_at, client):
    events = [sse(chunk("b" * 1000, role="assistant"))] + [sse(chunk("b" * 1000)) for _ in range(3000)]
    with FakeOpenAI() as server:
        server.always(Reply(parts=tuple(events), content_type="text/event-stream", chunked=True))
        bench = bench_at(server.url, max_response_bytes=2**20)
        seen = _sdk_call(bench, client, stream=True)
    assert seen.startswith(("ReadError", "APIConnectionError")), seen[:200]
    failure = bench.totals.failure
    assert isinstance(failure, ModelResponseError) and "response larger than 1 MiB" in str(failure)
    assert bench.totals.calls == 0  # not measured as an answer


@pytest.mark.parametrize("client", CLIENTS)
def test_metered_endless_line_is_cut(bench_at, client):
    with FakeOpenAI() as server:
        server.always(split_reply(b"data: " + b"x" * 16_000_000, size=65536))
        bench = bench_at(server.url)
        started = time.perf_counter()
        seen = _sdk_call(bench, client, stream=True)
    assert time.perf_counter() - started < 10
    assert seen.startswith(("ReadError", "APIConnectionError")), seen[:200]
    assert "stream line longer than 8388608 characters" in str(bench.totals.failure)


@pytest.mark.parametrize("client", CLIENTS)
def test_metered_trickled_headers_are_cut_at_the_deadline(bench_at, client):
    with HostileServer(trickled_headers(0.1)) as server:
        bench = bench_at(server.url, timeout=0.5)
        started = time.perf_counter()
        seen = _sdk_call(bench, client, stream=True)
        elapsed = time.perf_counter() - started
        assert server.requests == 1
    assert 0.5 <= elapsed < 2.0, elapsed
    assert seen.startswith(("APITimeoutError", "ReadTimeout")), seen[:200]
    assert isinstance(bench.totals.failure, ModelTimeoutError)
    assert "timed out after 0.5 s waiting for the response" in str(bench.totals.failure)


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("stream", [True, False])
def test_metered_trickled_body_is_cut_at_the_deadline(bench_at, client, stream):
    content_type = "text/event-stream" if stream else "application/json"
    first = sse(chunk(role="assistant")) if stream else b""
    with HostileServer(trickled_body(0.1, content_type=content_type, first=first)) as server:
        bench = bench_at(server.url, timeout=0.5)
        started = time.perf_counter()
        seen = _sdk_call(bench, client, stream=stream)
        elapsed = time.perf_counter() - started
        assert server.requests == 1
    assert 0.5 <= elapsed < 2.0, elapsed
    assert seen.startswith(("APITimeoutError", "ReadTimeout")), seen[:200]
    assert "timed out after 0.5 s while the body was still arriving" in str(bench.totals.failure)


def test_metered_timeout_is_the_apps_own_when_it_sets_one(bench_at):
    with HostileServer(trickled_headers(0.1)) as server:
        bench = bench_at(server.url, timeout=30.0)
        client = bench.model.openai_client(timeout=0.4)
        started = time.perf_counter()
        with pytest.raises(openai.APITimeoutError):
            client.chat.completions.create(model="x", messages=MESSAGES)
    assert 0.4 <= time.perf_counter() - started < 2.0
    assert "timed out after 0.4 s" in str(bench.totals.failure)


@pytest.mark.parametrize("client", CLIENTS)
def test_metered_html_page_is_recorded_as_not_an_event_stream(bench_at, client):
    page = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    with FakeOpenAI() as server:
        server.always(raw_reply(page, content_type="text/html"))
        bench = bench_at(server.url)
        _sdk_call(bench, client, stream=True)  # the app gets the page, as it would in production
    assert "body is not an event stream: '<html><head><title>502 Bad Gateway" in str(bench.totals.failure)
    assert bench.totals.calls == 0


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("stream", [True, False])
def test_metered_reply_without_content_is_recorded_as_no_content(bench_at, client, stream):
    with FakeOpenAI() as server:
        server.always(stream_reply([], usage=(3, 0)) if stream else json_reply(completion_body("", usage=(3, 0))))
        bench = bench_at(server.url)
        seen = _sdk_call(bench, client, stream=stream)
    assert "Error" not in seen  # the app received the empty reply
    assert isinstance(bench.totals.failure, ModelResponseError)
    assert "no content received" in str(bench.totals.failure)
    assert bench.totals.calls == 0


def test_metered_absurd_token_counts_are_unknown_with_a_note(bench_at):
    usage = usage_dict(5, 2)
    usage["prompt_tokens"] = -3
    with FakeOpenAI() as server:
        server.always(json_reply(completion_body("ok") | {"usage": usage}))
        bench = bench_at(server.url)
        with pytest.warns(TokenCountWarning, match=r"usage.prompt_tokens -3 is not a token count"):
            assert _sdk_call(bench, "httpx", stream=False).startswith("{")
    assert (bench.totals.calls, bench.totals.input_tokens, bench.totals.output_tokens) == (1, None, 2)


# --------------------------------------------------------------------------- metered clients: secrets


def _echo(request) -> Reply:
    key = request.headers.get("authorization", "").removeprefix("Bearer ")
    kind = request.body["messages"][-1]["content"]
    if kind == "401":
        return error_reply(401, f"Incorrect API key provided: {key}")
    if kind == "error event":
        payload = json.dumps({"error": {"message": f"bad key {key}"}}).encode()
        return Reply(parts=(b"event: error\ndata: " + payload + b"\n\n",), content_type="text/event-stream",
                     chunked=True)
    return Reply(parts=(f"<html>{key[:20]}</html>".encode(),), content_type="text/html")


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("kind", ["401", "error event", "html"])
def test_metered_clients_never_hand_the_app_an_echoed_key(bench_at, client, kind):
    with FakeOpenAI() as server:
        server.always(_echo)
        bench = bench_at(server.url)
        seen = _sdk_call(bench, client, stream=kind != "401", messages=[{"role": "user", "content": kind}])
        assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"
    for piece in (KEY, KEY[8:20], KEY[-12:]):
        assert piece not in seen and piece not in str(bench.totals.failure)
    assert "[REDACTED]" in seen or "[REDACTED]" in str(bench.totals.failure)


def test_the_sdk_client_holds_no_key(bench_at):
    with FakeOpenAI() as server:
        server.always(json_reply(completion_body("ok")))
        bench = bench_at(server.url)
        client = bench.model.openai_client()
        assert KEY not in repr(vars(client)) and client.api_key != KEY
        client.chat.completions.create(model="x", messages=MESSAGES)
        assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_metered_connection_failure_reaches_the_app_without_httpcore_frames(bench_at):
    from fake_openai import closed_port

    bench = bench_at(f"http://127.0.0.1:{closed_port()}/v1")
    with pytest.raises(httpx.ConnectError) as caught:
        bench.model.httpx_client().post("/chat/completions", json={"model": "x", "messages": MESSAGES})
    chain, exc = [], caught.value
    while exc is not None:
        chain.append(exc)
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    assert not any(type(item).__module__.startswith("httpcore") for item in chain), chain
    assert "connection failed" in str(bench.totals.failure)


def test_the_endpoint_repr_redacts_its_url():
    endpoint = Endpoint(base_url="http://127.0.0.1:9/v1?api-key=hunter2-secret&api-version=1", model="m",
                        api_key=KEY)
    assert "hunter2" not in repr(endpoint) and KEY not in repr(endpoint)
    assert "api-version=1" in repr(endpoint)


def test_url_auth_metered_client_sends_the_url_credentials_and_no_key(monkeypatch):
    from pytest_modelbench.models.providers import resolve_openai_endpoint

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with FakeOpenAI() as server:
        server.always(json_reply(completion_body("ok")))
        url = server.url.replace("http://", "http://admin:hunter2-url-secret@")
        spec = ModelSpec(name="gateway", provider="openai", model="m", base_url=url, extra={"url_auth": True})
        base_url, api_key = resolve_openai_endpoint(spec, {"OPENAI_API_KEY": KEY})
        assert (base_url, api_key) == (url, None)  # with url_auth no key is sent, as by complete()
        model = Model(spec, lambda: None, run=1, timeout=10.0, totals=CallTotals(), meter=CallMeter(), task="t",
                      endpoint=lambda: (base_url, api_key), retries=0)
        try:
            reply = model.openai_client().chat.completions.create(model="x", messages=MESSAGES)
        finally:
            model.close()
        authorization = server.requests[0].headers["authorization"]
    assert reply.choices[0].message.content == "ok"
    assert authorization == "Basic YWRtaW46aHVudGVyMi11cmwtc2VjcmV0"  # base64 of admin:hunter2-url-secret
    assert "hunter2" not in repr(model.endpoint)
