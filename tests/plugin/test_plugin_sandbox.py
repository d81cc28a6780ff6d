"""--modelbench-sandbox and the isolation recorded in each run, through pytester."""

from __future__ import annotations

import json

import pytest

from pytest_modelbench.design.scorers import _sandbox

CODING = """
import pytest
from pytest_modelbench.scorers import run_python, run_python_many

@pytest.mark.modelbench(category="coding", difficulty="trivial", runs=1)
def test_runs_code(model):
    model.complete("write code")
    assert run_python("print(1)")

@pytest.mark.modelbench(category="coding", difficulty="trivial", runs=1)
def test_runs_many(model):
    assert all(run_python_many(["pass", "pass"]))

@pytest.mark.modelbench(category="coding", difficulty="trivial", runs=1)
def test_runs_none(model):
    assert model.complete("hi").text
"""


def _isolation_by_task(path) -> dict[str, str | None]:
    runs = json.loads(path.read_text())["runs"]
    return {run["task"].rsplit("::", 1)[-1]: run["isolation"] for run in runs}


def test_runs_record_the_isolation_of_their_code(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(CODING)
    result = pytester.runpytest("--modelbench-models=echo", "--modelbench-json=out.json",
                                "--modelbench-sandbox=off")
    result.assert_outcomes(passed=3)
    assert _isolation_by_task(pytester.path / "out.json") == {
        "test_runs_code": "rlimits", "test_runs_many": "rlimits", "test_runs_none": None,
    }
    settings = json.loads((pytester.path / "out.json").read_text())["meta"]["settings"]
    assert settings["sandbox"] == "off"


def test_require_records_bwrap(pytester: pytest.Pytester) -> None:
    if not _sandbox.probe_bwrap().works:
        pytest.skip("bubblewrap does not work here")
    pytester.makepyfile(CODING)
    result = pytester.runpytest("--modelbench-models=echo", "--modelbench-json=out.json",
                                "--modelbench-sandbox=require")
    result.assert_outcomes(passed=3)
    isolation = _isolation_by_task(pytester.path / "out.json")
    assert isolation["test_runs_code"] == isolation["test_runs_many"] == "bwrap"


def test_require_without_bwrap_is_a_usage_error(pytester: pytest.Pytester, monkeypatch) -> None:
    monkeypatch.setattr(_sandbox, "_probe", _sandbox.BwrapProbe(None, False, "bwrap was not found"))
    pytester.makepyfile(CODING)
    result = pytester.runpytest("--modelbench-models=echo", "--modelbench-sandbox=require")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*sandbox 'require': bubblewrap cannot isolate generated code here "
                                 "(bwrap was not found)*apt-get install bubblewrap*"])
    assert _sandbox._default_mode is None  # nothing left behind


def test_auto_without_bwrap_warns_once(pytester: pytest.Pytester, monkeypatch) -> None:
    monkeypatch.setattr(_sandbox, "_probe", _sandbox.BwrapProbe(None, False, "bwrap was not found"))
    monkeypatch.setattr(_sandbox, "_warned", False)
    monkeypatch.delenv(_sandbox.SANDBOX_ENV, raising=False)
    pytester.makepyfile(CODING)
    result = pytester.runpytest("--modelbench-models=echo", "--modelbench-sandbox=auto")
    result.assert_outcomes(passed=3, warnings=1)
    result.stdout.fnmatch_lines(["*SandboxWarning: modelbench: generated code runs without a sandbox*"])


def test_bad_sandbox_value_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(CODING)
    result = pytester.runpytest("--modelbench-sandbox=docker")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--modelbench-sandbox 'docker' is not one of: auto, require, off*"])


def test_the_option_is_restored_after_the_session(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x():\n    pass\n")
    pytester.runpytest("--modelbench-sandbox=off").assert_outcomes(passed=1)
    assert _sandbox._default_mode is None
