"""The plugin against a real OpenAI-compatible server on 127.0.0.1: measurements, cost, spend cap."""

from __future__ import annotations

import json
import re
import threading

import pytest

from fake_openai import FakeOpenAI, RecordedRequest, Reply, error_reply, stream_reply

SECRET = "sk-test-very-secret-0123456789"

SUITE = """
import pytest

@pytest.mark.modelbench(category="reasoning", runs={runs})
@pytest.mark.parametrize("a,b", [(2, 3), (17, 25)])
def test_addition(model, a, b):
    reply = model.complete(f"What is {{a}} + {{b}}?", max_tokens=5, temperature=0)
    assert str(a + b) in reply.text
"""


class Calculator:
    """Answers 'What is A + B?' correctly for even A, wrongly for odd A; counts calls."""

    def __init__(self, *, first_content_delay: float = 0.0) -> None:
        self.calls = 0
        self.lock = threading.Lock()
        self.delay = first_content_delay

    def __call__(self, request: RecordedRequest) -> Reply:
        with self.lock:
            self.calls += 1
        prompt = request.body["messages"][-1]["content"]
        a, b = (int(n) for n in re.findall(r"\d+", prompt))
        answer = a + b if a % 2 == 0 else a + b + 1
        return stream_reply([str(answer)], usage=(12, 1), delay=self.delay)


@pytest.fixture
def server():
    with FakeOpenAI() as fake:
        yield fake


def _prices(pytester: pytest.Pytester, output_usd_per_mtok: float) -> None:
    pytester.makepyprojecttoml(f"""
        [tool.modelbench.prices]
        calc = {{ input = 0.0, output = {output_usd_per_mtok} }}
    """)


def test_measurements_cost_and_no_secret(pytester: pytest.Pytester, server: FakeOpenAI, monkeypatch) -> None:
    calculator = Calculator(first_content_delay=0.05)
    server.always(calculator)
    _prices(pytester, 10_000.0)  # one output token costs $0.01
    pytester.makepyfile(SUITE.format(runs=2))
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    result = pytester.runpytest_subprocess(
        f"--modelbench-models=openai:calc@{server.url}", "--modelbench-json=r.json", "-v"
    )
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*modelbench summary*", "*openai:calc*50.0*", "*modelbench cost*"])
    assert calculator.calls == 4
    text = (pytester.path / "r.json").read_text()
    assert SECRET not in text and SECRET not in result.stdout.str() + result.stderr.str()
    assert server.requests[0].headers["authorization"] == f"Bearer {SECRET}"
    assert server.requests[0].body["max_tokens"] == 5 and server.requests[0].body["stream"] is True
    document = json.loads(text)
    summary = document["models"]["openai:calc"]
    assert (summary["passed"], summary["failed"]) == (2, 2)
    assert (summary["input_tokens"], summary["output_tokens"]) == (4 * 12, 4 * 1)
    assert summary["ttft_ms"]["p50"] >= 50.0
    assert summary["latency_ms"]["p50"] >= summary["ttft_ms"]["p50"]
    cost = summary["cost"]
    assert cost["cost_usd"] == pytest.approx(0.04)
    assert cost["cost_per_task_usd"] == pytest.approx(0.01)
    assert cost["cost_per_success_usd"] == pytest.approx(0.02)
    assert cost["price"]["output_usd_per_mtok"] == 10_000.0
    for run in document["runs"]:
        assert run["cost_usd"] == pytest.approx(0.01) and run["ttft_ms"] >= 50.0


def test_unknown_price_is_unknown_not_zero(pytester: pytest.Pytester, server: FakeOpenAI) -> None:
    server.always(Calculator())
    pytester.makepyfile(SUITE.format(runs=1))
    pytester.makepyprojecttoml("""
        [tool.pytest.ini_options]
        addopts = "-p no:cacheprovider"

        [tool.modelbench.prices]
    """)
    result = pytester.runpytest_subprocess(f"--modelbench-models=openai:calc@{server.url}", "--modelbench-json=r.json")
    assert result.ret == 0
    # the warning names the model and the key to set, and points at the configuration, not at plugin.py
    result.stdout.fnmatch_lines([
        "*pyproject.toml:4: PytestWarning: modelbench: no price known for model 'openai:calc' (model id 'calc'); "
        "its cost is unknown*Set [[]tool.modelbench.prices[]] \"openai:calc\" = { input = ..., output = ... }*",
        "*[[]tool.modelbench.prices[]]*",
    ])
    assert "plugin.py" not in result.stdout.str()
    document = json.loads((pytester.path / "r.json").read_text())
    assert document["models"]["openai:calc"]["cost"]["cost_usd"] is None
    assert all(run["cost_usd"] is None for run in document["runs"])
    # no price: the cost dimension is unknown (never scored as if free), and the summary says why
    block = document["models"]["openai:calc"]["dimensions"]["cost"]
    assert block["score"] is None and block["unknown"].startswith("no price known for this model")
    assert "cost" not in document["models"]["openai:calc"]["categories"]
    result.stdout.fnmatch_lines(["*unknown: cost of openai:calc: no price known for this model*"])


