"""Reports: Markdown, self-contained HTML (structure, no network, escaping, optional blocks),
the GitHub job summary, JUnit properties, SVG helpers and a headless-browser render."""

from __future__ import annotations

import base64
import hashlib
import html.parser
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from pytest_modelbench.core.config import DEFAULT_CATEGORY_WEIGHTS
from pytest_modelbench._exceptions import ConfigError
from pytest_modelbench.core.records import RunRecord
from pytest_modelbench.core.table import RunTable
from pytest_modelbench.compare.baseline import Baseline, compare_to_baseline, cost_per_task_by_model
from pytest_modelbench.compare.gates import GateSettings, MinScore, evaluate_gates
from pytest_modelbench.compare.recommend import recommend
from pytest_modelbench.reports import (
    append_github_summary,
    junit_properties,
    parse_report_path,
    render_html,
    render_markdown,
    write_report,
)
from pytest_modelbench.reports.markdown import md, model_rows, pair_rows
from pytest_modelbench.reports.svg import box_stats, esc, model_colors, nice_ticks
from pytest_modelbench.session.analysis import summarise

from pytest_modelbench.reports.html import SCRIPT as SCRIPT_TEXT

EVIL_TASK = 'tests/test_x.py::test_y[<script>alert("task")</script>]'
EVIL_MODEL = "m<img src=x onerror=alert(1)>|x"
CATEGORIES = ("accuracy", "reasoning", "safety", "coding")


def make_records(spec, n_tasks, runs, seed, *, evil=True):
    """spec: {model: (pass probability, latency scale ms, cost per run or None)}."""
    rng = np.random.default_rng(seed)
    records = []
    for name, (rate, latency, cost) in spec.items():
        for t in range(n_tasks):
            task = EVIL_TASK if evil and t == 1 else f"tests/bench/test_b.py::test_task[{t:02d}]"
            for number in range(1, runs + 1):
                passed = bool(rng.random() < rate)
                outcome = "passed" if passed else ("error" if rng.random() < 0.1 else "failed")
                records.append(RunRecord(
                    task=task, model=name, run=number, category=CATEGORIES[t % len(CATEGORIES)],
                    difficulty="medium", weight=1.0, outcome=outcome,
                    quality=None if outcome == "error" else (1.0 if passed else 0.2),
                    latency_ms=float(rng.gamma(4, latency / 4)), ttft_ms=float(rng.gamma(4, latency / 16)),
                    input_tokens=40, output_tokens=int(rng.integers(5, 60)), calls=1, cost_usd=cost,
                    error="timeout after 60 s" if outcome == "error" else None,
                    detail="expected 5" if outcome == "failed" else None,
                ))
    return records


SPEC = {"big": (0.85, 1600, 0.004), "mini": (0.65, 500, 0.0005), EVIL_MODEL: (0.5, 300, None)}


