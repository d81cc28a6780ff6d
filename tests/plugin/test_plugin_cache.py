"""Record with --modelbench-cache, replay with --modelbench-replay: same records, no calls, no spend."""

from __future__ import annotations

import json

import pytest

SUITE = """
import pytest

@pytest.mark.modelbench(category="reasoning", difficulty="easy", runs=3)
@pytest.mark.parametrize("a,b", [(2, 3), (17, 25)])
def test_addition(model, a, b):
    first = model.complete(f"What is {a} + {b}?")
    second = model.complete(f"What is {a} + {b}?")  # same prompt twice in a run: two entries
    assert str(a + b) in first.text and second.text
"""

# A noisy model: random answers, latencies and token counts, and a file counting its calls.
SOLVER = """
import os, random, time, re

def solve(prompt):
    with open(os.environ["CALLS_FILE"], "a") as calls:
        calls.write("x")
    time.sleep(random.random() / 100)
    numbers = [int(x) for x in re.findall(r"\\d+", prompt)]
    text = str(sum(numbers)) if random.random() < 0.7 else "no idea"
    return {"text": text, "input_tokens": random.randint(5, 50), "output_tokens": 3}
"""


def _key(runs: list[dict]) -> list[tuple]:
    return sorted((r["task"], r["run"], r["outcome"], r["latency_ms"], r["ttft_ms"], r["input_tokens"],
                   r["calls"], r["cost_usd"]) for r in runs)


def test_record_then_replay(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(test_suite=SUITE, solver=SOLVER)
    pytester.makepyprojecttoml("""
        [tool.pytest.ini_options]
        pythonpath = ["."]
        [tool.modelbench.prices]
        "python:solver:solve" = { input = 1.0, output = 1.0 }
    """)
    calls = pytester.path / "calls.txt"
    monkeypatch.setenv("CALLS_FILE", str(calls))
    args = ["-p", "no:cacheprovider", "--modelbench-models=python:solver:solve"]

    record = pytester.runpytest_subprocess(*args, "--modelbench-json=rec.json", "--modelbench-cache=store.sqlite", "-n", "2")
    assert record.ret == 0
    assert len(calls.read_text()) == 2 * 3 * 2
    assert not (pytester.path / "store.sqlite-wal").exists()  # a finished store is one file

    calls.write_text("")
    before = (pytester.path / "store.sqlite").read_bytes()
    replay = pytester.runpytest_subprocess(*args, "--modelbench-json=rep.json", "--modelbench-replay=store.sqlite", "-n", "2")
    assert replay.ret == 0
    assert calls.read_text() == ""  # no model call at all
    assert (pytester.path / "store.sqlite").read_bytes() == before  # read-only
    recorded = json.loads((pytester.path / "rec.json").read_text())
    replayed = json.loads((pytester.path / "rep.json").read_text())
    assert _key(recorded["runs"]) == _key(replayed["runs"])
    assert not any(r["cached"] for r in recorded["runs"]) and all(r["cached"] for r in replayed["runs"])
    assert recorded["models"]["python:solver:solve"]["score"] == replayed["models"]["python:solver:solve"]["score"]
    cost = replayed["models"]["python:solver:solve"]["cost"]
    assert cost["cost_usd"] == pytest.approx(recorded["models"]["python:solver:solve"]["cost"]["cost_usd"])
    assert cost["spent_usd"] == 0.0  # replayed runs report what they would have cost, spend nothing

    missing = pytester.runpytest_subprocess(*args, "--modelbench-runs=4", "--modelbench-replay=store.sqlite",
                                            "--modelbench-json=miss.json")
    assert missing.ret == 0  # a replay miss is an error outcome, not a crash
    assert calls.read_text() == ""
    errors = [run for run in json.loads((pytester.path / "miss.json").read_text())["runs"] if run["outcome"] == "error"]
    assert sorted(run["run"] for run in errors) == [4, 4]
    assert errors[0]["error"].startswith(
        "ReplayMissError: no recorded answer for task test_suite.py::test_addition[17-25], "
        "model python:solver:solve, run 4"
    )


def test_bad_store_and_exclusive_options(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    (pytester.path / "notes.txt").write_text("not a database")
    result = pytester.runpytest("--modelbench-models=echo", "--modelbench-replay=notes.txt")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*notes.txt' is not a valid SQLite database*"])
    assert (pytester.path / "notes.txt").read_text() == "not a database"
    result = pytester.runpytest("--modelbench-models=echo", "--modelbench-replay=a", "--modelbench-cache=b")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--modelbench-cache=b and --modelbench-replay=a exclude each other*"])


def test_cache_hits_on_second_session(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    first = pytester.runpytest("--modelbench-models=echo", "--modelbench-cache", "--modelbench-json=a.json")
    assert first.ret == 0 and (pytester.path / ".modelbench" / "cache.sqlite").exists()
    second = pytester.runpytest("--modelbench-models=echo", "--modelbench-cache", "--modelbench-json=b.json")
    assert second.ret == 0
    runs = json.loads((pytester.path / "b.json").read_text())["runs"]
    assert runs and all(run["cached"] for run in runs)
