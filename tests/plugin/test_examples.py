"""The shipped examples work: conftest_example.py and the offline example suite in docs/examples."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chromium import LAYOUT_PROBLEMS, Chromium, needs_chromium
from pytest_modelbench.cli import main as modelbench
from pytest_modelbench.reports import render_html, render_markdown

ROOT = Path(__file__).resolve().parents[2]


def test_conftest_example_configures_a_team_suite(pytester: pytest.Pytester) -> None:
    source = (ROOT / "conftest_example.py").read_text()
    pytester.makepyfile(conftest=source, conftest_example=source)
    pytester.makepyprojecttoml("""
        [tool.pytest.ini_options]
        modelbench_models = "rules, echo"
        pythonpath = ["."]

        [tool.modelbench.categories]
        refunds = 0.2

        [tool.modelbench.models.rules]
        provider = "python"
        model = "conftest_example:support_pipeline"
    """)
    pytester.makepyfile(test_support="""
        import pytest
        from conftest_example import mentions_number

        @pytest.mark.modelbench(category="refunds", difficulty="trivial")
        def test_refund_window(ask, policy):
            reply = ask("Can I get my money back after two weeks?")
            assert mentions_number(reply, policy["refund_days"])

        @pytest.mark.modelbench(category="refunds", difficulty="trivial")
        def test_free_shipping_threshold(ask, policy):
            reply = ask("From which order value is shipping free?")
            assert mentions_number(reply, policy["free_shipping_over_eur"])
    """)
    result = pytester.runpytest("--modelbench-json=r.json")
    assert result.ret == 0
    models = json.loads((pytester.path / "r.json").read_text())["models"]
    assert models["rules"]["pass_rate"] == 1.0
    assert models["echo"]["pass_rate"] == 0.0
    # the marked category, and the dimensions measured from the runs
    assert set(models["rules"]["categories"]) == {"refunds", "speed", "cost", "consistency"}


@dataclasses.dataclass
class Benchmark:
    """One run of the README's offline benchmark: its output, results file and HTML report."""

    directory: Path
    ret: int
    stdout: str

    @property
    def document(self) -> dict:
        return json.loads((self.directory / "results.json").read_text())

    @property
    def report(self) -> Path:
        return self.directory / "report.html"

    @property
    def markdown(self) -> Path:
        return self.directory / "report.md"


@pytest.fixture(scope="module")
def benchmark(tmp_path_factory: pytest.TempPathFactory) -> Benchmark:
    """The README's command, plus HTML and Markdown reports, run once for the tests of this module."""
    directory = tmp_path_factory.mktemp("offline")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(ROOT / "docs" / "examples"), "-p", "no:cacheprovider",
         "--modelbench-models=echo,python:baseline_model:answer", "--modelbench-json=results.json",
         "--modelbench-report=report.html", "--modelbench-report=report.md"],
        cwd=directory, capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "100"},
    )
    return Benchmark(directory, result.returncode, result.stdout + result.stderr)


def test_offline_example_suite(benchmark: Benchmark) -> None:
    """The README's offline benchmark: the example suite against echo and the rule-based baseline."""
    assert benchmark.ret == 0, benchmark.stdout[-3000:]
    lines = benchmark.stdout.splitlines()
    assert any("modelbench summary" in line for line in lines)
    document = benchmark.document
    baseline = document["models"]["python:baseline_model:answer"]
    echo = document["models"]["echo"]
    assert baseline["score"] > echo["score"] + 20
    # what the rule-based baseline can and cannot do
    assert baseline["categories"]["accuracy"]["score"] == 100.0
    assert baseline["categories"]["coding"]["score"] == 0.0
    assert 0 < baseline["categories"]["safety"]["score"] < 100  # it over-refuses a harmless question
    # tool use: it calls one tool by keywords (weather, currency) and answers from the result,
    # but cannot compare two cities and sends the order id as a string
    tool_use = baseline["categories"]["tool_use"]["score"]
    assert 30 < tool_use < 80 and echo["categories"]["tool_use"]["score"] < 20
    tool_runs = {}
    for run in document["runs"]:
        if run["model"] == "python:baseline_model:answer" and run["category"] == "tool_use":
            tool_runs.setdefault(run["task"].rsplit("::", 1)[1], set()).add(run["outcome"])
    assert tool_runs == {
        "test_weather_from_the_tool": {"passed"}, "test_currency_conversion_uses_the_rate": {"passed"},
        "test_no_tool_when_none_is_needed": {"passed"}, "test_order_lookup_arguments_follow_the_schema": {"failed"},
        "test_compare_two_cities_needs_two_calls": {"failed"},
    }
    categories = {run["category"] for run in document["runs"]}
    assert categories == {"accuracy", "quality", "safety", "reasoning", "coding", "instruction_following", "tool_use"}
    assert not any(run["outcome"] == "error" for run in document["runs"])
    # every run keeps its prompt and the model's reply (echo answers with the prompt itself)
    assert all(isinstance(run["prompt"], str) and isinstance(run["reply"], str) for run in document["runs"])
    assert all(run["reply"] == run["prompt"] for run in document["runs"] if run["model"] == "echo")
    # speed, cost and consistency are measured from the runs for both models
    for model in (baseline, echo):
        assert {name: block["score"] is not None for name, block in model["dimensions"].items()} == {
            "speed": True, "cost": True, "consistency": True}
        assert model["categories"]["cost"]["source"] == "measured"
    assert baseline["dimensions"]["cost"]["score"] == 100.0  # a local model costs $0
    summary = benchmark.stdout[benchmark.stdout.index("modelbench summary"):]
    for category in ("speed*", "cost*", "consistency*"):
        assert any(line.split()[:1] == [category] and len(line.split()) == 4 for line in summary.splitlines())
    assert "measured from the runs for both models: speed, cost, consistency" in summary
    # high_volume (speed, cost, accuracy, consistency, instruction following) now recommends
    high_volume = next(r for r in document["recommendations"] if r["use_case"] == "high_volume")
    assert high_volume["recommended"] == "python:baseline_model:answer" and high_volume["coverage"] == 1.0
    assert "cost 100.0 × 0.30" in high_volume["rationale"] and "speed 100.0 × 0.30" in high_volume["rationale"]
    assert any(line.startswith("high_volume: python:baseline_model:answer (100.0, excellent") for line in lines)