def build_document(records, *, blocks=True):
    summary = summarise(records, DEFAULT_CATEGORY_WEIGHTS)
    document = {"schema_version": 1,
                "meta": {"finished_at": "2026-11-27T07:26:46+00:00", "git_commit": "d0fc7a2abcdef0123",
                         "plugin_version": "0.1.0", "settings": {"category_weights": DEFAULT_CATEGORY_WEIGHTS}},
                "models": summary}
    if blocks:
        names = sorted(summary, key=lambda n: -summary[n]["score"])
        costs = cost_per_task_by_model(records)
        for name in names:
            summary[name]["cost"] = {"cost_usd": None if costs[name] is None else costs[name] * 40,
                                     "cost_per_task_usd": costs[name], "cost_per_success_usd": None,
                                     "points_per_usd": None, "unpriced_runs": 0 if costs[name] else 40}
        # Hand-written optional blocks in the shapes rankings.py / comparison.py / consistency.py
        # / cost.py write (docs/reports.md lists them).
        document["rankings"] = {
            "weighted": {"models": {n: {"score": summary[n]["score"], "low": summary[n]["score"] - 5,
                                        "high": summary[n]["score"] + 5} for n in names}},
            "bradley_terry": {"models": {n: {"rating": 1000.0 + 10 * i} for i, n in enumerate(names)}},
            "elo": {"models": {n: {"rating": 1000.0 - i} for i, n in enumerate(names)}},
            "pareto": {"front": names[:2], "models": {n: {"layer": 1 if i < 2 else 2, "cost_per_task_usd": costs[n]}
                                                      for i, n in enumerate(names)}},
            "orders": {"weighted": names, "bradley_terry": names, "elo": names, "borda": names, "pareto": names},
        }
        document["head_to_head"] = {"alpha": 0.05, "overall": [
            {"model_a": names[0], "model_b": names[1], "score_a": 80.0, "score_b": 70.0, "delta": 10.0,
             "low": 4.0, "high": 16.0, "p_value": 0.001, "p_adjusted": 0.003, "significant": True,
             "verdict": "slightly better", "tasks": 12, "test": "sign-flip"},
            {"model_a": names[0], "model_b": names[2], "delta": 25.0, "low": 15.0, "high": 35.0,
             "p_value": 0.0001, "p_adjusted": 0.0003, "significant": True, "verdict": "significantly better",
             "tasks": 12},
            {"model_a": names[1], "model_b": names[2], "delta": 3.0, "low": -4.0, "high": 10.0,
             "p_value": 0.4, "p_adjusted": 0.4, "significant": False, "verdict": "no significant difference",
             "tasks": 12},
        ]}
        document["consistency"] = {n: {"model": n, "score": 80.0 - i, "pass_hat_k": 0.5, "disagreement": 0.3,
                                       "quality_variance": 0.01, "tasks": 12} for i, n in enumerate(names)}
        document["budget"] = {"volume_tasks_per_day": 5000, "budget_usd_per_month": 300,
                              "models": {n: None if costs[n] is None else
                                         {"monthly_usd": costs[n] * 5000 * 30.4375, "monthly_low_usd": 1.0,
                                          "monthly_high_usd": 1000.0,
                                          "budget": {"fits": costs[n] * 5000 * 30.4375 <= 300, "confident": False}}
                                         for n in names}}
        document["tradeoff"] = {"model": "mini", "best_model": "big", "points": 5.0, "cost_usd": costs["mini"]}
    document["runs"] = [record.to_dict() for record in records]
    return document


@pytest.fixture(scope="module")
def records():
    return make_records(SPEC, 12, 4, 7)


@pytest.fixture(scope="module")
def document(records):
    doc = build_document(records)
    before = make_records({"big": (0.95, 1500, 0.004), "mini": (0.6, 520, 0.0005)}, 12, 4, 8)
    comparison = compare_to_baseline(records, Baseline("baselines/main.json", {"meta": {"git_commit": "abc1234"}},
                                                       tuple(before)))
    doc["baseline"] = comparison.to_dict()
    gates = evaluate_gates(GateSettings(fail_on_regression=True, min_score=MinScore(50.0), max_p95_latency_ms=2500.0,
                                        max_cost_per_task=0.001),
                           models=doc["models"], comparison=comparison, cost_per_task=cost_per_task_by_model(records))
    doc["gates"] = [gate.to_dict() for gate in gates]
    doc["recommendations"] = [r.to_dict() for r in recommend(doc, records=records)]
    json.dumps(doc, allow_nan=False)
    return doc


