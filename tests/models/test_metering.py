"""Metered clients: the official openai SDK (sync and async, streaming and not) and httpx,
against the real HTTP server of tests/fake_openai.py on 127.0.0.1.

Each test proves what the run recorded against what the app itself received: the usage the
SDK returned is the usage metered, the reply the app read is the reply stored.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator

import httpx
import openai
import pytest
from fake_openai import (
    FakeOpenAI,
    Pause,
    Reply,
    chunk,
    completion_body,
    error_reply,
    fake_openai_server,
    json_reply,
    sse,
    stream_reply,
    usage_dict,
)

from pytest_modelbench import ConfigError, ModelCallError, ModelResponseError
from pytest_modelbench.cost.prices import ModelPrice
from pytest_modelbench.models.cache import CachingProvider, ReplayMissError, ResponseStore
from pytest_modelbench.models.metering import Endpoint
from pytest_modelbench.models.model import CallMeter, CallTotals, Model
from pytest_modelbench.models.providers.openai import OpenAIProvider
from pytest_modelbench.models.specs import ModelSpec

KEY = "sk-metered-7f3a9c2e5b8d1a4f6c0e"
MESSAGES = [{"role": "user", "content": "Say hello"}]
PRICE = ModelPrice(model="served-model", input_usd_per_mtok=1000.0, output_usd_per_mtok=2000.0)  # $0.001 / $0.002 a token


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    with fake_openai_server() as fake:
        yield fake


class Bench:
    """A Model of one run at the fake server, as the plugin makes it, and its totals."""

    def __init__(self, server: FakeOpenAI, *, store: ResponseStore | None = None, replay: bool = False,
                 run: int = 1, retries: int = 2, api_key: str | None = KEY, params: dict | None = None) -> None:
        self.spec = ModelSpec(name="m", provider="openai", model="served-model", base_url=server.url,
                              params=params or {})
        self.provider = OpenAIProvider("served-model", base_url=server.url, api_key=api_key, max_retries=retries,
                                       sleep=lambda seconds: None)
        provider = self.provider
        if store is not None:
            provider = CachingProvider(lambda: self.provider, store, self.spec, replay=replay, environ={})
        self.totals = CallTotals()
        self.model = Model(self.spec, lambda: provider, run=run, timeout=10.0, totals=self.totals,
                           meter=CallMeter(PRICE), task="t", endpoint=lambda: (server.url, api_key),
                           retries=retries)

    def close(self) -> None:
        self.model.close()
        self.provider.close()


@pytest.fixture
def bench(server: FakeOpenAI) -> Iterator[Bench]:
    made = Bench(server)
    yield made
    made.close()


def _cost(input_tokens: int, output_tokens: int) -> float:
    return input_tokens * 0.001 + output_tokens * 0.002


# --------------------------------------------------------------------------- the openai SDK, sync


def test_sdk_whole_response_is_metered(server: FakeOpenAI, bench: Bench) -> None:
    server.reply(json_reply(completion_body("Hello!", usage=(7, 3))))
    client = bench.model.openai_client()
    reply = client.chat.completions.create(model="app-default-model", messages=MESSAGES, max_tokens=20)
    assert reply.choices[0].message.content == "Hello!"
    totals = bench.totals
    assert (totals.calls, totals.input_tokens, totals.output_tokens) == (1, reply.usage.prompt_tokens,
                                                                         reply.usage.completion_tokens)
    assert totals.cost_usd == pytest.approx(_cost(7, 3))
    assert totals.latency_ms > 0 and totals.ttft_ms is None and totals.failure is None
    sent = server.requests[0]
    assert sent.body["model"] == "served-model"  # the benchmark decides which model answers
    assert sent.body["max_tokens"] == 20 and "stream_options" not in sent.body
    assert sent.headers["authorization"] == f"Bearer {KEY}"


def test_sdk_stream_is_metered_and_the_app_sees_what_it_asked_for(server: FakeOpenAI, bench: Bench) -> None:
    server.reply(stream_reply(["Hel", "lo"], usage=(5, 2), delay=0.05))
    client = bench.model.openai_client()
    stream = client.chat.completions.create(model="x", messages=MESSAGES, stream=True)
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == "Hello"
    # usage was asked for on the app's behalf, and its usage-only chunk taken out again
    assert server.requests[0].body["stream_options"] == {"include_usage": True}
    assert all(c.choices for c in chunks) and all(c.usage is None for c in chunks)
    totals = bench.totals
    assert (totals.input_tokens, totals.output_tokens) == (5, 2)
    assert totals.ttft_ms >= 50.0 and totals.latency_ms >= totals.ttft_ms
    assert totals.cost_usd == pytest.approx(_cost(5, 2))


def test_sdk_stream_with_usage_asked_by_the_app(server: FakeOpenAI, bench: Bench) -> None:
    server.reply(stream_reply(["4"], usage=(11, 1)))
    client = bench.model.openai_client()
    chunks = list(client.chat.completions.create(
        model="x", messages=MESSAGES, stream=True, stream_options={"include_usage": True}))
    usage = chunks[-1].usage
    assert chunks[-1].choices == [] and usage is not None
    assert (bench.totals.input_tokens, bench.totals.output_tokens) == (usage.prompt_tokens, usage.completion_tokens)


def test_sdk_stream_closed_early_is_measured_but_not_stored(server: FakeOpenAI, tmp_path) -> None:
    store = ResponseStore(tmp_path / "s.sqlite")
    made = Bench(server, store=store)
    server.reply(stream_reply(["a", "b", "c"], usage=(3, 3), gap=0.02))
    stream = made.model.openai_client().chat.completions.create(model="x", messages=MESSAGES, stream=True)
    first = next(iter(stream))
    stream.close()
    assert first.choices[0].delta.content in ("", "a")
    assert made.totals.calls == 1 and made.totals.output_tokens is None  # no usage arrived
    assert len(store) == 0
    made.close()
    store.close()


def test_sdk_tool_call_fragments_reach_the_app(server: FakeOpenAI, bench: Bench) -> None:
    call = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}
    parts = [
        sse(chunk(role="assistant", content=None, tool_calls=[call])),
        sse(chunk(tool_calls=[{"index": 0, "function": {"arguments": '{"city": '}}])),
        sse(chunk(tool_calls=[{"index": 0, "function": {"arguments": '"Paris"}'}}])),
        sse(chunk(finish_reason="tool_calls")),
        sse(chunk(no_choices=True, usage=usage_dict(20, 9))),
        sse("[DONE]"),
    ]
    server.reply(Reply(parts=tuple(parts), content_type="text/event-stream", chunked=True))
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    stream = bench.model.openai_client().chat.completions.create(
        model="x", messages=MESSAGES, stream=True, tools=tools, tool_choice="auto")
    arguments = "".join(
        c.choices[0].delta.tool_calls[0].function.arguments or "" for c in stream if c.choices[0].delta.tool_calls
    )
    assert json.loads(arguments) == {"city": "Paris"}
    assert server.requests[0].body["tools"] == tools
    assert (bench.totals.input_tokens, bench.totals.output_tokens) == (20, 9)
    assert bench.totals.ttft_ms is not None  # a tool-call delta is output


def test_retries_are_the_plugins_and_counted(server: FakeOpenAI, bench: Bench) -> None:
    server.reply(error_reply(503, "busy"), json_reply(completion_body("ok", usage=(4, 1))))
    reply = bench.model.openai_client().chat.completions.create(model="x", messages=MESSAGES)
    assert reply.choices[0].message.content == "ok"
    assert len(server.requests) == 2 and bench.totals.retries == 1 and bench.totals.calls == 1
    assert bench.totals.failure is None


def test_a_failed_call_reaches_the_app_and_is_recorded(server: FakeOpenAI, bench: Bench) -> None:
    server.always(error_reply(400, f"bad request for key {KEY}"))
    with pytest.raises(openai.BadRequestError):
        bench.model.openai_client().chat.completions.create(model="x", messages=MESSAGES)
    failure = bench.totals.failure
    assert isinstance(failure, ModelCallError) and failure.status_code == 400
    assert "HTTP 400" in str(failure) and KEY not in str(failure)
    assert bench.totals.calls == 0 and len(server.requests) == 1  # a 400 is not retried


def test_server_errors_are_retried_then_recorded(server: FakeOpenAI, bench: Bench) -> None:
    server.always(error_reply(500, "down"))
    with pytest.raises(openai.InternalServerError):
        bench.model.openai_client().chat.completions.create(model="x", messages=MESSAGES)
    assert len(server.requests) == 3
    assert "gave up after 3 attempts" in str(bench.totals.failure)


def test_truncated_stream_is_a_recorded_failure(server: FakeOpenAI, bench: Bench) -> None:
    server.reply(stream_reply(["par", "tial"], finish_reason=None, usage=None, done=False))
    text = "".join(c.choices[0].delta.content or "" for c in bench.model.openai_client().chat.completions.create(
        model="x", messages=MESSAGES, stream=True))
    assert text == "partial"
    assert isinstance(bench.totals.failure, ModelResponseError) and "truncated" in str(bench.totals.failure)


def test_stream_options_rejection_falls_back(server: FakeOpenAI, bench: Bench) -> None:
    server.reply(error_reply(400, "Unrecognized request argument supplied: stream_options"),
                 stream_reply(["ok"], usage=None))
    chunks = list(bench.model.openai_client().chat.completions.create(model="x", messages=MESSAGES, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "ok"
    assert "stream_options" not in server.requests[1].body
    assert bench.totals.calls == 1 and bench.totals.retries == 0 and bench.totals.input_tokens is None


def test_spec_params_fill_what_the_app_left_out(server: FakeOpenAI) -> None:
    made = Bench(server, params={"temperature": 0, "seed": 7, "stream": False})
    server.reply(json_reply(completion_body("ok")))
    made.model.openai_client().chat.completions.create(model="x", messages=MESSAGES, seed=1)
    body = server.requests[0].body
    assert (body["temperature"], body["seed"]) == (0, 1) and "stream" not in body
    made.close()


def test_no_key_sends_no_authorization(server: FakeOpenAI) -> None:
    made = Bench(server, api_key=None)
    server.reply(json_reply(completion_body("ok")))
    made.model.openai_client().chat.completions.create(model="x", messages=MESSAGES)
    assert "authorization" not in server.requests[0].headers
    made.close()


# --------------------------------------------------------------------------- cache and replay


def test_sdk_calls_share_keys_with_complete(server: FakeOpenAI, tmp_path) -> None:
    store = ResponseStore(tmp_path / "s.sqlite")
    server.reply(json_reply(completion_body("stored answer", usage=(6, 2))))
    recording = Bench(server, store=store)
    recording.model.openai_client().chat.completions.create(
        model="x", messages=MESSAGES, max_completion_tokens=9, temperature=0)
    assert len(store) == 1
    recording.close()
    # complete() of the same run with the same request is answered from the store
    reading = Bench(server, store=store)
    completion = reading.model.complete(MESSAGES, max_tokens=9, temperature=0)
    assert completion.text == "stored answer" and reading.totals.cached_calls == 1
    assert len(server.requests) == 1
    reading.close()
    store.close()


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_replay_serves_the_form_the_app_asks_for(server: FakeOpenAI, tmp_path, stream: bool) -> None:
    path = tmp_path / "s.sqlite"
    store = ResponseStore(path)
    tool_call = {"index": 0, "id": "call_9", "type": "function",
                 "function": {"name": "add", "arguments": '{"a": 2, "b": 3}'}}
    parts = (sse(chunk(role="assistant", content="Let me add.")), sse(chunk(tool_calls=[tool_call])),
             sse(chunk(finish_reason="tool_calls")), sse(chunk(no_choices=True, usage=usage_dict(30, 12))),
             sse("[DONE]"))
    server.reply(Reply(parts=parts, content_type="text/event-stream", chunked=True))
    recording = Bench(server, store=store)
    list(recording.model.openai_client().chat.completions.create(model="x", messages=MESSAGES, stream=True))
    recording.close()
    store.close()
    replay_store = ResponseStore(path, readonly=True)
    replaying = Bench(server, store=replay_store, replay=True)
    client = replaying.model.openai_client()
    if stream:
        chunks = list(client.chat.completions.create(model="x", messages=MESSAGES, stream=True,
                                                     stream_options={"include_usage": True}))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        calls = [call for c in chunks if c.choices for call in (c.choices[0].delta.tool_calls or [])]
        assert chunks[-1].usage.prompt_tokens == 30
        name, arguments = calls[0].function.name, calls[0].function.arguments
    else:
        reply = client.chat.completions.create(model="x", messages=MESSAGES)
        text = reply.choices[0].message.content
        name, arguments = reply.choices[0].message.tool_calls[0].function.name, \
            reply.choices[0].message.tool_calls[0].function.arguments
        assert reply.usage.completion_tokens == 12
    assert text == "Let me add." and name == "add" and json.loads(arguments) == {"a": 2, "b": 3}
    assert len(server.requests) == 1  # the replay made no request
    assert (replaying.totals.cached_calls, replaying.totals.input_tokens) == (1, 30)
    # the next call of the run was never recorded (older SDKs wrap the error in their own)
    with pytest.raises((openai.APIConnectionError, ReplayMissError)):
        client.chat.completions.create(model="x", messages=MESSAGES)
    assert isinstance(replaying.totals.failure, ReplayMissError)
    replaying.close()
    replay_store.close()


# --------------------------------------------------------------------------- async SDK


@pytest.mark.asyncio
async def test_async_sdk_stream_and_whole_response(server: FakeOpenAI, bench: Bench) -> None:
    server.reply(stream_reply(["Hi", "!"], usage=(8, 2), delay=0.03), json_reply(completion_body("Yes", usage=(9, 1))))
    async with bench.model.async_openai_client() as client:
        stream = await client.chat.completions.create(model="x", messages=MESSAGES, stream=True)
        text = "".join([c.choices[0].delta.content or "" async for c in stream])
        reply = await client.chat.completions.create(model="x", messages=MESSAGES)
    assert (text, reply.choices[0].message.content) == ("Hi!", "Yes")
    totals = bench.totals
    assert (totals.calls, totals.input_tokens, totals.output_tokens) == (2, 8 + reply.usage.prompt_tokens, 3)
    assert totals.ttft_ms >= 30.0
    assert totals.cost_usd == pytest.approx(_cost(17, 3))


@pytest.mark.asyncio
async def test_async_sdk_retries_and_failures(server: FakeOpenAI, bench: Bench) -> None:
    server.reply(error_reply(429, "slow down"), json_reply(completion_body("ok", usage=(1, 1))), error_reply(404, "no"))
    client = bench.model.async_openai_client()
    assert (await client.chat.completions.create(model="x", messages=MESSAGES)).choices[0].message.content == "ok"
    with pytest.raises(openai.NotFoundError):
        await client.chat.completions.create(model="x", messages=MESSAGES)
    assert bench.totals.retries == 1 and bench.totals.failure.status_code == 404
    await client.close()


# --------------------------------------------------------------------------- httpx and the endpoint


def test_httpx_client_meters_chat_completions_only(server: FakeOpenAI, bench: Bench) -> None:
    server.reply(json_reply({"object": "list", "data": []}), json_reply(completion_body("ok", usage=(3, 4))))
    client = bench.model.httpx_client()
    assert client.get("/models").json() == {"object": "list", "data": []}
    response = client.post("/chat/completions", json={"model": "m", "messages": MESSAGES})
    assert response.json()["choices"][0]["message"]["content"] == "ok"
    assert bench.totals.calls == 1 and bench.totals.output_tokens == 4
    assert server.requests[0].path == "/v1/models"


def test_endpoint_is_where_the_model_is_served(server: FakeOpenAI, bench: Bench) -> None:
    endpoint = bench.model.endpoint
    assert endpoint == Endpoint(server.url, "served-model", KEY)
    assert KEY not in repr(endpoint)


@pytest.mark.parametrize("provider", ["python", "anthropic", "echo"])
def test_non_openai_models_say_what_is_available(provider: str) -> None:
    spec = ModelSpec(name="x", provider=provider, model="mod:fn")
    model = Model(spec, lambda: None, run=1, timeout=1.0, totals=CallTotals())
    for what in ("openai_client", "async_openai_client", "httpx_client", "httpx_async_client"):
        with pytest.raises(ConfigError, match=rf"model.{what}\(\) needs an OpenAI-compatible model.*"
                                              rf"uses provider '{provider}'.*model.complete\(\)"):
            getattr(model, what)()
    with pytest.raises(ConfigError, match="model.endpoint needs an OpenAI-compatible model"):
        model.endpoint  # noqa: B018


def test_without_the_openai_package_the_error_names_the_extra(bench: Bench, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "openai", None)
    with pytest.raises(ConfigError, match=r"pip install 'pytest-modelbench\[openai\]'"):
        bench.model.openai_client()


def test_mock_transport_under_the_meter(server: FakeOpenAI) -> None:
    """The network side is an ordinary httpx transport: MockTransport works as a test seam."""
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(200, json=completion_body("mocked", usage=(2, 2)))

    made = Bench(server)
    client = made.model.httpx_client(_inner_transport=httpx.MockTransport(handler))
    assert client.post("/chat/completions", json={"messages": MESSAGES}).json()["choices"][0]["message"]["content"] \
        == "mocked"
    assert seen[0]["model"] == "served-model" and made.totals.input_tokens == 2
    assert server.requests == []
    made.close()


def test_slow_body_is_timed_to_its_last_byte(server: FakeOpenAI, bench: Bench) -> None:
    body = json.dumps(completion_body("slow", usage=(1, 1))).encode()
    server.reply(Reply(parts=(body[:10], Pause(0.05), body[10:]), chunked=True))
    bench.model.openai_client().chat.completions.create(model="x", messages=MESSAGES)
    assert bench.totals.latency_ms >= 50.0
