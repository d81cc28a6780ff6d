"""Benchmarking a team's own app code in whole pytest sessions: an app written against the
openai SDK (sync and async) runs unchanged and its calls show in the summary with tokens and
cost; async ``python:`` pipelines work in sync and async tests (pytest-asyncio auto and strict
modes, anyio); tool calls from a ``python:`` model."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator

import pytest
from fake_openai import FakeOpenAI, RecordedRequest, Reply, error_reply, fake_openai_server, stream_reply

SECRET = "sk-app-test-secret-0123456789abcdef"

#: The team's app: written against openai.OpenAI, knows nothing about pytest-modelbench.
APP = '''
import openai

MODEL = "gpt-4o-mini"


def answer(client: openai.OpenAI, question: str) -> str:
    reply = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "system", "content": "Answer with a number."}, {"role": "user", "content": question}],
        max_tokens=10,
    )
    return reply.choices[0].message.content


def answer_streaming(client: openai.OpenAI, question: str) -> str:
    stream = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": question}],
                                            stream=True)
    return "".join(chunk.choices[0].delta.content or "" for chunk in stream)


async def answer_async(client: openai.AsyncOpenAI, question: str) -> str:
    stream = await client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": question}],
                                                  stream=True)
    return "".join([chunk.choices[0].delta.content or "" async for chunk in stream])
'''


class Calculator:
    """Answers 'What is A + B?' (the last message) correctly, streaming or not; 12 in, 1 out."""

    def __call__(self, request: RecordedRequest) -> Reply:
        import re

        from fake_openai import completion_body, json_reply

        prompt = request.body["messages"][-1]["content"]
        a, b = (int(n) for n in re.findall(r"\d+", prompt))
        if request.body.get("stream"):
            return stream_reply([str(a + b)], usage=(12, 1))
        return json_reply(completion_body(str(a + b), usage=(12, 1)))


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    with fake_openai_server() as fake:
        yield fake


def _project(pytester: pytest.Pytester, extra_ini: str = "") -> None:
    pytester.makepyprojecttoml(f"""
        [tool.pytest.ini_options]
        pythonpath = ["."]
        asyncio_default_fixture_loop_scope = "function"
        {extra_ini}

        [tool.modelbench.prices]
        calc = {{ input = 1000.0, output = 10000.0 }}
    """)
    pytester.makepyfile(app=APP)


def test_openai_app_runs_unchanged_and_is_metered(pytester: pytest.Pytester, server: FakeOpenAI, monkeypatch) -> None:
    server.always(Calculator())
    _project(pytester)
    pytester.makepyfile(test_app="""
        import pytest
        import app

        @pytest.mark.modelbench(category="reasoning", runs=2)
        def test_whole(model):
            assert app.answer(model.openai_client(), "What is 2 + 3?") == "5"

        @pytest.mark.modelbench(category="reasoning", runs=2)
        def test_streaming(model):
            assert app.answer_streaming(model.openai_client(), "What is 4 + 4?") == "8"
    """)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    result = pytester.runpytest_subprocess(f"--modelbench-models=calc=openai:calc@{server.url}",
                                           "--modelbench-json=r.json")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*modelbench summary*", "*calc*100.0*", "*modelbench cost*"])
    document = json.loads((pytester.path / "r.json").read_text())
    summary = document["models"]["calc"]
    assert summary["passed"] == 4
    assert (summary["input_tokens"], summary["output_tokens"]) == (4 * 12, 4 * 1)
    # 12 input tokens at $0.001 and 1 output token at $0.01 each call
    assert summary["cost"]["cost_usd"] == pytest.approx(4 * (12 * 0.001 + 0.01))
    assert all(run["calls"] == 1 and run["latency_ms"] > 0 for run in document["runs"])
    assert {request.body["model"] for request in server.requests} == {"calc"}
    assert all(request.headers["authorization"] == f"Bearer {SECRET}" for request in server.requests)
    assert SECRET not in result.stdout.str() + (pytester.path / "r.json").read_text()


@pytest.mark.parametrize("mode", ["auto", "strict"])
def test_async_openai_app_in_an_async_test(pytester: pytest.Pytester, server: FakeOpenAI, mode: str) -> None:
    server.always(Calculator())
    _project(pytester, f'asyncio_mode = "{mode}"')
    marker = "" if mode == "auto" else "@pytest.mark.asyncio"
    pytester.makepyfile(test_app=f"""
        import pytest
        import app

        @pytest.mark.modelbench(category="reasoning", runs=2)
        {marker}
        async def test_async_app(model):
            async with model.async_openai_client() as client:
                assert await app.answer_async(client, "What is 20 + 22?") == "42"

        @pytest.mark.modelbench(category="reasoning", runs=2)
        {marker}
        async def test_acomplete(model):
            reply = await model.acomplete("What is 1 + 1?", max_tokens=3)
            assert reply.text == "2" and reply.output_tokens == 1
    """)
    result = pytester.runpytest_subprocess(f"--modelbench-models=calc=openai:calc@{server.url}",
                                           "--modelbench-json=r.json", "-p", "asyncio")
    assert result.ret == 0, result.stdout.str()
    summary = json.loads((pytester.path / "r.json").read_text())["models"]["calc"]
    assert summary["passed"] == 4 and summary["input_tokens"] == 4 * 12 and summary["cost"]["cost_usd"] > 0


def test_failed_app_call_is_an_error_not_a_miss(pytester: pytest.Pytester, server: FakeOpenAI) -> None:
    server.always(error_reply(500, "upstream exploded"))
    _project(pytester)
    pytester.makepyfile(test_app="""
        import openai
        import pytest
        import app

        @pytest.mark.modelbench(category="reasoning", runs=1)
        def test_uncaught(model):
            app.answer(model.openai_client(), "What is 2 + 3?")

        @pytest.mark.modelbench(category="reasoning", runs=1)
        def test_app_degrades(model):
            try:
                reply = app.answer(model.openai_client(), "What is 2 + 3?")
            except openai.APIError:
                reply = "sorry"
            assert reply == "5"
    """)
    result = pytester.runpytest_subprocess(f"--modelbench-models=calc=openai:calc@{server.url}",
                                           "--modelbench-json=r.json", "--modelbench-retries=1",
                                           "-W", "ignore::pytest.PytestWarning")
    assert result.ret == 1  # every run errored: the model was not measured, which fails the session
    result.stdout.fnmatch_lines(["*was not measured*the session fails*"])
    runs = json.loads((pytester.path / "r.json").read_text())["runs"]
    assert [run["outcome"] for run in runs] == ["error", "error"]
    assert all("HTTP 500" in run["error"] and "gave up after 2 attempts" in run["error"] for run in runs)


PIPELINE = '''
import asyncio

CALLS = []


async def pipeline(prompt, *, tools=None):
    CALLS.append(id(asyncio.get_running_loop()))
    await asyncio.sleep(0.005)
    if tools:
        return {"text": "", "tool_calls": [{"name": "add", "arguments": {"a": 2, "b": 3}, "id": "call_1"}]}
    return {"text": "pong" if "ping" in prompt else "?", "input_tokens": 2, "output_tokens": 1}
'''


@pytest.mark.parametrize("runner", ["asyncio-auto", "asyncio-strict", "anyio"])
def test_async_pipeline_in_sync_and_async_tests(pytester: pytest.Pytester, runner: str) -> None:
    ini = {"asyncio-auto": 'asyncio_mode = "auto"', "asyncio-strict": 'asyncio_mode = "strict"', "anyio": ""}[runner]
    _project(pytester, ini)
    pytester.makepyfile(pipeline=PIPELINE)
    if runner == "anyio":
        header = """
            import pytest

            @pytest.fixture
            def anyio_backend():
                return "asyncio"

            async_mark = pytest.mark.anyio
        """
    else:
        header = f"""
            import pytest

            async_mark = {"pytest.mark.asyncio" if runner == "asyncio-strict" else "lambda f: f"}
        """
    pytester.makepyfile(test_pipeline=textwrap.dedent(header) + textwrap.dedent("""
        from pytest_modelbench.scorers import tool_call_matches

        @pytest.mark.modelbench(category="reasoning", runs=2)
        def test_sync(model):
            assert model.complete("ping").text == "pong"

        @pytest.mark.modelbench(category="reasoning", runs=2)
        @async_mark
        async def test_async(model):
            assert (await model.acomplete("ping")).text == "pong"
            reply = model.complete("ping")  # a sync call while the test's loop runs
            assert reply.text == "pong"

        @pytest.mark.modelbench(category="reasoning", runs=2)
        @async_mark
        async def test_tools(model):
            tools = [{"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}}]
            reply = await model.acomplete("add 2 and 3", tools=tools)
            assert tool_call_matches({"name": "add", "arguments": {"a": 2, "b": 3}}, reply.tool_calls)
    """))
    plugins = ["-p", "anyio"] if runner == "anyio" else ["-p", "asyncio"]
    result = pytester.runpytest_subprocess("--modelbench-models=python:pipeline:pipeline",
                                           "--modelbench-json=r.json", *plugins)
    assert result.ret == 0, result.stdout.str()
    document = json.loads((pytester.path / "r.json").read_text())
    runs = document["runs"]
    assert len(runs) == 6 and all(run["outcome"] == "passed" for run in runs), runs
    assert sum(run["calls"] for run in runs) == 2 + 2 * 2 + 2
    assert document["models"]["python:pipeline:pipeline"]["input_tokens"] is None  # the tool runs report none


def test_async_pipeline_error_is_an_error_outcome(pytester: pytest.Pytester) -> None:
    _project(pytester)
    pytester.makepyfile(broken="""
        async def pipeline(prompt):
            raise ConnectionError("vector store unreachable")
    """)
    pytester.makepyfile(test_broken="""
        import pytest

        @pytest.mark.modelbench(category="reasoning", runs=1)
        def test_it(model):
            model.complete("x")
    """)
    result = pytester.runpytest_subprocess("--modelbench-models=python:broken:pipeline", "--modelbench-json=r.json")
    assert result.ret == 1  # every run errored: the model was not measured, which fails the session
    result.stdout.fnmatch_lines(["*was not measured*the session fails*"])
    run = json.loads((pytester.path / "r.json").read_text())["runs"][0]
    assert run["outcome"] == "error"
    assert "python model broken:pipeline raised ConnectionError: vector store unreachable" in run["error"]


BOOKING_BOTS = '''
import re


def _people(messages):
    count = None
    for message in messages:
        if message["role"] == "user":
            found = re.findall(r"(?:for|make it) (\\d+)", message["content"])
            count = found[-1] if found else count
    return count


def attentive(prompt, *, messages):
    return {"text": f"Booked: Friday at 19:00 for {_people(messages)} people.",
            "input_tokens": 10 * len(messages), "output_tokens": 8}


def forgetful(prompt, *, messages):
    first = next(m["content"] for m in messages if m["role"] == "user")
    return {"text": f"Booked: Friday at 19:00 for {_people([{'role': 'user', 'content': first}])} people.",
            "input_tokens": 10 * len(messages), "output_tokens": 8}
'''


def test_multi_turn_example_of_the_docs(pytester: pytest.Pytester) -> None:
    """The conversation task of docs/usage.md, run as written, and scored as it says."""
    from pathlib import Path

    usage = (Path(__file__).resolve().parents[2] / "docs" / "usage.md").read_text()
    section = usage[usage.index("### Multi-turn conversations"):]
    code = section[section.index("```python\n") + len("```python\n"):section.index("```\n", section.index("```python"))]
    _project(pytester)
    pytester.makepyfile(bots=BOOKING_BOTS)
    pytester.makepyfile(test_conversation="import pytest\n\n" + code)
    result = pytester.runpytest_subprocess(
        "--modelbench-models=good=python:bots:attentive,bad=python:bots:forgetful", "--modelbench-runs=2",
        "--modelbench-json=r.json")
    assert result.ret == 0, result.stdout.str()
    runs = {(run["model"], run["run"]): run for run in json.loads((pytester.path / "r.json").read_text())["runs"]}
    good, bad = runs[("good", 1)], runs[("bad", 1)]
    assert (good["outcome"], good["quality"]) == ("passed", 1.0)
    # the forgetful bot holds turn 1 only: a miss with quality 1/3
    assert bad["outcome"] == "failed" and bad["quality"] == pytest.approx(1 / 3)
    # one run is one conversation: three calls, prompts growing with the history (2, 4, 6 messages)
    assert good["calls"] == 3 and good["input_tokens"] == 10 * (2 + 4 + 6) and good["output_tokens"] == 3 * 8


def test_spend_cap_stops_the_apps_calls(pytester: pytest.Pytester, server: FakeOpenAI) -> None:
    server.always(Calculator())
    _project(pytester)  # $0.022 a call (12 input tokens at $0.001, 1 output token at $0.01)
    pytester.makepyfile(test_app="""
        import pytest
        import app

        @pytest.mark.modelbench(category="reasoning", runs=10)
        def test_whole(model):
            assert app.answer(model.openai_client(), "What is 2 + 3?") == "5"
    """)
    result = pytester.runpytest_subprocess(f"--modelbench-models=calc=openai:calc@{server.url}",
                                           "--modelbench-max-cost=0.05", "--modelbench-json=r.json")
    assert result.ret == 0, result.stdout.str()
    document = json.loads((pytester.path / "r.json").read_text())
    outcomes = [run["outcome"] for run in document["runs"]]
    assert outcomes.count("passed") == len(server.requests) == 3  # 0.022, 0.044, then 0.066 >= 0.05
    assert outcomes.count("skipped") == 7
    assert all("spend cap reached" in run["detail"] for run in document["runs"] if run["outcome"] == "skipped")