class Page(html.parser.HTMLParser):
    """Collects tags with their attributes, and the text inside <script> elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self._in_script = False
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)
        self.text.append(data)

    def find(self, tag, **attrs):
        return [a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in attrs.items())]


def parse(text):
    page = Page()
    page.feed(text)
    page.close()
    return page


# ------------------------------------------------------------------------------ HTML


def test_html_has_every_section_and_chart(document):
    page = parse(render_html(document))
    sections = {a["id"] for t, a in page.tags if t == "section"}
    assert sections == {"gates", "rankings", "categories", "tradeoffs", "latency", "head-to-head", "consistency",
                        "cost", "baseline", "recommendations", "runs"}
    charts = [a for t, a in page.tags if t == "svg"]
    classes = " ".join(a.get("class", "") for a in charts)
    for kind in ("interval-chart", "heatmap", "scatter", "box-plot", "matrix"):
        assert kind in classes
    assert len(page.find("svg")) == 7  # ranking, heat map, scatter, 2 box plots, matrix, baseline
    assert all(a.get("role") == "img" for a in charts)
    assert len([t for t, _ in page.tags if t == "title"]) >= 8  # the page title and one per chart
    nav = [a["href"] for t, a in page.tags if t == "a"]
    assert nav == [f"#{s}" for s in ("gates", "rankings", "categories", "tradeoffs", "latency", "head-to-head",
                                     "consistency", "cost", "baseline", "recommendations", "runs")]


def test_html_is_self_contained(document):
    text = render_html(document)
    page = parse(text)
    for tag, attrs in page.tags:
        for name in ("src", "href", "xlink:href", "action", "data", "poster"):
            value = attrs.get(name) or ""
            assert not re.match(r"\s*(https?:)?//", value), (tag, name, value)
    assert "http://" not in text and "https://" not in text
    assert not page.find("link") and not page.find("iframe") and not page.find("img")
    assert all("src" not in attrs for tag, attrs in page.tags if tag == "script")
    assert "@import" not in text and "url(" not in text
    csp = page.find("meta", **{"http-equiv": "Content-Security-Policy"})
    assert csp and csp[0]["content"].startswith("default-src 'none'")


def runs_data(text):
    """The run table's data block: the JSON the page script reads."""
    found = re.search(r'<script type="application/json" id="runs-data">(.*?)</script>', text, re.S)
    return json.loads(found.group(1))


def test_html_escapes_task_and_model_names(document):
    text = render_html(document)
    page = parse(text)
    assert "<script>alert" not in text and "<img src=x" not in text
    scripts = page.find("script")
    assert [attrs.get("type") for attrs in scripts] == ["application/json", None]  # the run data, the page script
    assert not any("onerror" in attrs for _, attrs in page.tags)
    assert not page.find("img")
    data = runs_data(text)                                      # the names round-trip intact through the JSON
    assert EVIL_TASK in data["tasks"] and EVIL_MODEL in data["models"]
    block = re.search(r'id="runs-data">(.*?)</script>', text, re.S).group(1)
    assert "<" not in block and ">" not in block and "&" not in block  # nothing in it can end the block
    assert EVIL_MODEL in "".join(page.text)                     # shown as text elsewhere (legend, tables)


def test_run_table_filters(document):
    text = render_html(document)
    page = parse(text)
    assert page.find("select", id="filter-model") and page.find("select", id="filter-outcome")
    assert page.find("input", id="filter-task") and page.find("select", id="page-size")
    data = runs_data(text)
    assert set(SPEC) <= set(data["models"]) and {"passed", "failed", "error"} <= set(data["outcomes"])
    assert data["total"] == len(data["runs"]) == len(document["runs"])
    fields = data["fields"]
    for run, row in zip(document["runs"], data["runs"]):
        assert data["tasks"][row[fields.index("task")]] == run["task"]
        assert data["models"][row[fields.index("model")]] == run["model"]
        assert data["outcomes"][row[fields.index("outcome")]] == run["outcome"]
        assert row[fields.index("reason")] == (run["error"] or run["detail"] or "")
    script = "".join(page.scripts)
    assert "filter-model" in script and "addEventListener" in script
    # the page script is the one the Content-Security-Policy allows, by its hash
    from pytest_modelbench.reports.html import SCRIPT, SCRIPT_HASH

    csp = page.find("meta", **{"http-equiv": "Content-Security-Policy"})[0]["content"]
    assert f"script-src '{SCRIPT_HASH}'" in csp and "unsafe-inline" not in csp.split("script-src")[1]
    digest = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
    assert SCRIPT_HASH == f"sha256-{digest}" and f"<script>{SCRIPT}</script>" in text


def test_run_table_is_capped(document):
    text = render_html(document, max_runs=10)
    data = runs_data(text)
    assert len(data["runs"]) == 10 and data["total"] == len(document["runs"])
    assert f"The table holds the first 10 of {len(document['runs']):,} runs" in "".join(parse(text).text)
    with pytest.raises(ValueError, match="max_runs -1 is not allowed"):
        render_html(document, max_runs=-1)


