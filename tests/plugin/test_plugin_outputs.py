"""Outputs fail fast and fail well: paths checked before any model call, a failed write at the
end reported while the rest is still written, baselines validated when loaded, option
combinations that mean nothing refused, a locked response store reported. Through pytester."""

from __future__ import annotations

import json
import os
import sqlite3
import stat

import pytest

from fake_openai import FakeOpenAI, stream_reply

SUITE = """
import pytest

@pytest.mark.modelbench(category="reasoning", runs=2)
def test_answer(model):
    assert model.complete("Say ok").text == "ok"
"""


@pytest.fixture
def server():
    with FakeOpenAI() as fake:
        fake.always(stream_reply(["ok"], usage=(3, 1)))
        yield fake


def _no_traceback(result) -> None:
    text = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in text and "INTERNALERROR" not in text, text[-3000:]


# --------------------------------------------------------------------------- before any call


@pytest.mark.parametrize("case", ["directory", "device", "fifo", "parent is a file"])
def test_unwritable_output_paths_are_usage_errors_before_any_call(pytester, server, case) -> None:
    pytester.makepyfile(SUITE)
    if case == "directory":
        (pytester.path / "out.json").mkdir()
        option, shown = "--modelbench-json=out.json", "out.json' is a directory"
    elif case == "device":
        option, shown = "--modelbench-json=/dev/full", "'/dev/full' is a character device"
    elif case == "fifo":
        os.mkfifo(pytester.path / "report.md")
        option, shown = "--modelbench-report=report.md", "report.md' is a named pipe"
    else:
        (pytester.path / "notadir").write_text("x")
        option, shown = "--modelbench-json=notadir/r.json", "notadir' is not a directory"
    result = pytester.runpytest(f"--modelbench-models=openai:m@{server.url}", option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{option.split('=')[0]} *{shown}*"])
    assert server.requests == []  # nothing was spent
    _no_traceback(result)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into read-only directories")
def test_a_read_only_directory_is_a_usage_error(pytester, server) -> None:
    locked = pytester.path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    pytester.makepyfile(SUITE)
    result = pytester.runpytest(f"--modelbench-models=openai:m@{server.url}", "--modelbench-json=locked/r.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--modelbench-json*locked/r.json' is in *locked', which is not writable*"])
    assert server.requests == []


def test_the_baseline_to_update_is_checked_too(pytester, server) -> None:
    (pytester.path / "baseline.json").mkdir()
    pytester.makepyfile(SUITE)
    result = pytester.runpytest(f"--modelbench-models=openai:m@{server.url}", "--modelbench-baseline=baseline.json",
                                "--modelbench-update-baseline")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--modelbench-update-baseline (--modelbench-baseline)*baseline.json' is a directory*"])
    assert server.requests == []


def test_one_file_for_two_outputs_is_a_usage_error(pytester) -> None:
    pytester.makepyfile(SUITE)
    result = pytester.runpytest("--modelbench-models=echo", "--modelbench-report=r.md", "--modelbench-report=./r.md")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--modelbench-report '*r.md' is also the file of --modelbench-report; give each*"])


def test_missing_parents_are_created(pytester) -> None:
    pytester.makepyfile(SUITE)
    result = pytester.runpytest("--modelbench-models=echo", "--modelbench-json=deep/er/r.json")
    assert result.ret == 0
    assert (pytester.path / "deep" / "er" / "r.json").is_file()


# --------------------------------------------------------------------------- at the end

BREAKS_ITS_OUTPUT = """
import os
import pytest

@pytest.mark.modelbench(category="reasoning", runs=1)
def test_answer(model):
    assert model.complete("Say ok").text == "ok"
    os.mkdir("r.json")  # the results file's path is a directory by the end
"""


def test_a_failed_write_at_the_end_is_reported_and_the_rest_written(pytester, server) -> None:
    pytester.makepyfile(BREAKS_ITS_OUTPUT)
    result = pytester.runpytest(f"--modelbench-models=openai:m@{server.url}", "--modelbench-json=r.json",
                                "--modelbench-report=report.md", "--modelbench-report=report.html")
    assert result.ret == 4
    result.stdout.fnmatch_lines([
        "*modelbench summary*",
        "report written to *report.md",
        "report written to *report.html",
        "could not write the results file '*r.json': results file '*r.json' is a directory; it was not replaced",
    ])
    assert (pytester.path / "report.md").is_file() and (pytester.path / "report.html").is_file()
    assert "results written to" not in result.stdout.str()
    _no_traceback(result)


# --------------------------------------------------------------------------- baselines


def _baseline(pytester, runs: list[dict]) -> None:
    (pytester.path / "baseline.json").write_text(json.dumps({"schema_version": 1, "meta": {}, "models": {},
                                                             "runs": runs}))


def _run(task="t.py::test_answer", **fields) -> dict:
    run = {"task": task, "model": "echo", "run": 1, "category": "reasoning", "difficulty": "medium",
           "weight": 1.0, "outcome": "passed", "quality": 1.0, "calls": 1, "cached": False}
    run.update(fields)
    return run