def test_server_errors_are_error_outcomes(pytester: pytest.Pytester, server: FakeOpenAI) -> None:
    server.always(error_reply(500, "upstream exploded"))
    pytester.makepyfile(SUITE.format(runs=1))
    result = pytester.runpytest_subprocess(
        f"--modelbench-models=openai:calc@{server.url}", "--modelbench-json=r.json", "--modelbench-retries=1",
        "-W", "ignore::pytest.PytestWarning",
    )
    # Every run errored: the model was not measured, which fails the session (an unreachable
    # model is a broken benchmark), naming the model and the first reason.
    assert result.ret == 1
    result.stdout.fnmatch_lines([
        "*modelbench not measured*",
        "openai:calc: all 2 runs errored (first: ModelCallError:*HTTP 500*",
        "*model 'openai:calc' was not measured*the session fails*",
        "*2 errored*",
    ])
    document = json.loads((pytester.path / "r.json").read_text())
    assert [run["outcome"] for run in document["runs"]] == ["error", "error"]
    assert "500" in document["runs"][0]["error"]
    assert document["not_measured"][0]["model"] == "openai:calc"
    assert "rankings" not in document and document["recommendations"] == []
    assert document["models"]["openai:calc"]["measured"] is False
    assert len(server.requests) == 2 * 2  # one retry each


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_spend_cap(pytester: pytest.Pytester, server: FakeOpenAI, workers: list[str]) -> None:
    calculator = Calculator()
    server.always(calculator)
    _prices(pytester, 10_000.0)  # $0.01 a call
    pytester.makepyfile(SUITE.format(runs=10))  # 20 runs, $0.20 without a cap
    result = pytester.runpytest_subprocess(
        f"--modelbench-models=openai:calc@{server.url}", "--modelbench-max-cost=0.05",
        "--modelbench-json=r.json", "-rs", *workers,
    )
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*spend cap reached*--modelbench-max-cost*"])
    document = json.loads((pytester.path / "r.json").read_text())
    spent = document["budget"]["session_spend"]["total_usd"]
    in_flight = 1 if not workers else 2
    assert 0.05 <= spent <= 0.05 + 0.01 * in_flight + 1e-9
    assert calculator.calls == round(spent / 0.01)
    skipped = [run for run in document["runs"] if run["outcome"] == "skipped"]
    assert len(skipped) == 20 - calculator.calls
    assert all("spend cap reached" in run["detail"] for run in skipped)


@pytest.mark.parametrize(
    ("spec", "environ", "url"),
    [
        ("ollama:llama3.1", {}, "http://127.0.0.1:11434/v1"),
        ("ollama:llama3.1", {"OLLAMA_HOST": "0.0.0.0:9999"}, "http://127.0.0.1:9999/v1"),
        ("ollama:llama3.1", {"OLLAMA_HOST": "https://gpu-box:11434/"}, "https://gpu-box:11434/v1"),
        ("ollama:llama3.1@http://10.1.2.3:8080/v1", {"OLLAMA_HOST": "ignored:1"}, "http://10.1.2.3:8080/v1"),
    ],
)
def test_ollama_base_url(spec: str, environ: dict, url: str) -> None:
    from pytest_modelbench.models.specs import parse_spec
    from pytest_modelbench.models.providers import BUILTIN_PROVIDERS, ollama_base_url

    assert ollama_base_url(parse_spec(spec, BUILTIN_PROVIDERS), environ) == url


def test_ollama_provider_against_local_server(pytester: pytest.Pytester, server: FakeOpenAI, monkeypatch) -> None:
    calculator = Calculator()
    server.always(calculator)
    monkeypatch.setenv("OLLAMA_HOST", server.url.removesuffix("/v1"))
    pytester.makepyfile(SUITE.format(runs=1))
    result = pytester.runpytest_subprocess("--modelbench-models=ollama:qwen2.5", "--modelbench-json=r.json")
    assert result.ret == 0
    result.stdout.no_fnmatch_line("*no price known*")  # a local model is free unless priced: no warning
    assert calculator.calls == 2 and server.requests[0].path == "/v1/chat/completions"
    assert "authorization" not in server.requests[0].headers
    summary = json.loads((pytester.path / "r.json").read_text())["models"]["ollama:qwen2.5"]
    assert summary["passed"] == 1
    assert summary["cost"]["cost_usd"] == 0.0 and summary["dimensions"]["cost"]["score"] == 100.0


