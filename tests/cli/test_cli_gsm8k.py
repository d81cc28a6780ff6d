"""The ``modelbench`` command on real results files: the recorded GSM8K solutions of four real
systems (../shared/data, skipped when absent), written as results files by the end-of-session
pipeline (``finish`` + ``write_outputs``, what the plugin calls) and by whole pytest sessions
whose ``python:`` model replays the recorded solutions.

* ``compare``: a 175b_verification baseline against a 175b_finetuning current fails
  ``--fail-on-regression``, and agrees exactly with the session's ``--modelbench-baseline`` gate;
* ``merge``: two shards merge to the full run's numbers exactly (records split by the shard
  hash; and real ``--modelbench-shard`` sessions);
* ``trend``, ``report`` and ``show --task`` on the same files.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
from pathlib import Path

import pytest

from pytest_modelbench.cli import main
from pytest_modelbench.core.dimensions import ANSWERS_ONLY, Dimensions
from pytest_modelbench.core.records import RunRecord
from pytest_modelbench.core.results import build_meta
from pytest_modelbench.models.specs import ModelSpec
from pytest_modelbench.session.pipeline import finish, write_outputs
from pytest_modelbench.session.settings import Settings
from pytest_modelbench.session.shard import shard_of

SOLUTIONS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "gsm8k" / "example_model_solutions.jsonl"
SYSTEMS = ("6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification")


@pytest.fixture(scope="module")
def gsm8k() -> list[dict]:
    if not SOLUTIONS.is_file():
        pytest.skip(f"shared data file {SOLUTIONS} is absent (expected beside the repository in ../shared/data)")
    with SOLUTIONS.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def answer(text: str) -> str | None:
    """The final answer of a GSM8K solution ("A: 18")."""
    found = re.findall(r"A:\s*([-\d.,]+)", text)
    return found[-1].replace(",", "").rstrip(".") if found else None


def records_of(rows: list[dict], system: str, name: str, *, runs: int = 1, questions: int | None = None) -> list[RunRecord]:
    """``system``'s recorded solutions as runs of model ``name`` (a temperature-0 replay): passed
    when the final answer is the ground truth's; latency and tokens from the solution's length."""
    records = []
    for i, row in enumerate(rows[:questions]):
        solution = row[system]["solution"]
        passed = answer(solution) == answer(row["ground_truth"])
        for run in range(1, runs + 1):
            records.append(RunRecord(
                task=f"test_gsm8k.py::test_gsm8k[{i:04d}]", model=name, run=run, category="reasoning",
                difficulty="medium", weight=1.0, outcome="passed" if passed else "failed",
                quality=1.0 if passed else 0.0, latency_ms=5.0 + len(solution) / 10.0,
                input_tokens=len(row["question"].split()), output_tokens=len(solution.split()), calls=1,
                cost_usd=len(solution.split()) * 1e-6, prompt=row["question"], reply=solution,
                detail=None if passed else f"answer {answer(solution)} is not {answer(row['ground_truth'])}",
            ))
    return records


def write_results(path: Path, records: list[RunRecord], names: list[str], *, finished: str = "2026-01-01T00:00:00+00:00",
                  shard: tuple[int, int] | None = None, dimensions: Dimensions = Dimensions()) -> dict:
    """A results file as a session writes it: ``finish`` then ``write_outputs`` (``dimensions``:
    the session's ``[tool.modelbench.speed|cost|consistency]``, the defaults unless given)."""
    specs = tuple(ModelSpec(name=name, provider="python", model=f"replay:{name}") for name in names)
    settings = Settings(models=specs, json_path=path, shard=shard, dimensions=dimensions)
    result = finish(records, settings)
    write_outputs(result, settings, lambda: build_meta(
        plugin_version="0.1.0", pytest_version="9", started=finished, finished=finished, rootdir=path.parent,
        models=[spec.describe() for spec in specs], settings=settings.describe()))
    return json.loads(path.read_text(encoding="utf-8"))


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main([str(arg) for arg in argv], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


# ------------------------------------------------------------------ compare


def test_compare_175b_verification_baseline_against_175b_finetuning_fails(gsm8k, tmp_path):
    # Sessions that score the answers only ([tool.modelbench.speed|cost|consistency] measured =
    # false): the score is the pass rate, so the gate's change can be checked by hand.
    baseline = tmp_path / "baseline.json"
    current = tmp_path / "current.json"
    write_results(baseline, records_of(gsm8k, "175b_verification", "gpt3-175b"), ["gpt3-175b"], dimensions=ANSWERS_ONLY)
    write_results(current, records_of(gsm8k, "175b_finetuning", "gpt3-175b"), ["gpt3-175b"], dimensions=ANSWERS_ONLY)
    code, out, err = run("compare", baseline, current, "--fail-on-regression", "-o", tmp_path / "gated.json")
    assert code == 1, out + err
    assert re.search(r"fail-on-regression\s+gpt3-175b\s+-21\.5 pts, p < 0\.001.*FAIL", out), out
    assert "gates FAILED" in out and err == ""
    gate = json.loads((tmp_path / "gated.json").read_text())["gates"][0]
    # 56.25% -> 34.72% of 1319 questions: the score (60% pass rate + 40% quality) falls 21.5 points
    assert gate["verdict"] == "fail" and gate["measured"] == pytest.approx(100 * (458 - 742) / 1319)
    # With the measured dimensions (the default) the score also counts speed, cost and
    # consistency, scored with the files' own reference points: every task ran in both files,
    # so the paired change is exactly the difference of the two sessions' saved scores.
    saved = [write_results(path, records_of(gsm8k, system, "gpt3-175b"), ["gpt3-175b"])
             for path, system in ((baseline, "175b_verification"), (current, "175b_finetuning"))]
    code, out, err = run("compare", baseline, current, "--fail-on-regression", "-o", tmp_path / "gated.json")
    assert code == 1, out + err
    gate = json.loads((tmp_path / "gated.json").read_text())["gates"][0]
    then, now = (document["models"]["gpt3-175b"]["score"] for document in saved)
    assert set(saved[0]["models"]["gpt3-175b"]["dimensions"]) == {"speed", "cost", "consistency"}
    assert gate["verdict"] == "fail" and gate["measured"] == pytest.approx(now - then)
    # the other way round it is a significant rise: the gate passes
    code, out, _ = run("compare", current, baseline, "--fail-on-regression")
    assert code == 0 and "gates passed" in out
    # without a gate, the comparison is printed and nothing fails
    code, out, _ = run("compare", baseline, current)
    assert code == 0 and "no gate asked for" in out and "gpt3-175b" in out


REPLAY_MODEL = '''
import json

SOLUTIONS = {{}}
with open({path!r}, encoding="utf-8") as handle:
    for line in handle:
        row = json.loads(line)
        SOLUTIONS[row["question"]] = row


def _replay(system):
    def answer(prompt):
        row = SOLUTIONS[prompt]
        words = len(row[system]["solution"].split())
        return {{"text": row[system]["solution"], "input_tokens": len(prompt.split()), "output_tokens": words}}
    return answer


verification_175b = _replay("175b_verification")
finetuning_175b = _replay("175b_finetuning")
verification_6b = _replay("6b_verification")
'''

SUITE = '''
import json
import re

import pytest

with open({path!r}, encoding="utf-8") as handle:
    ROWS = [json.loads(line) for line in handle][:{questions}]


def answer(text):
    found = re.findall(r"A:\\s*([-\\d.,]+)", text)
    return found[-1].replace(",", "").rstrip(".") if found else None


@pytest.mark.modelbench(category="reasoning", difficulty="medium", runs={runs})
@pytest.mark.parametrize("row", [pytest.param(row, id=f"{{i:04d}}") for i, row in enumerate(ROWS)])
def test_gsm8k(model, row):
    reply = model.complete(row["question"], temperature=0)
    assert answer(reply.text) == answer(row["ground_truth"])
'''


#: A project's own reference points for the measured dimensions and a price for its model: the
#: scores depend on them, so the command line must read them back from the results file.
PYPROJECT = """
[tool.modelbench.prices]
gpt3 = { input = 2.0, output = 8.0 }

[tool.modelbench.speed]
latency_p50 = { best_ms = 0.01, worst_ms = 2.0, weight = 1 }
latency_p95 = { weight = 0 }
ttft_p50 = { weight = 0 }

[tool.modelbench.cost]
best_usd = 0.0001
worst_usd = 0.01

[tool.modelbench.consistency]
measured = false
"""


def _suite(pytester: pytest.Pytester, questions: int, runs: int = 1, pyproject: str | None = None) -> None:
    pytester.makepyfile(replay_gsm8k=REPLAY_MODEL.format(path=str(SOLUTIONS)),
                        test_gsm8k=SUITE.format(path=str(SOLUTIONS), questions=questions, runs=runs))
    if pyproject is not None:
        pytester.makefile(".toml", pyproject=pyproject)
    pytester.syspathinsert()


def test_compare_agrees_exactly_with_the_sessions_baseline_gate(gsm8k, pytester: pytest.Pytester):
    # The project sets its own [tool.modelbench.speed|cost|consistency] and a price: the
    # command line scores both files with the session's reference points, read from the file.
    _suite(pytester, questions=200, pyproject=PYPROJECT)
    result = pytester.runpytest("--modelbench-models=gpt3=python:replay_gsm8k:verification_175b",
                                "--modelbench-json=baseline.json", "-p", "no:cacheprovider")
    assert result.ret == 0
    result = pytester.runpytest("--modelbench-models=gpt3=python:replay_gsm8k:finetuning_175b",
                                "--modelbench-json=current.json", "--modelbench-baseline=baseline.json",
                                "--modelbench-fail-on-regression", "--modelbench-min-score=90",
                                "-p", "no:cacheprovider")
    assert result.ret == 1  # the session's own regression gate fails
    session = json.loads((pytester.path / "current.json").read_text())
    dimensions = session["meta"]["settings"]["dimensions"]
    assert dimensions["consistency"] is False and list(dimensions["speed"]) == ["latency_p50"]
    assert dimensions["cost"] == {"best_usd": 0.0001, "worst_usd": 0.01}
    summary = session["models"]["gpt3"]
    assert set(summary["dimensions"]) == {"speed", "cost"} and 0 < summary["dimensions"]["cost"]["score"] < 100
    code, out, _ = run("compare", pytester.path / "baseline.json", pytester.path / "current.json",
                       "--fail-on-regression", "--min-score=90", "-o", pytester.path / "cli.json")
    assert code == 1
    cli = json.loads((pytester.path / "cli.json").read_text())
    assert cli["gates"] == session["gates"]  # same verdicts, values, p-values and messages
    assert cli["baseline"]["models"] == session["baseline"]["models"]
    assert cli["models"] == session["models"]  # every score recomputed from the runs, dimensions included
    assert [gate["verdict"] for gate in cli["gates"]] == ["fail", "fail"]


# ------------------------------------------------------------------ merge


def _blocks(document: dict) -> dict:
    """Everything computed from the runs (not when or where the files were written)."""
    return {key: value for key, value in document.items() if key != "meta"}


def test_two_shards_merge_to_the_full_runs_numbers_exactly(gsm8k, tmp_path):
    names = ["gpt3-6b", "gpt3-175b"]
    records = (records_of(gsm8k, "6b_verification", "gpt3-6b", runs=2, questions=600)
               + records_of(gsm8k, "175b_verification", "gpt3-175b", runs=2, questions=600))
    full = write_results(tmp_path / "full.json", records, names)
    for k in (1, 2):
        mine = [record for record in records if shard_of(record.task, 2) == k]
        assert 500 < len(mine) < 1900  # a real split, whole tasks with both models and both runs
        write_results(tmp_path / f"shard{k}.json", mine, names, shard=(k, 2))
    code, out, err = run("merge", tmp_path / "shard1.json", tmp_path / "shard2.json", "-o", tmp_path / "merged.json")
    assert code == 0, err
    merged = json.loads((tmp_path / "merged.json").read_text())
    assert _blocks(merged) == _blocks(full)
    assert merged["meta"]["settings"]["shard"] is None
    assert [entry["shard"] for entry in merged["meta"]["merged_from"]] == ["1/2", "2/2"]
    # the same file twice: each run kept once, same numbers
    code, out, _ = run("merge", tmp_path / "full.json", tmp_path / "shard1.json", "-o", tmp_path / "again.json")
    assert code == 0 and "kept once" in out
    assert _blocks(json.loads((tmp_path / "again.json").read_text())) == _blocks(full)


def test_merge_refuses_conflicts_naming_the_file_and_run(gsm8k, tmp_path):
    write_results(tmp_path / "a.json", records_of(gsm8k, "175b_verification", "gpt3", questions=50), ["gpt3"])
    write_results(tmp_path / "b.json", records_of(gsm8k, "175b_finetuning", "gpt3", questions=50), ["gpt3"])
    code, _, err = run("merge", tmp_path / "a.json", tmp_path / "b.json", "-o", tmp_path / "m.json")
    assert code == 2 and not (tmp_path / "m.json").exists()
    assert re.fullmatch(r"modelbench merge: error: run 1 of task 'test_gsm8k.py::test_gsm8k\[\d{4}\]' with model "
                        r"'gpt3' is in '.*a\.json' \((passed|failed).*\) and in '.*b\.json' \((passed|failed).*"
                        r"a run has one outcome: merge shards, not repeated sessions\n", err)
    # the same name for another configuration
    document = json.loads((tmp_path / "b.json").read_text())
    document["meta"]["models"][0]["spec"] = "openai:gpt-3"
    document["runs"] = [run_ for run_ in document["runs"] if run_["task"].endswith("[0049]")]
    (tmp_path / "c.json").write_text(json.dumps(document))
    code, _, err = run("merge", tmp_path / "a.json", tmp_path / "c.json", "-o", tmp_path / "m.json")
    assert code == 2 and "model 'gpt3' is configured differently in" in err and "'openai:gpt-3'" in err
    # another schema version
    document["schema_version"] = 2
    (tmp_path / "v2.json").write_text(json.dumps(document))
    code, _, err = run("merge", tmp_path / "a.json", tmp_path / "v2.json", "-o", tmp_path / "m.json")
    assert code == 2 and "v2.json' has schema_version 2; this plugin reads 1" in err


def test_shard_sessions_merge_to_the_full_session(gsm8k, pytester: pytest.Pytester):
    """Real sessions: --modelbench-shard=1/2 and 2/2 together run every task exactly once, with
    both models and every run of a task in one shard; merged, every score, interval, ranking and
    comparison is the full session's (latencies are measured anew in each session)."""
    _suite(pytester, questions=80, runs=2)
    models = "--modelbench-models=small=python:replay_gsm8k:verification_6b,large=python:replay_gsm8k:verification_175b"
    assert pytester.runpytest(models, "--modelbench-json=full.json", "-p", "no:cacheprovider").ret == 0
    for k in (1, 2):
        result = pytester.runpytest(models, f"--modelbench-shard={k}/2", f"--modelbench-json=shard{k}.json",
                                    "-p", "no:cacheprovider")
        assert result.ret == 0
        outcomes = result.parseoutcomes()
        assert outcomes["deselected"] + outcomes.get("passed", 0) + outcomes.get("missed", 0) == 320
    code, _, err = run("merge", pytester.path / "shard1.json", pytester.path / "shard2.json",
                       "-o", pytester.path / "merged.json")
    assert code == 0, err
    full = json.loads((pytester.path / "full.json").read_text())
    merged = json.loads((pytester.path / "merged.json").read_text())
    key = lambda run_: (run_["model"], run_["task"], run_["run"], run_["outcome"], run_["quality"], run_["reply"])
    assert sorted(map(key, merged["runs"])) == sorted(map(key, full["runs"]))
    shards = [json.loads((pytester.path / f"shard{k}.json").read_text()) for k in (1, 2)]
    tasks = [{run_["task"] for run_ in shard["runs"]} for shard in shards]
    assert not tasks[0] & tasks[1] and len(tasks[0] | tasks[1]) == 80
    for name in ("small", "large"):
        for field in ("score", "pass_rate", "pass_rate_ci95", "categories", "passed", "failed"):
            assert merged["models"][name][field] == full["models"][name][field]
    for method in ("weighted", "bradley_terry", "elo", "borda"):
        assert merged["rankings"][method] == full["rankings"][method]
    assert merged["comparisons"] == full["comparisons"] and merged["consistency"] == full["consistency"]


# ------------------------------------------------------------------ trend, report, show


def test_trend_flags_a_significant_change_between_consecutive_files(gsm8k, tmp_path):
    """A hosted model that changed under its name: 6b_finetuning, then 175b_finetuning, then
    the same again, then 175b_verification (the files in a directory, sorted by finished_at)."""
    history = tmp_path / "history"
    history.mkdir()
    steps = [("6b_finetuning", "2026-01-01"), ("175b_finetuning", "2026-02-01"), ("175b_finetuning", "2026-03-01"),
             ("175b_verification", "2026-04-01")]
    for number, (system, day) in enumerate(reversed(steps)):  # names out of time order on purpose
        write_results(history / f"r{number}.json", records_of(gsm8k, system, "hosted"), ["hosted"],
                      finished=f"{day}T00:00:00+00:00")
    code, out, err = run("trend", history, "-o", tmp_path / "trend.md", "-o", tmp_path / "trend.html")
    assert code == 0, err
    rows = [line for line in out.splitlines() if re.match(r"\s*\d\s+2026", line)]
    assert [line.split()[1] for line in rows] == ["2026-01-01", "2026-02-01", "2026-03-01", "2026-04-01"]
    assert rows[1].rstrip().endswith("▲") and rows[2].rstrip().endswith("=") and rows[3].rstrip().endswith("▲")
    assert "+0.0 [" in rows[2]
    markdown = (tmp_path / "trend.md").read_text()
    assert "| hosted |" in markdown and "▲" in markdown
    html = (tmp_path / "trend.html").read_text()
    assert html.count("<svg") == 1 and "hosted" in html and "▲" in html


def test_report_and_show_task_on_gsm8k_results(gsm8k, tmp_path):
    path = tmp_path / "results.json"
    names = ["gpt3-6b", "gpt3-175b"]
    write_results(path, records_of(gsm8k, "6b_verification", "gpt3-6b", questions=40)
                  + records_of(gsm8k, "175b_verification", "gpt3-175b", questions=40), names)
    code, out, err = run("report", path, "-o", tmp_path / "r.md", "-o", tmp_path / "r.html")
    assert code == 0, err
    assert "gpt3-175b" in (tmp_path / "r.md").read_text() and "<svg" in (tmp_path / "r.html").read_text()
    code, out, err = run("show", path, "--task", "gsm8k[0000]")
    assert code == 0, err
    assert gsm8k[0]["question"][:40] in out.replace("\n", " ")
    header = next(line for line in out.splitlines() if line.startswith("gpt3-6b: "))
    assert "| gpt3-175b: " in header  # side by side
    assert "MISSED" in header  # neither system solved the first question
    code, out, err = run("show", path, "--model", "gpt3-175b")
    assert code == 0, err
    assert re.search(r"reasoning\s+0\.05\s+\d+\.\d\s+[A-F]\s+\d+%\s+40\s+40", out), out
    assert "worst tasks" in out and "grades: A >= 90" in out


def test_show_gives_the_sessions_summary(gsm8k, pytester: pytest.Pytester):
    # with the project's own reference points for speed and cost, and prices: the command
    # line scores the runs as the session did
    _suite(pytester, questions=30, runs=2, pyproject=PYPROJECT.replace(
        "gpt3 = { input = 2.0, output = 8.0 }",
        "small = { input = 0.5, output = 1.0 }\nlarge = { input = 5.0, output = 20.0 }").replace(
        "[tool.modelbench.consistency]\nmeasured = false", ""))
    result = pytester.runpytest("--modelbench-models=small=python:replay_gsm8k:verification_6b,"
                                "large=python:replay_gsm8k:verification_175b", "--modelbench-json=r.json",
                                "-p", "no:cacheprovider")
    session = result.stdout.str().splitlines()
    saved = json.loads((pytester.path / "r.json").read_text())
    assert set(saved["models"]["large"]["dimensions"]) == {"speed", "cost", "consistency"}
    assert 0 < saved["models"]["large"]["dimensions"]["cost"]["score"] < 100  # priced, not free
    code, out, _ = run("show", pytester.path / "r.json")
    assert code == 0
    shown = out.splitlines()
    # the whole summary is the session's, line for line (the session also says where it wrote
    # the file; a non-terminal is 80 columns wide for both)
    start = next(i for i, line in enumerate(session) if "modelbench summary" in line)
    end = next(i for i, line in enumerate(session) if line.startswith("results written to"))
    assert shown[shown.index(session[start]):] == session[start:end]
    assert any("measured from the runs for both models: speed, cost, consistency" in line for line in shown)
