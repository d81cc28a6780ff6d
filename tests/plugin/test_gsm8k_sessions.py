"""Whole sessions on real recorded model outputs: GSM8K questions answered by four real systems
(../shared/data/gsm8k/example_model_solutions.jsonl, skipped when absent), replayed by
``python:`` models. Running every question once or three times (a temperature-0 model, a
pipeline, a replay) gives the same verdicts everywhere: head-to-head, recommendations and the
regression gate. Consistency (how a task's repeated runs agree) cannot be measured from one
run per task, so these sessions leave it out of the score (``[tool.modelbench.consistency]
measured = false``); speed and cost are measured from the runs as usual."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SOLUTIONS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "gsm8k" / "example_model_solutions.jsonl"
QUESTIONS = 120

REPLAY = '''
import json
from pathlib import Path

_ROWS = [json.loads(line) for line in Path({path!r}).read_text(encoding="utf-8").splitlines()[:{n}]]
_BY_QUESTION = {{row["question"]: row for row in _ROWS}}


def _answer(system):
    def answer(prompt):
        return _BY_QUESTION[prompt][system]["solution"]
    return answer


small_tuned = _answer("6b_finetuning")
small_verified = _answer("6b_verification")
large_tuned = _answer("175b_finetuning")
large_verified = _answer("175b_verification")
'''

SUITE = '''
import json
from pathlib import Path

import pytest
from pytest_modelbench.scorers import extract_final_number, numeric_match

ROWS = [json.loads(line) for line in Path({path!r}).read_text(encoding="utf-8").splitlines()[:{n}]]


@pytest.mark.modelbench(category="reasoning", difficulty="medium")
@pytest.mark.parametrize("row", ROWS, ids=[f"q{{i:03d}}" for i in range(len(ROWS))])
def test_gsm8k(model, row):
    reply = model.complete(row["question"])
    truth = row["ground_truth"].rsplit("A:", 1)[-1].strip()
    assert numeric_match(extract_final_number(reply.text), truth)
'''

MODELS = ("small_tuned", "small_verified", "large_tuned", "large_verified")


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    if not SOLUTIONS.is_file():
        pytest.skip(f"shared data file {SOLUTIONS} is absent (expected beside the repository in ../shared/data)")
    pytester.makepyfile(replay_gsm8k=REPLAY.format(path=str(SOLUTIONS), n=QUESTIONS))
    pytester.makepyfile(test_gsm8k=SUITE.format(path=str(SOLUTIONS), n=QUESTIONS))
    pytester.makepyprojecttoml("[tool.modelbench.consistency]\nmeasured = false\n")
    pytester.syspathinsert()
    return pytester


def _verdicts(document: dict) -> dict:
    pairs = {(c["model_a"], c["model_b"]): (c["verdict"], c["p_value"], c["p_adjusted"], c["low"], c["high"])
             for c in document["comparisons"]["overall"]}
    leads = {r["use_case"]: (r["recommended"], r["significance"]) for r in document["recommendations"]}
    return {"pairs": pairs, "leads": leads}


def test_verdicts_are_the_same_at_one_and_three_runs(project: pytest.Pytester) -> None:
    models = ",".join(f"{name}=python:replay_gsm8k:{name}" for name in MODELS)
    documents = {}
    for runs in (1, 3):
        result = project.runpytest(f"--modelbench-models={models}", f"--modelbench-runs={runs}",
                                   f"--modelbench-json=r{runs}.json", "-q")
        assert result.ret == 0
        documents[runs] = json.loads((project.path / f"r{runs}.json").read_text())
    once, thrice = _verdicts(documents[1]), _verdicts(documents[3])
    assert once == thrice
    assert len(once["pairs"]) == 6
    # repeating answers changes no score either: scores are over tasks
    for name in MODELS:
        assert set(documents[1]["models"][name]["dimensions"]) == {"speed", "cost"}
        assert documents[1]["models"][name]["score"] == pytest.approx(documents[3]["models"][name]["score"])
        assert documents[1]["models"][name]["pass_rate_ci95"] == pytest.approx(
            documents[3]["models"][name]["pass_rate_ci95"])
    # with consistency measured (the default) at three runs, these replays agree with
    # themselves (100) and every head-to-head verdict stays the same (the use cases that weigh
    # consistency now have it, so their recommendations may change)
    (project.path / "pyproject.toml").unlink()
    result = project.runpytest(f"--modelbench-models={models}", "--modelbench-runs=3", "--modelbench-json=c3.json", "-q")
    assert result.ret == 0
    measured = json.loads((project.path / "c3.json").read_text())
    assert all(measured["models"][name]["dimensions"]["consistency"]["score"] == 100.0 for name in MODELS)
    with_consistency = _verdicts(measured)
    assert {pair: entry[0] for pair, entry in with_consistency["pairs"].items()} == {
        pair: entry[0] for pair, entry in once["pairs"].items()}


def test_regression_gate_on_recorded_outputs(project: pytest.Pytester) -> None:
    """large_verified's answers as the baseline of a model that now gives large_tuned's:
    the gate's verdict does not depend on how often each question is repeated."""
    verdicts = set()
    for runs in (1, 3):
        project.runpytest(f"--modelbench-models=m=python:replay_gsm8k:large_verified", f"--modelbench-runs={runs}",
                          f"--modelbench-json=base{runs}.json", "-q")
        result = project.runpytest(f"--modelbench-models=m=python:replay_gsm8k:large_tuned", f"--modelbench-runs={runs}",
                                   f"--modelbench-baseline=base{runs}.json", "--modelbench-fail-on-regression",
                                   f"--modelbench-json=now{runs}.json", "-q")
        gate = json.loads((project.path / f"now{runs}.json").read_text())["gates"][0]
        verdicts.add((gate["verdict"], result.ret))
    assert len(verdicts) == 1
    [(verdict, ret)] = verdicts
    assert verdict == "fail" and ret == 1  # 120 questions: 60% against 49% correct is a real drop