def test_cached_and_reasoning_tokens_are_priced(pytester: pytest.Pytester, server: FakeOpenAI) -> None:
    from fake_openai import chunk, sse

    usage = {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500,
             "prompt_tokens_details": {"cached_tokens": 800},
             "completion_tokens_details": {"reasoning_tokens": 300}}
    parts = (sse(chunk(role="assistant", content="")), sse(chunk("5")), sse(chunk(finish_reason="stop")),
             sse(chunk(no_choices=True, usage=usage)), sse("[DONE]"))
    server.always(Reply(parts=parts, content_type="text/event-stream", chunked=True))
    pytester.makepyprojecttoml("""
        [tool.modelbench.prices]
        calc = { input = 2.0, cached_input = 0.5, output = 10.0 }
    """)
    pytester.makepyfile(SUITE.format(runs=1))
    result = pytester.runpytest_subprocess(f"--modelbench-models=openai:calc@{server.url}", "--modelbench-json=r.json")
    assert result.ret == 0
    run = json.loads((pytester.path / "r.json").read_text())["runs"][0]
    # (1000 - 800) * 2 + 800 * 0.5 + 500 * 10 (reasoning tokens are inside completion_tokens) per 1M tokens
    assert run["cost_usd"] == pytest.approx((200 * 2.0 + 800 * 0.5 + 500 * 10.0) / 1e6)


def test_anthropic_provider_in_a_session(pytester: pytest.Pytester, server: FakeOpenAI, monkeypatch) -> None:
    from fake_anthropic import message_stream_reply

    server.always(lambda request: message_stream_reply(["5"], usage=(30, 1), cache_read=70, cache_creation=0))
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    pytester.makepyprojecttoml("""
        [tool.modelbench.prices]
        claude = { input = 3.0, cached_input = 0.3, output = 15.0 }
    """)
    pytester.makepyfile(SUITE.format(runs=1))
    base = server.url.removesuffix("/v1")
    result = pytester.runpytest_subprocess(f"--modelbench-models=anthropic:claude@{base}", "--modelbench-json=r.json")
    assert result.ret == 0
    assert server.requests[0].path == "/v1/messages" and server.requests[0].headers["x-api-key"] == SECRET
    text = (pytester.path / "r.json").read_text()
    assert SECRET not in text
    runs = {run["task"].split("[")[1]: run for run in json.loads(text)["runs"]}
    assert runs["2-3]"]["outcome"] == "passed" and runs["17-25]"]["outcome"] == "failed"  # "5" answers 2 + 3
    assert runs["2-3]"]["input_tokens"] == 100  # 30 uncached + 70 read from the prompt cache
    assert runs["2-3]"]["cost_usd"] == pytest.approx((30 * 3.0 + 70 * 0.3 + 1 * 15.0) / 1e6)


def test_load_profile_in_a_benchmark_run(pytester: pytest.Pytester) -> None:
    from load_server import server_process

    pytester.makepyfile("""
        import pytest

        @pytest.mark.modelbench(category="speed", runs=2)
        def test_serving(model):
            results = model.load(["Hello"] * 4, concurrency=[1, 4], requests=12, max_tokens=8, slo_ttft_ms=5000)
            assert [r.completed for r in results] == [12, 12]

        @pytest.mark.modelbench(category="speed", runs=1)
        def test_load_needs_openai(model):
            model.complete("x")
    """)
    with server_process(ttft_ms=5.0, itl_ms=1.0, tokens=8) as handle:
        pytester.makepyprojecttoml(f"""
            [tool.modelbench.models.m]
            provider = "openai"
            model = "m"
            base_url = "{handle.base_url}"
            metrics_url = "{handle.metrics_url}"
            price = {{ input = 0.0, output = 0.0 }}
        """)
        result = pytester.runpytest_subprocess("--modelbench-models=m", "--modelbench-json=r.json",
                                               "--modelbench-report=r.html")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*modelbench load*", "m *c=1*", "m *c=4*"])
    # the HTML report has the load profile: charts and one row per level
    from pytest_modelbench.reports import render_html

    page = (pytester.path / "r.html").read_text(encoding="utf-8")
    assert page == render_html(json.loads((pytester.path / "r.json").read_text()))
    load_section = page[page.index('<section id="load">'):]
    load_section = load_section[:load_section.index("</section>")]
    assert load_section.count('class="chart line-chart"') == 2 and ">c=1<" in load_section and ">c=4<" in load_section
    document = json.loads((pytester.path / "r.json").read_text())
    levels = document["models"]["m"]["load"]
    assert [(level["level"], level["runs"]) for level in levels] == [(1, 2), (4, 2)]
    assert all(level["request_throughput"] > 0 and level["ttft_ms"]["p50"] is not None for level in levels)
    serving = [run for run in document["runs"] if run["task"].endswith("test_serving")]
    assert all(len(run["load"]) == 2 for run in serving)
    assert serving[0]["load"][0]["server_gauges"]  # the named model's metrics_url was sampled


def test_load_needs_an_openai_compatible_model(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest
        @pytest.mark.modelbench(category="speed", runs=1)
        def test_serving(model):
            model.load(["Hello"], concurrency=1, requests=1)
    """)
    result = pytester.runpytest("--modelbench-models=echo")
    result.stdout.fnmatch_lines(["*model.load() needs an OpenAI-compatible model*'echo' uses provider 'echo'*"])
