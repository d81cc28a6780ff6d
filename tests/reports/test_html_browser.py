"""The HTML report in headless Chromium: the run table at 10,000 runs (pages, filters, replies),
load profiles and a trend, long names that differ only at the end, and a layout with no label
over another. Skipped where Chromium is not installed; .ci/run installs it, and there the tests
fail instead (MODELBENCH_EXPECT_CHROMIUM=1)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from chromium import LAYOUT_PROBLEMS, Chromium, needs_chromium
from pytest_modelbench.core.config import DEFAULT_CATEGORY_WEIGHTS
from pytest_modelbench.core.dimensions import Dimensions
from pytest_modelbench.core.records import RunRecord
from pytest_modelbench.core.results import build_document, plain_document
from pytest_modelbench.reports import render_html, trend_from_documents
from pytest_modelbench.session.analysis import CostSettings, analyse

pytestmark = needs_chromium

LONG = "provider/an-extremely-long-model-name-that-keeps-going-and-going-until-version-7"
NAMES = ("candidate-model-version-1", "candidate-model-version-2", "candidate-model-version-3", LONG)
CATEGORIES = ("accuracy", "reasoning", "instruction_following", "coding", "speed")


def records_for(n_tasks: int, runs: int, seed: int) -> list[RunRecord]:
    rng = np.random.default_rng(seed)
    records = []
    for m, name in enumerate(NAMES):
        for t in range(n_tasks):
            for number in range(1, runs + 1):
                passed = bool(rng.random() < 0.45 + 0.1 * m)
                records.append(RunRecord(
                    task=f"tests/bench/test_suite.py::test_task[{t:04d}]", model=name, run=number,
                    category=CATEGORIES[t % len(CATEGORIES)], difficulty="medium", weight=1.0,
                    outcome="passed" if passed else "failed", quality=1.0 if passed else 0.3,
                    latency_ms=float(rng.gamma(4.0, 150.0 * (m + 1))), ttft_ms=float(rng.gamma(4.0, 30.0)),
                    input_tokens=120, output_tokens=int(rng.integers(10, 200)), calls=1,
                    cost_usd=(0.0000384, 0.00042, 0.0031, None)[m], detail=None if passed else "expected 42",
                ))
    return records


def document_for(records: list[RunRecord], *, replies: bool = True) -> dict:
    analysis = analyse(records, models=list(NAMES), category_weights=DEFAULT_CATEGORY_WEIGHTS,
                       cost=CostSettings(), dimensions=Dimensions())
    analysed = analysis.document
    models = analysed.pop("models")
    meta = {"finished_at": "2026-12-01T10:00:00+00:00", "git_commit": "0123456789abcdef", "plugin_version": "0.1.0",
            "settings": {"category_weights": DEFAULT_CATEGORY_WEIGHTS, "dimensions": Dimensions().to_dict()}}
    document = plain_document(build_document(meta, models, records, **analysed))
    if replies:
        for k, run in enumerate(document["runs"]):
            run["prompt"] = f"Question {k}: what is 6 × 7? Answer with the number only."
            run["reply"] = f"The answer is {42 if run['outcome'] == 'passed' else 41}.\n<b>not markup</b> #{k}"
    return document


def with_load_and_trend(document: dict) -> dict:
    levels = []
    for level, throughput in ((1, 40.0), (2, 75.0), (4, 130.0), (8, 190.0), (16, 210.0)):
        levels.append({"task": "tests/bench/test_load.py::test_load", "mode": "concurrency", "level": level, "runs": 1,
                       "request_throughput": throughput / 50, "output_token_throughput": throughput,
                       "goodput": throughput / 60, "error_rate": 0.0, "mean_in_flight": level * 0.9,
                       "ttft_ms": {"mean": 90.0 * level, "p50": 80.0 * level, "p95": 120.0 * level, "p99": 150.0 * level},
                       "itl_ms": None, "tpot_ms": None, "e2e_ms": {"mean": 500.0, "p50": 480.0, "p95": 700.0, "p99": 900.0},
                       "client_bottleneck": level == 16})
    document["models"][NAMES[0]]["load"] = levels
    older = json.loads(json.dumps(document))
    for shift, point in ((-6.0, "2026-11-01T10:00:00+00:00"), (-2.5, "2026-11-15T10:00:00+00:00")):
        for summary in older["models"].values():
            summary["score"] = summary["score"] + shift
        older["meta"]["finished_at"] = point
        document.setdefault("trend", []).append(trend_from_documents([older])[0])
    document["trend"].append(trend_from_documents([document])[0])
    return document


@pytest.fixture(scope="module")
def browser():
    with Chromium(width=1280) as chromium:
        yield chromium


@pytest.fixture(scope="module")
def rich_page(tmp_path_factory):
    document = with_load_and_trend(document_for(records_for(40, 3, 1)))
    page = tmp_path_factory.mktemp("rich") / "report.html"
    page.write_text(render_html(document), encoding="utf-8")
    return page, document


def value(browser: Chromium, expression: str):
    return browser.evaluate(expression)


def set_control(browser: Chromium, ident: str, text: str, event: str = "change") -> None:
    browser.evaluate(f'(() => {{ const el = document.getElementById({json.dumps(ident)}); el.value = {json.dumps(text)};'
                     f' el.dispatchEvent(new Event({json.dumps(event)})); }})()')


def count_text(browser: Chromium) -> str:
    return value(browser, 'document.getElementById("runs-count").textContent')


def test_layout_has_no_overlapping_or_cut_label(browser, rich_page, tmp_path):
    page, document = rich_page
    browser.open(page)
    sections = value(browser, 'Array.from(document.querySelectorAll("section")).map((s) => s.id)')
    assert {"rankings", "categories", "measured", "latency", "load", "trend", "head-to-head", "runs"} <= set(sections)
    assert value(browser, LAYOUT_PROBLEMS) == []
    # whole names everywhere: every model's full name is on the page as a label of a chart
    chart_text = value(browser, 'Array.from(document.querySelectorAll("svg text")).map((t) => t.textContent).join("\\n")')
    for name in NAMES:
        assert name in chart_text.replace("\n", "") or all(part in chart_text for part in name.split("-")), name
    assert "…" not in value(browser, "document.body.innerText")
    assert browser.problems() == []
    browser.screenshot(tmp_path / "rich-1280.png")


def test_load_and_trend_sections(browser, rich_page):
    page, document = rich_page
    browser.open(page)
    load_rows = value(browser, 'document.querySelectorAll("#load table tbody tr").length')
    assert load_rows == 5
    assert "client bottleneck" in value(browser, 'document.getElementById("load").innerText')
    assert value(browser, 'document.querySelectorAll("#load svg.line-chart").length') == 2
    # one row per model, one column per run of the trend
    assert value(browser, 'document.querySelectorAll("#trend table tbody tr").length') == len(NAMES)
    assert value(browser, 'document.querySelectorAll("#trend table thead th").length') == 1 + len(document["trend"])


def test_replies_open_in_place_and_are_searchable(browser, rich_page):
    page, document = rich_page
    browser.open(page)
    runs = document["runs"]
    assert count_text(browser) == f"{len(runs)} of {len(runs)} runs · showing 1–100"
    first = value(browser, '(() => { const b = document.querySelector("#runs-table button.toggle"); b.click();'
                           ' return b.closest("tr").nextSibling.innerText; })()')
    assert runs[0]["prompt"] in first and "<b>not markup</b> #0" in first  # text, never markup
    set_control(browser, "filter-text", "#17", "input")
    found = sum("#17" in run["reply"] for run in runs)  # #17, #170 … #179
    assert count_text(browser) == f"{found} of {len(runs)} runs · showing 1–{found}"


@pytest.fixture(scope="module")
def big_page(tmp_path_factory):
    records = records_for(834, 3, 2)[:10_000]
    document = document_for(records)
    page = tmp_path_factory.mktemp("big") / "report.html"
    page.write_text(render_html(document), encoding="utf-8")
    return page, document


def test_ten_thousand_runs_page_and_filter(browser, big_page):
    page, document = big_page
    runs = document["runs"]
    assert len(runs) == 10_000
    browser.open(page)
    assert count_text(browser) == "10000 of 10000 runs · showing 1–100"
    assert value(browser, 'document.querySelectorAll("#runs-table tbody tr.run").length') == 100
    value(browser, 'document.getElementById("page-next").click()')
    assert count_text(browser) == "10000 of 10000 runs · showing 101–200"
    models = value(browser, 'Array.from(document.querySelectorAll("#filter-model option")).map((o) => [o.value, o.textContent])')
    wanted = dict((text, code) for code, text in models)[NAMES[1]]
    set_control(browser, "filter-model", wanted)
    outcomes = value(browser, 'Array.from(document.querySelectorAll("#filter-outcome option")).map((o) => [o.value, o.textContent])')
    set_control(browser, "filter-outcome", dict((text, code) for code, text in outcomes)["passed"])
    set_control(browser, "filter-task", "TASK[01", "input")
    expected = [run for run in runs if run["model"] == NAMES[1] and run["outcome"] == "passed"
                and "task[01" in run["task"].lower()]
    assert 0 < len(expected) < 500
    assert count_text(browser) == f"{len(expected)} of 10000 runs · showing 1–{min(100, len(expected))}"
    set_control(browser, "page-size", "0")
    listed = value(browser, 'Array.from(document.querySelectorAll("#runs-table tbody tr.run"))'
                            '.map((row) => [row.cells[0].firstChild.textContent, row.cells[1].textContent,'
                            ' +row.cells[2].textContent, row.cells[3].textContent])')
    assert sorted(map(tuple, listed)) == sorted((r["task"], r["model"], r["run"], r["outcome"]) for r in expected)
    assert browser.problems() == []


def test_layout_probe_finds_overlaps_and_cut_names(browser, tmp_path):
    page = tmp_path / "broken.html"
    page.write_text(
        '<!DOCTYPE html><html><body><svg class="chart" width="300" height="60" font-size="12">'
        '<text x="10" y="20">candidate-model-version-1</text><text x="40" y="24">candidate-model-version-2</text>'
        '<text x="280" y="50">outside the frame</text></svg>'
        '<table><tr><td style="max-width:60px;overflow:hidden;white-space:nowrap">a-model-name-that-is-cut</td>'
        '</tr></table></body></html>', encoding="utf-8")
    browser.open(page)
    problems = value(browser, LAYOUT_PROBLEMS)
    assert any(p.startswith("overlap in chart") for p in problems)
    assert any(p.startswith("outside its chart") for p in problems)
    assert any(p.startswith("text runs out of its box: <td>") for p in problems)
