"""``--modelbench-plan`` (a counting server on 127.0.0.1 proves it calls nothing; estimates only
from history of the same tasks), ``--modelbench-shard=K/N`` (whole tasks, deselected as pytest
deselects) and the prompts and replies a run keeps (cut, keys redacted, 0 keeps none)."""

from __future__ import annotations

import json
import re
import threading

import pytest

from fake_openai import FakeOpenAI, RecordedRequest, Reply, stream_reply

SECRET = "sk-plan-very-secret-0123456789"

SUITE = """
import pytest

@pytest.mark.modelbench(category="reasoning", difficulty="easy", runs=2)
@pytest.mark.parametrize("a,b", [(2, 3), (17, 25)])
def test_addition(model, a, b):
    reply = model.complete(f"What is {a} + {b}? key {KEY}", max_tokens=5, temperature=0)
    assert str(a + b) in reply.text

@pytest.mark.modelbench(category="reasoning", difficulty="hard", runs=1)
def test_hard(model):
    reply = model.complete("What is 40 + 2?", max_tokens=5, temperature=0)
    assert "42" in reply.text
"""


class Counter:
    """Answers 'What is A + B?' right, echoing the rest of the prompt (with its key); counts calls."""

    def __init__(self) -> None:
        self.calls = 0
        self.lock = threading.Lock()

    def __call__(self, request: RecordedRequest) -> Reply:
        with self.lock:
            self.calls += 1
        prompt = request.body["messages"][-1]["content"]
        a, b = (int(n) for n in re.findall(r"\d+", prompt)[:2])
        return stream_reply([f"{a + b} ", prompt], usage=(12, 3))


@pytest.fixture
def server():
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch) -> None:
    pytester.makepyprojecttoml("""
        [tool.modelbench.prices]
        calc = { input = 0.0, output = 10000.0 }
    """)
    pytester.makepyfile(test_suite=SUITE.replace("{KEY}", SECRET))
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)


def test_plan_calls_no_model_and_estimates_only_from_history(pytester, server, suite, monkeypatch):
    counter = Counter()
    server.always(counter)
    model = f"--modelbench-models=openai:calc@{server.url}"
    # 1. no history: counts are exact, estimates unknown, nothing called (a wide terminal: one table)
    monkeypatch.setenv("COLUMNS", "140")
    result = pytester.runpytest_subprocess(model, "--modelbench-plan", "--modelbench-max-cost=1", "-n", "2")
    assert result.ret == 0
    result.stdout.fnmatch_lines([
        "*= modelbench plan =*",
        "model*tasks*runs*trivial*easy*medium*hard*expert*stored*calls*tokens in/out*cost*model time*",
        f"openai:calc*3*5*-*4*-*1*-*-*unknown*unknown*unknown*unknown*",
        "openai:calc: estimates from no history",
        "the plan may not fit --modelbench-max-cost $1.00: cost unknown (some runs have no history)",
        "no model was called (--modelbench-plan)",
    ])
    assert counter.calls == 0 and server.requests == []
    # 2. the real session: 5 calls, recorded in the cache and the results file
    monkeypatch.setenv("COLUMNS", "80")  # from here on: two tables, the runs then what they take
    result = pytester.runpytest_subprocess(model, "--modelbench-cache=store.sqlite", "--modelbench-json=r.json")
    assert result.ret == 0 and counter.calls == 5
    # 3. plans from that history: the results file (cost $0.03 per run: 3 output tokens at $0.01)
    result = pytester.runpytest_subprocess(model, "--modelbench-plan", "--modelbench-json=r.json",
                                           "--modelbench-max-cost=0.10")
    assert result.ret == 1  # 5 runs x $0.03 = $0.15 does not fit $0.10
    result.stdout.fnmatch_lines(["model*tasks*runs*trivial*easy*medium*hard*expert*stored",
                                 "openai:calc*3*5*-*4*-*1*-*-",
                                 "model*calls*tokens in/out*cost*model time",
                                 "openai:calc*5*60/15*$0.15*s",
                                 "openai:calc: estimates from results r.json",
                                 "the plan does NOT fit --modelbench-max-cost $0.10: cost $0.15"])
    section = result.stdout.lines[next(i for i, line in enumerate(result.stdout.lines) if "modelbench plan" in line):]
    assert max(len(line) for line in section) <= 80
    # 4. ... and from the response store, which would answer every run: no call, no cost
    (pytester.path / "r.json").unlink()
    result = pytester.runpytest_subprocess(model, "--modelbench-plan", "--modelbench-cache=store.sqlite",
                                           "--modelbench-max-cost=0.10")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["openai:calc*3*5*-*4*-*1*-*5",
                                 "openai:calc*0*60/15*$0*s",
                                 "openai:calc: estimates from response store store.sqlite",
                                 "the plan fits --modelbench-max-cost $0.10: cost $0"])
    assert counter.calls == 5  # no plan called the model
    assert SECRET not in result.stdout.str()


