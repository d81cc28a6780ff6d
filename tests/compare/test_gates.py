"""CI gates: option parsing, regression (significance, tolerance edges, power advice),
minimum score, p95 latency, cost per task, the pass/fail decision and the terminal lines."""

from __future__ import annotations

import math

import pytest

from pytest_modelbench._exceptions import ConfigError
from pytest_modelbench.core.records import RunRecord
from pytest_modelbench.compare.baseline import Baseline, compare_to_baseline
from pytest_modelbench.compare.gates import (
    GateResult,
    GateSettings,
    MinScore,
    cost_gates,
    evaluate_gates,
    gate_lines,
    gates_passed,
    latency_gates,
    min_score_gates,
    parse_alpha,
    parse_max_cost_per_task,
    parse_max_p95_latency_ms,
    parse_min_score,
    parse_tolerance,
    regression_gates,
)
from pytest_modelbench.compare.paired import detectability


def run(model, task, number, passed, quality=None):
    return RunRecord(task=task, model=model, run=number, category="accuracy", difficulty="medium",
                     weight=1.0, outcome="passed" if passed else "failed",
                     quality=(1.0 if passed else 0.0) if quality is None else quality)


def grid(model, failures_per_task, runs):
    """Records of ``model``: task i has ``failures_per_task[i]`` failed runs out of ``runs``."""
    return [run(model, f"t{i:02d}", k, k > fails)
            for i, fails in enumerate(failures_per_task) for k in range(1, runs + 1)]


def compare(after, before, alpha=0.05):
    return compare_to_baseline(after, Baseline("baseline.json", {}, tuple(before)), alpha=alpha)


# ---------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(("text", "default", "per_model"), [
    ("70", 70.0, {}),                                   # every model
    (" 0 ", 0.0, {}),                                   # bounds are inclusive
    ("100", 100.0, {}),
    ("gpt-4o=75", None, {"gpt-4o": 75.0}),
    ("a=60, b=80.5", None, {"a": 60.0, "b": 80.5}),
    ("50,fast=65", 50.0, {"fast": 65.0}),               # default plus an override
    ("alias=with=eq=70", None, {"alias=with=eq": 70.0}),  # split at the last '='
    (65, 65.0, {}),                                     # a number from an ini file
])
def test_parse_min_score(text, default, per_model):
    parsed = parse_min_score(text)
    assert parsed.default == default
    assert dict(parsed.per_model) == per_model


@pytest.mark.parametrize(("text", "message"), [
    ("abc", r"'abc' is not a number"),
    ("101", r"'101' is not allowed; a minimum score is a number from 0 to 100"),
    ("-1", r"'-1' is not allowed"),
    ("a=", r"'' is not a number"),
    ("=70", r"'=70' has no model name"),
    ("", r"has an empty entry"),
    ("a=60,,b=70", r"has an empty entry"),
    ("a=60,a=70", r"gives model 'a' twice"),
    ("60,70", r"more than one score for every model"),
    ("nan", r"'nan' is not allowed"),
])
def test_parse_min_score_errors_name_the_value(text, message):
    with pytest.raises(ConfigError, match=message) as excinfo:
        parse_min_score(text)
    assert "--modelbench-min-score" in str(excinfo.value)


def test_min_score_check_models():
    MinScore(None, {"a": 50.0}).check_models(["a", "b"])
    with pytest.raises(ConfigError, match=r"names model 'typo', which is not one of the models: a, b"):
        MinScore(None, {"typo": 50.0}).check_models(["a", "b"])


@pytest.mark.parametrize(("parser", "good", "expected"), [
    (parse_tolerance, "2", 2.0), (parse_tolerance, "0", 0.0), (parse_tolerance, 1.5, 1.5),
    (parse_alpha, "0.05", 0.05), (parse_alpha, 0.01, 0.01),
    (parse_max_p95_latency_ms, "2500", 2500.0),
    (parse_max_cost_per_task, "0.01", 0.01), (parse_max_cost_per_task, "$0.02", 0.02),
    (parse_max_cost_per_task, "0", 0.0),
])
def test_parsers_accept(parser, good, expected):
    assert parser(good) == expected


@pytest.mark.parametrize(("parser", "bad", "fragment"), [
    (parse_tolerance, "-1", "score points >= 0"), (parse_tolerance, "two", "is not a number"),
    (parse_tolerance, "inf", "not allowed"),
    (parse_alpha, "0", "strictly between 0 and 1"), (parse_alpha, "1", "strictly between 0 and 1"),
    (parse_alpha, "5%", "is not a number"),
    (parse_max_p95_latency_ms, "0", "milliseconds > 0"), (parse_max_p95_latency_ms, "2s", "is not a number"),
    (parse_max_cost_per_task, "-0.1", "USD >= 0"), (parse_max_cost_per_task, "$", "is not a number"),
    (parse_max_cost_per_task, True, "is not a number"),
])
def test_parsers_reject_with_the_value(parser, bad, fragment):
    with pytest.raises(ConfigError, match=fragment) as excinfo:
        parser(bad)
    assert repr(bad) in str(excinfo.value)