def test_prompts_and_replies_travel_with_the_runs(document):
    runs = [dict(run, prompt=f"What is {k}?", reply="<b>" + "x" * (30_000 if k == 0 else 5) + "</b>")
            for k, run in enumerate(document["runs"])]
    text = render_html({**document, "runs": runs})
    data = runs_data(text)
    fields = data["fields"]
    assert data["runs"][1][fields.index("prompt")] == "What is 1?"
    assert data["runs"][1][fields.index("reply")] == "<b>xxxxx</b>"
    long = data["runs"][0][fields.index("reply")]
    assert len(long) < 20_100 and long.endswith("more characters in the JSON results file)")
    assert 'id="filter-text"' in text  # a text search appears with replies
    assert 'id="filter-text"' not in render_html(document)


def test_model_colours_are_consistent(document):
    text = render_html(document)
    colours = model_colors([row.name for row in model_rows(document)])
    assert len(set(colours.values())) == 3
    for name, colour in colours.items():
        assert text.count(colour) >= 6, name  # legend, tables, charts all use the same colour


def test_optional_blocks_are_skipped(records):
    minimal = build_document(records, blocks=False)
    page = parse(render_html(minimal))
    sections = {a["id"] for t, a in page.tags if t == "section"}
    assert sections == {"rankings", "categories", "tradeoffs", "latency", "head-to-head", "runs"}
    # without cost the trade-off chart plots latency; without tests the matrix is descriptive
    assert "Score against median latency" in "".join(page.text)
    assert "no head-to-head tests" in "".join(page.text)
    # the descriptive matrix cell is the mean task-score difference on shared tasks
    from pytest_modelbench.core.scoring import task_scores

    table = RunTable.from_records(records)
    scores = task_scores(table)
    big, mini = table.models.index("big"), table.models.index("mini")
    delta = float(np.nanmean(scores[big] - scores[mini]))
    assert f"big − mini: {delta:+.1f} points on 12 shared tasks" in "".join(page.text)


@pytest.mark.parametrize("document", [
    {},
    {"models": {}},
    {"models": {"a": {"score": None}}, "runs": "not a list", "gates": "nope", "rankings": [1, 2],
     "head_to_head": {"overall": [None, {"model_a": "a"}]}, "recommendations": {"x": 1}, "baseline": {"models": []},
     "budget": {"models": {"a": "?"}}, "consistency": {"a": 3}},
])
def test_malformed_or_empty_documents_render(document):
    parse(render_html(document))
    assert render_markdown(document).startswith("# modelbench report")


def test_html_without_ttft_or_latency():
    records = [RunRecord(task=f"t{k}", model=m, run=1, category="accuracy", difficulty="medium", weight=1.0,
                         outcome="passed", quality=1.0, latency_ms=100.0 + k if m == "a" else None)
               for k in range(3) for m in ("a", "b")]
    text = render_html({"models": summarise(records, DEFAULT_CATEGORY_WEIGHTS), "runs": [r.to_dict() for r in records]})
    assert "No time to first token was measured" in text
    assert "not measured" in text  # b has no latency: its box row says so


# -------------------------------------------------------------------------- Markdown


def test_markdown_content(document):
    text = render_markdown(document)
    assert text.startswith("# modelbench report\n")
    for heading in ("## Gates", "## Ranking", "## Categories", "## Rankings by method", "## Head to head",
                    "## Consistency", "## Cost", "## Compared with the baseline", "## Recommendations"):
        assert f"\n{heading}\n" in text
    assert "**❌ Gates failed**" in text
    ranking = text.split("## Ranking\n")[1].split("\n## ")[0]
    lines = [line for line in ranking.splitlines() if line.startswith("| ")]
    assert lines[0].startswith("| # | model | score | 95% CI |") and len(lines) == 2 + 3
    summary = document["models"]
    best = max(summary, key=lambda n: summary[n]["score"])
    assert lines[2].startswith(f"| 1 | **{best}** | {summary[best]['score']:.1f} |")
    assert "| big | mini | +10.0 | +4.0 – +16.0 |" in text
    assert "Cheapest within 5 points of the best (big): **mini**" in text
    assert "Baseline `baselines/main.json` (commit abc1234)" in text
    for rec in document["recommendations"]:
        assert f"- **{md(rec['use_case'])}**:" in text


