"""Head-to-head comparisons, the two-model report and the comparison report."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest

from pytest_modelbench import stats
from pytest_modelbench.core.records import RunRecord
from pytest_modelbench.core.table import RunTable
from pytest_modelbench.core.text import table as text_table
from pytest_modelbench.compare.head_to_head import (
    NO_DIFFERENCE,
    NOT_COMPARABLE,
    SIGNIFICANTLY_BETTER,
    SIGNIFICANTLY_WORSE,
    SLIGHTLY_BETTER,
    SLIGHTLY_WORSE,
    compare,
    compare_pair,
    comparison_rows,
    head_to_head,
    relative_difference,
    verdict,
)

WEIGHTS = {"accuracy": 0.25, "safety": 0.15, "reasoning": 0.05}


def record(model, task, run, quality, *, passed=None, category="accuracy", difficulty="medium",
           weight=1.0, group=None, outcome=None):
    if outcome is None:
        if passed is None:
            passed = quality >= 0.5
        outcome = "passed" if passed else "failed"
    return RunRecord(task=task, model=model, run=run, category=category, difficulty=difficulty,
                     weight=weight, outcome=outcome, quality=quality, group=group)


def table_from(results, **task_info):
    """results: {model: {task: [quality per run]}}; a run passes when its quality is >= 0.5."""
    records = []
    for model, tasks in results.items():
        for task, qualities in tasks.items():
            for run, quality in enumerate(qualities, start=1):
                records.append(record(model, task, run, quality, **task_info.get(task, {})))
    return RunTable.from_records(records)


def graded(rng, n_tasks, runs, shift=0.0, prefix="t"):
    """Graded qualities (never exactly 0 or 1, so runs are not pass/fail)."""
    return {f"{prefix}{i:02d}": list(np.clip(np.round(rng.random(runs) * 0.8 + 0.1 + shift, 3), 0.01, 0.99))
            for i in range(n_tasks)}


# ------------------------------------------------------------------------- verdicts


@pytest.mark.parametrize(
    ("delta", "relative", "significant", "expected"),
    [
        (10.0, 0.20, True, SIGNIFICANTLY_BETTER),  # 20% edge is inclusive
        (10.0, 0.1999, True, SLIGHTLY_BETTER),
        (10.0, 0.01, True, SLIGHTLY_BETTER),  # significant is significant, however small
        (10.0, 0.50, False, NO_DIFFERENCE),
        (-10.0, 0.50, True, SIGNIFICANTLY_WORSE),
        (-10.0, 0.10, True, SLIGHTLY_WORSE),
        (10.0, math.inf, True, SIGNIFICANTLY_BETTER),  # the lower score is 0
        (0.0, 0.0, True, NO_DIFFERENCE),
        (float("nan"), float("nan"), False, NOT_COMPARABLE),
    ],
)
def test_verdict_boundaries(delta, relative, significant, expected):
    assert verdict(delta, relative, significant) == expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [(60.0, 50.0, 0.2), (50.0, 60.0, 0.2), (52.5, 50.0, 0.05), (0.0, 0.0, 0.0), (10.0, 0.0, math.inf)],
)
def test_relative_difference(a, b, expected):
    assert relative_difference(a, b) == pytest.approx(expected, rel=1e-15)


# ----------------------------------------------------------------- identical models


@pytest.mark.parametrize("binary", [True, False])
def test_identical_models_show_no_difference(binary):
    rng = np.random.default_rng(0)
    runs = ({f"t{i}": list((rng.random(4) < 0.5).astype(float)) for i in range(20)} if binary
            else graded(rng, 20, 4))
    table = table_from({"a": runs, "b": runs, "c": runs})
    result = head_to_head(table, WEIGHTS)
    for comparison in result.overall:
        assert comparison.delta == 0.0
        assert comparison.p_value == 1.0 and comparison.p_adjusted == 1.0
        assert comparison.verdict == NO_DIFFERENCE and not comparison.significant
        assert comparison.test.startswith("sign-flip permutation")  # pass/fail or graded: one test


# --------------------------------------------------------------------------- tests


def test_pass_fail_runs_are_tested_on_tasks_not_runs():
    """Four tasks × four pass/fail runs. Pooled over (task, run) pairs McNemar would see 9
    discordant pairs against 1 (p = 0.021, "significant"); but the runs of a task are one
    observation: with 4 tasks the exact sign-flip test's smallest p-value is 2/16. The
    reference is scipy.stats.permutation_test (exact) on the per-task scores."""
    scipy_stats = pytest.importorskip("scipy.stats")
    a = {"t1": [1, 1, 1, 0], "t2": [1, 1, 0, 0], "t3": [1, 1, 1, 1], "t4": [1, 0, 1, 1]}
    b = {"t1": [0, 0, 1, 0], "t2": [0, 1, 0, 1], "t3": [0, 0, 0, 1], "t4": [0, 0, 0, 0]}
    table = table_from({"a": {k: [float(x) for x in v] for k, v in a.items()},
                        "b": {k: [float(x) for x in v] for k, v in b.items()}})
    comparison = head_to_head(table, WEIGHTS).overall[0]
    assert scipy_stats.binomtest(1, 10, 0.5).pvalue < 0.05  # what pooling runs would claim
    scores = 100 * (0.6 * table.cell_means(table.passed) + 0.4 * table.cell_means(table.quality))
    reference = scipy_stats.permutation_test((scores[0], scores[1]), lambda x, y: np.mean(x - y),
                                             permutation_type="samples", n_resamples=np.inf)
    assert comparison.test == "sign-flip permutation (exact, 16 sign patterns)"
    assert comparison.p_value == pytest.approx(reference.pvalue, rel=1e-12) and comparison.p_value >= 0.125
    assert comparison.verdict == NO_DIFFERENCE and not comparison.significant
    assert comparison.low <= 0.0 <= comparison.high  # the interval agrees with the verdict


def test_graded_uses_exact_sign_flip_on_few_tasks():
    """With ≤ 16 tasks the sign-flip test enumerates all patterns; reference: scipy's
    permutation_test(permutation_type="samples") on the paired task means (exact)."""
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(4)
    table = table_from({"a": graded(rng, 10, 3, shift=0.08), "b": graded(rng, 10, 3)})
    comparison = head_to_head(table, WEIGHTS).overall[0]
    scores = 100 * (0.6 * table.cell_means(table.passed) + 0.4 * table.cell_means(table.quality))
    reference = scipy_stats.permutation_test(
        (scores[0], scores[1]), lambda x, y: np.mean(x - y), permutation_type="samples",
        n_resamples=np.inf, alternative="two-sided",
    )
    assert comparison.test == "sign-flip permutation (exact, 1024 sign patterns)"
    assert comparison.p_value == pytest.approx(reference.pvalue, rel=1e-12)
    assert comparison.delta == pytest.approx(np.mean(scores[0] - scores[1]), rel=1e-12)


def test_weighted_sign_flip_matches_brute_force():
    # Tasks in two categories with different weights: the test statistic is Δ itself,
    # Σ_t coefficient_t · d_t; enumerate all 2^8 sign patterns by hand.
    rng = np.random.default_rng(8)
    info = {f"t{i:02d}": {"category": ("accuracy", "safety")[i % 2], "difficulty": ("easy", "hard")[i % 3 == 0]}
            for i in range(8)}
    table = table_from({"a": graded(rng, 8, 2, 0.1), "b": graded(rng, 8, 2)}, **info)
    comparison = head_to_head(table, WEIGHTS).overall[0]
    scores = 100 * (0.6 * table.cell_means(table.passed) + 0.4 * table.cell_means(table.quality))
    d = scores[0] - scores[1]
    category = table.task_category
    coefficient = np.empty(8)
    alpha = {"accuracy": 0.25 / 0.40, "safety": 0.15 / 0.40}
    for c, name in enumerate(table.categories):
        members = category == c
        coefficient[members] = alpha[name] * table.task_weight[members] / table.task_weight[members].sum()
    assert table.categories == ("accuracy", "safety") and len(set(table.task_weight)) == 2
    observed = abs(coefficient @ d)
    hits = sum(abs(coefficient @ (np.array(signs) * d)) >= observed - 1e-9
               for signs in itertools.product((1, -1), repeat=8))
    assert comparison.delta == pytest.approx(coefficient @ d, rel=1e-12)
    assert comparison.p_value == pytest.approx(hits / 256, rel=1e-12)


def test_holm_adjustment_matches_statsmodels():
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    rng = np.random.default_rng(6)
    table = table_from({name: graded(rng, 25, 2, shift) for name, shift in
                        (("a", 0.1), ("b", 0.05), ("c", 0.0), ("d", -0.02))})
    result = head_to_head(table, WEIGHTS, permutations=2000)
    raw = [c.p_value for c in result.overall]
    expected = multitest.multipletests(raw, method="holm")[1]
    np.testing.assert_allclose([c.p_adjusted for c in result.overall], expected, rtol=1e-12)
    assert len(result.overall) == 6


def test_monte_carlo_test_is_seeded():
    rng = np.random.default_rng(2)
    table = table_from({"a": graded(rng, 30, 2, 0.03), "b": graded(rng, 30, 2)})
    first = head_to_head(table, WEIGHTS, seed=1, permutations=500).overall[0]
    again = head_to_head(table, WEIGHTS, seed=1, permutations=500).overall[0]
    other = head_to_head(table, WEIGHTS, seed=2, permutations=500).overall[0]
    assert first.p_value == again.p_value
    assert first.p_value != other.p_value
    assert "Monte Carlo" in first.test


# ------------------------------------------------------------- delta and its interval


def test_delta_se_is_millers_paired_se():
    # One category, equal weights, tasks as clusters: SE = sqrt(var(d, ddof=1)/n).
    rng = np.random.default_rng(10)
    table = table_from({"a": graded(rng, 40, 3, 0.05), "b": graded(rng, 40, 3)})
    comparison = head_to_head(table, WEIGHTS).overall[0]
    scores = 100 * (0.6 * table.cell_means(table.passed) + 0.4 * table.cell_means(table.quality))
    reference = stats.paired_difference(scores[0], scores[1])
    d = scores[0] - scores[1]
    assert comparison.se == pytest.approx(math.sqrt(np.var(d, ddof=1) / 40), rel=1e-12)
    assert comparison.delta == pytest.approx(reference.delta, rel=1e-12)
    assert comparison.score_a - comparison.score_b == pytest.approx(comparison.delta, abs=1e-12)
    # The interval inverts the permutation test; with 40 tasks it is close to the normal one.
    assert comparison.low == pytest.approx(reference.ci.low, abs=0.25 * reference.se)
    assert comparison.high == pytest.approx(reference.ci.high, abs=0.25 * reference.se)


@pytest.mark.parametrize("seed", [20, 21, 22])
def test_interval_is_the_inverted_exact_test(seed):
    """The interval's ends are where scipy's exact paired permutation test of d − δ crosses
    α = 0.05 (Hartigan 1969): just inside, p > α; just outside, p ≤ α."""
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(seed)
    table = table_from({"a": graded(rng, 11, 2, 0.1), "b": graded(rng, 11, 2)})
    comparison = head_to_head(table, WEIGHTS).overall[0]
    scores = 100 * (0.6 * table.cell_means(table.passed) + 0.4 * table.cell_means(table.quality))
    d = scores[0] - scores[1]

    def p(delta):
        return scipy_stats.permutation_test((d - delta,), np.mean, permutation_type="samples",
                                            n_resamples=np.inf).pvalue

    for end in (comparison.low, comparison.high):
        inward = 1e-6 if end == comparison.low else -1e-6
        assert p(end + inward) > 0.05 >= p(end - inward)
    assert (comparison.low > 0 or comparison.high < 0) == comparison.significant


def test_delta_interval_clustered_by_group_matches_statsmodels():
    sm = pytest.importorskip("statsmodels.api")
    rng = np.random.default_rng(12)
    info = {f"t{i:02d}": {"group": f"g{i // 4}"} for i in range(32)}
    table = table_from({"a": graded(rng, 32, 2, 0.05), "b": graded(rng, 32, 2)}, **info)
    comparison = head_to_head(table, WEIGHTS).overall[0]
    scores = 100 * (0.6 * table.cell_means(table.passed) + 0.4 * table.cell_means(table.quality))
    groups = np.arange(32) // 4
    fit = sm.OLS(scores[0] - scores[1], np.ones(32)).fit(cov_type="cluster", cov_kwds={"groups": groups})
    assert comparison.se == pytest.approx(float(fit.bse[0]), rel=1e-10)
    assert comparison.clusters == 8
    unclustered = head_to_head(table, WEIGHTS, cluster_by_group=False).overall[0]
    assert unclustered.clusters == 32


def test_mde_and_tasks_needed_come_from_the_tests_own_interval():
    """MDE = (z_0.975 + z_0.8)·SE with SE = half the interval's width / z_0.975 (Miller 2024
    §5); tasks needed = n·(MDE/Δ)²; runs needed from stats.variance_components of the raw
    run scores (only the within-task part shrinks with runs)."""
    rng = np.random.default_rng(14)
    table = table_from({"a": graded(rng, 30, 4, 0.02), "b": graded(rng, 30, 4)})
    comparison = head_to_head(table, WEIGHTS).overall[0]
    z, z_power = stats.normal_ppf(0.975), stats.normal_ppf(0.8)
    se = (comparison.high - comparison.low) / 2 / z
    assert comparison.mde == pytest.approx((z + z_power) * se, rel=1e-12)
    assert comparison.se == pytest.approx(se, rel=0.1)  # the test's SE is close to Miller's
    ratio = comparison.mde / abs(comparison.delta)
    assert comparison.tasks_needed == math.ceil(30 * ratio**2 * (1 - 1e-12))
    run_score = 100 * (0.6 * table.passed + 0.4 * table.quality)
    order = np.lexsort((table.run, table.task, table.model))
    runs = run_score[order].reshape(2, 30, 4)
    components = stats.variance_components(runs[0], runs[1])
    current = components.omega2 + (components.sigma2_a + components.sigma2_b) / 4
    budget = current / ratio**2 - components.omega2
    expected = None if budget <= 0 else math.ceil((components.sigma2_a + components.sigma2_b) / budget * (1 - 1e-12))
    assert comparison.runs_needed == expected


def test_too_few_tasks_to_reject_say_so():
    # Five tasks: the exact test's smallest p-value is 2/32 > 0.05, whatever the difference.
    table = table_from({"a": {f"t{i}": [1.0, 1.0] for i in range(5)}, "b": {f"t{i}": [0.0, 0.0] for i in range(5)}})
    comparison = head_to_head(table, WEIGHTS).overall[0]
    assert comparison.delta == 100.0 and comparison.p_value == pytest.approx(2 / 32)
    assert comparison.verdict == NO_DIFFERENCE
    assert comparison.low == -math.inf or comparison.low <= 0  # no finite bound excludes 0
    assert math.isinf(comparison.mde) and comparison.tasks_needed == 6  # log2(2/0.05) = 5.3


# ------------------------------------------------------------------ sized verdicts


def test_large_difference_is_significantly_better():
    rng = np.random.default_rng(3)
    table = table_from({"strong": graded(rng, 30, 3, 0.3), "weak": graded(rng, 30, 3, -0.3)})
    result = head_to_head(table, WEIGHTS)
    comparison = result.pair("strong", "weak")
    assert comparison.verdict == SIGNIFICANTLY_BETTER and comparison.significant
    assert comparison.relative >= 0.2
    mirrored = result.pair("weak", "strong")
    assert mirrored.verdict == SIGNIFICANTLY_WORSE
    assert mirrored.delta == -comparison.delta
    assert (mirrored.low, mirrored.high) == (-comparison.high, -comparison.low)


def test_small_significant_difference_is_slightly_better():
    # 40 tasks × 5 runs: "a" passes every run, "b" fails one run of each of the first 20
    # tasks. Scores 100 and 90: 11% apart; 20 tasks all favour "a", none "b".
    a = {f"t{i:02d}": [1.0] * 5 for i in range(40)}
    b = {f"t{i:02d}": [0.0 if (i < 20 and run == 0) else 1.0 for run in range(5)] for i in range(40)}
    comparison = head_to_head(table_from({"a": a, "b": b}), WEIGHTS).overall[0]
    assert comparison.score_a == 100.0 and comparison.score_b == pytest.approx(90.0)
    assert comparison.p_value == pytest.approx(1 / 10_001)  # Monte Carlo: no pattern as extreme
    assert comparison.verdict == SLIGHTLY_BETTER and comparison.low > 0


@pytest.mark.parametrize(
    ("runs", "a_passes", "b_passes", "expected"),
    [
        (10, 6, 5, SIGNIFICANTLY_BETTER),  # 60 vs 50: exactly 20%
        (40, 23, 20, SLIGHTLY_BETTER),  # 57.5 vs 50: 15%
        (80, 41, 40, SLIGHTLY_BETTER),  # 51.25 vs 50: 2.5%, significant all the same
    ],
)
def test_verdict_edges_from_runs(runs, a_passes, b_passes, expected):
    # 20 tasks; in every task "a" passes the runs "b" passes plus a few more.
    a = {f"t{i:02d}": [1.0] * a_passes + [0.0] * (runs - a_passes) for i in range(20)}
    b = {f"t{i:02d}": [1.0] * b_passes + [0.0] * (runs - b_passes) for i in range(20)}
    comparison = head_to_head(table_from({"a": a, "b": b}), WEIGHTS).overall[0]
    assert comparison.p_adjusted == pytest.approx(1 / 10_001)  # all 20 tasks favour "a"
    assert comparison.relative == pytest.approx((a_passes - b_passes) / b_passes, rel=1e-12)
    assert comparison.verdict == expected


def test_not_significant_reports_what_would_detect_it():
    rng = np.random.default_rng(5)
    table = table_from({"a": graded(rng, 12, 3, 0.02), "b": graded(rng, 12, 3)})
    comparison = head_to_head(table, WEIGHTS).overall[0]
    assert comparison.verdict == NO_DIFFERENCE
    assert comparison.mde > abs(comparison.delta)
    assert comparison.tasks_needed > 12
    assert comparison.to_dict()["runs_needed"] is None or comparison.runs_needed > 3


def test_one_task():
    # Graded: the exact sign-flip test over one task cannot reject (p = 1); SE is unknown.
    table = table_from({"a": {"t": [0.9, 0.8]}, "b": {"t": [0.2, 0.3]}})
    comparison = head_to_head(table, WEIGHTS).overall[0]
    assert comparison.p_value == 1.0 and comparison.verdict == NO_DIFFERENCE
    assert math.isnan(comparison.se)
    assert (comparison.low, comparison.high) == (-100.0, 100.0)  # unbounded: any difference fits
    assert comparison.to_dict()["mde"] is None  # nothing is detectable with one task
    # One task run 12 times, pass against fail every time: still one observation. Repeating
    # a task never multiplies the evidence (pooling its runs would give p = 2·0.5¹²).
    table = table_from({"a": {"t": [1.0] * 12}, "b": {"t": [0.0] * 12}})
    comparison = head_to_head(table, WEIGHTS).overall[0]
    assert comparison.p_value == 1.0
    assert comparison.verdict == NO_DIFFERENCE and comparison.tasks_needed == 6


def test_no_shared_tasks_is_not_comparable():
    table = table_from({"a": {"t1": [1.0, 0.0]}, "b": {"t2": [1.0, 0.0]}})
    comparison = head_to_head(table, WEIGHTS).overall[0]
    assert comparison.verdict == NOT_COMPARABLE and comparison.tasks == 0
    assert comparison.to_dict()["p_value"] is None


def test_per_category_families():
    rng = np.random.default_rng(7)
    info = {**{f"acc{i:02d}": {"category": "accuracy"} for i in range(25)},
            **{f"saf{i:02d}": {"category": "safety"} for i in range(25)}}
    a = {**graded(rng, 25, 2, 0.35, "acc"), **graded(rng, 25, 2, 0.0, "saf")}
    b = {**graded(rng, 25, 2, -0.3, "acc"), **graded(rng, 25, 2, 0.0, "saf")}
    same = graded(rng, 25, 2, 0.0, "saf")
    a.update(same)
    b.update(same)
    result = head_to_head(table_from({"a": a, "b": b}, **info), WEIGHTS)
    assert result.pair("a", "b", "accuracy").verdict == SIGNIFICANTLY_BETTER
    assert result.pair("a", "b", "safety").verdict == NO_DIFFERENCE
    assert result.pair("a", "b", "safety").delta == 0.0
    with pytest.raises(ValueError, match="category 'coding' is not one of: accuracy, safety"):
        result.pair("a", "b", "coding")


# -------------------------------------------------------------- two-model report


def test_compare_pair_report():
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    rng = np.random.default_rng(9)
    info = {f"t{i:02d}": {"category": ("accuracy", "safety", "reasoning")[i % 3],
                          "difficulty": ("easy", "medium", "hard")[i % 3 == 1]} for i in range(30)}
    table = table_from({"m1": graded(rng, 30, 3, -0.1), "m2": graded(rng, 30, 3, 0.15)}, **info)
    report = compare_pair(table, "m2", "m1", WEIGHTS, top=4)
    assert (report.model_a, report.model_b) == ("m2", "m1")
    assert report.overall.delta > 0 and report.overall.p_adjusted == report.overall.p_value
    assert [c.scope_value for c in report.categories] == ["accuracy", "reasoning", "safety"]
    assert [c.scope_value for c in report.difficulties] == ["easy", "medium"]
    raw = [c.p_value for c in report.difficulties]
    np.testing.assert_allclose([c.p_adjusted for c in report.difficulties],
                               multitest.multipletests(raw, method="holm")[1], rtol=1e-12)
    # Overall and per category, the report's rows are the head-to-head's: same verdicts.
    head = head_to_head(table, WEIGHTS)
    assert report.overall == head.pair("m2", "m1")
    assert list(report.categories) == [head.pair("m2", "m1", name) for name in ("accuracy", "reasoning", "safety")]
    gaps = [d.delta for d in report.disagreements]
    assert len(gaps) == 4 and [abs(g) for g in gaps] == sorted((abs(g) for g in gaps), reverse=True)
    scores = 100 * (0.6 * table.cell_means(table.passed) + 0.4 * table.cell_means(table.quality))
    largest = np.max(np.abs(scores[1] - scores[0]))
    assert abs(gaps[0]) == pytest.approx(largest)
    assert report.disagreements[0].score_a - report.disagreements[0].score_b == pytest.approx(gaps[0])
    json.dumps(report.to_dict(), allow_nan=False)


def test_compare_pair_rejects_bad_models():
    table = table_from({"a": {"t": [1.0]}, "b": {"t": [0.0]}})
    with pytest.raises(ValueError, match="model 'c' is not one of: a, b"):
        compare_pair(table, "a", "c", WEIGHTS)
    with pytest.raises(ValueError, match="compare needs two different models, got 'a' twice"):
        compare_pair(table, "a", "a", WEIGHTS)


@pytest.mark.parametrize(
    ("keyword", "value", "message"),
    [
        ("alpha", 1.5, r"alpha 1.5 is not allowed; it must be a number in \(0, 1\)"),
        ("permutations", 0, r"permutations 0 is not allowed; it must be a whole number >= 1"),
        ("seed", -1, r"seed -1 is not allowed"),
    ],
)
def test_bad_options_are_rejected(keyword, value, message):
    table = table_from({"a": {"t": [1.0]}, "b": {"t": [0.0]}})
    with pytest.raises(ValueError, match=message):
        head_to_head(table, WEIGHTS, **{keyword: value})


# ------------------------------------------------------------------ report + rows


def assert_builtins(value, path="report"):
    """Only JSON builtins (no numpy scalars, which json accepts silently for floats)."""
    if isinstance(value, dict):
        for key, item in value.items():
            assert type(key) is str, path
            assert_builtins(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            assert_builtins(item, f"{path}[{index}]")
    else:
        assert type(value) in (str, int, float, bool, type(None)), f"{path} is {type(value)}"


def test_compare_report_and_terminal_rows():
    rng = np.random.default_rng(11)
    names = [f"provider/model-number-{i:02d}-long" for i in range(20)]
    info = {f"t{i:02d}": {"category": ("accuracy", "safety")[i % 2]} for i in range(12)}
    table = table_from({name: graded(rng, 12, 2, 0.02 * i) for i, name in enumerate(names)}, **info)
    report = compare(table, WEIGHTS, bootstrap=10, permutations=500)
    assert_builtins(report.to_dict())
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert len(data["head_to_head"]["overall"]) == 190
    assert set(data["head_to_head"]["categories"]) == {"accuracy", "safety"}
    assert set(data["consistency"]) == set(names)

    def width(rows, wrap=None, columns=None):
        text = text_table(rows[0], rows[1:], ("left",) * len(rows[0]), width=columns, wrap=wrap)
        return max(len(line) for line in text.splitlines())

    for columns in (80, 100, 120):
        assert width(report.head_to_head.rows(), {0: "name", 4: "words", 5: "words"}, columns) <= columns
        blocks = report.head_to_head.matrix_rows(width=columns)
        assert all(width(block) <= columns for block in blocks)
        assert sum(len(block[0]) - 1 for block in blocks) == 20
        assert blocks[0][1][1] == "."  # a model against itself
        # the row labels hold the whole names (wrapped when long), never cut
        assert all(names[i] in blocks[0][i + 1][0].replace("\n  ", "") for i in range(20))
    pair = compare_pair(table, names[0], names[19], WEIGHTS, permutations=500)
    assert width(pair.rows(), {0: "name", 6: "words", 7: "words"}, 100) <= 100
    assert width(pair.disagreement_rows(), {0: "name", 1: "name"}, 100) <= 100
    assert comparison_rows([])[0][0] == "A vs B"
    assert f"{names[0]} vs {names[1]}" == report.head_to_head.rows()[1][0]