# ------------------------------------------------------------------------- regression


def test_significant_drop_fails():
    before = grid("m", [0] * 20, 5)                      # every run passes: score 100
    after = grid("m", [2] * 10 + [1] * 10, 5)            # 1-2 of 5 runs fail in every task
    [result] = regression_gates(compare(after, before))
    assert result.verdict == "fail" and result.failed
    assert result.measured == pytest.approx(-30.0)       # mean of −40 and −20
    assert result.threshold == -2.0
    assert result.p_value < 0.001
    assert "regression: score 100.0 -> 70.0" in result.message
    assert not gates_passed([result])


def test_drop_not_significant_passes_and_says_what_would_tell():
    # Tasks swap between easy and hard from one run to the next, and every fifth task loses
    # one more run: a 5-point drop buried in task-to-task noise.
    failures_before = [0, 3, 1, 2] * 7 + [0, 3]
    failures_after = [fails + (i % 5 == 0) for i, fails in enumerate([3, 0, 2, 1] * 7 + [3, 0])]
    comparison = compare(grid("m", failures_after, 4), grid("m", failures_before, 4))
    entry = comparison.get("m")
    assert entry.delta == pytest.approx(-5.0)            # the drop reaches the tolerance …
    [result] = regression_gates(comparison, tolerance=2.0)
    assert result.verdict == "not significant"           # … but is not significant
    assert result.p_value > 0.05
    assert gates_passed([result])
    # What would tell, read off the comparison's own interval (the same test as the verdict).
    v = entry.variance
    found = detectability(-2.0, entry.score.ci.low, entry.score.ci.high, entry.score.level,
                          n_tasks=entry.shared_tasks, n_clusters=entry.shared_tasks, omega2=v.omega2,
                          sigma2_a=v.sigma2_a, sigma2_b=v.sigma2_b, runs_a=4, runs_b=4)
    assert f"the smallest drop these 30 tasks detect with 80% power is {found.mde:.1f} points" in result.message
    assert f"about {found.tasks_needed} tasks would detect a 2.0-point drop" in result.message
    if found.runs_needed is None:
        assert "more runs per task would not (task-to-task spread dominates)" in result.message
    else:
        assert f"or about {found.runs_needed} runs per task (now 4)" in result.message


def test_runs_needed_advice_when_more_runs_suffice():
    # Identical tasks (no task-to-task spread) with noisy runs: more runs per task can tell.
    before = grid("m", [1, 2] * 10, 6)
    after = grid("m", [2, 2] * 10, 6)
    comparison = compare(after, before, alpha=0.001)
    [result] = regression_gates(comparison, tolerance=2.0, alpha=0.001)
    entry = comparison.get("m")
    v = entry.variance
    assert v.omega2 < v.sigma2_a + v.sigma2_b  # run-to-run noise dominates
    found = detectability(-2.0, entry.score.ci.low, entry.score.ci.high, entry.score.level, n_tasks=20,
                          n_clusters=20, omega2=v.omega2, sigma2_a=v.sigma2_a, sigma2_b=v.sigma2_b,
                          runs_a=6, runs_b=6)
    assert result.verdict == "not significant"
    assert found.runs_needed is not None and f"or about {found.runs_needed} runs per task (now 6)" in result.message
    with pytest.raises(ValueError, match="tested at alpha 0.001, the gate asks for 0.05"):
        regression_gates(comparison, tolerance=2.0, alpha=0.05)


def test_too_few_tasks_can_never_be_significant():
    before = grid("m", [0, 0, 0], 3)
    after = grid("m", [3, 3, 2], 3)                      # huge drop on 3 tasks
    [result] = regression_gates(compare(after, before))
    assert result.verdict == "not significant"
    assert result.p_value == pytest.approx(0.25)         # exact: 2 of 8 sign patterns
    assert "smallest p is 0.25" in result.message and "at least 6 are needed" in result.message


@pytest.mark.parametrize(("tolerance", "verdict"), [
    (9.0, "fail"),      # drop 10 > tolerance
    (10.0, "fail"),     # drop exactly at the tolerance counts ("at least")
    (10.5, "pass"),     # drop below the tolerance passes even though significant
])
def test_tolerance_edges(tolerance, verdict):
    before = grid("m", [0] * 20, 10)
    after = grid("m", [1] * 20, 10)                      # every task 100 → 90: a certain −10
    [result] = regression_gates(compare(after, before), tolerance=tolerance)
    assert result.measured == pytest.approx(-10.0)
    assert result.verdict == verdict