def test_markdown_escapes_names(document):
    text = render_markdown(document)
    assert "<img" not in text and "<script>" not in text
    assert md(EVIL_MODEL) in text and "\\|x" in md(EVIL_MODEL)
    for line in text.splitlines():
        if line.startswith("| ") and md(EVIL_MODEL) in line:
            assert line.count(" | ") == line.replace(md(EVIL_MODEL), "M").count(" | ")


@pytest.mark.parametrize(("text", "expected"), [
    ("a|b", "a\\|b"), ("<b>", "&lt;b&gt;"), ("x_y*z", "x\\_y\\*z"), ("[link](u)", "\\[link\\](u)"),
    ("two\nlines", "two lines"), ("`code`", "\\`code\\`"),
])
def test_md_escape(text, expected):
    assert md(text) == expected


def test_github_summary_appends(tmp_path):
    target = tmp_path / "summary.md"
    target.write_text("earlier step\n")
    assert append_github_summary("# one", {"GITHUB_STEP_SUMMARY": str(target)}) == target
    append_github_summary("two\n", {"GITHUB_STEP_SUMMARY": str(target)})
    assert target.read_text() == "earlier step\n# one\ntwo\n"
    assert append_github_summary("x", {}) is None
    assert append_github_summary("x", {"GITHUB_STEP_SUMMARY": ""}) is None


def test_write_report_picks_the_format(tmp_path, document):
    markdown = write_report(document, tmp_path / "out" / "report.md")
    assert markdown.read_text(encoding="utf-8").startswith("# modelbench report")
    page = write_report(document, tmp_path / "report.HTML")
    assert page.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    for bad in ("report.pdf", "report", ""):
        with pytest.raises(ConfigError, match=r"--modelbench-report '.*' must end in \.md or \.html"):
            parse_report_path(bad)


# ----------------------------------------------------------------- JUnit properties


def test_junit_properties():
    record = RunRecord(task="t", model="m", run=2, category="accuracy", difficulty="easy", weight=1.0,
                       outcome="passed", quality=0.75, latency_ms=812.4, ttft_ms=None, input_tokens=31,
                       output_tokens=2, calls=1, cost_usd=1.5e-05)
    assert junit_properties(record) == [
        ("modelbench.model", "m"), ("modelbench.run", "2"), ("modelbench.outcome", "passed"),
        ("modelbench.quality", "0.75"), ("modelbench.latency_ms", "812.4"), ("modelbench.input_tokens", "31"),
        ("modelbench.output_tokens", "2"), ("modelbench.cost_usd", "1.5e-05"),
    ]
    error = dict(record.to_dict(), outcome="error", quality=None, latency_ms=None, input_tokens=None,
                 output_tokens=None, cost_usd=None)
    assert junit_properties(error) == [("modelbench.model", "m"), ("modelbench.run", "2"),
                                       ("modelbench.outcome", "error")]


# ------------------------------------------------------------------------ SVG helpers


@pytest.mark.parametrize(("low", "high"), [(0, 100), (0, 1), (-17.3, 17.3), (3, 4217), (0.0004, 0.0031), (5, 5)])
def test_nice_ticks_cover_the_range(low, high):
    ticks = nice_ticks(low, high)
    assert ticks[0] <= low and ticks[-1] >= high
    steps = np.diff(ticks)
    assert np.allclose(steps, steps[0])
    mantissa = steps[0] / 10 ** math.floor(math.log10(steps[0]))
    assert round(mantissa, 9) in (1.0, 2.0, 5.0)  # Heckbert's nice steps


def test_box_stats_tukey():
    # Quartiles by numpy's linear interpolation; 1.5 IQR fences at -0.5 and 9.5 leave 100 out.
    values = np.array([1, 2, 3, 4, 5, 6, 7, 100], dtype=float)
    low, q1, median, q3, high = box_stats(values)
    assert (q1, median, q3) == tuple(np.percentile(values, [25, 50, 75]))
    assert (low, high) == (1.0, 7.0)
    assert box_stats(np.array([5.0])) == (5.0, 5.0, 5.0, 5.0, 5.0)


