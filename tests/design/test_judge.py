"""LLM-as-judge: reply parsing and the judge fixture."""

from __future__ import annotations

import json

import pytest

from pytest_modelbench.design.judge import JudgeError, build_prompt, parse_reply


@pytest.mark.parametrize(
    ("reply", "score", "raw"),
    [
        ('{"reasoning": "good", "score": 7}', 0.7, 7.0),
        ('Sure!\n```json\n{"reasoning": "ok", "score": "10"}\n```', 1.0, 10.0),
        ('I think {"score": 0, "reasoning": "wrong"} is fair.', 0.0, 0.0),
        ("The answer is partly right.\nScore: 4/10", 0.4, 4.0),
        ("Score: 3/5", 0.6, 6.0),  # rescaled from /5 to the 0..10 scale
        ("**Score:** 8.5", 0.85, 8.5),
    ],
)
def test_parse_reply(reply: str, score: float, raw: float) -> None:
    parsed_score, _, parsed_raw = parse_reply(reply)
    assert parsed_score == pytest.approx(score) and parsed_raw == pytest.approx(raw)


def test_custom_scale() -> None:
    assert parse_reply('{"score": 3}', scale=(1, 5))[0] == pytest.approx(0.5)


@pytest.mark.parametrize("reply", ["I cannot grade this.", '{"score": 11}', '{"score": -1}', '{"score": "high"}', ""])
def test_unusable_replies_are_errors(reply: str) -> None:
    with pytest.raises(JudgeError):
        parse_reply(reply)


def test_prompt_has_everything() -> None:
    prompt = build_prompt("Q?", "A.", "Be kind.", reference="R.", scale=(0, 10))
    for part in ("QUESTION:\nQ?", "ANSWER:\nA.", "CRITERIA:\nBe kind.", "REFERENCE:\nR.", '"score"'):
        assert part in prompt
    with pytest.raises(ValueError, match="low < high"):
        build_prompt("q", "a", "r", scale=(5, 1))


JUDGE = '''
import json, re

def grade(prompt):
    answer = prompt.split("ANSWER:\\n", 1)[1].split("\\n\\nCRITERIA", 1)[0]
    if "unparseable" in answer:
        return "no idea"
    return {"text": json.dumps({"reasoning": "counted", "score": min(10, len(answer.split()))}),
            "input_tokens": 100, "output_tokens": 10}
'''


def test_judge_fixture(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(judgemodel=JUDGE)
    pytester.makepyprojecttoml("""
        [tool.pytest.ini_options]
        pythonpath = ["."]
        [tool.modelbench.prices]
        "python:judgemodel:grade" = { input = 1.0, output = 2.0 }
    """)
    pytester.makepyfile("""
        import pytest

        @pytest.mark.modelbench(category="quality", runs=2)
        @pytest.mark.parametrize("prompt", ["one two three four five", "unparseable please"])
        def test_graded(model, judge, record_quality, prompt):
            reply = model.complete(prompt)
            verdict = judge.grade(question="Say some words", answer=reply.text, rubric="More words are better")
            record_quality(verdict.score)
    """)
    result = pytester.runpytest("--modelbench-models=echo", "--modelbench-judge=python:judgemodel:grade",
                                "--modelbench-json=r.json")
    assert result.ret == 0
    document = json.loads((pytester.path / "r.json").read_text())
    runs = document["runs"]
    graded = [run for run in runs if "one two" in run["task"]]
    assert [run["quality"] for run in graded] == [0.5, 0.5]
    assert all(run["judge_calls"] == 1 and run["judge_cost_usd"] == pytest.approx(100e-6 + 20e-6) for run in graded)
    assert all(run["cost_usd"] == 0.0 for run in graded)  # echo is free: the judge's cost is not the model's
    broken = [run for run in runs if "unparseable" in run["task"]]
    assert [run["outcome"] for run in broken] == ["error", "error"]
    assert "JudgeError: the judge gave no parseable score" in broken[0]["error"]
    judge_block = document["models"]["echo"]["judge"]
    # the two unparseable replies reported no token counts: the judge's total cost is unknown, not 0
    assert judge_block["calls"] == 4 and judge_block["cost_usd"] is None
    assert document["meta"]["settings"]["judge"]["spec"] == "python:judgemodel:grade"


def test_judge_fixture_skips_without_judge(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest
        @pytest.mark.modelbench(category="quality", runs=1)
        def test_graded(model, judge):
            pass
    """)
    result = pytester.runpytest("--modelbench-models=echo", "-rs")
    result.stdout.fnmatch_lines(["*no judge configured: pass --modelbench-judge=SPEC*"])