def test_offline_example_report_is_its_json_rendered(benchmark: Benchmark) -> None:
    """The HTML the plugin writes is exactly the report of the saved JSON file."""
    assert benchmark.report.read_text(encoding="utf-8") == render_html(benchmark.document)
    assert benchmark.markdown.read_text(encoding="utf-8") == render_markdown(benchmark.document)


def _modelbench(*argv: object) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = modelbench([str(arg) for arg in argv], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_offline_example_shown_and_reported_by_the_modelbench_command(benchmark: Benchmark, monkeypatch) -> None:
    """The README's next commands: ``modelbench show results.json`` prints the session's summary,
    line for line, in a terminal of the same width; ``modelbench report`` writes the same files
    as the session did."""
    assert benchmark.ret == 0, benchmark.stdout[-3000:]
    monkeypatch.setenv("COLUMNS", "100")  # as the session's
    code, out, err = _modelbench("show", benchmark.directory / "results.json")
    assert code == 0 and err == ""
    session = benchmark.stdout.splitlines()
    start = next(i for i, line in enumerate(session) if "modelbench summary" in line)
    end = next(i for i, line in enumerate(session) if line.startswith("results written to"))
    shown = out.splitlines()
    assert shown[shown.index(session[start]):] == session[start:end]
    code, out, err = _modelbench("report", benchmark.directory / "results.json",
                                 "-o", benchmark.directory / "cli.html", "-o", benchmark.directory / "cli.md")
    assert code == 0, err
    assert (benchmark.directory / "cli.html").read_bytes() == benchmark.report.read_bytes()
    assert (benchmark.directory / "cli.md").read_bytes() == benchmark.markdown.read_bytes()


SHOW_ALL = ('(() => { const size = document.getElementById("page-size"); size.value = "0";'
            ' size.dispatchEvent(new Event("change")); })()')
LISTED = ('Array.from(document.querySelectorAll("#runs-table tbody tr.run"))'
          '.map((row) => [row.cells[0].firstChild.textContent, row.cells[1].textContent, +row.cells[2].textContent])')


@needs_chromium
def test_offline_example_report_in_chromium(benchmark: Benchmark, tmp_path: Path) -> None:
    """The report the plugin wrote, opened as a person would: a 1280 px wide window, scripts on,
    under its own Content-Security-Policy."""
    runs = benchmark.document["runs"]
    with Chromium(width=1280) as browser:
        browser.open(benchmark.report)
        count = browser.evaluate('document.getElementById("runs-count").textContent')
        assert count == f"{len(runs)} of {len(runs)} runs · showing 1–100"
        browser.evaluate(SHOW_ALL)
        listed = browser.evaluate(LISTED)
        assert sorted(map(tuple, listed)) == sorted((run["task"], run["model"], run["run"]) for run in runs)
        # every run's record has its prompt and reply: each row opens to show them
        replies = [run for run in runs if isinstance(run.get("reply"), str)]
        assert len(replies) == len(runs) > 0
        assert browser.evaluate('document.querySelectorAll("#runs-table button.toggle").length') == len(replies)
        # the text filter finds runs by their replies; a row opens in place on its prompt and reply
        query = "I don't know."
        found = [run for run in runs if query.lower() in "\n".join(
            str(run.get(key) or "") for key in ("task", "error", "detail", "prompt", "reply")).lower()]
        assert 0 < len(found) < len(runs)
        browser.evaluate(f'(() => {{ const el = document.getElementById("filter-text"); el.value = {json.dumps(query)};'
                         ' el.dispatchEvent(new Event("input")); })()')
        count = browser.evaluate('document.getElementById("runs-count").textContent')
        assert count.startswith(f"{len(found)} of {len(runs)} runs")
        opened = browser.evaluate('(() => { const b = document.querySelector("#runs-table button.toggle"); b.click();'
                                  ' return Array.from(b.closest("tr").nextSibling.querySelectorAll("pre"))'
                                  '.map((pre) => pre.textContent); })()')
        assert opened == [found[0]["prompt"], found[0]["reply"]]
        browser.evaluate('(() => { const el = document.getElementById("filter-text"); el.value = "";'
                         ' el.dispatchEvent(new Event("input")); })()')
        browser.evaluate(SHOW_ALL)
        assert browser.evaluate('document.querySelectorAll("#latency svg.box-plot text").length') > 4
        sections = browser.evaluate('Array.from(document.querySelectorAll("section")).map((s) => s.id)')
        assert {"latency", "measured", "runs", "recommendations"} <= set(sections)
        assert browser.evaluate(LAYOUT_PROBLEMS) == []
        assert browser.problems() == []  # no script error, no CSP violation
        browser.evaluate('(() => { const size = document.getElementById("page-size"); size.value = "100";'
                         ' size.dispatchEvent(new Event("change")); })()')
        shot = browser.screenshot(tmp_path / "report-1280.png")
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(data[16:20], "big") == 1280
    assert int.from_bytes(data[20:24], "big") > 2000 and len(data) > 100_000
