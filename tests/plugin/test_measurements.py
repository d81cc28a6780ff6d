"""Only measurements are measured: what is not a model's answer is never counted as a miss.

Each case runs a real pytest session (pytester, in a subprocess where a plugin or a signal is
involved): a model nothing answers, pytest-timeout firing inside and outside a model call, an
``async def`` test without an async plugin, pytest-repeat's copies, pytest-rerunfailures'
attempts, and a session interrupted while it updates the baseline.
"""

from __future__ import annotations

import json
import socket

import pytest

SOLVER = """
import time

def solve(prompt):
    if "slow" in prompt:
        time.sleep(30)
    return "4" if "2 + 2" in prompt else prompt
"""


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the block ends: nothing listens


def _runs(pytester: pytest.Pytester, name: str = "r.json") -> list[dict]:
    return json.loads((pytester.path / name).read_text())["runs"]


def test_a_model_nothing_answers_is_not_measured_and_fails_the_session(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(solver=SOLVER)
    pytester.syspathinsert()
    pytester.makepyfile("""
        import pytest
        @pytest.mark.modelbench(category="reasoning", runs=3)
        @pytest.mark.parametrize("n", range(4))
        def test_add(model, n):
            assert "4" in model.complete("What is 2 + 2?").text
    """)
    url = f"http://127.0.0.1:{_closed_port()}/v1"  # a typo in the URL
    result = pytester.runpytest_subprocess(
        f"--modelbench-models=python:solver:solve,typo=openai:gpt@{url}", "--modelbench-retries=0",
        "--modelbench-timeout=2", "--modelbench-json=r.json", "-W", "ignore::pytest.PytestWarning",
    )
    assert result.ret == 1
    result.stdout.fnmatch_lines([
        "*typo*not measured*",
        "*modelbench not measured (not ranked, compared or recommended)*",
        "typo: all 12 runs errored (first: ModelCallError:*",
        "*ranking: weighted*",
        "1  python:solver:solve*100.0*",
        "*model 'typo' was not measured: all 12 runs errored*the session fails*",
    ])
    result.stdout.no_fnmatch_line("*head-to-head*")  # one measured model: nothing to compare
    document = json.loads((pytester.path / "r.json").read_text())
    assert document["models"]["typo"]["measured"] is False and document["models"]["typo"]["score"] is None
    assert list(document["rankings"]["weighted"]["models"]) == ["python:solver:solve"]
    assert "consistency" not in document["models"]["typo"]
    assert all(rec["recommended"] in (None, "python:solver:solve") for rec in document["recommendations"])


TIMEOUT_SUITE = """
import time
import pytest

@pytest.mark.modelbench(category="reasoning", runs=2)
def test_fast(model):
    assert "4" in model.complete("What is 2 + 2?").text

@pytest.mark.modelbench(category="reasoning", runs=1)
def test_slow_model(model):
    assert "4" in model.complete("a slow question").text

@pytest.mark.modelbench(category="reasoning", runs=1)
def test_slow_test(model):
    assert "4" in model.complete("What is 2 + 2?").text
    time.sleep(30)  # the test's own code hangs, after the call
"""


def test_pytest_timeout_in_and_outside_a_model_call(pytester: pytest.Pytester) -> None:
    pytest.importorskip("pytest_timeout")
    pytester.makepyfile(solver=SOLVER)
    pytester.syspathinsert()
    pytester.makepyfile(TIMEOUT_SUITE)
    result = pytester.runpytest_subprocess("--modelbench-models=python:solver:solve", "--timeout=1",
                                           "--timeout-method=signal", "--modelbench-json=r.json")
    # The watchdog outside the model call is the test's failure, as without the plugin; inside
    # a model call it is that call's failure (like --modelbench-timeout), recorded as an error.
    assert result.parseoutcomes() == {"passed": 2, "errored": 1, "failed": 1}
    result.stdout.fnmatch_lines(["*_ test_slow_test*", "E * Failed: Timeout (>1.0s) from pytest-timeout."])
    runs = {run["task"].split("::")[1]: run for run in _runs(pytester)}
    assert runs["test_slow_model"]["outcome"] == "error"
    assert runs["test_slow_model"]["error"].startswith("ModelTimeoutError: the model call was stopped by Failed: Timeout")
    assert runs["test_slow_test"]["outcome"] == "error"
    assert "raised by pytest or a plugin, not by the test's check" in runs["test_slow_test"]["error"]
    assert runs["test_fast"]["outcome"] == "passed"


def test_async_test_without_a_plugin_is_an_error_not_a_miss(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest
        @pytest.mark.modelbench(category="reasoning", runs=2)
        async def test_async(model):
            assert "x" in (await model.acomplete("x")).text
    """)
    result = pytester.runpytest_subprocess("--modelbench-models=echo", "--modelbench-json=r.json",
                                           "-p", "no:anyio", "-p", "no:asyncio")
    assert result.ret == 1  # the session fails as it would without the plugin
    result.stdout.fnmatch_lines(["*async def functions are not natively supported*", "*= 2 failed in *"])
    runs = _runs(pytester)
    assert [run["outcome"] for run in runs] == ["error", "error"] and all(run["calls"] == 0 for run in runs)


def test_pytest_repeat_copies_are_runs_of_one_task(pytester: pytest.Pytester) -> None:
    pytest.importorskip("pytest_repeat")
    pytester.makepyfile("""
        import pytest
        @pytest.mark.modelbench(category="reasoning", runs=2)
        @pytest.mark.parametrize("word", ["alpha", "beta"])
        def test_echo(model, word):
            assert word in model.complete(word).text
    """)
    result = pytester.runpytest("--modelbench-models=echo", "--count=3", "--modelbench-json=r.json", "-q")
    result.assert_outcomes(passed=12)
    runs = _runs(pytester)
    assert sorted({run["task"] for run in runs}) == ["test_pytest_repeat_copies_are_runs_of_one_task.py::test_echo[alpha]",
                                                     "test_pytest_repeat_copies_are_runs_of_one_task.py::test_echo[beta]"]
    assert sorted(run["run"] for run in runs if run["task"].endswith("[alpha]")) == [1, 2, 3, 4, 5, 6]


def test_rerunfailures_keeps_the_last_attempt(pytester: pytest.Pytester) -> None:
    pytest.importorskip("pytest_rerunfailures")
    pytester.makepyfile("""
        import pathlib
        import pytest
        @pytest.mark.modelbench(category="reasoning", runs=1)
        def test_flaky(model, tmp_path_factory):
            marker = pathlib.Path(__file__).with_name("attempted")
            reply = model.complete("hello")
            if not marker.exists():
                marker.write_text("1")
                model.complete("a second call in the first attempt only")
                assert "goodbye" in reply.text  # the first attempt misses
            assert "hello" in reply.text
    """)
    result = pytester.runpytest_subprocess("--modelbench-models=echo", "--modelbench-strict", "--reruns=1",
                                           "--modelbench-json=r.json")
    assert result.parseoutcomes() == {"passed": 1, "rerun": 1}
    [run] = _runs(pytester)
    assert run["outcome"] == "passed" and run["calls"] == 1  # the last attempt's record alone


def test_interrupted_session_never_updates_the_baseline(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest
        @pytest.mark.modelbench(category="reasoning", runs=4)
        @pytest.mark.parametrize("n", range(5))
        def test_echo(model, n):
            assert "x" in model.complete("x").text
    """)
    first = pytester.runpytest("--modelbench-models=echo", "--modelbench-baseline=base.json",
                               "--modelbench-update-baseline", "-q")
    assert first.ret == 0
    saved = (pytester.path / "base.json").read_text()
    assert len(json.loads(saved)["runs"]) == 20
    pytester.makeconftest("""
        calls = 0
        def pytest_runtest_call(item):
            global calls
            calls += 1
            if calls == 7:
                raise KeyboardInterrupt  # Ctrl-C in the middle of the session
    """)
    result = pytester.runpytest_subprocess("--modelbench-models=echo", "--modelbench-baseline=base.json",
                                           "--modelbench-update-baseline", "--modelbench-fail-on-regression",
                                           "--modelbench-json=r.json")
    assert result.ret == 2  # interrupted
    result.stdout.fnmatch_lines([
        "*the session was interrupted (KeyboardInterrupt); these results are partial; gates not evaluated*",
        "*baseline not updated: the session was interrupted*",
    ])
    result.stdout.no_fnmatch_line("*gates passed*")
    assert (pytester.path / "base.json").read_text() == saved
    document = json.loads((pytester.path / "r.json").read_text())
    assert document["partial"] == "the session was interrupted (KeyboardInterrupt)"
    assert len(document["runs"]) == 6


def test_stopping_at_the_first_failure_is_partial_too(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest
        @pytest.mark.modelbench(category="reasoning", runs=3)
        def test_bug(model):
            model.complete("x")
            raise KeyError("a bug in the test")
    """)
    result = pytester.runpytest("--modelbench-models=echo", "-x", "--modelbench-baseline=base.json",
                                "--modelbench-update-baseline", "--modelbench-json=r.json")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*the session stopped early: stopping after 1 failures*partial*",
                                 "*baseline not updated*"])
    assert not (pytester.path / "base.json").exists()
    assert json.loads((pytester.path / "r.json").read_text())["partial"].startswith("the session stopped early")
