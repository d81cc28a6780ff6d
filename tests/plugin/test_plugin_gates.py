"""Baselines, CI gates, reports, JUnit properties and recommendations, end to end."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree

import pytest

SUITE = """
import pytest

@pytest.mark.modelbench(category="accuracy", runs=3)
@pytest.mark.parametrize("i", range(12))
def test_task(model, i):
    assert model.complete(f"task {i}").text.endswith("ok")
"""

AGENTS = """
def strong(prompt):
    return {"text": prompt + " ok", "input_tokens": 10, "output_tokens": 5}

def weak(prompt):  # passes tasks 0, 10 and 11 only
    ok = prompt.endswith(("task 0", "task 10", "task 11"))
    return {"text": prompt + (" ok" if ok else " no"), "input_tokens": 10, "output_tokens": 5}

def almost(prompt):  # misses task 3 only
    return {"text": prompt + (" no" if prompt.endswith("task 3") else " ok"), "input_tokens": 10, "output_tokens": 5}
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_suite=SUITE, agents=AGENTS)
    pytester.makepyprojecttoml("""
        [tool.pytest.ini_options]
        pythonpath = ["."]
        [tool.modelbench.prices]
        "python:agents:strong" = { input = 1.0, output = 1.0 }
    """)
    result = pytester.runpytest("--modelbench-models=m=python:agents:strong", "--modelbench-json=base.json")
    assert result.ret == 0
    return pytester


def test_significant_regression_fails(project: pytest.Pytester) -> None:
    result = project.runpytest(
        "--modelbench-models=m=python:agents:weak", "--modelbench-baseline=base.json",
        "--modelbench-fail-on-regression", "--modelbench-json=now.json",
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*modelbench baseline: *base.json*", "*modelbench gates*", "*regression*m*FAIL*"])
    assert "Traceback" not in result.stdout.str()
    document = json.loads((project.path / "now.json").read_text())
    entry = document["baseline"]["models"]["m"]
    # accuracy falls from 100 to 25; speed, cost and consistency, measured from the runs, stay
    # at 100 in both runs and are part of the score: (0.25 × 25 + 0.30 × 100) / 0.55
    current = (0.25 * 25 + 0.3 * 100) / 0.55
    assert (entry["baseline"], entry["current"], entry["delta"]) == pytest.approx((100.0, current, current - 100))
    assert entry["categories"]["accuracy"]["delta"] == pytest.approx(-75.0)
    assert entry["categories"]["speed"]["delta"] == 0.0
    assert entry["shared_tasks"] == 12 and entry["p_value"] < 0.05
    assert [gate["verdict"] for gate in document["gates"]] == ["fail"]


def test_insignificant_drop_passes_and_says_so(project: pytest.Pytester) -> None:
    result = project.runpytest(
        "--modelbench-models=m=python:agents:almost", "--modelbench-baseline=base.json",
        "--modelbench-fail-on-regression",
    )
    assert result.ret == 0  # 8.3 points lower, but one task of twelve proves nothing
    result.stdout.fnmatch_lines(["*modelbench gates*", "*regression*m*NOT SIGNIFICANT*"])


def test_tolerance_edge(project: pytest.Pytester) -> None:
    result = project.runpytest(
        "--modelbench-models=m=python:agents:weak", "--modelbench-baseline=base.json",
        "--modelbench-fail-on-regression", "--modelbench-tolerance=80",
    )
    assert result.ret == 0  # a 34-point drop (75 in accuracy) is within an 80-point tolerance


@pytest.mark.parametrize(
    ("args", "fails"),
    [
        (["--modelbench-min-score=90"], False),
        (["--modelbench-min-score=m=101"], None),
        (["--modelbench-min-score=50,m=99.9"], False),
        (["--modelbench-max-p95-latency-ms=100000"], False),
        (["--modelbench-max-cost-per-task=0.00001"], True),  # 15 tokens at $1 per 1M = $0.000015
        (["--modelbench-max-cost-per-task=0.001"], False),
    ],
)
def test_threshold_gates(project: pytest.Pytester, args: list[str], fails: bool | None) -> None:
    result = project.runpytest("--modelbench-models=m=python:agents:strong", *args)
    if fails is None:
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        return
    assert result.ret == (pytest.ExitCode.TESTS_FAILED if fails else pytest.ExitCode.OK)
    result.stdout.fnmatch_lines(["*modelbench gates*", "*FAIL*" if fails else "*PASS*"])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "*--modelbench-baseline: results file*missing.json' does not exist*"),
        ("not json", "*--modelbench-baseline: results file*is not valid JSON*"),
        ('{"schema_version": 7, "runs": []}', "*has schema_version 7; this plugin reads 1*"),
    ],
)
def test_bad_baseline_is_a_usage_error(project: pytest.Pytester, content: str | None, message: str) -> None:
    path = project.path / "missing.json"
    if content is not None:
        path.write_text(content)
    result = project.runpytest("--modelbench-models=m=python:agents:strong", "--modelbench-baseline=missing.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    if content is not None:
        assert path.read_text() == content  # nothing written over it


def test_baseline_sharing_no_model(project: pytest.Pytester) -> None:
    result = project.runpytest("--modelbench-models=other=python:agents:strong", "--modelbench-baseline=base.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*base.json' shares no model with this run; it has m, this run has other*"])