def test_shards_partition_whole_tasks(pytester, suite, server):
    server.always(Counter())
    model = f"--modelbench-models=a=openai:calc@{server.url},b=openai:calc@{server.url}"
    seen = []
    for k in (1, 2, 3):
        result = pytester.runpytest(model, f"--modelbench-shard={k}/3", f"--modelbench-json=s{k}.json",
                                    "-p", "no:cacheprovider", "-rN")
        assert result.ret == 0
        outcomes = result.parseoutcomes()
        assert outcomes.get("passed", 0) + outcomes.get("deselected", 0) == 10
        path = pytester.path / f"s{k}.json"
        if path.exists():
            document = json.loads(path.read_text())
            assert document["meta"]["settings"]["shard"] == f"{k}/3"
            seen += [(run["task"], run["model"], run["run"]) for run in document["runs"]]
    assert len(seen) == len(set(seen)) == 10  # every run of every task exactly once
    by_task: dict[str, set] = {}
    for task, name, number in seen:
        by_task.setdefault(task, set()).add((name, number))
    assert all(len(runs) == {"test_suite.py::test_hard": 2}.get(task, 4) for task, runs in by_task.items())


@pytest.mark.parametrize("value", ["3/2", "0/4", "a/b", "2"])
def test_bad_shard_is_a_usage_error(pytester, value):
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest("--modelbench-models=echo", f"--modelbench-shard={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--modelbench-shard*{value!r}*K/N*"])


def test_replies_are_kept_cut_and_redacted(pytester, suite, server):
    server.always(Counter())
    model = f"--modelbench-models=openai:calc@{server.url}"
    result = pytester.runpytest_subprocess(model, "--modelbench-json=r.json", "--modelbench-text-limit=30")
    assert result.ret == 0
    runs = json.loads((pytester.path / "r.json").read_text())["runs"]
    first = next(run for run in runs if run["task"].endswith("[2-3]"))
    # 'What is 2 + 3? key [REDACTED]' is 30 bytes: kept whole; the reply is longer: cut
    assert first["prompt"].startswith("What is 2 + 3? key ") and SECRET not in first["prompt"]
    assert re.fullmatch(r"5 What is 2 \+ 3\? key \S+… \[\d+ more bytes\]", first["reply"]), first["reply"]
    assert SECRET not in (pytester.path / "r.json").read_text()
    hard = next(run for run in runs if run["task"].endswith("test_hard"))
    assert hard["prompt"] == "What is 40 + 2?"
    result = pytester.runpytest_subprocess(model, "--modelbench-json=none.json", "--modelbench-text-limit=0")
    runs = json.loads((pytester.path / "none.json").read_text())["runs"]
    assert all(run["prompt"] is None and run["reply"] is None for run in runs)


@pytest.mark.parametrize("workers", [[], ["-n", "2"]])
def test_a_shard_without_tasks_passes_and_writes_nothing(pytester, workers):
    # test_suite.py::test_hard hashes into shard 2 of 2 (tests/session pins it): shard 1 is empty
    pytester.makepyfile(test_suite=SUITE.split("@pytest.mark.modelbench(category=\"reasoning\", difficulty=\"easy\"")[0]
                        + SUITE[SUITE.index("@pytest.mark.modelbench(category=\"reasoning\", difficulty=\"hard\""):])
    result = pytester.runpytest_subprocess("--modelbench-models=echo", "--modelbench-shard=1/2",
                                           "--modelbench-json=r.json", *workers)
    assert result.ret == 0 and not (pytester.path / "r.json").exists()
    result = pytester.runpytest_subprocess("--modelbench-models=echo", "--modelbench-shard=2/2",
                                           "--modelbench-json=r.json", *workers)
    assert result.ret == 0 and (pytester.path / "r.json").exists()