def test_improvement_and_zero_tolerance():
    before = grid("m", [1] * 20, 10)
    after = grid("m", [0] * 20, 10)
    [result] = regression_gates(compare(after, before), tolerance=0.0)
    assert result.verdict == "pass" and result.measured == pytest.approx(10.0)
    [same] = regression_gates(compare(before, before), tolerance=0.0)
    assert same.verdict == "pass"                        # no drop at all


def test_model_without_shared_tasks_is_unknown():
    before = [run("a", "t", 1, True), run("b", "x", 1, True)]
    after = [run("a", "t", 1, True), run("b", "y", 1, True)]
    results = regression_gates(compare(after, before))
    assert [r.verdict for r in results] == ["pass", "unknown"]
    assert gates_passed(results) and not gates_passed(results, unknown_fails=True)


# ------------------------------------------------------------ score, latency, cost


MODELS = {
    "a": {"score": 81.0, "latency_ms": {"p50": 500.0, "p95": 1500.0}},
    "b": {"score": 69.95, "latency_ms": {"p50": 900.0, "p95": 2600.0}},
    "c": {"score": None, "latency_ms": None},
}


def test_min_score_gates():
    results = min_score_gates(MODELS, parse_min_score("70,a=81,ghost=50"))
    verdicts = {(r.model, r.verdict) for r in results}
    assert verdicts == {("a", "pass"), ("b", "fail"), ("c", "unknown"), ("ghost", "unknown")}
    b = next(r for r in results if r.model == "b")
    assert (b.measured, b.threshold) == (69.95, 70.0)
    assert b.message == "score 69.95 is below the minimum 70"  # not "70.0 is below 70"


def test_latency_gates():
    results = latency_gates(MODELS, 2000.0)
    assert [(r.model, r.verdict) for r in results] == [("a", "pass"), ("b", "fail"), ("c", "unknown")]
    assert results[1].message == "p95 latency 2600 ms exceeds 2000 ms"
    assert [r.verdict for r in latency_gates(MODELS, 2600.0)][:2] == ["pass", "pass"]  # inclusive


def test_cost_gates():
    results = cost_gates({"a": 0.002, "b": 0.0051, "c": None}, 0.005, ["a", "b", "c", "d"])
    assert [(r.model, r.verdict) for r in results] == [("a", "pass"), ("b", "fail"), ("c", "unknown"),
                                                       ("d", "unknown")]
    assert "cost per task $0.0051 exceeds $0.005" == results[1].message
    assert cost_gates({"a": 0.005}, 0.005)[0].verdict == "pass"


def test_evaluate_gates_in_order_and_needs_a_baseline():
    settings = GateSettings(min_score=MinScore(60.0), max_p95_latency_ms=2000.0, max_cost_per_task=0.01)
    results = evaluate_gates(settings, models=MODELS, cost_per_task={"a": 0.001})
    assert [r.name for r in results] == ["min-score"] * 3 + ["max-p95-latency-ms"] * 3 + ["max-cost-per-task"] * 3
    assert not gates_passed(results)
    assert not GateSettings().active and settings.active
    with pytest.raises(ConfigError, match="needs a baseline: pass --modelbench-baseline=PATH"):
        evaluate_gates(GateSettings(fail_on_regression=True), models=MODELS)


def test_gate_result_rejects_unknown_verdict():
    with pytest.raises(ValueError, match="verdict 'maybe' is not one of: pass, fail, errors, not significant, unknown"):
        GateResult("min-score", "a", 1.0, 2.0, "maybe", "")


def test_gate_lines_fit_100_columns():
    before = grid("a-model-with-a-really-long-name-for-testing-widths", [0] * 20, 5)
    after = grid("a-model-with-a-really-long-name-for-testing-widths", [2] * 20, 5)
    results = regression_gates(compare(after, before)) + latency_gates(MODELS, 1000.0)
    lines = gate_lines(results)
    assert max(len(line) for line in lines) <= 100
    assert lines[0].split() == ["gate", "model", "measured", "threshold", "verdict"]
    assert any("gates FAILED" in line for line in lines)
    assert any(line.startswith("FAIL fail-on-regression") for line in lines)
    assert gate_lines([]) == ["no gates configured"]
    assert all(not math.isnan(r.measured) for r in results if r.measured is not None)


def test_to_dict_round_trips_fields():
    result = GateResult("min-score", "a", 70.0, 75.0, "fail", "score 70.0 is below the minimum 75")
    assert result.to_dict() == {"name": "min-score", "model": "a", "measured": 70.0, "threshold": 75.0,
                                "verdict": "fail", "message": "score 70.0 is below the minimum 75",
                                "p_value": None}
