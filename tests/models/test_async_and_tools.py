"""Providers' async path (acomplete), async ``python:`` models, and tool calls (OpenAI and
Anthropic, whole and streamed), against the 127.0.0.1 servers of tests/fake_*.py."""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap
import threading
from collections.abc import Iterator

import pytest
from fake_anthropic import (
    block_start,
    events_reply,
    fake_anthropic_server,
    json_delta,
    message_delta,
    message_start,
    message_stop,
    message_stream_reply,
    text_delta,
)
from fake_openai import (
    FakeOpenAI,
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

from pytest_modelbench import ModelCallError
from pytest_modelbench.models.aio import IOLoop, io_loop
from pytest_modelbench.models.cache import ResponseStore, request_key
from pytest_modelbench.models.completion import Completion, ToolCall, coerce_tool_calls, tool_calls_from_raw
from pytest_modelbench.models.model import CallTotals, Model
from pytest_modelbench.models.providers.anthropic import AnthropicProvider, map_tool_messages, map_tool_params
from pytest_modelbench.models.providers.local import PythonProvider
from pytest_modelbench.models.providers.openai import OpenAIProvider
from pytest_modelbench.models.specs import ModelSpec

MESSAGES = [{"role": "user", "content": "What is the weather in Paris?"}]
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Current weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    with fake_openai_server() as fake:
        yield fake


@pytest.fixture
def anthropic_server(monkeypatch: pytest.MonkeyPatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    with fake_anthropic_server() as fake:
        yield fake


def _tool_stream(pieces: list[str], *, call_id: str = "call_1") -> Reply:
    first = {"index": 0, "id": call_id, "type": "function", "function": {"name": "get_weather", "arguments": ""}}
    parts = [sse(chunk(role="assistant", content=None, tool_calls=[first]))]
    parts += [sse(chunk(tool_calls=[{"index": 0, "function": {"arguments": piece}}])) for piece in pieces]
    parts += [sse(chunk(finish_reason="tool_calls")), sse(chunk(no_choices=True, usage=usage_dict(40, 12))),
              sse("[DONE]")]
    return Reply(parts=tuple(parts), content_type="text/event-stream", chunked=True)


# --------------------------------------------------------------------------- OpenAI tool calls


def test_openai_streamed_tool_call_fragments_are_joined(server: FakeOpenAI) -> None:
    server.reply(_tool_stream(['{"ci', 'ty": "Pa', 'ris"}']))
    with OpenAIProvider("m", base_url=server.url) as provider:
        completion = provider.complete(MESSAGES, tools=TOOLS, tool_choice="required")
    assert server.requests[0].body["tools"] == TOOLS and server.requests[0].body["tool_choice"] == "required"
    assert completion.tool_calls == (ToolCall("get_weather", {"city": "Paris"}, '{"city": "Paris"}', "call_1"),)
    assert completion.finish_reason == "tool_calls" and completion.text == ""


def test_openai_parallel_tool_calls_by_index(server: FakeOpenAI) -> None:
    calls = [{"index": 1, "id": "b", "type": "function", "function": {"name": "g", "arguments": '{"x": 2}'}},
             {"index": 0, "id": "a", "type": "function", "function": {"name": "f", "arguments": '{"x"'}}]
    parts = (sse(chunk(role="assistant", tool_calls=calls)),
             sse(chunk(tool_calls=[{"index": 0, "function": {"arguments": ": 1}"}}])),
             sse(chunk(finish_reason="tool_calls")), sse("[DONE]"))
    server.reply(Reply(parts=parts, content_type="text/event-stream", chunked=True))
    with OpenAIProvider("m", base_url=server.url) as provider:
        completion = provider.complete(MESSAGES, tools=TOOLS)
    assert [(c.id, c.name, c.arguments) for c in completion.tool_calls] == [("a", "f", {"x": 1}), ("b", "g", {"x": 2})]


def test_openai_whole_response_tool_calls_and_bad_json_kept_raw(server: FakeOpenAI) -> None:
    body = completion_body("", finish_reason="tool_calls")
    body["choices"][0]["message"]["tool_calls"] = [
        {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}},
        {"id": "c2", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": '}},
    ]
    server.reply(json_reply(body))
    with OpenAIProvider("m", base_url=server.url, stream=False) as provider:
        completion = provider.complete(MESSAGES, tools=TOOLS)
    assert completion.tool_calls[0].arguments == {"city": "Oslo"}
    assert completion.tool_calls[1].arguments is None and completion.tool_calls[1].arguments_json == '{"city": '


# --------------------------------------------------------------------------- Anthropic tool use


def test_anthropic_tools_are_mapped_both_ways(anthropic_server) -> None:
    reply = events_reply([
        message_start(input_tokens=50),
        block_start(0, {"type": "text", "text": ""}),
        text_delta(0, "Checking."),
        block_start(1, {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}),
        json_delta(1, '{"city": '),
        json_delta(1, '"Paris"}'),
        message_delta("tool_use", usage={"output_tokens": 20}),
        message_stop(),
    ])
    anthropic_server.reply(reply)
    conversation = [
        {"role": "user", "content": "Weather in Oslo and Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "toolu_0", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}]},
        {"role": "tool", "tool_call_id": "toolu_0", "content": "-3 C, snow"},
    ]
    with AnthropicProvider("claude", base_url=anthropic_server.url) as provider:
        completion = provider.complete(conversation, tools=TOOLS, tool_choice={"type": "function",
                                                                                 "function": {"name": "get_weather"}})
    body = anthropic_server.requests[0].body
    assert body["tools"] == [{"name": "get_weather", "description": "Current weather of a city",
                              "input_schema": TOOLS[0]["function"]["parameters"]}]
    assert body["tool_choice"] == {"type": "tool", "name": "get_weather"}
    assert body["messages"][1] == {"role": "assistant", "content": [
        {"type": "tool_use", "id": "toolu_0", "name": "get_weather", "input": {"city": "Oslo"}}]}
    assert body["messages"][2] == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_0", "content": "-3 C, snow"}]}
    assert completion.text == "Checking." and completion.finish_reason == "tool_use"
    assert completion.tool_calls == (ToolCall("get_weather", {"city": "Paris"}, '{"city": "Paris"}', "toolu_1"),)
    assert conversation[1]["content"] == ""  # the caller's messages are not changed


@pytest.mark.parametrize(("choice", "mapped"), [
    ("auto", {"type": "auto"}), ("required", {"type": "any"}), ("none", {"type": "none"}),
    ({"type": "any"}, {"type": "any"}),
])
def test_anthropic_tool_choice_mapping(choice, mapped) -> None:
    params = {"tool_choice": choice}
    map_tool_params(params)
    assert params["tool_choice"] == mapped


def test_anthropic_parallel_tool_calls_off_and_bad_choice() -> None:
    params = {"tool_choice": "auto", "parallel_tool_calls": False}
    map_tool_params(params)
    assert params == {"tool_choice": {"type": "auto", "disable_parallel_tool_use": True}}
    with pytest.raises(ValueError, match="tool_choice 'sometimes' is not allowed; use auto, required, none"):
        map_tool_params({"tool_choice": "sometimes"})


def test_anthropic_consecutive_tool_results_share_one_user_message() -> None:
    calls = [{"id": i, "type": "function", "function": {"name": "f", "arguments": "{}"}} for i in ("a", "b")]
    mapped = map_tool_messages([
        {"role": "user", "content": "go"}, {"role": "assistant", "content": None, "tool_calls": calls},
        {"role": "tool", "tool_call_id": "a", "content": "1"}, {"role": "tool", "tool_call_id": "b", "content": "2"},
    ])
    assert [m["role"] for m in mapped] == ["user", "assistant", "user"]
    assert [block["tool_use_id"] for block in mapped[2]["content"]] == ["a", "b"]


def test_anthropic_whole_message_tool_use(anthropic_server) -> None:
    anthropic_server.reply(json_reply({
        "id": "msg", "type": "message", "role": "assistant", "model": "claude", "stop_reason": "tool_use",
        "content": [{"type": "tool_use", "id": "toolu_9", "name": "get_weather", "input": {"city": "Rome"}}],
        "usage": {"input_tokens": 10, "output_tokens": 5}}))
    with AnthropicProvider("claude", base_url=anthropic_server.url, stream=False) as provider:
        completion = provider.complete(MESSAGES, tools=TOOLS)
    assert completion.tool_calls[0].arguments == {"city": "Rome"} and completion.tool_calls[0].id == "toolu_9"
    assert tool_calls_from_raw(completion.raw) == completion.tool_calls


# --------------------------------------------------------------------------- async providers


@pytest.mark.asyncio
async def test_openai_acomplete_streams_and_measures(server: FakeOpenAI) -> None:
    server.reply(stream_reply(["Hel", "lo"], usage=(5, 2), delay=0.03), _tool_stream(['{"city": "Lima"}']))
    provider = OpenAIProvider("m", base_url=server.url, api_key="sk-async-test-0123456789")
    async with provider.async_client() as client:
        completion = await provider.acomplete(MESSAGES, client=client, max_tokens=7)
        tools = await provider.acomplete(MESSAGES, client=client, tools=TOOLS)
    provider.close()
    assert (completion.text, completion.input_tokens, completion.output_tokens) == ("Hello", 5, 2)
    assert completion.ttft_ms >= 30.0 and completion.latency_ms >= completion.ttft_ms
    assert server.requests[0].body["stream_options"] == {"include_usage": True}
    assert server.requests[0].headers["authorization"] == "Bearer sk-async-test-0123456789"
    assert tools.tool_calls[0].arguments == {"city": "Lima"}


@pytest.mark.asyncio
async def test_openai_acomplete_retries_like_complete(server: FakeOpenAI) -> None:
    server.reply(error_reply(500, "boom"), json_reply(completion_body("ok")))
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    provider = OpenAIProvider("m", base_url=server.url)
    completion = await provider.acomplete(MESSAGES, sleep=sleep)  # a client made for this call
    assert completion.text == "ok" and completion.retries == 1 and len(slept) == 1
    server.always(error_reply(401, "no key"))
    with pytest.raises(ModelCallError, match="HTTP 401"):
        await provider.acomplete(MESSAGES, sleep=sleep)
    provider.close()


@pytest.mark.asyncio
async def test_anthropic_acomplete(anthropic_server) -> None:
    anthropic_server.reply(message_stream_reply(["4"], usage=(12, 1)))
    provider = AnthropicProvider("claude", base_url=anthropic_server.url)
    completion = await provider.acomplete([{"role": "system", "content": "Be brief."}, *MESSAGES])
    provider.close()
    assert (completion.text, completion.input_tokens, completion.output_tokens) == ("4", 12, 1)
    assert anthropic_server.requests[0].body["system"] == "Be brief."


def test_sync_complete_reports_retries(server: FakeOpenAI) -> None:
    server.reply(error_reply(503, "busy"), error_reply(503, "busy"), json_reply(completion_body("ok")))
    with OpenAIProvider("m", base_url=server.url, sleep=lambda s: None) as provider:
        assert provider.complete(MESSAGES).retries == 2


# --------------------------------------------------------------------------- python: models


@pytest.fixture
def pipelines(tmp_path, monkeypatch):
    (tmp_path / "async_pipelines.py").write_text(textwrap.dedent("""
        import asyncio
        import threading

        LOOPS = set()

        async def answer(prompt, *, messages=None, tools=None):
            LOOPS.add(id(asyncio.get_running_loop()))
            await asyncio.sleep(0.01)
            if tools:
                return {"text": "", "tool_calls": [{"name": tools[0]["function"]["name"],
                                                    "arguments": {"city": "Paris"}, "id": "py_1"}]}
            return {"text": prompt.upper(), "input_tokens": 3, "output_tokens": 1}

        async def broken(prompt):
            raise RuntimeError("pipeline down")

        def threaded(prompt):
            return threading.current_thread().name

        def bad_tool_calls(prompt):
            return {"text": "", "tool_calls": [42]}
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("async_pipelines", None)


def test_async_python_model_from_sync_code(pipelines) -> None:
    provider = PythonProvider("async_pipelines:answer")
    assert provider.is_async
    first = provider.complete(MESSAGES)
    second = provider.complete(MESSAGES)
    assert first.text == MESSAGES[0]["content"].upper() and first.latency_ms >= 10.0
    import async_pipelines

    assert len(async_pipelines.LOOPS) == 1  # one long-lived loop: module-level async resources survive
    assert second.input_tokens == 3


def test_async_python_model_while_a_loop_runs_in_this_thread(pipelines) -> None:
    provider = PythonProvider("async_pipelines:answer")

    async def inside_an_async_test() -> Completion:
        return provider.complete(MESSAGES)  # a sync call made from a running loop

    assert asyncio.run(inside_an_async_test()).text.startswith("WHAT IS")


def test_async_python_model_errors_and_tool_calls(pipelines) -> None:
    with pytest.raises(ModelCallError, match="python model async_pipelines:broken raised RuntimeError: pipeline down"):
        PythonProvider("async_pipelines:broken").complete(MESSAGES)
    completion = PythonProvider("async_pipelines:answer").complete(MESSAGES, tools=TOOLS)
    assert completion.tool_calls == (ToolCall("get_weather", {"city": "Paris"}, '{"city": "Paris"}', "py_1"),)
    assert completion.finish_reason == "tool_calls"
    assert tool_calls_from_raw(completion.raw) == completion.tool_calls  # survives the response store
    from pytest_modelbench import ModelResponseError

    with pytest.raises(ModelResponseError, match="returned bad tool_calls: tool call 0 is 42"):
        PythonProvider("async_pipelines:bad_tool_calls").complete(MESSAGES)


@pytest.mark.asyncio
async def test_model_acomplete_with_sync_and_async_python_models(pipelines) -> None:
    for target, expected in (("async_pipelines:answer", MESSAGES[0]["content"].upper()),
                             ("async_pipelines:threaded", None)):
        totals = CallTotals()
        spec = ModelSpec(name="p", provider="python", model=target)
        provider = PythonProvider(target)
        model = Model(spec, lambda provider=provider: provider, run=1, timeout=5.0, totals=totals)
        completion = await model.acomplete(MESSAGES)
        if expected is not None:
            assert completion.text == expected
        else:  # a plain function runs in a worker thread, not on the test's loop
            assert completion.text != threading.current_thread().name
        assert totals.calls == 1


@pytest.mark.asyncio
async def test_model_acomplete_uses_the_store(server: FakeOpenAI, tmp_path) -> None:
    server.reply(stream_reply(["stored"], usage=(4, 1)))
    spec = ModelSpec(name="m", provider="openai", model="m", base_url=server.url)
    store = ResponseStore(tmp_path / "s.sqlite")
    from pytest_modelbench.models.cache import CachingProvider

    inner = OpenAIProvider("m", base_url=server.url)
    caching = CachingProvider(lambda: inner, store, spec, replay=False, environ={})
    first = Model(spec, lambda: caching, run=1, timeout=5.0, totals=CallTotals())
    assert (await first.acomplete(MESSAGES, tools=TOOLS)).text == "stored"
    totals = CallTotals()
    again = Model(spec, lambda: caching, run=1, timeout=5.0, totals=totals)
    assert again.complete(MESSAGES, tools=TOOLS).text == "stored" and totals.cached_calls == 1
    assert len(server.requests) == 1
    key = request_key(spec, MESSAGES, max_tokens=None, temperature=None, params={"tools": TOOLS}, run=1, call_index=0)
    assert json.loads(key.canonical)["request"]["params"]["tools"] == TOOLS  # tools are part of the key
    caching.close()
    store.close()


def test_io_loop_refuses_to_wait_for_itself() -> None:
    loop = IOLoop("test-io")

    async def nested() -> None:
        async def inner() -> int:
            return 1

        loop.run(inner())

    with pytest.raises(RuntimeError, match="use 'await model.acomplete"):
        loop.run(nested())
    loop.close()
    assert not loop.running


def test_io_loop_is_shared_and_restarts() -> None:
    async def which() -> int:
        return id(asyncio.get_running_loop())

    assert io_loop().run(which()) == io_loop().run(which())


# --------------------------------------------------------------------------- tool-call values


def test_coerce_tool_calls_forms() -> None:
    calls = coerce_tool_calls([
        ToolCall.from_json("a", '{"x": 1}'),
        {"id": "c", "type": "function", "function": {"name": "b", "arguments": '{"y": 2}'}},
        {"name": "c", "arguments": {"z": 3}},
    ])
    assert [(c.name, c.arguments) for c in calls] == [("a", {"x": 1}), ("b", {"y": 2}), ("c", {"z": 3})]
    assert ToolCall.from_json("f", "").arguments == {} and ToolCall.from_json("f", "[1]").arguments is None
    with pytest.raises(ValueError, match="tool call 0 has arguments 7"):
        coerce_tool_calls([{"name": "f", "arguments": 7}])