def test_a_baseline_with_wrong_types_is_a_usage_error_naming_run_and_field(pytester) -> None:
    _baseline(pytester, [_run(), _run(quality="abc"), _run(difficulty="impossible"), _run(task=None)])
    pytester.makepyfile(SUITE)
    result = pytester.runpytest("--modelbench-models=echo", "--modelbench-baseline=baseline.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([
        "*--modelbench-baseline: results file '*baseline.json' has 3 invalid fields in its runs: "
        "run 1 (task 't.py::test_answer'): field 'quality' is 'abc'; it must be a number from 0 to 1, or null; "
        "run 2 (task 't.py::test_answer'): field 'difficulty' is 'impossible'; it must be one of: "
        "trivial, easy, medium, hard, expert; run 3: field 'task' is null; it must be a non-empty string*",
    ])
    _no_traceback(result)


def test_a_baseline_sharing_no_task_exits_4_then_update_replaces_it(pytester) -> None:
    _baseline(pytester, [_run(task="other.py::test_gone")])
    pytester.makepyfile(SUITE)
    result = pytester.runpytest("--modelbench-models=echo", "--modelbench-baseline=baseline.json",
                                "--modelbench-fail-on-regression")
    assert result.ret == 4
    result.stdout.fnmatch_lines(["*baseline not compared: baseline '*baseline.json' shares no task with this run*"
                                 "save a new baseline with --modelbench-update-baseline*"])
    _no_traceback(result)
    assert json.loads((pytester.path / "baseline.json").read_text())["runs"][0]["task"] == "other.py::test_gone"

    result = pytester.runpytest("--modelbench-models=echo", "--modelbench-baseline=baseline.json",
                                "--modelbench-update-baseline")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["baseline updated: *baseline.json (it replaces one that shared nothing*"])
    tasks = {run["task"] for run in json.loads((pytester.path / "baseline.json").read_text())["runs"]}
    assert tasks == {"test_a_baseline_sharing_no_task_exits_4_then_update_replaces_it.py::test_answer"}

    result = pytester.runpytest("--modelbench-models=echo", "--modelbench-baseline=baseline.json",
                                "--modelbench-fail-on-regression")
    assert result.ret == 0  # compared now: no regression (the echo model misses both times)


def test_a_baseline_sharing_no_model_can_be_replaced(pytester) -> None:
    _baseline(pytester, [_run(model="retired-model")])
    pytester.makepyfile(SUITE)
    refused = pytester.runpytest("--modelbench-models=echo", "--modelbench-baseline=baseline.json")
    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    refused.stderr.fnmatch_lines(["*shares no model with this run*to replace it, run with --modelbench-update-baseline*"])
    result = pytester.runpytest("--modelbench-models=echo", "--modelbench-baseline=baseline.json",
                                "--modelbench-update-baseline")
    assert result.ret == 0
    assert {run["model"] for run in json.loads((pytester.path / "baseline.json").read_text())["runs"]} == {"echo"}


# --------------------------------------------------------------------------- options that mean nothing


def test_an_empty_model_list_is_a_usage_error(pytester) -> None:
    pytester.makepyfile(SUITE)
    result = pytester.runpytest("--modelbench-models=,")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--modelbench-models ',' names no model; write SPEC[[],SPEC...[]]*"])


def test_a_budget_without_a_volume_is_a_usage_error(pytester) -> None:
    pytester.makepyfile(SUITE)
    result = pytester.runpytest("--modelbench-models=echo", "--modelbench-budget=100")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--modelbench-budget '100' needs --modelbench-volume=N/day*"])


# --------------------------------------------------------------------------- a locked store


def test_a_response_store_locked_by_another_writer_is_a_usage_error(pytester) -> None:
    store = pytester.path / "cache.sqlite"
    holder = sqlite3.connect(store, isolation_level=None)
    holder.execute("CREATE TABLE hold (x)")
    holder.execute("BEGIN EXCLUSIVE")  # another writer, holding the lock throughout
    try:
        pytester.makepyfile(SUITE)
        result = pytester.runpytest_subprocess("--modelbench-models=echo", f"--modelbench-cache={store}",
                                               "--modelbench-cache-lock-timeout=1")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--modelbench-cache: response store '*cache.sqlite' stayed locked for 1 s*"
                                 "Another process (another pytest session?) holds its lock*"])
    _no_traceback(result)


def test_files_are_created_with_the_usual_permissions(pytester) -> None:
    pytester.makepyfile(SUITE)
    previous = os.umask(0o022)
    try:
        result = pytester.runpytest("--modelbench-models=echo", "--modelbench-json=r.json", "--modelbench-report=r.md")
    finally:
        os.umask(previous)
    assert result.ret == 0
    for name in ("r.json", "r.md"):
        assert stat.S_IMODE((pytester.path / name).stat().st_mode) == 0o644
