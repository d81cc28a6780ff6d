"""Whole sessions against hostile servers and bad outputs, through pytester."""

from __future__ import annotations

import json

import pytest

from fake_openai import FakeOpenAI, Reply, chunk, sse

SUITE = """
import pytest

@pytest.mark.modelbench(category="reasoning", runs=2)
def test_answer(model):
    assert model.complete("Say ok", max_tokens=5).text == "ok"
"""


@pytest.fixture
def server():
    with FakeOpenAI() as fake:
        yield fake


def _absurd_usage_stream() -> Reply:
    usage = {"prompt_tokens": 10**400, "completion_tokens": 1, "total_tokens": 10**400 + 1}
    parts = (sse(chunk("ok", role="assistant")), sse(chunk(finish_reason="stop")),
             sse({"choices": [], "usage": usage}), sse("[DONE]"))
    return Reply(parts=parts, content_type="text/event-stream", chunked=True)


@pytest.mark.parametrize("priced", [False, True])
def test_absurd_token_counts_keep_the_summary_and_the_results(pytester, server, priced) -> None:
    server.always(_absurd_usage_stream())
    if priced:
        pytester.makepyprojecttoml("""
            [tool.modelbench.prices]
            "openai:m" = { input = 1.0, output = 2.0 }
        """)
    pytester.makepyfile(SUITE)
    result = pytester.runpytest(f"--modelbench-models=openai:m@{server.url}", "--modelbench-json=r.json")
    assert result.ret == 0, result.stdout.str()
    result.assert_outcomes(passed=2, warnings=2 if priced else 3)  # one per run, and "no price known"
    result.stdout.fnmatch_lines([
        "*TokenCountWarning: model 'm' at http://127.0.0.1:*/v1: usage.prompt_tokens (an integer of 401 digits) is not a token count*",
        "*modelbench summary*",
    ])
    runs = json.loads((pytester.path / "r.json").read_text())["runs"]
    assert [(run["outcome"], run["input_tokens"], run["output_tokens"], run["cost_usd"]) for run in runs] == [
        ("passed", None, 1, None), ("passed", None, 1, None)]


def test_the_response_cap_is_an_option(pytester, server) -> None:
    server.always(Reply(parts=(sse(chunk("x" * 4000, role="assistant")),) * 2 + (sse("[DONE]"),),
                        content_type="text/event-stream", chunked=True))
    pytester.makepyfile(SUITE)
    result = pytester.runpytest(f"--modelbench-models=openai:m@{server.url}", "--modelbench-json=r.json",
                                "--modelbench-max-response-bytes=4KiB", "-rA")
    # Every run errored, so the model was not measured: a broken benchmark fails the session.
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*model 'openai:m' was not measured: all 2 runs errored*response larger than 4 KiB*"])
    runs = json.loads((pytester.path / "r.json").read_text())["runs"]
    assert {run["outcome"] for run in runs} == {"error"}
    assert all("response larger than 4 KiB" in run["error"] for run in runs)
    assert json.loads((pytester.path / "r.json").read_text())["meta"]["settings"]["max_response_bytes"] == 4096


@pytest.mark.parametrize("value", ["lots", "12MB", "100"])
def test_a_bad_response_cap_is_a_usage_error(pytester, value) -> None:
    pytester.makepyfile(SUITE)
    result = pytester.runpytest("--modelbench-models=echo", f"--modelbench-max-response-bytes={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--modelbench-max-response-bytes*{value!r}*"])