def test_gate_options_need_a_baseline(project: pytest.Pytester) -> None:
    result = project.runpytest("--modelbench-models=m=python:agents:strong", "--modelbench-fail-on-regression")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--modelbench-fail-on-regression needs --modelbench-baseline=PATH*"])


def test_update_baseline_only_when_gates_pass(project: pytest.Pytester) -> None:
    before = (project.path / "base.json").read_text()
    failing = project.runpytest(
        "--modelbench-models=m=python:agents:weak", "--modelbench-baseline=base.json",
        "--modelbench-fail-on-regression", "--modelbench-update-baseline",
    )
    assert failing.ret == pytest.ExitCode.TESTS_FAILED
    failing.stdout.fnmatch_lines(["*baseline not updated: a gate failed*"])
    assert (project.path / "base.json").read_text() == before
    passing = project.runpytest(
        "--modelbench-models=m=python:agents:almost", "--modelbench-baseline=base.json",
        "--modelbench-fail-on-regression", "--modelbench-update-baseline",
    )
    assert passing.ret == 0
    passing.stdout.fnmatch_lines(["*baseline updated*"])
    updated = json.loads((project.path / "base.json").read_text())
    assert updated["models"]["m"]["failed"] == 3 and "gates" not in updated


def test_reports_and_github_summary(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = project.path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result = project.runpytest(
        "--modelbench-models=m=python:agents:strong,w=python:agents:weak",
        "--modelbench-report=out/report.md", "--modelbench-report=out/report.html",
    )
    assert result.ret == 0
    markdown = (project.path / "out" / "report.md").read_text()
    html = (project.path / "out" / "report.html").read_text()
    assert "| m " in markdown or "m |" in markdown
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html and "https://" not in html.split("<body", 1)[0]
    assert summary.read_text().strip() == markdown.strip()


def test_bad_report_path(project: pytest.Pytester) -> None:
    result = project.runpytest("--modelbench-models=m=python:agents:strong", "--modelbench-report=out.pdf")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--modelbench-report 'out.pdf' must end in .md or .html*"])


def test_junit_properties(project: pytest.Pytester) -> None:
    result = project.runpytest("--modelbench-models=m=python:agents:strong", "--junitxml=junit.xml")
    assert result.ret == 0
    tree = ElementTree.parse(project.path / "junit.xml")
    case = tree.getroot().find(".//testcase")
    properties = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert properties["modelbench.model"] == "m" and properties["modelbench.outcome"] == "passed"
    assert float(properties["modelbench.cost_usd"]) == pytest.approx(15e-6)
    assert "modelbench.ttft_ms" not in properties  # unknown values are left out, never 0


def test_recommendations(project: pytest.Pytester) -> None:
    result = project.runpytest(
        "--modelbench-models=m=python:agents:strong,w=python:agents:weak", "--modelbench-json=r.json",
    )
    result.stdout.fnmatch_lines(["*modelbench recommendations*"])
    document = json.loads((project.path / "r.json").read_text())
    names = {item["use_case"] for item in document["recommendations"]}
    assert names == {"complex_reasoning", "high_volume", "code_generation", "content_creation", "safety_critical"}
    one = project.runpytest("--modelbench-models=m=python:agents:strong", "--modelbench-use-case=high_volume",
                            "--modelbench-json=one.json")
    assert one.ret == 0
    one.stdout.fnmatch_lines(["*modelbench recommendations*", "high_volume: *"])
    assert len(json.loads((project.path / "one.json").read_text())["recommendations"]) == 1
    bad = project.runpytest("--modelbench-models=m=python:agents:strong", "--modelbench-use-case=nope")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*nope*"])


def test_update_baseline_creates_a_missing_baseline(project: pytest.Pytester) -> None:
    result = project.runpytest("--modelbench-models=m=python:agents:strong",
                               "--modelbench-baseline=baselines/main.json", "--modelbench-update-baseline")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*baseline updated*main.json*"])
    created = json.loads((project.path / "baselines" / "main.json").read_text())
    assert created["models"]["m"]["passed"] == 36 and "baseline" not in created
    # with the regression gate, a missing baseline stays an error: there is nothing to compare with
    gated = project.runpytest("--modelbench-models=m=python:agents:strong", "--modelbench-baseline=none.json",
                              "--modelbench-update-baseline", "--modelbench-fail-on-regression")
    assert gated.ret == pytest.ExitCode.USAGE_ERROR
    gated.stderr.fnmatch_lines(["*none.json' does not exist, so there is no regression to check*"])
