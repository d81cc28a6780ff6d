"""Use-case recommendations: profiles, validation, scoring, constraints, significance."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats as sps

from pytest_modelbench.core.config import DEFAULT_CATEGORY_WEIGHTS
from pytest_modelbench._exceptions import ConfigError
from pytest_modelbench.core.records import RunRecord
from pytest_modelbench.compare.recommend import (
    BUILTIN_USE_CASES,
    UseCase,
    fit_label,
    parse_use_cases,
    recommend,
    recommendation_lines,
    resolve_use_case,
)
from pytest_modelbench.session.analysis import summarise


def model(categories, *, pass_rate=0.8, p95=1000.0, cost=None):
    entry = {"score": None, "pass_rate": pass_rate,
             "categories": {name: {"score": score, "pass_rate": None, "tasks": 3, "runs": 9}
                            for name, score in categories.items()},
             "latency_ms": None if p95 is None else {"p50": p95 / 2, "p95": p95, "p99": p95, "mean": p95 / 2}}
    if cost is not None:
        entry["cost"] = {"cost_per_task_usd": cost}
    return entry


CASE = UseCase("custom", {"reasoning": 0.5, "accuracy": 0.3, "coding": 0.2})


# --------------------------------------------------------------------------- profiles


def test_builtin_profiles():
    assert list(BUILTIN_USE_CASES) == ["complex_reasoning", "high_volume", "code_generation",
                                       "content_creation", "safety_critical"]
    for case in BUILTIN_USE_CASES.values():
        assert sum(case.weights.values()) == pytest.approx(1.0)
        assert set(case.weights) <= set(DEFAULT_CATEGORY_WEIGHTS)
        assert case.description
    assert BUILTIN_USE_CASES["code_generation"].needed[0] == "coding"
    assert BUILTIN_USE_CASES["safety_critical"].needed[0] == "safety"


@pytest.mark.parametrize(("score", "label"), [
    (100.0, "excellent"), (90.0, "excellent"), (89.999, "good"), (75.0, "good"), (74.9, "adequate"),
    (60.0, "adequate"), (59.99, "poor"), (40.0, "poor"), (39.99, "not recommended"), (0.0, "not recommended"),
])
def test_fit_label_edges(score, label):
    assert fit_label(score) == label


def test_parse_custom_use_case_and_refine_a_builtin():
    cases = parse_use_cases({
        "support_bot": {"weights": {"instruction_following": 2, "safety": 1, "speed": 0},
                        "max_p95_latency_ms": 3000, "max_cost_per_task": 0.01, "min_pass_rate": 0.9,
                        "description": "answers customers"},
        "safety_critical": {"min_pass_rate": 0.95},
    })
    support = cases["support_bot"]
    assert support.weights == {"instruction_following": 2.0, "safety": 1.0, "speed": 0.0}
    assert support.needed == ("instruction_following", "safety")       # weight 0: not needed
    assert support.constraints() == {"max_p95_latency_ms": 3000.0, "max_cost_per_task": 0.01, "min_pass_rate": 0.9}
    refined = cases["safety_critical"]
    assert refined.weights == BUILTIN_USE_CASES["safety_critical"].weights
    assert refined.min_pass_rate == 0.95 and refined.description == BUILTIN_USE_CASES["safety_critical"].description
    assert set(parse_use_cases(None)) == set(BUILTIN_USE_CASES)


def test_custom_categories_are_allowed_when_declared():
    cases = parse_use_cases({"refund_desk": {"weights": {"refunds": 1}}}, [*DEFAULT_CATEGORY_WEIGHTS, "refunds"])
    assert cases["refund_desk"].weights == {"refunds": 1.0}


@pytest.mark.parametrize(("entry", "message"), [
    ({"weights": {"accuracy": 1}, "max_latency": 5}, r"use case 'x' .* unknown key 'max_latency'; allowed: weights"),
    ({"weights": {"acuracy": 1}}, r"use case 'x' .*: weights key 'acuracy' is not a category; allowed: accuracy"),
    ({"weights": {"accuracy": -1}}, r"use case 'x' .*: weights.accuracy = -1 is not allowed"),
    ({"weights": {"accuracy": "high"}}, r"weights.accuracy = 'high' is not allowed"),
    ({"weights": {"accuracy": 0}}, r"gives no category a weight > 0"),
    ({"weights": {}}, r"weights = \{\} is not allowed"),
    ({"weights": {"accuracy": 1}, "max_p95_latency_ms": 0}, r"max_p95_latency_ms = 0 is not allowed; it must be a number of milliseconds > 0"),
    ({"weights": {"accuracy": 1}, "max_cost_per_task": -0.5}, r"max_cost_per_task = -0.5 is not allowed"),
    ({"weights": {"accuracy": 1}, "min_pass_rate": 90}, r"min_pass_rate = 90 is not allowed; it must be a fraction from 0 to 1"),
    ({"weights": {"accuracy": 1}, "min_pass_rate": True}, r"min_pass_rate = True is not allowed"),
    ({"max_p95_latency_ms": 100}, r"use case 'x' .* needs weights"),
    ("accuracy", r"use case 'x' .* must be a table"),
])
def test_use_case_errors_name_case_key_and_value(entry, message):
    with pytest.raises(ConfigError, match=message):
        parse_use_cases({"x": entry})


def test_use_case_table_and_name_errors():
    with pytest.raises(ConfigError, match="must be a table of use cases"):
        parse_use_cases(["x"])  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="use case name 'bad name'"):
        parse_use_cases({"bad name": {"weights": {"accuracy": 1}}})
    with pytest.raises(ConfigError, match=r"--modelbench-use-case 'cheap' is not one of: code_generation, "):
        resolve_use_case("cheap", BUILTIN_USE_CASES)
    assert resolve_use_case("high_volume", BUILTIN_USE_CASES) is BUILTIN_USE_CASES["high_volume"]


# --------------------------------------------------------------------------- scoring


def test_use_case_score_by_hand_and_alternatives():
    document = {"models": {
        "a": model({"reasoning": 90, "accuracy": 80, "coding": 70}),
        "b": model({"reasoning": 60, "accuracy": 95, "coding": 90}),
        "c": model({"reasoning": 50, "accuracy": 50, "coding": 50}),
        "d": model({"reasoning": 40, "accuracy": 30, "coding": 20}),
        "e": model({"reasoning": 10, "accuracy": 10, "coding": 10}),
    }}
    [rec] = recommend(document, [CASE])
    scores = {c.model: c.score for c in rec.candidates}
    assert scores["a"] == pytest.approx(0.5 * 90 + 0.3 * 80 + 0.2 * 70)   # 83.0
    assert scores["b"] == pytest.approx(0.5 * 60 + 0.3 * 95 + 0.2 * 90)   # 76.5
    assert (rec.recommended, rec.fit, rec.status) == ("a", "good", "recommended")
    assert [c.model for c in rec.alternatives] == ["b", "c", "d"]          # at most three
    assert rec.significance == "unknown" and "no run records" in rec.rationale
    assert "a scores 83.0 for custom, a good fit" in rec.rationale
    assert "runner-up b (76.5) by 6.5 points" in rec.rationale
    json.dumps(rec.to_dict(), allow_nan=False)


def test_missing_category_is_not_measured_not_zero():
    document = {"models": {
        "full": model({"reasoning": 50, "accuracy": 50, "coding": 50}),
        "no_code": model({"reasoning": 99, "accuracy": 99}),
    }}
    [rec] = recommend(document, [CASE])
    assert [c.model for c in rec.candidates] == ["full"]
    assert [(e.model, e.reason) for e in rec.not_measured] == [("no_code", "no tasks in coding")]
    assert "Not measured for this use case: no_code (no tasks in coding)" in rec.rationale


def test_category_absent_from_benchmark_is_dropped_and_coverage_reported():
    document = {"models": {"a": model({"reasoning": 80, "accuracy": 60}),
                           "b": model({"reasoning": 70, "accuracy": 70})}}
    [rec] = recommend(document, [CASE])
    assert rec.used == ("reasoning", "accuracy") and rec.unmeasured_categories == ("coding",)
    assert rec.coverage == pytest.approx(0.8)
    assert rec.weights == pytest.approx({"reasoning": 0.625, "accuracy": 0.375})
    assert rec.best.score == pytest.approx(0.625 * 80 + 0.375 * 60)
    assert "Not measured by this benchmark: coding; the score covers 80% of the profile's weight" in rec.rationale


def test_low_coverage_gives_no_recommendation():
    document = {"models": {"a": model({"coding": 95}), "b": model({"coding": 60})}}
    [rec] = recommend(document, [CASE])
    assert rec.coverage == pytest.approx(0.2)
    assert rec.best.model == "a" and rec.recommended is None and rec.status == "low coverage"
    assert rec.rationale.startswith("No recommendation for custom: the categories this benchmark measured "
                                    "(coding) carry only 20% of the profile's weight")
    [lenient] = recommend(document, [CASE], min_coverage=0.2)
    assert lenient.recommended == "a"


def test_use_case_with_no_measured_category():
    [rec] = recommend({"models": {"a": model({"safety": 80})}}, [CASE])
    assert rec.status == "not measured" and rec.recommended is None and rec.candidates == ()
    assert "cannot be scored: none of its categories (reasoning, accuracy and coding)" in rec.rationale


def test_best_below_forty_is_not_recommended():
    [rec] = recommend({"models": {"a": model({"reasoning": 30, "accuracy": 30, "coding": 30})}}, [CASE])
    assert rec.best.fit == "not recommended" and rec.recommended is None and rec.status == "not fit"
    assert rec.rationale.startswith("No model is fit for custom: the best, a, scores only 30.0")


def test_constraints_filter_and_unknown_values_exclude():
    case = UseCase("fast", {"accuracy": 1.0}, max_p95_latency_ms=2000.0, max_cost_per_task=0.01, min_pass_rate=0.7)
    document = {"models": {
        "ok": model({"accuracy": 70}, pass_rate=0.75, p95=1500.0, cost=0.005),
        "slow": model({"accuracy": 95}, pass_rate=0.9, p95=2500.0, cost=0.001),
        "pricey": model({"accuracy": 90}, pass_rate=0.9, p95=500.0, cost=0.02),
        "flaky": model({"accuracy": 88}, pass_rate=0.5, p95=500.0, cost=0.001),
        "unpriced": model({"accuracy": 99}, pass_rate=0.99, p95=100.0),
        "untimed": model({"accuracy": 99}, pass_rate=0.99, p95=None, cost=0.001),
    }}
    [rec] = recommend(document, [case])
    assert rec.recommended == "ok"
    reasons = {e.model: e.reason for e in rec.excluded}
    assert reasons == {
        "slow": "p95 latency 2500 ms > 2000 ms",
        "pricey": "cost per task $0.02 > $0.01",
        "flaky": "pass rate 50.0% < minimum 70%",
        "unpriced": "cost per task unknown (limit $0.01)",
        "untimed": "p95 latency unknown (limit 2000 ms)",
    }
    assert "It is the only model that qualifies." in rec.rationale
    assert "Excluded by constraints: flaky (pass rate 50.0% < minimum 70%)" in rec.rationale
    # explicit costs win over the document
    [rec] = recommend(document, [case], cost_per_task={"ok": 0.5})
    assert rec.recommended is None and rec.status == "no candidate"


# ---------------------------------------------------------------------- significance


def records_for(quality_by_model, runs=3, category="reasoning"):
    records = []
    for name, qualities in quality_by_model.items():
        for t, quality in enumerate(qualities):
            for number in range(1, runs + 1):
                records.append(RunRecord(task=f"t{t:02d}", model=name, run=number, category=category,
                                         difficulty="medium", weight=1.0,
                                         outcome="passed" if quality >= 0.5 else "failed", quality=float(quality)))
    return records


def document_for(records):
    return {"models": summarise(records, DEFAULT_CATEGORY_WEIGHTS)}


def test_clear_lead_is_significant_and_matches_scipy():
    rng = np.random.default_rng(2)
    strong = np.clip(rng.normal(0.9, 0.05, 14), 0, 1)
    weak = np.clip(strong - rng.uniform(0.3, 0.6, 14), 0, 1)
    records = records_for({"strong": strong, "weak": weak})
    case = UseCase("think", {"reasoning": 1.0})
    [rec] = recommend(document_for(records), [case], records=records)
    assert rec.recommended == "strong" and rec.significance == "significant"
    # reference: exact sign-flip test of the per-task score differences (one category, equal weights)
    score = lambda q: 100 * (0.6 * (q >= 0.5) + 0.4 * q)  # noqa: E731
    d = score(strong) - score(weak)
    reference = sps.permutation_test((d,), np.mean, permutation_type="samples", n_resamples=np.inf).pvalue
    assert rec.lead.p_value == pytest.approx(reference, rel=1e-12)
    assert rec.lead.delta == pytest.approx(d.mean())
    assert "statistically significant at alpha 0.05" in rec.rationale


def test_small_lead_is_not_significant():
    a = [0.9, 0.2, 0.8, 0.3, 0.7, 0.6]
    b = [0.3, 0.8, 0.2, 0.9, 0.6, 0.7]
    records = records_for({"a": a, "b": b})
    [rec] = recommend(document_for(records), [UseCase("think", {"reasoning": 1.0})], records=records)
    assert rec.significance == "not significant"
    assert "not statistically significant" in rec.rationale
    lines = recommendation_lines([rec])
    assert lines[0].startswith("think: ") and "lead not significant" in lines[0]
    assert max(len(line) for line in lines) <= 100


def test_lead_uses_only_the_use_case_categories():
    # b wins coding by far but the use case ignores coding: the paired test sees reasoning only.
    records = records_for({"a": [0.9] * 8, "b": [0.5] * 8}) + \
        [RunRecord(task=f"c{t}", model=m, run=1, category="coding", difficulty="medium", weight=1.0,
                   outcome="passed" if m == "b" else "failed", quality=1.0 if m == "b" else 0.0)
         for t in range(8) for m in ("a", "b")]
    [rec] = recommend(document_for(records), [UseCase("think", {"reasoning": 1.0})], records=records)
    assert rec.lead.n_tasks == 8 and rec.recommended == "a"


def test_builtin_recommendations_for_a_real_summary():
    records = records_for({"a": [0.9, 0.8, 0.95], "b": [0.4, 0.5, 0.6]}, category="accuracy")
    recommendations = recommend(document_for(records), records=records)
    assert [r.use_case.name for r in recommendations] == list(BUILTIN_USE_CASES)
    json.dumps([r.to_dict() for r in recommendations], allow_nan=False)


def test_bad_arguments():
    with pytest.raises(ValueError, match="alpha 0 is not allowed"):
        recommend({"models": {}}, [CASE], alpha=0)
    with pytest.raises(ValueError, match="no 'models' block"):
        recommend({}, [CASE])
    with pytest.raises(ValueError, match="min_coverage 2 is not allowed"):
        recommend({"models": {}}, [CASE], min_coverage=2)


def test_an_unknown_cost_is_not_measured_for_high_volume_and_says_why():
    document = {"models": {
        "priced": {"pass_rate": 0.9, "categories": {c: {"score": 80.0} for c in ("speed", "cost", "accuracy",
                                                                                  "consistency")}},
        "unpriced": {"pass_rate": 0.9, "categories": {c: {"score": 90.0} for c in ("speed", "accuracy", "consistency")},
                     "dimensions": {"cost": {"score": None, "unknown": "no price known for this model"}}},
    }}
    [rec] = recommend(document, [BUILTIN_USE_CASES["high_volume"]])
    assert rec.recommended == "priced"
    assert [e.to_dict() for e in rec.not_measured] == [
        {"model": "unpriced", "reason": "cost unknown: no price known for this model"}]
    assert "unpriced (cost unknown: no price known for this model)" in rec.rationale