def test_esc():
    assert esc('<a href="x">&\'') == "&lt;a href=&quot;x&quot;&gt;&amp;&#x27;"


def test_pair_rows_read_comparison_report_shapes():
    pair = {"model_a": "a", "model_b": "b", "delta": 1.0, "low": 0.1, "high": 1.9, "p_adjusted": 0.01,
            "significant": True, "verdict": "slightly better", "tasks": 3}
    for document in ({"head_to_head": {"overall": [pair]}}, {"comparisons": {"head_to_head": {"overall": [pair]}}},
                     {"comparisons": {"overall": [pair]}}, {"comparisons": [pair]}):
        [row] = pair_rows(document)
        assert (row.a, row.b, row.delta, row.low, row.significant) == ("a", "b", 1.0, 0.1, True)


def test_real_ranking_and_comparison_blocks_render(records):
    """The to_dict() output of the rankings/comparison/consistency modules renders."""
    rankings = pytest.importorskip("pytest_modelbench.compare.rankings")
    comparison = pytest.importorskip("pytest_modelbench.compare.head_to_head")
    consistency = pytest.importorskip("pytest_modelbench.profile.consistency")
    document = build_document(records, blocks=False)
    table = RunTable.from_records(records)
    try:
        document["rankings"] = rankings.rank_models(table, DEFAULT_CATEGORY_WEIGHTS, bootstrap=20).to_dict()
        document["head_to_head"] = comparison.head_to_head(table, DEFAULT_CATEGORY_WEIGHTS, permutations=500).to_dict()
        document["consistency"] = consistency.consistency(table).to_dict()
    except (AttributeError, TypeError) as exc:  # another helper's module changed its API
        pytest.skip(f"comparison modules changed: {exc}")
    page = parse(render_html(document))
    sections = {a["id"] for t, a in page.tags if t == "section"}
    assert {"rankings", "head-to-head", "consistency"} <= sections
    assert len(pair_rows(document)) == 3
    assert "## Rankings by method" in render_markdown(document)


def test_markdown_bolds_only_a_best_that_beats_someone():
    document = {"models": {
        "a": {"score": 50.0, "categories": {"coding": {"score": 0.0}, "accuracy": {"score": 90.0}}},
        "b": {"score": 40.0, "categories": {"coding": {"score": 0.0}, "accuracy": {"score": 80.0}}},
    }}
    lines = render_markdown(document).splitlines()
    coding = next(line for line in lines if line.startswith("| coding"))
    accuracy = next(line for line in lines if line.startswith("| accuracy"))
    assert "**" not in coding  # 0.0 for both: nobody is best
    assert "**90.0**" in accuracy and "**80.0**" not in accuracy


def test_money_is_never_in_scientific_notation(records):
    document = build_document(records)
    for summary in document["models"].values():
        summary["cost"]["cost_per_task_usd"] = 3.84e-05
        summary["cost"]["cost_usd"] = 1.2e-06
    runs = [dict(run, cost_usd=2.5e-07) for run in document["runs"]]
    for text in (render_markdown(document), render_html({**document, "runs": runs})):
        assert not re.search(r"\d\.?\d*e-\d", text.replace(SCRIPT_TEXT, "")), re.search(r".{40}\de-\d.{20}", text)
    assert "$0.04" in render_markdown(document)  # $0.0000384 a task is $0.04 per 1k tasks


def test_measured_dimensions_in_markdown():
    document = {"models": {
        "fast": {"score": 80.0, "categories": {"speed": {"score": 90.0, "measured_tasks": 3}},
                 "dimensions": {"speed": {"score": 90.0}, "cost": {"score": None, "unknown": "no price known"}}},
    }}
    text = render_markdown(document)
    assert "## Speed, cost and consistency" in text and "| fast | 90.0 | ? |" in text
    assert "cost of fast: no price known" in text and "speed\\*" in text
